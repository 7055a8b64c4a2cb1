"""Structural schemas of custom resources: pruning, defaulting and validation.

A CRD version's `openAPIV3Schema` drives three things the real API server does to every
custom resource it decodes (apiextensions-apiserver `pkg/apiserver/schema`):

* **defaulting** (`default:`): a property that is missing, or null while not `nullable`, gets a
  deep copy of its default, and defaulting continues inside the value just placed, so defaults
  nest. It runs inside array items and map values too.
* **null pruning**: a non-nullable property that is null and has no default is removed.
* **pruning**: properties the schema does not declare are dropped, except under
  `x-kubernetes-preserve-unknown-fields: true` (or `additionalProperties`). The root and every
  `x-kubernetes-embedded-resource` keep `apiVersion`, `kind` and `metadata`; their `metadata` keeps
  only the fields of `ObjectMeta` (the server round-trips it through the Go type).

Validation reproduces kube-openapi's validators and apiextensions' translation of their errors into
`field.Error`s, so `Cause.message` is `ErrorBody()` of the real server, e.g.
`Invalid value: "string": spec.replicas in body must be of type integer: "string"`.

Known gaps (documented, not silently different): CEL rules (`x-kubernetes-validations`) are not
evaluated; `anyOf`/`oneOf`/`not` are checked but report a single simplified error;
string formats are checked for `date-time`, `date`, `uuid`, `ipv4`, `ipv6`, `cidr` and `byte` only;
`int32`/`int64` ranges are not enforced (neither does the real server's type validator);
validation ratcheting of unchanged fields on update is not modelled.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from kubesim.schemas import TypeSchema

__all__ = [
    "OBJECT_META_FIELDS",
    "Cause",
    "go_quote",
    "go_value",
    "invalid_message",
    "prune_and_default",
    "status_causes",
    "strict_decoding_message",
    "unknown_fields",
    "validate",
]

Schema = dict[str, Any]

# Every field of metav1.ObjectMeta: what survives the server's ObjectMeta round trip.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")


class Cause(NamedTuple):
    """One field error, as the API server puts it in `Status.details.causes`.

    `type` is the CauseType (`FieldValueInvalid`, ...), `field` the path (`spec.replicas`),
    `message` the error body without the field (`Required value`)."""

    type: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


# ---------------------------------------------------------------- Go-style formatting


def go_quote(text: str) -> str:
    """`strconv.Quote`: double-quoted with Go escapes (printable unicode kept)."""
    out = ['"']
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _go_number(value: float) -> str:
    """Go's `%v` of an int64 or float64 (shortest repr, exponent from 1e21)."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text


def go_value(value: Any) -> str:
    """How `field.Error.ErrorBody` prints a bad value: numbers and bools bare, strings quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    # Go prints maps and slices with %#v; JSON is the readable equivalent.
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _invalid(path: str, value: Any, detail: str, kind: str = "FieldValueInvalid") -> Cause:
    return Cause(kind, path, f"Invalid value: {go_value(value)}: {detail}")


# ---------------------------------------------------------------- pruning and defaulting


def prune_and_default(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `obj` defaulted and pruned by a CRD version's openAPIV3Schema.

    Idempotent: applying it to its own result changes nothing."""
    result = copy.deepcopy(obj)
    _default_and_prune(schema or {}, result, resource_root=True)
    return result


def _default_and_prune(schema: Schema, value: Any, *, resource_root: bool = False) -> None:
    """Default then prune `value` in place."""
    if isinstance(value, dict):
        _object(schema, value, resource_root=resource_root)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                _default_and_prune(items, item, resource_root=_embedded(items))


