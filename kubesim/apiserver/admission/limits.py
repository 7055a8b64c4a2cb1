"""LimitRanger admission: Container defaults and bounds from the namespace's LimitRanges.

For each `type: Container` item (with LimitRange's own defaulting: `default` from `max`,
`defaultRequest` from `default`, then `min`): a container without a limit or request for a
resource gets the default, the pod is annotated `kubernetes.io/limit-ranger` naming what was set,
and a value outside `min`/`max` is refused with upstream's 403 wording.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.admission.quantity import parse_quantity
from kubesim.apiserver.admission.serviceaccount import display_name
from kubesim.apiserver.store import Store

__all__ = ["admit_limits"]

_ANNOTATION = "kubernetes.io/limit-ranger"


def _container_items(store: Store, namespace: str) -> list[dict[str, Any]]:
    items = []
    for limit_range in store.iter_objects(store.resource("limitranges"), namespace):
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if isinstance(item, dict) and item.get("type") == "Container":
                # LimitRangeItem defaults, key by key: default from max, defaultRequest from
                # default, then from min.
                default = {**(item.get("max") or {}), **(item.get("default") or {})}
                request = {
                    **(item.get("min") or {}),
                    **default,
                    **(item.get("defaultRequest") or {}),
                }
                items.append({**item, "default": default, "defaultRequest": request})
    return items


def _apply_defaults(
    containers: list[tuple[str, dict[str, Any]]], items: list[dict[str, Any]]
) -> list[str]:
    notes: list[str] = []
    for kind, container in containers:
        resources = container.setdefault("resources", {})
        set_limits, set_requests = [], []
        for item in items:
            for key, value in item["default"].items():
                if key not in (resources.get("limits") or {}):
                    resources.setdefault("limits", {})[key] = value
                    set_limits.append(key)
            for key, value in item["defaultRequest"].items():
                if key not in (resources.get("requests") or {}):
                    resources.setdefault("requests", {})[key] = value
                    set_requests.append(key)
        name = container.get("name", "")
        if set_requests:
            notes.append(f"{', '.join(sorted(set_requests))} request for {kind} {name}")
        if set_limits:
            notes.append(f"{', '.join(sorted(set_limits))} limit for {kind} {name}")
    return notes


def _violations(
    containers: list[tuple[str, dict[str, Any]]], items: list[dict[str, Any]]
) -> list[str]:
    problems: list[str] = []
    for _kind, container in containers:
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for item in items:
            for key, bound in (item.get("min") or {}).items():
                if key in requests and parse_quantity(requests[key]) < parse_quantity(bound):
                    problems.append(
                        f"minimum {key} usage per Container is {bound}, but request is {requests[key]}"
                    )
            for key, bound in (item.get("max") or {}).items():
                if key not in limits:
                    problems.append(
                        f"maximum {key} usage per Container is {bound}.  No limit is specified"
                    )
                elif parse_quantity(limits[key]) > parse_quantity(bound):
                    problems.append(
                        f"maximum {key} usage per Container is {bound}, but limit is {limits[key]}"
                    )
    return problems


def admit_limits(store: Store, pod: dict[str, Any]) -> None:
    """Default and check the pod's container resources (mutates `pod`)."""
    meta = pod["metadata"]
    items = _container_items(store, meta["namespace"])
    if not items:
        return
    spec = pod.setdefault("spec", {})
    containers = [
        ("init container" if key == "initContainers" else "container", c)
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]
    notes = _apply_defaults(containers, items)
    if notes:
        meta.setdefault("annotations", {})[_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(
            notes
        )
    problems = _violations(containers, items)
    if problems:
        why = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise errors.forbidden("pods", "", display_name(meta), why)
