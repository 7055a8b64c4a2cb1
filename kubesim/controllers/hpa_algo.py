"""The HorizontalPodAutoscaler's arithmetic (pkg/controller/podautoscaler), as pure functions.

Resource metrics: `desired = ceil(usageRatio × readyPods)`, untouched within the tolerance; pods
without metrics count as 100 % (scale-down) or 0 % (scale-up); unready pods count as 0 % on a
scale-up; deleted and failed pods are ignored. Then normalization: without `spec.behavior` the
legacy rules (scale-down stabilization window, scale-up limit max(2×current, 4), min/max); with
it, per-direction stabilization windows and rate policies over recent scale events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kubesim.common.clock import parse_time
from kubesim.common.podutil import is_terminating
from kubesim.common.quantity import parse_quantity

__all__ = [
    "CpuTrust",
    "Limited",
    "MetricProposal",
    "MetricsError",
    "Recommendation",
    "ScaleEvent",
    "apply_behavior",
    "apply_rules",
    "metric_description",
    "resource_proposal",
]


# (usage ratio, utilization percent or None, average usage) of a set of pod metrics.
_RatioFn = Callable[[Mapping[str, Fraction]], tuple[Fraction, Fraction | None, Fraction]]


class MetricsError(Exception):
    """A metric could not be computed; the message is what the HPA condition shows."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class MetricProposal:
    """One metric's replica proposal and the `status.currentMetrics` entry describing it."""

    replicas: int
    description: str
    status: dict[str, Any]


@dataclass(frozen=True)
class Recommendation:
    """A past desired-replicas recommendation (for stabilization windows)."""

    replicas: int
    time: float


@dataclass(frozen=True)
class ScaleEvent:
    """A past rescale: how many replicas were added (>0) or removed (<0), and when."""

    change: int
    time: float


@dataclass(frozen=True)
class CpuTrust:
    """When CPU samples of a starting pod are trusted: the controller's
    cpu-initialization-period and initial-readiness-delay, and the metrics window."""

    initialization: float = 300.0
    readiness_delay: float = 30.0
    window: float = 30.0


@dataclass(frozen=True)
class Limited:
    """The outcome of normalization: replicas plus AbleToScale/ScalingLimited reasons."""

    replicas: int
    stabilize_reason: str
    stabilize_message: str
    limit_reason: str
    limit_message: str

    @property
    def limited(self) -> bool:
        """Whether min/max/rate rules changed the stabilized recommendation."""
        return self.limit_reason != "DesiredWithinRange"


def metric_description(metric: Mapping[str, Any]) -> str:
    """How the controller names a metric in conditions and events."""
    resource = metric.get("resource") or {}
    name = resource.get("name", "")
    target = resource.get("target") or {}
    if target.get("type") == "Utilization":
        return f"{name} resource utilization (percentage of request)"
    return f"{name} resource"


def resource_proposal(
    metric: Mapping[str, Any],
    *,
    pods: Sequence[dict[str, Any]],
    usage: Mapping[str, Fraction],
    requests: Mapping[str, Fraction | None],
    current_replicas: int,
    tolerance: float,
    now: float | None = None,
    trust: CpuTrust = CpuTrust(),
) -> MetricProposal:
    """Replicas for one `type: Resource` metric.

    `usage` maps pod name to the resource's usage, `requests` pod name to its summed request
    (None when a container lacks one). Raises MetricsError like the controller's conditions.
    """
    resource = metric.get("resource") or {}
    name = str(resource.get("name", ""))
    target = resource.get("target") or {}
    if not pods:
        raise MetricsError(
            "FailedGetResourceMetric",
            f"failed to get {name} utilization: unable to get metrics for resource {name}: no metrics returned from resource metrics API",
        )
    ready, unready, missing = _group_pods(pods, usage, resource_name=name, now=now, trust=trust)
    if not ready:
        raise MetricsError(
            "FailedGetResourceMetric",
            f"failed to get {name} utilization: did not receive metrics for targeted pods (pods might be unready)",
        )
    metrics = {pod: usage[pod] for pod in ready}
    if target.get("type") == "Utilization":
        goal = Fraction(int(target.get("averageUtilization", 0)))
        ratio_of = _utilization_ratio_fn(requests, goal, name)
    else:
        goal = _parse(target.get("averageValue", 0))
        ratio_of = _average_ratio_fn(goal)
    usage_ratio, utilization, average = (
        ratio_of(metrics) if metrics else (Fraction(0), None, Fraction(0))
    )
    replicas = _replicas(
        usage_ratio=usage_ratio,
        metrics=metrics,
        ready_count=len(ready),
        unready=unready,
        missing=missing,
        requests=requests,
        target_type=str(target.get("type")),
        goal=goal,
        ratio_of=ratio_of,
        current_replicas=current_replicas,
        tolerance=tolerance,
    )
    current: dict[str, Any] = {"averageValue": _format(average)}
    if utilization is not None:
        current["averageUtilization"] = int(utilization)
    status = {"type": "Resource", "resource": {"name": name, "current": current}}
    return MetricProposal(replicas, metric_description(metric), status)


