"""Serving one stored resource in several shapes (events in two groups, HPAs in two versions).

Like kube-apiserver, kubesim stores Events once (in the core/v1 shape) and serves them through
both APIs, so an event written by a modern recorder (`events.k8s.io/v1`) shows in
`kubectl describe` (which reads core/v1) and the other way round. Field renames follow
`pkg/apis/events/v1` conversion: regarding/involvedObject, note/message,
reportingController/reportingComponent, and the `deprecated*` fields.

HorizontalPodAutoscalers are stored as autoscaling/v2 and also served as autoscaling/v1 (what
`kubectl autoscale` creates): `targetCPUUtilizationPercentage` maps to a CPU utilization
metric and back.

For every other resource, a different served version only changes `apiVersion` (custom
resources use the `None` conversion strategy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesim.apiserver.resources import ResourceInfo

__all__ = ["from_storage", "has_conversion", "to_storage"]

_Obj = dict[str, Any]

#: (events.k8s.io/v1 field, core/v1 field)
_EVENT_FIELDS = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)


def _rename(
    obj: _Obj, api_version: str, pairs: tuple[tuple[str, str], ...], *, reverse: bool
) -> _Obj:
    renames = {b: a for a, b in pairs} if reverse else dict(pairs)
    out = {renames.get(key, key): value for key, value in obj.items()}
    out["apiVersion"] = api_version
    return out


def _event_to_core(obj: _Obj) -> _Obj:
    return _rename(obj, "v1", _EVENT_FIELDS, reverse=False)


def _event_from_core(obj: _Obj) -> _Obj:
    return _rename(obj, "events.k8s.io/v1", _EVENT_FIELDS, reverse=True)


def _cpu_metric(metrics: Any, field: str) -> Any:
    """The CPU utilization of a v2 metric list (`target` or `current`), if there is one."""
    for metric in metrics if isinstance(metrics, list) else []:
        if not isinstance(metric, dict) or metric.get("type") != "Resource":
            continue
        resource = metric.get("resource")
        if isinstance(resource, dict) and resource.get("name") == "cpu":
            value = resource.get(field)
            return value.get("averageUtilization") if isinstance(value, dict) else None
    return None


def _hpa_v1_to_v2(obj: _Obj) -> _Obj:
    out = {k: v for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = "autoscaling/v2"
    spec = dict(obj.get("spec") or {})
    target = spec.pop("targetCPUUtilizationPercentage", None)
    if target is not None:
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ]
    out["spec"] = spec
    if "status" in obj:
        status = dict(obj.get("status") or {})
        current = status.pop("currentCPUUtilizationPercentage", None)
        if current is not None:
            status["currentMetrics"] = [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": current}},
                }
            ]
        out["status"] = status
    return out


def _hpa_v2_to_v1(obj: _Obj) -> _Obj:
    out = {k: v for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = "autoscaling/v1"
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k not in ("metrics", "behavior")}
    target = _cpu_metric((obj.get("spec") or {}).get("metrics"), "target")
    if target is not None:
        spec["targetCPUUtilizationPercentage"] = target
    out["spec"] = spec
    if "status" in obj:
        source = obj.get("status") or {}
        status = {k: v for k, v in source.items() if k not in ("currentMetrics", "conditions")}
        current = _cpu_metric(source.get("currentMetrics"), "current")
        if current is not None:
            status["currentCPUUtilizationPercentage"] = current
        out["status"] = status
    return out


_CONVERSIONS: dict[tuple[str, str, str], tuple[Callable[[_Obj], _Obj], Callable[[_Obj], _Obj]]] = {
    ("events.k8s.io", "v1", "events"): (_event_to_core, _event_from_core),
    # autoscaling/v1 keeps only the CPU target of v2's metrics (upstream also round-trips the
    # rest through annotations; kubesim does not).
    ("autoscaling", "v1", "horizontalpodautoscalers"): (_hpa_v1_to_v2, _hpa_v2_to_v1),
}


def has_conversion(info: ResourceInfo) -> bool:
    """Whether `info` is served in a shape other than its storage's."""
    return (info.group, info.version, info.plural) in _CONVERSIONS


def to_storage(info: ResourceInfo, obj: _Obj) -> _Obj:
    """`obj`, sent to `info`'s endpoint, in the storage shape (a new top-level dict)."""
    conversion = _CONVERSIONS.get((info.group, info.version, info.plural))
    return conversion[0](obj) if conversion else obj


def from_storage(info: ResourceInfo, obj: _Obj) -> _Obj:
    """A stored object as `info`'s endpoint serves it (the stored dict itself when unchanged)."""
    if obj.get("apiVersion") == info.api_version:
        return obj
    conversion = _CONVERSIONS.get((info.group, info.version, info.plural))
    if conversion is not None:
        return conversion[1](obj)
    return {**obj, "apiVersion": info.api_version}
