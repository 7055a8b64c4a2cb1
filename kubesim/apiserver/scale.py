"""The /scale subresource: an autoscaling/v1 `Scale` view of scalable objects.

Built-in workloads read `.spec.replicas`, `.status.replicas` and format `.spec.selector`;
custom resources use the paths their CRD's `subresources.scale` names.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver.resources import ResourceInfo

__all__ = ["format_label_selector", "get_path", "scale_of", "set_scale_replicas"]


def get_path(obj: Any, path: str) -> Any:
    """The value at a simple JSON path like `.spec.replicas` (None when absent)."""
    node = obj
    for part in path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    node = obj
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def format_label_selector(selector: Any) -> str:
    """`metav1.FormatLabelSelector`: a LabelSelector as a selector string."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def scale_of(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale object for `obj`."""
    paths = info.scale
    assert paths is not None
    meta = obj["metadata"]
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    replicas = get_path(obj, paths.spec_replicas)
    status: dict[str, Any] = {"replicas": get_path(obj, paths.status_replicas) or 0}
    if info.custom:
        selector = get_path(obj, paths.label_selector) if paths.label_selector else None
        if selector:
            status["selector"] = str(selector)
    else:
        selector_text = format_label_selector((obj.get("spec") or {}).get("selector"))
        if selector_text:
            status["selector"] = selector_text
    spec = {"replicas": replicas} if replicas else {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": spec,
        "status": status,
    }


def set_scale_replicas(info: ResourceInfo, obj: dict[str, Any], replicas: int) -> dict[str, Any]:
    """`obj` (a private copy) with its desired replicas set."""
    assert info.scale is not None
    _set_path(obj, info.scale.spec_replicas, replicas)
    return obj
