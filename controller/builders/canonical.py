"""Put desired objects in the form the API server stores, so desired and observed compare equal.

rayop decides whether to write by checking that every field it wants is present in the observed
object (`controller.diff`). A field the server drops on write would never be present, and rayop
would re-apply the object forever. The server drops ``null`` values and empty lists and maps
(Go's ``omitempty``), so they are removed here, except where an empty object *means* something
and the server keeps it (``emptyDir: {}``, and label selectors, where ``{}`` selects everything).
Ports get ``protocol: TCP`` when they have none: the server defaults it, and it is part of the key
server-side apply merges container and Service ports by.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KEEP_WHEN_EMPTY", "prune", "with_port_protocols"]

KEEP_WHEN_EMPTY = frozenset(
    {"emptyDir", "labelSelector", "namespaceSelector", "podSelector", "selector"}
)


def prune(value: Any) -> Any:
    """A deep copy of `value` without ``None`` values and without empty lists and maps."""
    if isinstance(value, dict):
        pruned: dict[str, Any] = {}
        for key, item in value.items():
            item = prune(item)
            if item is None or (item in ({}, []) and key not in KEEP_WHEN_EMPTY):
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, list):
        return [prune(item) for item in value if item is not None]
    return value


def with_port_protocols(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`ports` with the server's default ``protocol: TCP`` on each port that has none."""
    return [{**port, "protocol": port.get("protocol") or "TCP"} for port in ports]