def _embedded(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-embedded-resource"))


def _object(schema: Schema, value: dict[str, Any], *, resource_root: bool) -> None:
    properties: dict[str, Any] = schema.get("properties") or {}
    for key, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        present = key in value
        if present and value[key] is not None:
            continue
        if present and prop.get("nullable"):
            continue  # null is kept, and not defaulted, where the schema allows it
        if "default" in prop:
            value[key] = copy.deepcopy(prop["default"])
        elif present:
            del value[key]
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or additional is True
    for key in list(value):
        if resource_root and key in _RESOURCE_FIELDS:
            if key == "metadata" and isinstance(value[key], dict):
                _coerce_object_meta(value[key])
            continue
        sub = properties.get(key)
        if isinstance(sub, dict):
            _default_and_prune(sub, value[key], resource_root=_embedded(sub))
        elif isinstance(additional, dict):
            _default_and_prune(additional, value[key], resource_root=_embedded(additional))
        elif not preserve:
            del value[key]


def _coerce_object_meta(meta: dict[str, Any]) -> None:
    for key in [k for k in meta if k not in OBJECT_META_FIELDS]:
        del meta[key]


# ---------------------------------------------------------------- validation


def validate(schema: Schema, obj: Any) -> list[Cause]:
    """Validate `obj` against a CRD version's openAPIV3Schema; never raises.

    Field paths are `spec.workerGroupSpecs[0].replicas` (maps: `spec.labels.key`). Root
    `metadata` is left to the generic ObjectMeta validation."""
    causes: list[Cause] = []
    _validate(schema or {}, obj, "", causes, resource_root=True)
    return _dedup(causes)


def _dedup(causes: Iterable[Cause]) -> list[Cause]:
    seen: set[str] = set()
    out = []
    for cause in causes:
        if str(cause) not in seen:
            seen.add(str(cause))
            out.append(cause)
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _allowed_types(schema: Schema) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    declared = schema.get("type")
    if isinstance(declared, str) and declared:
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    return []


def _type_ok(value: Any, allowed: list[str]) -> bool:
    actual = _json_type(value)
    if actual in allowed:
        return True
    if actual == "integer" and "number" in allowed:
        return True
    # Go decodes 3.0 as a float64 that still passes an integer type check.
    return (
        actual == "number" and "integer" in allowed and math.isfinite(value) and value == int(value)
    )


def _validate(
    schema: Any, value: Any, path: str, causes: list[Cause], *, resource_root: bool = False
) -> None:
    if not isinstance(schema, dict):
        return
    allowed = _allowed_types(schema)
    if value is None:
        if allowed and "null" not in allowed and not schema.get("nullable"):
            detail = f'{path or "."} in body must be of type {",".join(allowed)}: "null"'
            causes.append(_invalid(path, "null", detail, "FieldValueTypeInvalid"))
        return
    if allowed and not _type_ok(value, allowed):
        actual = _json_type(value)
        detail = f'{path} in body must be of type {",".join(allowed)}: "{actual}"'
        causes.append(_invalid(path, actual, detail, "FieldValueTypeInvalid"))
        return
    _validate_combinators(schema, value, path, causes)
    if isinstance(value, str):
        _validate_string(schema, value, path, causes)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(schema, value, path, causes)
    elif isinstance(value, list):
        _validate_array(schema, value, path, causes)
    _validate_enum(schema, value, path, causes)
    if isinstance(value, dict):
        _validate_object(schema, value, path, causes, resource_root=resource_root)


def _validate_combinators(schema: Schema, value: Any, path: str, causes: list[Cause]) -> None:
    for sub in schema.get("allOf") or []:
        _validate(sub, value, path, causes)
    for word, need in (("anyOf", "at least one"), ("oneOf", "only one")):
        branches = schema.get(word) or []
        if not branches or (word == "anyOf" and schema.get("x-kubernetes-int-or-string")):
            continue
        passing = sum(1 for sub in branches if not _sub_causes(sub, value, path))
        if passing == 0 or (word == "oneOf" and passing > 1):
            detail = f"{path} must validate {need} schema ({word})"
            causes.append(_invalid(path, "", detail))
    negated = schema.get("not")
    if isinstance(negated, dict) and not _sub_causes(negated, value, path):
        causes.append(_invalid(path, "", f"{path} must not validate the schema (not)"))


def _sub_causes(schema: Schema, value: Any, path: str) -> list[Cause]:
    found: list[Cause] = []
    _validate(schema, value, path, found)
    return found


def _is_datetime(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper()


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "date-time": _is_datetime,
    "date": _is_date,
    "uuid": _is_uuid,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "cidr": _is_cidr,
    "byte": _is_base64,
}


def _validate_string(schema: Schema, value: str, path: str, causes: list[Cause]) -> None:
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        causes.append(
            Cause("FieldValueTooLong", path, f"Too long: may not be longer than {max_length}")
        )
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        detail = f"{path} in body should be at least {min_length} chars long"
        causes.append(_invalid(path, value, detail))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, value):
        causes.append(_invalid(path, value, f"{path} in body should match '{pattern}'"))
    fmt = schema.get("format")
    check = _FORMAT_CHECKS.get(fmt) if isinstance(fmt, str) else None
    if check is not None and not check(value):
        detail = f"{path} in body must be of type {fmt}: {go_quote(value)}"
        causes.append(_invalid(path, value, detail, "FieldValueTypeInvalid"))


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True  # a pattern Python cannot compile is not the user's fault; accept


