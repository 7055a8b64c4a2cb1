"""Field sets: which fields of an object a manager owns, and their FieldsV1 encoding.

A field path is a tuple of path elements, each already in the FieldsV1 key form the real
server writes (structured-merge-diff's ``fieldpath/serialize-pe.go``):

    f:<name>              a struct field or map key
    k:<json object>       an associative-list item, by its key fields (sorted, compact JSON)
    v:<json value>        a set item
    i:<n>                 a list index (rare: atomic lists are owned whole)

A field set is a plain ``set`` of such tuples, so union, difference and intersection are
Python's. `flatten` walks an object under its schema once and returns every owned path with
its leaf value; that one walk gives both the object's field set and what `compare` needs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from kubesim.apiserver.patching._values import json_equal
from kubesim.apiserver.schemas import UNTYPED, TypeSchema

__all__ = [
    "NODE",
    "STRIPPED",
    "FieldPath",
    "compare",
    "flatten",
    "flatten_item",
    "flatten_member",
    "from_fields_v1",
    "item_element",
    "path_sort_key",
    "path_string",
    "prefixes",
    "to_fields_v1",
]

FieldPath = tuple[str, ...]


class _Node:
    """Leaf value recorded for owned containers (list items, untyped map entries)."""

    def __repr__(self) -> str:
        return "NODE"


#: The value `flatten` records for a path that is owned and also has children.
NODE: Final = _Node()

#: Paths the real server never records in managedFields (``stripmeta.go``).
STRIPPED: Final = frozenset(
    [
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        *(
            ("f:metadata", f"f:{name}")
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "clusterName",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        ),
    ]
)


_SCALARS: Final = frozenset([str, int, float, bool])


def _dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def item_element(item: Any, schema: TypeSchema) -> str:
    """The path element of one item of a set or associative list described by `schema`."""
    if schema.effective_list_type == "map" and isinstance(item, dict):
        names = schema.effective_map_keys
        if len(names) == 1 and names[0] in item:
            # The common case (name-keyed lists), without building and sorting a dict.
            return f'k:{{"{names[0]}":{orjson.dumps(item[names[0]]).decode()}}}'
        defaults = schema.key_defaults
        key = {}
        for name in names:
            if name in item:
                key[name] = item[name]
            elif name in defaults:
                key[name] = defaults[name]
        return "k:" + _dumps(key)
    return "v:" + _dumps(item)


def flatten(
    obj: Mapping[str, Any],
    schema: TypeSchema,
    *,
    containers: bool = False,
    problems: list[str] | None = None,
) -> dict[FieldPath, Any]:
    """Every path `obj` sets, mapped to its leaf value (`NODE` for owned containers).

    The keys are the object's field set as structured-merge-diff's ``ToFieldSet`` computes it,
    minus the fields the real server never records (apiVersion, kind, metadata.name, ...).

    With `containers`, fields absent from the type's empty object (optional maps such as
    labels, merged lists such as env, pointer structs such as readinessProbe; every object in
    a custom resource) are recorded as nodes too: that is what an Update's comparison sees on
    the real server, where adding one adds the node itself and the writer owns it
    (``f:labels: {".": {}, ...}``). See `TypeSchema.absent_in_zero_value`.

    With `problems`, what makes `obj` unusable as an apply configuration is appended to it,
    worded like structured-merge-diff: duplicate list keys, and items missing a key field.
    """
    out: dict[FieldPath, Any] = {}
    _walk_map(obj, schema, (), out, containers, problems)
    for path in STRIPPED:
        out.pop(path, None)
    return out


def _walk(
    value: Any,
    schema: TypeSchema,
    path: FieldPath,
    out: dict[FieldPath, Any],
    containers: bool,
    problems: list[str] | None,
) -> None:
    if isinstance(value, dict) and schema.type in ("object", None) and not schema.is_atomic_map:
        _walk_map(value, schema, path, out, containers, problems)
    elif isinstance(value, list) and schema.type == "array":
        kind = schema.effective_list_type
        if kind == "atomic":
            out[path] = value
            return
        items = schema.items or UNTYPED
        for index, item in enumerate(value):
            element = item_element(item, schema)
            child = (*path, element)
            if problems is not None:
                _check_item(item, index, element, child in out, schema, path, problems)
            if kind == "map" and isinstance(item, dict):
                out[child] = NODE
                _walk_map(item, items, child, out, containers, problems)
            else:
                out[child] = item
    else:
        out[path] = value


def _check_item(
    item: Any,
    index: int,
    element: str,
    seen: bool,
    schema: TypeSchema,
    path: FieldPath,
    problems: list[str],
) -> None:
    if schema.effective_list_type == "map" and isinstance(item, dict):
        defaults = schema.key_defaults
        for name in schema.effective_map_keys:
            if name not in item and name not in defaults:
                problems.append(
                    f"{path_string(path)}: element {index}: associative list with keys has an element that "
                    f'omits key field "{name}" (and doesn\'t have default value)'
                )
                return
    if seen:
        problems.append(f"{path_string(path)}: duplicate entries for key {path_string((element,))}")


def _walk_map(
    value: Mapping[str, Any],
    schema: TypeSchema,
    path: FieldPath,
    out: dict[FieldPath, Any],
    containers: bool,
    problems: list[str] | None = None,
) -> None:
    for key, child_value in value.items():
        child = (*path, "f:" + key)
        if type(child_value) in _SCALARS:
            out[child] = child_value  # the common case, whatever the schema says
            continue
        declared = schema.field(key)
        if declared is None:
            sub = schema.additional_properties or UNTYPED
            if isinstance(child_value, dict) and child_value and not sub.is_atomic_map:
                # Map entries that are not struct fields are owned themselves, not only
                # their contents (structured-merge-diff's visitMapItems).
                out[child] = NODE
                _walk_map(child_value, sub, child, out, containers, problems)
                continue
        else:
            sub = declared
            if containers and child_value and schema.absent_in_zero_value(key):
                out[child] = NODE
        if child_value is None or (isinstance(child_value, dict) and not child_value):
            out[child] = child_value
        else:
            _walk(child_value, sub, child, out, containers, problems)


def flatten_member(
    schema: TypeSchema, key: str, value: Any, path: FieldPath, *, containers: bool = False
) -> dict[FieldPath, Any]:
    """`flatten` of the single member ``key: value`` of the object at `path` (typed `schema`)."""
    out: dict[FieldPath, Any] = {}
    _walk_map({key: value}, schema, path, out, containers)
    return out


def flatten_item(
    schema: TypeSchema, item: Any, path: FieldPath, *, containers: bool = False
) -> dict[FieldPath, Any]:
    """`flatten` of one item of the merged list at `path` (typed `schema`)."""
    out: dict[FieldPath, Any] = {}
    _walk([item], schema, path, out, containers, None)
    return out


def compare(
    old: Mapping[FieldPath, Any], new: Mapping[FieldPath, Any]
) -> tuple[set[FieldPath], set[FieldPath], set[FieldPath]]:
    """(added, modified, removed) paths between two `flatten` results."""
    added = new.keys() - old.keys()
    removed = old.keys() - new.keys()
    modified = set()
    for path, value in new.items():
        if path in old:
            before = old[path]
            if before is value:
                continue
            kind = type(before)
            if kind is type(value) and kind in _SCALARS:
                if before != value:
                    modified.add(path)
            elif before is NODE or value is NODE or not json_equal(before, value):
                modified.add(path)
    return set(added), modified, set(removed)


def prefixes(paths: Iterable[FieldPath]) -> set[FieldPath]:
    """Every path in `paths` and all of their ancestors."""
    out: set[FieldPath] = set()
    for path in paths:
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            if prefix in out:
                break
            out.add(prefix)
    return out


# ---------------------------------------------------------------------- FieldsV1

_RANK: Final = {"f": 0, "k": 1, "v": 2, "i": 3}


def _value_order(value: Any) -> tuple[int, Any]:
    # structured-merge-diff compares numbers numerically and strings as strings.
    if isinstance(value, bool):
        return 0, int(value)
    if isinstance(value, int | float):
        return 1, value
    if isinstance(value, str):
        return 2, value
    return 3, _dumps(value)


@functools.lru_cache(maxsize=8192)
def _element_order(element: str) -> tuple[int, Any]:
    kind = _RANK.get(element[:1], 4)
    body = element[2:]
    if kind == 3:
        return kind, int(body) if body.isdigit() else 0
    if kind in (1, 2):
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            decoded = body
        if kind == 1:
            pairs = decoded.items() if isinstance(decoded, dict) else [("", decoded)]
            return kind, tuple((str(name), _value_order(v)) for name, v in pairs)
        return kind, (_value_order(decoded),)
    return kind, body


def path_sort_key(path: FieldPath) -> tuple[tuple[int, Any], ...]:
    """Sort key putting paths in structured-merge-diff's set order (fields, keys, values, indexes)."""
    return tuple(_element_order(element) for element in path)