def _replicas(
    *,
    usage_ratio: Fraction,
    metrics: dict[str, Fraction],
    ready_count: int,
    unready: list[str],
    missing: list[str],
    requests: Mapping[str, Fraction | None],
    target_type: str,
    goal: Fraction,
    ratio_of: _RatioFn,
    current_replicas: int,
    tolerance: float,
) -> int:
    scale_up_with_unready = bool(unready) and usage_ratio > 1
    if not scale_up_with_unready and not missing:
        if abs(1 - float(usage_ratio)) <= tolerance:
            return current_replicas
        return math.ceil(usage_ratio * ready_count)
    filled = dict(metrics)
    for pod in missing:
        if usage_ratio < 1:
            request = requests.get(pod) or Fraction(0)
            fallback = max(Fraction(100), goal) if target_type == "Utilization" else goal
            filled[pod] = request * fallback / 100 if target_type == "Utilization" else fallback
        elif usage_ratio > 1:
            filled[pod] = Fraction(0)
    if scale_up_with_unready:
        for pod in unready:
            filled[pod] = Fraction(0)
    new_ratio, _, _ = ratio_of(filled)
    if (
        abs(1 - float(new_ratio)) <= tolerance
        or (usage_ratio < 1 < new_ratio)
        or (usage_ratio > 1 > new_ratio)
    ):
        return current_replicas
    proposed = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1 and proposed > current_replicas) or (
        new_ratio > 1 and proposed < current_replicas
    ):
        return current_replicas
    return proposed


def _cpu_unready(pod: dict[str, Any], now: float | None, trust: CpuTrust) -> bool:
    """groupPods' CPU rule: distrust samples of pods starting up or never ready."""
    status = pod.get("status") or {}
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    started = parse_time(status.get("startTime"))
    if ready is None or started is None:
        return True
    if now is None:
        return bool(ready.get("status") == "False")
    transition = parse_time(ready.get("lastTransitionTime")) or started
    if started + trust.initialization > now:
        # Within the initialization period: unready, or no full metric window since it turned ready.
        return bool(ready.get("status") == "False" or now < transition + trust.window)
    # Afterwards: only a pod that is not ready and has never been ready.
    return bool(ready.get("status") == "False" and started + trust.readiness_delay > transition)


def _group_pods(
    pods: Sequence[dict[str, Any]],
    usage: Mapping[str, Fraction],
    *,
    resource_name: str,
    now: float | None = None,
    trust: CpuTrust = CpuTrust(),
) -> tuple[list[str], list[str], list[str]]:
    """(ready, unready, missing) pod names; deleted and failed pods are left out (ignored)."""
    ready: list[str] = []
    unready: list[str] = []
    missing: list[str] = []
    for pod in pods:
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        if is_terminating(pod) or phase == "Failed":
            continue
        if phase == "Pending":
            unready.append(name)
        elif name not in usage:
            missing.append(name)
        elif resource_name == "cpu" and _cpu_unready(pod, now, trust):
            unready.append(name)
        else:
            ready.append(name)
    return ready, unready, missing


def _utilization_ratio_fn(
    requests: Mapping[str, Fraction | None], goal: Fraction, resource_name: str
) -> _RatioFn:
    def ratio(metrics: Mapping[str, Fraction]) -> tuple[Fraction, Fraction | None, Fraction]:
        total_usage = Fraction(0)
        total_request = Fraction(0)
        for pod, value in metrics.items():
            request = requests.get(pod)
            if request is None:
                raise MetricsError(
                    "FailedGetResourceMetric",
                    f"failed to get {resource_name} utilization: missing request for {resource_name} in pod {pod}",
                )
            total_usage += value
            total_request += request
        if total_request == 0:
            raise MetricsError(
                "FailedGetResourceMetric",
                f"failed to get {resource_name} utilization: no metrics returned matched known pods",
            )
        utilization = Fraction(math.floor(total_usage * 100 / total_request))
        ratio = utilization / goal if goal else Fraction(0)
        return ratio, utilization, total_usage / len(metrics)

    return ratio


def _average_ratio_fn(goal: Fraction) -> _RatioFn:
    def ratio(metrics: Mapping[str, Fraction]) -> tuple[Fraction, Fraction | None, Fraction]:
        average = sum(metrics.values(), Fraction(0)) / len(metrics)
        return (average / goal if goal else Fraction(0)), None, average

    return ratio


