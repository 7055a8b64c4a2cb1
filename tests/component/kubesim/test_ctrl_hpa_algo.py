"""The HPA's replica arithmetic and normalization rules, as pure functions."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from kubesim.common.clock import format_time
from kubesim.controllers.hpa_algo import (
    MetricsError,
    Recommendation,
    ScaleEvent,
    apply_behavior,
    apply_rules,
    resource_proposal,
)

CPU_70 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}  # fmt: skip


NOW = 1_800_000_000.0


def _pod(
    name: str, *, phase: str = "Running", ready: bool = True, started_ago: float = 3600
) -> dict[str, Any]:
    """A pod started `started_ago` seconds before NOW, Ready (or not) since 10 s after start."""
    started = format_time(NOW - started_ago)
    return {
        "metadata": {"name": name},
        "status": {
            "phase": phase,
            "startTime": started,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": format_time(NOW - started_ago + 10),
                }
            ],
        },
    }


def _propose(
    usages: dict[str, str], *, pods: list[dict[str, Any]] | None = None, current: int = 0
) -> Any:
    pods = pods if pods is not None else [_pod(n) for n in usages]
    return resource_proposal(
        CPU_70,
        pods=pods,
        usage={n: Fraction(v) for n, v in usages.items()},
        requests={p["metadata"]["name"]: Fraction(1) for p in pods},
        current_replicas=current or len(pods),
        tolerance=0.1,
        now=NOW,
    )


def test_scale_up_is_ceil_of_ratio_times_ready_pods() -> None:
    """Two pods at 90 % CPU with a 70 % target want ceil(2 × 90/70) = 3 replicas."""
    proposal = _propose({"a": "0.9", "b": "0.9"})
    assert proposal.replicas == 3
    assert proposal.description == "cpu resource utilization (percentage of request)"
    assert proposal.status["resource"]["current"] == {
        "averageUtilization": 90,
        "averageValue": "900m",
    }


def test_within_tolerance_keeps_current_replicas() -> None:
    """75 % against a 70 % target is within the 0.1 tolerance: no change."""
    assert _propose({"a": "0.75", "b": "0.75"}).replicas == 2


def test_missing_metrics_count_as_full_usage_on_scale_down() -> None:
    """On a scale-down, a pod without metrics is assumed to use 100 % of its request."""
    pods = [_pod("a"), _pod("b"), _pod("c")]
    # a and b at 10 % would give 1 replica; c counted at 100 % gives ceil(3 × 40/70) = 2.
    assert _propose({"a": "0.1", "b": "0.1"}, pods=pods).replicas == 2


def test_unready_pods_count_as_zero_on_scale_up() -> None:
    """Pending pods count as 0 % when the ready ones are hot, damping the scale-up."""
    pods = [_pod("a"), _pod("b", phase="Pending", ready=False)]
    # Ready pod alone: ceil(1 × 140/70) = 2; with b at 0 %: ratio 70/70 → stays at 2.
    assert _propose({"a": "1.4"}, pods=pods, current=2).replicas == 2


def test_cpu_of_pods_just_turned_ready_is_not_trusted() -> None:
    """Within 5 min of start, a pod Ready for under 30 s counts as unready (0 % on scale-up)."""
    pods = [_pod("old"), _pod("young", started_ago=20)]
    # old alone at 140 % would want 2 × 2 = ... with young at 0 %: (1.4 + 0) / 2 = 70 % → keep 2.
    assert _propose({"old": "1.4", "young": "1.4"}, pods=pods, current=2).replicas == 2


def test_no_ready_pod_means_no_decision() -> None:
    """With only unready pods the metric fails instead of scaling on nothing."""
    with pytest.raises(MetricsError, match="pods might be unready"):
        _propose({"young": "0.9"}, pods=[_pod("young", started_ago=20)])


def test_missing_request_is_a_metrics_error() -> None:
    """A pod without a CPU request makes the metric fail with the controller's wording."""
    with pytest.raises(MetricsError, match="missing request for cpu"):
        resource_proposal(
            CPU_70,
            pods=[_pod("a")],
            usage={"a": Fraction(1)},
            requests={"a": None},
            current_replicas=1,
            tolerance=0.1,
            now=NOW,
        )


def test_legacy_rules_stabilize_scale_down_and_limit_scale_up() -> None:
    """Without behavior: scale-down holds the window's max; scale-up is capped at max(2×, 4)."""
    history = [Recommendation(5, 100.0)]
    held = apply_rules(current=5, desired=2, min_replicas=1, max_replicas=10, history=history, now=200.0, window=300.0)  # fmt: skip
    assert (held.replicas, held.stabilize_reason) == (5, "ScaleDownStabilized")
    later = apply_rules(current=5, desired=2, min_replicas=1, max_replicas=10, history=history, now=1000.0, window=300.0)  # fmt: skip
    assert (later.replicas, later.limit_reason) == (2, "DesiredWithinRange")
    capped = apply_rules(current=1, desired=50, min_replicas=1, max_replicas=100, history=[], now=0.0, window=300.0)  # fmt: skip
    assert (capped.replicas, capped.limit_reason) == (4, "ScaleUpLimit")
    floor = apply_rules(current=3, desired=1, min_replicas=2, max_replicas=5, history=[], now=0.0, window=0.0)  # fmt: skip
    assert (floor.replicas, floor.limit_reason) == (2, "TooFewReplicas")


def test_behavior_policies_limit_the_rate() -> None:
    """A Pods policy of 1 per 60 s allows one more replica, less what was added in the period."""
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    first = apply_behavior(behavior=behavior, current=2, desired=6, min_replicas=1, max_replicas=10, history=[], up_events=[], down_events=[], now=0.0, default_down_window=300.0)  # fmt: skip
    assert (first.replicas, first.limit_reason) == (3, "ScaleUpLimit")
    again = apply_behavior(behavior=behavior, current=3, desired=6, min_replicas=1, max_replicas=10, history=[], up_events=[ScaleEvent(1, 10.0)], down_events=[], now=20.0, default_down_window=300.0)  # fmt: skip
    assert again.replicas == 3


def test_behavior_scale_down_window_defaults_to_controller_flag() -> None:
    """With behavior but no scaleDown window, recent higher recommendations hold replicas."""
    history = [Recommendation(8, 50.0)]
    result = apply_behavior(behavior={}, current=8, desired=3, min_replicas=1, max_replicas=10, history=history, up_events=[], down_events=[], now=100.0, default_down_window=300.0)  # fmt: skip
    assert (result.replicas, result.stabilize_reason) == (8, "ScaleDownStabilized")
