"""What changed between two versions of an object, as field paths, without walking what did not.

`diff(old, new, schema)` returns the same (added, modified, removed) sets as `compare` of the
two objects' `flatten` results, but descends in parallel and skips every subtree that is
identical on both sides (same object, or the same JSON): a status write does not walk the
spec, and a replicas change does not walk the pod template. Subtrees it cannot pair up
(different shapes, duplicate list keys) are flattened and compared whole, so the answer is
always the full comparison's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from kubesim.apiserver.patching.fieldsets import (
    STRIPPED,
    FieldPath,
    compare,
    flatten_item,
    flatten_member,
    item_element,
)
from kubesim.apiserver.schemas import UNTYPED, TypeSchema

__all__ = ["diff"]

_ABSENT: Final = object()

#: Members never recorded in field sets, skipped before any comparison (see `STRIPPED`).
_SKIP: Final[dict[FieldPath, frozenset[str]]] = {
    (): frozenset(["apiVersion", "kind"]),
    ("f:metadata",): frozenset(
        ["managedFields", *(path[1][2:] for path in STRIPPED if len(path) == 2)]
    ),
}
_NOTHING: Final[frozenset[str]] = frozenset()


def _same(left: Any, right: Any) -> bool:
    """Exact JSON equality (``true`` is not ``1``) at C speed; False when unsure."""
    if left is right:
        return True
    if left is _ABSENT or right is _ABSENT:
        return False
    try:
        return orjson.dumps(left) == orjson.dumps(right)
    except (TypeError, orjson.JSONEncodeError):
        return False


class _Changes:
    """The three accumulating path sets."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added: set[FieldPath] = set()
        self.modified: set[FieldPath] = set()
        self.removed: set[FieldPath] = set()

    def compare(self, old: Mapping[FieldPath, Any], new: Mapping[FieldPath, Any]) -> None:
        added, modified, removed = compare(old, new)
        self.added |= added
        self.modified |= modified
        self.removed |= removed


def diff(
    old: Mapping[str, Any], new: Mapping[str, Any], schema: TypeSchema, *, containers: bool = False
) -> tuple[set[FieldPath], set[FieldPath], set[FieldPath]]:
    """(added, modified, removed) field paths from `old` to `new`; managedFields are ignored.

    `containers` is `flatten`'s (the Update flavour of ownership).
    """
    changes = _Changes()
    _diff_map(old, new, schema, (), containers, changes)
    for path in STRIPPED:
        changes.added.discard(path)
        changes.modified.discard(path)
        changes.removed.discard(path)
    return changes.added, changes.modified, changes.removed


def _member(
    schema: TypeSchema, key: str, value: Any, path: FieldPath, containers: bool
) -> dict[FieldPath, Any]:
    if value is _ABSENT:
        return {}
    return flatten_member(schema, key, value, path, containers=containers)


def _item(schema: TypeSchema, item: Any, path: FieldPath, containers: bool) -> dict[FieldPath, Any]:
    if item is _ABSENT:
        return {}
    return flatten_item(schema, item, path, containers=containers)


def _diff_map(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    schema: TypeSchema,
    path: FieldPath,
    containers: bool,
    changes: _Changes,
) -> None:
    skip = _SKIP.get(path, _NOTHING) if len(path) < 2 else _NOTHING
    for key in old.keys() | new.keys():
        if key in skip:
            continue
        before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if _same(before, after):
            continue
        child = (*path, "f:" + key)
        # Two non-empty containers of the same kind have the same entry for the key itself
        # (a node or nothing) on both sides, so only their contents can differ.
        if isinstance(before, dict) and isinstance(after, dict) and before and after:
            sub = schema.member(key)
            if sub.type in ("object", None) and not sub.is_atomic_map:
                _diff_map(before, after, sub, child, containers, changes)
                continue
        elif isinstance(before, list) and isinstance(after, list) and before and after:
            sub = schema.member(key)
            merged_list = sub.type == "array" and sub.effective_list_type != "atomic"
            if merged_list and _diff_list(before, after, sub, child, containers, changes):
                continue
        changes.compare(
            _member(schema, key, before, path, containers),
            _member(schema, key, after, path, containers),
        )


def _keyed(items: list[Any], schema: TypeSchema) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for item in items:
        element = item_element(item, schema)
        if element in out:
            return None  # duplicates: let the whole-list comparison decide
        out[element] = item
    return out


def _diff_list(
    old: list[Any],
    new: list[Any],
    schema: TypeSchema,
    path: FieldPath,
    containers: bool,
    changes: _Changes,
) -> bool:
    """Compare two merged lists item by item; False when they cannot be paired up."""
    before_items, after_items = _keyed(old, schema), _keyed(new, schema)
    if before_items is None or after_items is None:
        return False
    items = schema.items or UNTYPED
    is_map = schema.effective_list_type == "map"
    for element in before_items.keys() | after_items.keys():
        before = before_items.get(element, _ABSENT)
        after = after_items.get(element, _ABSENT)
        if _same(before, after):
            continue
        if is_map and isinstance(before, dict) and isinstance(after, dict):
            _diff_map(before, after, items, (*path, element), containers, changes)
        else:
            changes.compare(
                _item(schema, before, path, containers), _item(schema, after, path, containers)
            )
    return True