def _validate_number(schema: Schema, value: float, path: str, causes: list[Cause]) -> None:
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        quotient = value / multiple
        if not math.isclose(quotient, round(quotient), abs_tol=1e-9):
            detail = f"{path} in body should be a multiple of {_go_number(multiple)}"
            causes.append(_invalid(path, value, detail))
    maximum = schema.get("maximum")
    if isinstance(maximum, int | float) and not isinstance(maximum, bool):
        exclusive = bool(schema.get("exclusiveMaximum"))
        if value > maximum or (exclusive and value == maximum):
            words = "less than" if exclusive else "less than or equal to"
            detail = f"{path} in body should be {words} {_go_number(maximum)}"
            causes.append(_invalid(path, value, detail))
    minimum = schema.get("minimum")
    if isinstance(minimum, int | float) and not isinstance(minimum, bool):
        exclusive = bool(schema.get("exclusiveMinimum"))
        if value < minimum or (exclusive and value == minimum):
            words = "greater than" if exclusive else "greater than or equal to"
            detail = f"{path} in body should be {words} {_go_number(minimum)}"
            causes.append(_invalid(path, value, detail))


def _validate_array(schema: Schema, value: list[Any], path: str, causes: list[Cause]) -> None:
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(items, item, f"{path}[{index}]", causes, resource_root=_embedded(items))
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        detail = f"{path} in body should have at least {min_items} items"
        causes.append(_invalid(path, len(value), detail))
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        message = f"Too many: {len(value)}: must have at most {max_items} items"
        causes.append(Cause("FieldValueTooMany", path, message))
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        seen = [json.dumps(item, sort_keys=True) for item in value]
        if len(set(seen)) != len(seen):
            if schema.get("uniqueItems"):
                causes.append(_invalid(path, "", f"{path} in body shouldn't contain duplicates"))
            else:
                first_dup = next(v for i, v in enumerate(value) if seen[i] in seen[:i])
                index = value.index(first_dup, value.index(first_dup) + 1)
                causes.append(
                    Cause(
                        "FieldValueDuplicate",
                        f"{path}[{index}]",
                        f"Duplicate value: {go_value(first_dup)}",
                    )
                )


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) or (_is_number(a) and _is_number(b))) and a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _validate_enum(schema: Schema, value: Any, path: str, causes: list[Cause]) -> None:
    enum = schema.get("enum")
    if not isinstance(enum, list) or not enum:
        return
    if any(_json_equal(value, allowed) for allowed in enum):
        return
    supported = [
        go_quote(a if isinstance(a, str) else json.dumps(a, separators=(",", ":"))) for a in enum
    ]
    message = f"Unsupported value: {go_value(value)}: supported values: {', '.join(supported)}"
    causes.append(Cause("FieldValueNotSupported", path, message))


