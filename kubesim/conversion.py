"""Serving one stored resource in several shapes: events.k8s.io/v1 Events over core/v1 Events.

Like kube-apiserver, kubesim stores Events once (in the core/v1 shape) and serves them through
both APIs, so an event written by a modern recorder (`events.k8s.io/v1`) shows in
`kubectl describe` (which reads core/v1) and the other way round. Field renames follow
`pkg/apis/events/v1` conversion: regarding/involvedObject, note/message,
reportingController/reportingComponent, and the `deprecated*` fields.

For every other resource, a different served version only changes `apiVersion` (custom
resources use the `None` conversion strategy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesim.resources import ResourceInfo

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


_CONVERSIONS: dict[tuple[str, str, str], tuple[Callable[[_Obj], _Obj], Callable[[_Obj], _Obj]]] = {
    ("events.k8s.io", "v1", "events"): (_event_to_core, _event_from_core),
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
