"""Decoding a built-in object the way the Go JSON decoder does: types checked, unknown dropped.

kube-apiserver decodes request bodies into Go structs, so a value of the wrong JSON type is a
400 (`StatefulSet in version "v1" cannot be handled as a StatefulSet: json: cannot unmarshal
string into Go struct field ... of type int32`), and fields the type does not declare vanish —
unless the request asked for `fieldValidation=Strict`, which turns them into a 400
`strict decoding error: unknown field "spec.foo"`. The walk is driven by the same schemas as
the patch engine (`kubesim.schemas`).
"""

from __future__ import annotations

from typing import Any

from kubesim import errors
from kubesim.resources import ResourceInfo

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


def _type_ok(schema: Any, value: Any) -> bool:
    kind = schema.type
    if kind is None:
        return True
    if schema.int_or_string:
        return isinstance(value, str | int) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


class _Decoder:
    def __init__(self, info: ResourceInfo, strict: bool) -> None:
        self.info = info
        self.strict = strict
        self.unknown: list[str] = []

    def fail(self, path: str, value: Any, schema: Any) -> errors.StatusError:
        go_type = "int32" if schema.type == "integer" else _GO_TYPES.get(str(schema.type), "value")
        if schema.int_or_string:
            go_type = "intstr.IntOrString"
        info = self.info
        return errors.bad_request(
            f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {info.kind}.{path} of type {go_type}"
        )

    def walk(self, schema: Any, value: Any, path: str, old: Any = None) -> None:
        """Check `value`; delete undeclared keys (the only mutation, never on valid data).

        Subtrees equal to the stored object's (`old`) were checked when stored: skipped."""
        if value is None or schema is None or schema.is_untyped:
            return
        if not _type_ok(schema, value):
            raise self.fail(path, value, schema)
        if isinstance(value, dict):
            if schema.preserve_unknown_fields or not schema.properties:
                # Free-form JSON in Go (FieldsV1, RawExtension) or a plain map: nothing to prune.
                additional = schema.additional_properties
                if additional is not None and not additional.is_untyped:
                    for key, item in value.items():
                        self.walk(additional, item, f"{path}.{key}" if path else key)
                return
            additional = schema.additional_properties
            old_map = old if isinstance(old, dict) else {}
            for key in list(value):
                before = old_map.get(key)
                if before is not None and before == value[key]:
                    continue
                child = schema.field(key)
                sub_path = f"{path}.{key}" if path else key
                if child is None:
                    if additional is not None:
                        self.walk(additional, value[key], sub_path)
                    elif not (path == "" and key in _SKIP_ROOT):
                        self.unknown.append(sub_path)
                        del value[key]
                    continue
                self.walk(child, value[key], sub_path, before)
        elif isinstance(value, list):
            items = schema.items
            if items is not None:
                for i, item in enumerate(value):
                    self.walk(items, item, f"{path}[{i}]")


def decode_builtin(
    info: ResourceInfo,
    obj: dict[str, Any],
    schema: Any,
    *,
    strict: bool = False,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Type-check `obj` (in place) against its schema, dropping undeclared fields.

    Raises the decoder's 400 on a type error, or on unknown fields when `strict`."""
    if schema is None:
        return obj
    decoder = _Decoder(info, strict)
    decoder.walk(schema, obj, "", old)
    if strict and decoder.unknown:
        listed = ", ".join(f'unknown field "{p}"' for p in decoder.unknown)
        raise errors.bad_request(f"strict decoding error: {listed}")
    return obj