def _validate_object(
    schema: Schema, value: dict[str, Any], path: str, causes: list[Cause], *, resource_root: bool
) -> None:
    properties: dict[str, Schema] = schema.get("properties") or {}
    prefix = f"{path}." if path else ""
    for key, sub in properties.items():
        if key in value and not (resource_root and key == "metadata"):
            _validate(sub, value[key], prefix + key, causes, resource_root=_embedded(sub))
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        for key, item in value.items():
            if key not in properties:
                _validate(
                    additional, item, prefix + key, causes, resource_root=_embedded(additional)
                )
    for key in schema.get("required") or []:
        if key not in value:
            causes.append(Cause("FieldValueRequired", prefix + key, "Required value"))
    count = len(value)
    max_props = schema.get("maxProperties")
    if isinstance(max_props, int) and count > max_props:
        message = f"Too many: {count}: must have at most {max_props} items"
        causes.append(Cause("FieldValueTooMany", path, message))
    min_props = schema.get("minProperties")
    if isinstance(min_props, int) and count < min_props:
        detail = f"{path} in body should have at least {min_props} properties"
        causes.append(_invalid(path, count, detail))


# ---------------------------------------------------------------- Status helpers


def status_causes(causes: Iterable[Cause]) -> list[dict[str, str]]:
    """`Status.details.causes` entries (`reason`, `message`, `field`), duplicates removed."""
    return [{"reason": c.type, "message": c.message, "field": c.field} for c in _dedup(causes)]


def invalid_message(kind: str, group: str, name: str, causes: Iterable[Cause]) -> str:
    """The 422 message the server builds: `Kind.group "name" is invalid: <errors>`.

    One error prints bare, several are joined by `, ` inside `[...]`, duplicates once
    (`field.ErrorList.ToAggregate`)."""
    parts = [str(c) for c in _dedup(causes)]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return f"{qualified} {go_quote(name)} is invalid: {body}"


# ---------------------------------------------------------------- strict field validation


def unknown_fields(schema: TypeSchema | None, obj: Any) -> list[str]:
    """Paths of the fields `schema` does not declare (`spec.containers[0].imagePullPolcy`).

    What `fieldValidation=Strict` rejects and `Warn` warns about. Works for built-ins
    (`builtin_schema`) and custom resources (`schema_from_openapi_v3`); `apiVersion` and `kind`
    are always known at the root, and nothing under preserve-unknown-fields is reported."""
    found: list[str] = []
    if schema is not None:
        _unknown(schema, obj, "", found, resource_root=True)
    return found


def _unknown(
    schema: TypeSchema, value: Any, path: str, found: list[str], *, resource_root: bool = False
) -> None:
    if schema.is_untyped and not schema.properties:
        return
    if isinstance(value, list):
        items = schema.items
        if items is not None:
            for index, item in enumerate(value):
                _unknown(
                    items, item, f"{path}[{index}]", found, resource_root=items.embedded_resource
                )
        return
    if not isinstance(value, dict):
        return
    prefix = f"{path}." if path else ""
    for key, item in value.items():
        sub = schema.field(key)
        if sub is None and resource_root and key in ("apiVersion", "kind"):
            continue
        if sub is None and resource_root and key == "metadata":
            continue  # ObjectMeta is coerced, never reported by the CRD decoder
        if sub is None:
            additional = schema.additional_properties
            if additional is not None:
                _unknown(additional, item, prefix + str(key), found)
            elif not schema.preserve_unknown_fields:
                found.append(prefix + str(key))
            continue
        _unknown(sub, item, prefix + str(key), found, resource_root=sub.embedded_resource)


def strict_decoding_message(paths: Iterable[str]) -> str:
    """The 400 BadRequest message for `fieldValidation=Strict`: `strict decoding error: unknown field "spec.x", ...`."""
    return "strict decoding error: " + ", ".join(f"unknown field {go_quote(p)}" for p in paths)
