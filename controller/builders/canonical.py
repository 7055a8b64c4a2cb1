"""Put desired objects in the form the API server stores, so desired and observed compare equal.

rayop decides whether to write by checking that every field it wants is present in the observed
object with the same value (`controller.diff`). A field the server drops on write would never be
present, and rayop would re-apply the object forever. Go's ``omitempty`` makes the server drop a
non-pointer field holding its zero value, so `prune` removes from a desired object:

* ``null`` values, empty lists and empty maps, except where an empty object *means* something
  and the server keeps it (``emptyDir: {}``; label selectors, where ``{}`` selects everything);
* empty strings, except as values of string maps (labels, annotations, selectors, node
  selectors: ``""`` is a value there) and of the pointer fields where ``""`` differs from unset
  (``storageClassName: ""`` turns dynamic provisioning off);
* ``false`` and ``0`` in the non-pointer fields users commonly write them in (``readOnly: false``,
  ``hostNetwork: false``, ``initialDelaySeconds: 0``, ...). Pointer fields (``runAsNonRoot``,
  ``allowPrivilegeEscalation``, ``replicas``, ``runAsUser: 0``) keep their zero value, as the
  server does.

Removing a field the server would drop never changes meaning: for a non-pointer Go field, zero
and absent are the same value. Ports get ``protocol: TCP`` when they have none: the server
defaults it, and it is part of the key server-side apply merges container and Service ports by.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KEEP_WHEN_EMPTY", "prune", "with_port_protocols"]

KEEP_WHEN_EMPTY = frozenset(
    {"emptyDir", "labelSelector", "namespaceSelector", "podSelector", "selector"}
)
#: Maps whose values are strings, where "" is a value like any other.
STRING_MAPS = frozenset(
    {"labels", "annotations", "nodeSelector", "matchLabels", "selector", "data", "stringData"}
)
#: Pointer-to-string fields where "" means something else than unset.
KEEP_EMPTY_STRING = frozenset({"storageClassName", "runtimeClassName", "ingressClassName"})
#: Non-pointer booleans the server drops when false.
DROPPED_WHEN_FALSE = frozenset(
    {
        "readOnly",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "stdin",
        "stdinOnce",
        "tty",
        "publishNotReadyAddresses",
        "paused",
    }
)
#: Non-pointer integers the server drops when 0.
DROPPED_WHEN_ZERO = frozenset({"initialDelaySeconds", "minReadySeconds", "hostPort"})


def prune(value: Any, *, string_map: bool = False) -> Any:
    """A deep copy of `value` without the fields the API server would drop (module docstring).

    `string_map` says `value` is a map of strings (labels and the like), where "" is kept.
    """
    if isinstance(value, dict):
        pruned: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, dict | list):
                item = prune(item, string_map=key in STRING_MAPS)
                if not item and key not in KEEP_WHEN_EMPTY:
                    continue
            elif not item and _zero_dropped(key, item, string_map):
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, list):
        return [
            prune(item) if isinstance(item, dict | list) else item
            for item in value
            if item is not None
        ]
    return value


def _zero_dropped(key: str, item: Any, string_map: bool) -> bool:
    """Whether the server drops `item`, a zero value (None, False, 0 or "") stored under `key`."""
    if item is None:
        return True
    if item is False:
        return key in DROPPED_WHEN_FALSE
    if isinstance(item, str):
        return not string_map and key not in KEEP_EMPTY_STRING
    return isinstance(item, int) and key in DROPPED_WHEN_ZERO


def with_port_protocols(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`ports` with the server's default ``protocol: TCP`` on each port that has none."""
    return [{**port, "protocol": port.get("protocol") or "TCP"} for port in ports]
