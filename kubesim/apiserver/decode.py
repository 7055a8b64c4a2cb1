"""Decoding a built-in object the way the Go JSON decoder does: types checked, unknown dropped.

kube-apiserver decodes request bodies into Go structs, so a value of the wrong JSON type is a
400 (`StatefulSet in version "v1" cannot be handled as a StatefulSet: json: cannot unmarshal
string into Go struct field ... of type int32`), and fields the type does not declare vanish —
unless the request asked for `fieldValidation=Strict`, which turns them into a 400
`strict decoding error: unknown field "spec.foo"`. The walk is driven by the same schemas as
the patch engine (`kubesim.apiserver.schemas`).
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.structural import strict_decoding_message

__all__ = ["decode_builtin"]

_GO_TYPES = {
    "integer": "int64",
    "number": "float64",
    "string": "string",
    "boolean": "bool",
    "array": "array",
    "object": "object",
}
_SKIP_ROOT = frozenset({"apiVersion", "kind"})


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_TYPE_CHECKS: dict[str | None, Any] = {
    # JSON decoding yields exact types, so identity checks suffice (and keep bool out of int).
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or type(v) is float,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
}
_INT_OR_STRING = lambda v: type(v) is str or type(v) is int  # noqa: E731 - a table entry

#: A path as a chain of (parent, key) pairs: built cheaply, formatted only for messages.
_Path = tuple[Any, str | int] | None


def _format(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(reversed(parts)).lstrip(".")


#: Per schema node: (the node, its type check, free-form object?). Built-in schema nodes live
#: for the whole process (cached by `kubesim.apiserver.schemas`); holding the node keeps its id unique.
_NODES: dict[int, tuple[Any, Any, bool]] = {}


def _node(schema: Any) -> tuple[Any, bool]:
    found = _NODES.get(id(schema))
    if found is None or found[0] is not schema:
        check = _INT_OR_STRING if schema.int_or_string else _TYPE_CHECKS.get(schema.type)
        free_form = bool(schema.preserve_unknown_fields or not schema.properties)
        found = _NODES[id(schema)] = (schema, check, free_form)
    return found[1], found[2]


class _Decoder:
    def __init__(self, info: ResourceInfo, strict: bool) -> None:
        self.info = info
        self.strict = strict
        self.unknown: list[str] = []

    def fail(self, path: _Path, value: Any, schema: Any) -> errors.StatusError:
        """The decoder's 400 for a value of the wrong JSON type."""
        go_type = "int32" if schema.type == "integer" else _GO_TYPES.get(str(schema.type), "value")
        if schema.int_or_string:
            go_type = "intstr.IntOrString"
        info = self.info
        return errors.bad_request(
            f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {info.kind}.{_format(path)} of type {go_type}"
        )

    def walk(self, schema: Any, value: Any, path: _Path, old: Any = None) -> None:
        """Check `value`; delete undeclared keys (the only mutation, never on valid data).

        Subtrees equal to the stored object's (`old`) were checked when stored: skipped."""
        if value is None or schema is None or schema.type is None:
            return
        check, free_form = _node(schema)
        if check is not None and not check(value):
            raise self.fail(path, value, schema)
        if type(value) is dict:
            additional = schema.additional_properties
            if free_form:
                # Free-form JSON in Go (FieldsV1, RawExtension) or a plain map: nothing to prune.
                if additional is not None and additional.type is not None:
                    for key, item in value.items():
                        self.walk(additional, item, (path, key))
                return
            old_map = old if type(old) is dict else {}
            for key in list(value):
                before = old_map.get(key)
                if before is not None and before == value[key]:
                    continue
                child = schema.field(key)
                if child is None:
                    if additional is not None:
                        self.walk(additional, value[key], (path, key))
                    elif not (path is None and key in _SKIP_ROOT):
                        self.unknown.append(_format((path, key)))
                        del value[key]
                    continue
                self.walk(child, value[key], (path, key), before)
        elif type(value) is list:
            items = schema.items
            if items is not None:
                for i, item in enumerate(value):
                    self.walk(items, item, (path, i))


def decode_builtin(
    info: ResourceInfo,
    obj: dict[str, Any],
    schema: Any,
    *,
    strict: bool = False,
    whole_body: bool = True,
    old: dict[str, Any] | None = None,
) -> list[str]:
    """Type-check `obj` (in place) against its schema, dropping undeclared fields.

    Returns the paths of the dropped fields (for `fieldValidation=Warn`). Raises the decoder's
    400 on a type error, or on unknown fields when `strict` (worded with the decoder's prefix for
    `whole_body` create/update bodies, without it for patches)."""
    if schema is None:
        return []
    decoder = _Decoder(info, strict)
    decoder.walk(schema, obj, None, old)
    if strict and decoder.unknown:
        if whole_body:
            raise errors.bad_request(
                strict_decoding_message(decoder.unknown, kind=info.kind, version=info.version)
            )
        raise errors.bad_request(strict_decoding_message(decoder.unknown))
    return decoder.unknown
