"""Validation of custom resources against their openAPIV3Schema, worded like kube-openapi."""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable
from typing import Any

from kubesim.apiserver.structural.causes import Cause, dedup, go_number, go_quote, go_value, invalid
from kubesim.apiserver.structural.cel import (
    BLOCKING_TYPES,
    SKIPPED_CAUSE,
    has_rules,
    validate_rules,
)

__all__ = ["validate"]

Schema = dict[str, Any]

# ---------------------------------------------------------------- validation


def validate(
    schema: Schema, obj: Any, *, old: Any = None, warnings: list[str] | None = None
) -> list[Cause]:
    """Validate `obj` against a CRD version's openAPIV3Schema; never raises.

    Field paths are `spec.workerGroupSpecs[0].replicas` (maps: `spec.labels.key`). Root
    `metadata` is left to the generic ObjectMeta validation. CEL rules run after the schema
    checks, as on the real server (`kubesim.apiserver.structural.cel`); pass the stored object
    as `old` on updates so transition rules (`oldSelf`) run too.

    On updates, errors about values the update did not change are ratcheted, as upstream's
    CRDValidationRatcheting (GA in 1.33) does: they become `warnings` ("<field>: <message>")
    instead of failing the write, so a schema that tightened does not lock existing objects."""
    causes: list[Cause] = []
    _validate(schema or {}, obj, "", causes, resource_root=True)
    if old is not None:
        causes = _ratchet(causes, obj, old, warnings)
    if has_rules(schema):
        if any(c.type in BLOCKING_TYPES for c in causes):
            causes.append(SKIPPED_CAUSE)
        else:
            causes += validate_rules(schema, obj, old, warnings=warnings)
    return dedup(causes)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _ratchet(causes: list[Cause], obj: Any, old: Any, warnings: list[str] | None) -> list[Cause]:
    """The causes that stand; the rest (about unchanged values) go to `warnings`."""
    kept = []
    for cause in causes:
        if _unchanged(cause.field, obj, old):
            if warnings is not None:
                warnings.append(f"{cause.field}: {cause.message}")
        else:
            kept.append(cause)
    return kept


def _unchanged(path: str, new: Any, old: Any) -> bool:
    """Whether the nearest value above or at `path` that both objects have is unchanged.

    Object fields correlate by name; list items are not correlated here (atomic lists never
    are upstream), so an error inside a list ratchets only when the whole list is unchanged."""
    nearest: tuple[Any, Any] = (new, old)
    for name, index in _PATH_PART.findall(path):
        if index or not (isinstance(new, dict) and isinstance(old, dict)):
            break
        if name not in new or name not in old:
            break
        new, old = new[name], old[name]
        nearest = (new, old)
    return bool(nearest[0] == nearest[1])


def _embedded(schema: Any) -> bool:
    return isinstance(schema, dict) and bool(schema.get("x-kubernetes-embedded-resource"))


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
            causes.append(invalid(path, "null", detail, "FieldValueTypeInvalid"))
        return
    if allowed and not _type_ok(value, allowed):
        actual = _json_type(value)
        detail = f'{path} in body must be of type {",".join(allowed)}: "{actual}"'
        causes.append(invalid(path, actual, detail, "FieldValueTypeInvalid"))
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
    for sub in _branches(schema, "allOf"):
        _validate(sub, value, path, causes)
    for word, need in (("anyOf", "at least one"), ("oneOf", "only one")):
        branches = _branches(schema, word)
        if not branches or (word == "anyOf" and schema.get("x-kubernetes-int-or-string")):
            continue
        passing = sum(1 for sub in branches if not _sub_causes(sub, value, path))
        if passing == 0 or (word == "oneOf" and passing > 1):
            detail = f"{path} must validate {need} schema ({word})"
            causes.append(invalid(path, "", detail))
    negated = schema.get("not")
    if isinstance(negated, dict) and not _sub_causes(negated, value, path):
        causes.append(invalid(path, "", f"{path} must not validate the schema (not)"))


