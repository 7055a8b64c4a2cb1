"""In-process caches of API objects, fed by `Cluster.subscribe`, with the indexes controllers need.

The cache holds the stored objects themselves (the cluster hands out its own dicts and nobody
mutates them), so a cache costs a dict entry per object. Indexes: by controller-owner uid and,
optionally, by `spec.nodeName`. Handlers receive `(event, old, new)` synchronously, after the
cache has been updated, and must only enqueue work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from kubesim.common.api import ClusterAPI
from kubesim.common.podutil import ObjectKey, controller_uid, key_of

__all__ = ["Cache", "Handler"]

#: (event type, previous object or None, current object); for DELETED, current is the last state.
Handler = Callable[[str, dict[str, Any] | None, dict[str, Any]], None]


class Cache:
    """Objects of one resource, kept current by a subscription."""

    def __init__(
        self, cluster: ClusterAPI, resource: str, group: str = "", *, by_node: bool = False
    ) -> None:
        self.resource = cluster.resource(resource, group)
        self._cluster = cluster
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        self._by_owner: defaultdict[str, set[ObjectKey]] = defaultdict(set)
        self._by_node: defaultdict[str, set[ObjectKey]] | None = (
            defaultdict(set) if by_node else None
        )
        self._handlers: list[Handler] = []
        self._unsubscribe: Callable[[], None] | None = None

    def add_handler(self, handler: Handler) -> None:
        """Call `handler` for every change from now on."""
        self._handlers.append(handler)

    def start(self) -> None:
        """Load the current objects and subscribe; replays them to handlers as ADDED."""
        self._unsubscribe = self._cluster.subscribe(self.resource, self._on_event)
        items, _ = self._cluster.list(self.resource)
        for obj in items:
            if key_of(obj) not in self._objects:
                self._on_event("ADDED", obj)

    def stop(self) -> None:
        """Unsubscribe."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        """The current object, or None."""
        return self._objects.get(key)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._objects.values()))

    def __len__(self) -> int:
        return len(self._objects)

    def owned_by(self, uid: str) -> list[dict[str, Any]]:
        """Objects whose controller owner reference has this uid."""
        return [self._objects[k] for k in self._by_owner.get(uid, ())]

    def on_node(self, node: str) -> list[dict[str, Any]]:
        """Objects bound to `node` (requires `by_node=True`)."""
        assert self._by_node is not None
        return [self._objects[k] for k in self._by_node.get(node, ())]

    def _on_event(self, event: str, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        if event == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = obj
            self._index(key, obj)
        for handler in self._handlers:
            handler(event, old, obj)

    def _index(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        owner = controller_uid(obj)
        if owner is not None:
            self._by_owner[owner].add(key)
        if self._by_node is not None:
            node = (obj.get("spec") or {}).get("nodeName")
            if node:
                self._by_node[node].add(key)

    def _unindex(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        owner = controller_uid(obj)
        if owner is not None:
            owned = self._by_owner.get(owner)
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self._by_owner[owner]
        if self._by_node is not None:
            node = (obj.get("spec") or {}).get("nodeName")
            if node and node in self._by_node:
                self._by_node[node].discard(key)
