"""ReplicaSet scale-down victim order (ActivePodsWithRanks), on plain pod dicts."""

from __future__ import annotations

from typing import Any

from kubesim.common.clock import parse_time
from kubesim.controllers.ranking import pods_to_delete, rank_for_deletion

NOW = parse_time("2026-11-25T17:00:00Z") or 0.0


def _pod(
    name: str,
    *,
    node: str = "n1",
    phase: str = "Running",
    ready: bool = True,
    cost: str | None = None,
    ready_at: str = "2026-11-25T16:00:00Z",
    created: str = "2026-11-25T15:00:00Z",
    restarts: int = 0,
) -> dict[str, Any]:
    annotations = {"controller.kubernetes.io/pod-deletion-cost": cost} if cost is not None else {}
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": created,
            "annotations": annotations,
        },
        "spec": {"nodeName": node},
        "status": {
            "phase": phase,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": ready_at,
                }
            ],
            "containerStatuses": [{"name": "c", "restartCount": restarts}],
        },
    }


def _names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_unassigned_then_pending_then_not_ready_go_first() -> None:
    """Unscheduled pods go before Pending ones, Pending before not-ready, not-ready before ready."""
    pods = [
        _pod("ready"),
        _pod("not-ready", ready=False),
        _pod("pending", phase="Pending", ready=False),
        _pod("unassigned", node="", phase="Pending", ready=False),
    ]
    ranked = rank_for_deletion(pods, related=pods, now=NOW)
    assert _names(ranked) == ["unassigned", "pending", "not-ready", "ready"]


def test_lower_pod_deletion_cost_goes_first_and_invalid_counts_as_zero() -> None:
    """pod-deletion-cost orders otherwise equal pods; an unparsable cost is 0."""
    pods = [_pod("high", cost="100"), _pod("neg", cost="-5"), _pod("bad", cost="x"), _pod("zero")]
    victims = pods_to_delete(pods, 2, related=pods, now=NOW)
    assert _names(victims)[0] == "neg"
    assert set(_names(victims)) <= {"neg", "bad", "zero"}
    assert "high" not in _names(pods_to_delete(pods, 3, related=pods, now=NOW))


def test_doubled_up_nodes_go_first() -> None:
    """A pod on a node with more active sibling pods is deleted before a lone one."""
    pods = [_pod("alone", node="a"), _pod("crowded-1", node="b"), _pod("crowded-2", node="b")]
    ranked = rank_for_deletion(pods, related=pods, now=NOW)
    assert _names(ranked)[-1] == "alone"


def test_recently_ready_goes_before_long_ready_and_restarts_break_ties() -> None:
    """Ready for less time goes first (log buckets); equal bucket falls to restart count."""
    pods = [
        _pod("old", ready_at="2026-11-20T00:00:00Z"),
        _pod("new", ready_at="2026-11-25T16:59:00Z"),
    ]
    assert _names(rank_for_deletion(pods, related=pods, now=NOW)) == ["new", "old"]
    crashy = [_pod("calm"), _pod("crashy", restarts=5)]
    assert _names(rank_for_deletion(crashy, related=crashy, now=NOW))[0] == "crashy"


def test_scale_down_by_more_than_exist_takes_all() -> None:
    """Asking for more victims than pods returns every pod."""
    pods = [_pod("a"), _pod("b")]
    assert _names(pods_to_delete(pods, 5, related=pods, now=NOW)) == ["a", "b"]