def _branches(schema: Schema, word: str) -> list[Any]:
    found = schema.get(word)
    return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []


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
        # field.TooLong since 1.31 (the count is characters, the wording says bytes upstream too).
        unit = "byte" if max_length == 1 else "bytes"
        message = f"Too long: may not be more than {max_length} {unit}"
        causes.append(Cause("FieldValueTooLong", path, message))
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        detail = f"{path} in body should be at least {min_length} chars long"
        causes.append(invalid(path, value, detail))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, value):
        causes.append(invalid(path, value, f"{path} in body should match '{pattern}'"))
    fmt = schema.get("format")
    check = _FORMAT_CHECKS.get(fmt) if isinstance(fmt, str) else None
    if check is not None and not check(value):
        detail = f"{path} in body must be of type {fmt}: {go_quote(value)}"
        causes.append(invalid(path, value, detail, "FieldValueTypeInvalid"))


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
            detail = f"{path} in body should be a multiple of {go_number(multiple)}"
            causes.append(invalid(path, value, detail))
    maximum = schema.get("maximum")
    if isinstance(maximum, int | float) and not isinstance(maximum, bool):
        exclusive = bool(schema.get("exclusiveMaximum"))
        if value > maximum or (exclusive and value == maximum):
            words = "less than" if exclusive else "less than or equal to"
            detail = f"{path} in body should be {words} {go_number(maximum)}"
            causes.append(invalid(path, value, detail))
    minimum = schema.get("minimum")
    if isinstance(minimum, int | float) and not isinstance(minimum, bool):
        exclusive = bool(schema.get("exclusiveMinimum"))
        if value < minimum or (exclusive and value == minimum):
            words = "greater than" if exclusive else "greater than or equal to"
            detail = f"{path} in body should be {words} {go_number(minimum)}"
            causes.append(invalid(path, value, detail))


def _validate_array(schema: Schema, value: list[Any], path: str, causes: list[Cause]) -> None:
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(items, item, f"{path}[{index}]", causes, resource_root=_embedded(items))
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        detail = f"{path} in body should have at least {min_items} items"
        causes.append(invalid(path, len(value), detail))
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        message = f"Too many: {len(value)}: must have at most {max_items} items"
        causes.append(Cause("FieldValueTooMany", path, message))
    if schema.get("uniqueItems"):
        seen = [json.dumps(item, sort_keys=True) for item in value]
        if len(set(seen)) != len(seen):
            causes.append(invalid(path, "", f"{path} in body shouldn't contain duplicates"))
    _validate_list_type(schema, value, path, causes)


def _go_map(value: dict[str, Any]) -> str:
    """Go's `%#v` of a map[string]interface{} (sorted keys), as Duplicate prints map keys."""
    items = ", ".join(f"{go_quote(k)}:{go_value(value[k])}" for k in sorted(value))
    return "map[string]interface {}{" + items + "}"


def _validate_list_type(schema: Schema, value: list[Any], path: str, causes: list[Cause]) -> None:
    """Every repeated set element or map-list key is a Duplicate at its own index."""
    list_type = schema.get("x-kubernetes-list-type")
    raw_keys = schema.get("x-kubernetes-list-map-keys")
    keys = [k for k in raw_keys if isinstance(k, str)] if isinstance(raw_keys, list) else []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if list_type == "set":
            key, shown = json.dumps(item, sort_keys=True), go_value(item)
        elif list_type == "map" and isinstance(item, dict) and keys:
            key_fields = {k: item[k] for k in keys if k in item}
            key, shown = json.dumps(key_fields, sort_keys=True), _go_map(key_fields)
        else:
            continue
        if key in seen:
            causes.append(
                Cause("FieldValueDuplicate", f"{path}[{index}]", f"Duplicate value: {shown}")
            )
        seen.add(key)


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
    raw = schema.get("properties")
    properties: dict[str, Any] = raw if isinstance(raw, dict) else {}
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
    required = schema.get("required")
    for key in required if isinstance(required, list) else []:
        if isinstance(key, str) and key not in value:
            causes.append(Cause("FieldValueRequired", prefix + key, "Required value"))
    count = len(value)
    max_props = schema.get("maxProperties")
    if isinstance(max_props, int) and count > max_props:
        message = f"Too many: {count}: must have at most {max_props} items"
        causes.append(Cause("FieldValueTooMany", path, message))
    min_props = schema.get("minProperties")
    if isinstance(min_props, int) and count < min_props:
        detail = f"{path} in body should have at least {min_props} properties"
        causes.append(invalid(path, count, detail))
