"""Which pods a ReplicaSet deletes first when it scales down (controller.ActivePodsWithRanks).

The order, first deleted first: unassigned before assigned; Pending < Unknown < Running; not
ready before ready; lower `controller.kubernetes.io/pod-deletion-cost` first; more active sibling
pods on the same node first; ready for less time first (log2-bucketed, ties by uid); more
container restarts first; newer before older (log2-bucketed, ties by uid).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from kubesim.common.clock import parse_time
from kubesim.common.podutil import deletion_cost, is_active, is_ready, ready_since

__all__ = ["pods_to_delete", "rank_for_deletion"]

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def rank_for_deletion(
    pods: Sequence[dict[str, Any]], *, related: Iterable[dict[str, Any]], now: float
) -> list[dict[str, Any]]:
    """`pods` sorted so that the first one is the first to delete.

    `related` are the pods of every ReplicaSet with the same owner; only active ones count
    towards a node's "doubled up" rank.
    """
    per_node = Counter((p.get("spec") or {}).get("nodeName", "") for p in related if is_active(p))
    ranked = [(pod, per_node[(pod.get("spec") or {}).get("nodeName", "")]) for pod in pods]
    compare = functools.partial(_compare, now=now)
    ranked.sort(key=functools.cmp_to_key(compare))
    return [pod for pod, _ in ranked]


def pods_to_delete(
    pods: Sequence[dict[str, Any]], diff: int, *, related: Iterable[dict[str, Any]], now: float
) -> list[dict[str, Any]]:
    """The `diff` pods a ReplicaSet deletes (getPodsToDelete)."""
    if diff >= len(pods):
        return list(pods)
    return rank_for_deletion(pods, related=related, now=now)[:diff]


def _compare(a: tuple[dict[str, Any], int], b: tuple[dict[str, Any], int], *, now: float) -> int:
    """-1 when a is deleted before b (ActivePodsWithRanks.Less), 1 when after, 0 for a tie."""
    (pa, rank_a), (pb, rank_b) = a, b
    node_a, node_b = _node(pa), _node(pb)
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    phase_a, phase_b = _phase_ordinal(pa), _phase_ordinal(pb)
    if phase_a != phase_b:
        return -1 if phase_a < phase_b else 1
    ready_a, ready_b = is_ready(pa), is_ready(pb)
    if ready_a != ready_b:
        return -1 if not ready_a else 1
    cost_a, cost_b = deletion_cost(pa), deletion_cost(pb)
    if cost_a != cost_b:
        return -1 if cost_a < cost_b else 1
    if rank_a != rank_b:
        return -1 if rank_a > rank_b else 1
    if ready_a and ready_b:
        result = _compare_times(
            parse_time(ready_since(pa)), parse_time(ready_since(pb)), pa, pb, now
        )
        if result:
            return result
    restarts_a, restarts_b = _max_restarts(pa), _max_restarts(pb)
    if restarts_a != restarts_b:
        return -1 if restarts_a > restarts_b else 1
    created_a = parse_time(pa["metadata"].get("creationTimestamp"))
    created_b = parse_time(pb["metadata"].get("creationTimestamp"))
    return _compare_times(created_a, created_b, pa, pb, now)


def _compare_times(
    t1: float | None, t2: float | None, pa: dict[str, Any], pb: dict[str, Any], now: float
) -> int:
    """More recent first, in log2 buckets of age (LogarithmicScaleDown); 0 when equal."""
    if t1 == t2:
        return 0
    if t1 is None or t2 is None:
        # afterOrZero: a zero time sorts first.
        return -1 if t1 is None else 1
    diff = _log_rank(now - t1) - _log_rank(now - t2)
    if diff == 0:
        uid_a, uid_b = str(pa["metadata"].get("uid", "")), str(pb["metadata"].get("uid", ""))
        return -1 if uid_a < uid_b else (1 if uid_a > uid_b else 0)
    return -1 if diff < 0 else 1


def _log_rank(age_seconds: float) -> int:
    """int(log2(age in nanoseconds)), -1 for a non-positive age (logarithmicRankDiff)."""
    nanos = age_seconds * 1e9
    return int(math.log2(nanos)) if nanos > 0 else -1


def _node(pod: dict[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _phase_ordinal(pod: dict[str, Any]) -> int:
    return _PHASE_ORDINAL.get((pod.get("status") or {}).get("phase", ""), 0)


def _max_restarts(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return max((int(s.get("restartCount", 0)) for s in statuses), default=0)
