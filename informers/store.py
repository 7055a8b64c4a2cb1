"""An indexed, in-memory cache of API objects keyed by ``"namespace/name"`` (or ``"name"``).

Like client-go's ``ThreadSafeStore`` + ``Indexer``:

- ``get(key)``, ``list()``, ``keys()``; named indexes (``by_index(name, value)``), with the
  ``"namespace"`` index and the ``"owner"`` index (uid of the *controller* owner reference)
  built in, and any other index function added with ``add_index`` (before or after items exist);
- ``replace(objects)`` swaps in a fresh list (after a relist) and reports what changed,
  including objects that vanished meanwhile as :class:`DeletedFinalStateUnknown` tombstones
  carrying their last known state: that is how deletes missed during a watch gap are delivered.

NEVER mutate an object obtained from a store: it is shared by every reader and by the indexes
(copy it first, e.g. ``copy.deepcopy``). The store keeps the objects it is given as they are,
which is what makes it cheap; an informer created with ``read_only=True`` stores
:func:`informers.freeze`-n objects instead, which raise ``TypeError`` on mutation.

Every method is plain ``def``: the store never awaits, so a reader never sees half an update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "NAMESPACE_INDEX",
    "OWNER_INDEX",
    "DeletedFinalStateUnknown",
    "IndexFunc",
    "ReplaceResult",
    "Store",
    "controller_owner_uids",
    "namespace_of",
    "object_key",
]

Obj = dict[str, Any]
ObjList = list[Obj]
KeyList = list[str]
IndexFunc = Callable[[Obj], Iterable[str]]
"""Maps an object to the index values it is found under (none, one or several)."""

NAMESPACE_INDEX = "namespace"
OWNER_INDEX = "owner"


class DeletedFinalStateUnknown(NamedTuple):
    """A delete noticed only by a relist: ``obj`` is the last state seen, possibly stale."""

    key: str
    obj: Obj


def object_key(obj: Obj | DeletedFinalStateUnknown) -> str:
    """``"namespace/name"`` for namespaced objects, ``"name"`` for cluster-scoped ones."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    name: str = metadata["name"]
    return f"{namespace}/{name}" if namespace else name


def namespace_of(obj: Obj) -> list[str]:
    """Index function of the ``"namespace"`` index."""
    namespace = obj["metadata"].get("namespace")
    return [namespace] if namespace else []


def controller_owner_uids(obj: Obj) -> list[str]:
    """Index function of the ``"owner"`` index: the uid of the controller owner, if any."""
    refs = obj["metadata"].get("ownerReferences") or ()
    return [ref["uid"] for ref in refs if ref.get("controller") and ref.get("uid")]


@dataclass(slots=True)
class ReplaceResult:
    """What :meth:`Store.replace` changed, in list order."""

    added: list[Obj] = field(default_factory=list)
    updated: list[tuple[Obj, Obj]] = field(default_factory=list)
    unchanged: list[Obj] = field(default_factory=list)
    deleted: list[DeletedFinalStateUnknown] = field(default_factory=list)


class Store:
    """Objects by key, plus named indexes of keys by value."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        """Index by namespace and controller owner, plus ``indexers`` (name → function)."""
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {
            NAMESPACE_INDEX: namespace_of,
            OWNER_INDEX: controller_owner_uids,
        }
        # index name -> value -> keys; an empty set is removed with its value.
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
        for name, function in (indexers or {}).items():
            self.add_index(name, function)

    # ------------------------------------------------------------------ reads

    def get(self, key: str) -> Obj | None:
        """The object stored under ``key``, or None. Do not mutate it."""
        return self._items.get(key)

    def list(self) -> ObjList:
        """Every object (a new list of the shared objects)."""
        return list(self._items.values())

    def keys(self) -> KeyList:
        """Every key."""
        return list(self._items)

    def __len__(self) -> int:
        """The number of objects."""
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is stored."""
        return key in self._items

    def by_index(self, index_name: str, value: str) -> ObjList:
        """Objects whose ``index_name`` function returned ``value``, in key order."""
        return [self._items[key] for key in self.index_keys(index_name, value)]

    def index_keys(self, index_name: str, value: str) -> KeyList:
        """Keys of the objects under ``value`` in ``index_name``, sorted."""
        try:
            index = self._indices[index_name]
        except KeyError:
            raise KeyError(f"index_name: no index named {index_name!r}") from None
        return sorted(index.get(value, ()))

    def index_values(self, index_name: str) -> KeyList:
        """Every value present in ``index_name``."""
        return list(self._indices[index_name])

    # ------------------------------------------------------------------ writes

    def add_index(self, name: str, function: IndexFunc) -> None:
        """Add an index and index the objects already stored."""
        if name in self._indexers:
            raise ValueError(f"name: an index named {name!r} already exists")
        self._indexers[name] = function
        index: dict[str, set[str]] = {}
        self._indices[name] = index
        for key, obj in self._items.items():
            for value in function(obj):
                index.setdefault(value, set()).add(key)

    def upsert(self, obj: Obj) -> Obj | None:
        """Store ``obj`` under its key; return the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        self._items[key] = obj
        self._reindex(key, old, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Remove ``key``; return the object removed, if any."""
        old = self._items.pop(key, None)
        if old is not None:
            self._reindex(key, old, None)
        return old

    def replace(self, objects: Iterable[Obj]) -> ReplaceResult:
        """Make the store hold exactly ``objects``; report adds, updates and tombstones.

        An object whose resourceVersion did not change counts as unchanged.
        """
        result = ReplaceResult()
        seen: set[str] = set()
        for obj in objects:
            key = object_key(obj)
            seen.add(key)
            old = self.upsert(obj)
            if old is None:
                result.added.append(obj)
            elif _rv(old) == _rv(obj):
                result.unchanged.append(obj)
            else:
                result.updated.append((old, obj))
        for key in [key for key in self._items if key not in seen]:
            old = self.delete(key)
            assert old is not None
            result.deleted.append(DeletedFinalStateUnknown(key, old))
        return result

    def _reindex(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for name, function in self._indexers.items():
            old_list = list(function(old)) if old is not None else []
            new_list = list(function(new)) if new is not None else []
            if old_list == new_list:  # the common case: an update that moves nothing
                continue
            old_values, new_values = set(old_list), set(new_list)
            index = self._indices[name]
            for value in old_values - new_values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
            for value in new_values - old_values:
                index.setdefault(value, set()).add(key)


def _rv(obj: Obj) -> str | None:
    rv: str | None = obj["metadata"].get("resourceVersion")
    return rv
