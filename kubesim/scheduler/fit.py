"""Scheduler feasibility: does a pod fit a node, and the message when it fits none.

Filters, in the default scheduler's terms: NodeUnschedulable, NodeAffinity (nodeSelector only),
TaintToleration, and NodeResourcesFit (requests incl. extended resources such as
`nvidia.com/gpu`, plus the pod count). The FailedScheduling message is assembled like the real
scheduler's: reasons counted over nodes, sorted, then the preemption verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from kubesim.common.quantity import parse_quantity

__all__ = ["fit_reasons", "node_allocatable", "unschedulable_message"]

_RESOURCE_REASONS_PREEMPTIBLE = "Insufficient"


def node_allocatable(node: Mapping[str, Any]) -> dict[str, Fraction]:
    """`status.allocatable` parsed (callers cache it per node resourceVersion)."""
    raw = (node.get("status") or {}).get("allocatable") or {}
    return {name: parse_quantity(value) for name, value in raw.items()}


def fit_reasons(
    pod: Mapping[str, Any],
    requests: Mapping[str, Fraction],
    node: Mapping[str, Any],
    *,
    used: Mapping[str, Fraction],
    pod_count: int,
    allocatable: Mapping[str, Fraction] | None = None,
) -> list[str]:
    """Why `pod` does not fit `node` (empty when it fits)."""
    spec = pod.get("spec") or {}
    node_spec = node.get("spec") or {}
    if node_spec.get("unschedulable"):
        return ["node(s) were unschedulable"]
    labels = node["metadata"].get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return ["node(s) didn't match Pod's node affinity/selector"]
    for taint in node_spec.get("taints") or ():
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, spec):
            value = taint.get("value", "")
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {value}}}"]
    if allocatable is None:
        allocatable = node_allocatable(node)
    reasons = []
    if pod_count + 1 > int(allocatable.get("pods", Fraction(110))):
        reasons.append("Too many pods")
    for name, amount in requests.items():
        if amount <= 0:
            continue
        free = allocatable.get(name, Fraction(0)) - used.get(name, Fraction(0))
        if amount > free:
            reasons.append(f"Insufficient {name}")
    return reasons


def _tolerated(taint: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    for toleration in spec.get("tolerations") or ():
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


def unschedulable_message(node_count: int, per_node_reasons: Sequence[Sequence[str]]) -> str:
    """`0/3 nodes are available: 1 Insufficient cpu, 2 Insufficient nvidia.com/gpu. preemption: ...`."""
    if node_count == 0:
        return "no nodes available to schedule pods"
    counts: Counter[str] = Counter()
    for reasons in per_node_reasons:
        counts.update(reasons)
    parts = sorted(f"{count} {reason}" for reason, count in counts.items())
    message = f"0/{node_count} nodes are available: {', '.join(parts)}."
    helpful = sum(
        1 for reasons in per_node_reasons if reasons and all(_preemptible(r) for r in reasons)
    )
    verdicts = []
    if helpful:
        verdicts.append(f"{helpful} No preemption victims found for incoming pod")
    if node_count - helpful:
        verdicts.append(f"{node_count - helpful} Preemption is not helpful for scheduling")
    return (
        f"{message} preemption: 0/{node_count} nodes are available: {', '.join(sorted(verdicts))}."
    )


def _preemptible(reason: str) -> bool:
    return reason.startswith(_RESOURCE_REASONS_PREEMPTIBLE) or reason == "Too many pods"