def _format(value: Fraction) -> str:
    """A quantity string in the canonical form the metrics API uses (milli units when needed)."""
    millis = math.ceil(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _parse(value: Any) -> Fraction:
    return parse_quantity(value)


# ------------------------------------------------------------------ normalization


def apply_rules(
    *,
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    history: list[Recommendation],
    now: float,
    window: float,
) -> Limited:
    """normalizeDesiredReplicas: the rules for an HPA without `spec.behavior`.

    Appends `desired` to `history` and drops entries older than `window`.
    """
    cutoff = now - window
    stabilized = max([desired, *(r.replicas for r in history if r.time > cutoff)])
    history[:] = [r for r in history if r.time > cutoff]
    history.append(Recommendation(desired, now))
    if stabilized != desired:
        s_reason, s_message = (
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        )
    else:
        s_reason, s_message = "ReadyForNewScale", "recommended size matches current size"
    scale_up_limit = max(2 * current, 4)
    if max_replicas > scale_up_limit:
        allowed, l_reason, l_message = (
            scale_up_limit,
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate",
        )
    else:
        allowed, l_reason, l_message = (
            max_replicas,
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count",
        )
    if stabilized < min_replicas:
        return Limited(
            min_replicas,
            s_reason,
            s_message,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        )
    if stabilized > allowed:
        return Limited(allowed, s_reason, s_message, l_reason, l_message)
    return Limited(
        stabilized,
        s_reason,
        s_message,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )


def apply_behavior(
    *,
    behavior: Mapping[str, Any],
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    history: list[Recommendation],
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    now: float,
    default_down_window: float,
) -> Limited:
    """normalizeDesiredReplicasWithBehaviors: stabilization windows and rate policies."""
    up = behavior.get("scaleUp") or {}
    down = behavior.get("scaleDown") or {}
    up_window = float(up.get("stabilizationWindowSeconds", 0) or 0)
    down_window = down.get("stabilizationWindowSeconds")
    down_window = default_down_window if down_window is None else float(down_window)
    up_rec, down_rec = desired, desired
    for rec in history:
        if rec.time > now - up_window:
            up_rec = min(up_rec, rec.replicas)
        if rec.time > now - down_window:
            down_rec = max(down_rec, rec.replicas)
    keep = max(up_window, down_window)
    history[:] = [r for r in history if r.time > now - keep]
    history.append(Recommendation(desired, now))
    stabilized = min(max(current, up_rec), down_rec)
    if stabilized == desired:
        s_reason, s_message = "ReadyForNewScale", "recommended size matches current size"
    elif stabilized < desired:
        s_reason, s_message = (
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent recommendation",
        )
    else:
        s_reason, s_message = (
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        )
    within = ("DesiredWithinRange", "the desired count is within the acceptable range")
    if stabilized > current:
        limit = max(current, _scale_up_limit(current, up_events, up, now))
        if max_replicas > limit:
            allowed, reason, message = (
                limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        else:
            allowed, reason, message = (
                max_replicas,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        if stabilized > allowed:
            return Limited(allowed, s_reason, s_message, reason, message)
    elif stabilized < current:
        limit = min(current, _scale_down_limit(current, up_events, down_events, down, now))
        if min_replicas < limit:
            allowed, reason, message = (
                limit,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        else:
            allowed, reason, message = (
                min_replicas,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        if stabilized < allowed:
            return Limited(allowed, s_reason, s_message, reason, message)
    return Limited(stabilized, s_reason, s_message, *within)


_DEFAULT_UP_POLICIES: tuple[dict[str, Any], ...] = (
    {"type": "Pods", "value": 4, "periodSeconds": 15},
    {"type": "Percent", "value": 100, "periodSeconds": 15},
)
_DEFAULT_DOWN_POLICIES: tuple[dict[str, Any], ...] = (
    {"type": "Percent", "value": 100, "periodSeconds": 15},
)


def _changed_within(events: Sequence[ScaleEvent], period: float, now: float) -> int:
    return sum(abs(e.change) for e in events if e.time > now - period)


def _scale_up_limit(
    current: int, up_events: Sequence[ScaleEvent], rules: Mapping[str, Any], now: float
) -> int:
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or _DEFAULT_UP_POLICIES:
        start = current - _changed_within(up_events, float(policy["periodSeconds"]), now)
        if policy["type"] == "Pods":
            proposals.append(start + int(policy["value"]))
        else:
            proposals.append(math.ceil(start * (1 + int(policy["value"]) / 100)))
    return min(proposals) if select == "Min" else max(proposals)


def _scale_down_limit(
    current: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    rules: Mapping[str, Any],
    now: float,
) -> int:
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or _DEFAULT_DOWN_POLICIES:
        period = float(policy["periodSeconds"])
        start = (
            current
            - _changed_within(up_events, period, now)
            + _changed_within(down_events, period, now)
        )
        if policy["type"] == "Pods":
            proposals.append(start - int(policy["value"]))
        else:
            proposals.append(int(start * (1 - int(policy["value"]) / 100)))
    # Min selects the policy allowing the smallest change, i.e. the highest floor.
    return max(proposals) if select == "Min" else min(proposals)