def to_fields_v1(paths: Iterable[FieldPath]) -> dict[str, Any]:
    """The FieldsV1 JSON object for a field set (``"."`` marks an owned node with children)."""
    trie: dict[str, Any] = {}
    for path in paths:
        node = trie
        for element in path:
            node = node.setdefault(element, {})
        node["."] = None
    return _emit(trie)


def _emit(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "." in node:
        if len(node) == 1:
            return out  # a leaf, the most common node
        out["."] = {}
    children = [k for k in node if k != "."]
    if len(children) > 1:
        children.sort(key=_element_order)
    for key in children:
        out[key] = _emit(node[key])
    return out


def from_fields_v1(fields: Any, prefix: FieldPath = ()) -> set[FieldPath]:
    """The field set a FieldsV1 object encodes (the inverse of `to_fields_v1`)."""
    out: set[FieldPath] = set()
    if not isinstance(fields, dict):
        return out
    if not fields and prefix:
        out.add(prefix)
        return out
    for key, value in fields.items():
        if key == ".":
            if prefix:
                out.add(prefix)
            continue
        out |= from_fields_v1(value, (*prefix, key))
    return out


# ---------------------------------------------------------------------- printing


def _go_value(value: Any) -> str:
    """structured-merge-diff's ``value.ToString``: strings quoted, numbers and bools bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    return str(value)


def path_string(path: FieldPath) -> str:
    """A path as the real server prints it in conflicts, e.g. ``.spec.containers[name="c"].image``."""
    parts: list[str] = []
    for element in path:
        kind, body = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + body)
        elif kind == "k:":
            key = orjson.loads(body)
            parts.append("[" + ",".join(f"{k}={_go_value(v)}" for k, v in key.items()) + "]")
        elif kind == "v:":
            parts.append(f"[={_go_value(orjson.loads(body))}]")
        else:
            parts.append(f"[{body}]")
    return "".join(parts)
