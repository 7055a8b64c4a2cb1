"""Per-pod resource usage that tests and the CLI set, standing in for metrics-server.

Rules are kept in order; for a pod and a resource the newest matching rule that sets that
resource wins. A rule names one pod or selects by labels, and gives either an absolute quantity
(`cpu="900m"`) or a share of the pod's request (`cpu_percent=90`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kubesim.common.quantity import parse_quantity

__all__ = ["UsageRule", "UsageStore", "container_requests_sum"]


@dataclass(frozen=True)
class UsageRule:
    """One `set_pod_usage` call."""

    namespace: str
    pod: str | None
    selector: tuple[tuple[str, str], ...]
    absolute: tuple[tuple[str, Fraction], ...]
    percent: tuple[tuple[str, Fraction], ...]

    def selects(self, pod: dict[str, Any]) -> bool:
        """Whether this rule applies to `pod`."""
        meta = pod["metadata"]
        if meta.get("namespace", "") != self.namespace:
            return False
        if self.pod is not None:
            return bool(meta["name"] == self.pod)
        labels = meta.get("labels") or {}
        return all(labels.get(k) == v for k, v in self.selector)


def container_requests_sum(pod: dict[str, Any], resource: str) -> Fraction | None:
    """Sum of the containers' requests of `resource`; None if a container lacks one."""
    total = Fraction(0)
    for container in (pod.get("spec") or {}).get("containers") or ():
        resources = container.get("resources") or {}
        requests = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        if resource not in requests:
            return None
        total += parse_quantity(requests[resource])
    return total


class UsageStore:
    """The simulated metrics API."""

    def __init__(self) -> None:
        self._rules: list[UsageRule] = []

    def set(
        self,
        namespace: str,
        *,
        pod: str | None = None,
        selector: dict[str, str] | None = None,
        cpu: str | None = None,
        memory: str | None = None,
        cpu_percent: float | None = None,
        memory_percent: float | None = None,
    ) -> UsageRule:
        """Add a rule; raises ValueError naming the bad argument."""
        if pod is None and selector is None:
            raise ValueError("set_pod_usage: give pod= or selector=")
        absolute = []
        for name, value in (("cpu", cpu), ("memory", memory)):
            if value is not None:
                try:
                    absolute.append((name, parse_quantity(value)))
                except ValueError as exc:
                    raise ValueError(f"set_pod_usage: {name}: {exc}") from None
        percent = []
        for name, pct in (("cpu", cpu_percent), ("memory", memory_percent)):
            if pct is not None:
                if pct < 0:
                    raise ValueError(f"set_pod_usage: {name}_percent must be >= 0, got {pct}")
                percent.append((name, Fraction(pct)))
        if not absolute and not percent:
            raise ValueError(
                "set_pod_usage: give at least one of cpu, memory, cpu_percent, memory_percent"
            )
        rule = UsageRule(
            namespace=namespace,
            pod=pod,
            selector=tuple(sorted((selector or {}).items())),
            absolute=tuple(absolute),
            percent=tuple(percent),
        )
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Forget every rule."""
        self._rules.clear()

    def usage(self, pod: dict[str, Any], resource: str) -> Fraction | None:
        """The pod's current usage of `resource`, or None when no rule covers it."""
        for rule in reversed(self._rules):
            if not rule.selects(pod):
                continue
            for name, value in rule.absolute:
                if name == resource:
                    return value
            for name, pct in rule.percent:
                if name == resource:
                    request = container_requests_sum(pod, resource)
                    return None if request is None else request * pct / 100
        return None
