"""Pruning and defaulting by a structural schema, and the unknown fields strict validation reports."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from kubesim.apiserver.schemas import TypeSchema
from kubesim.apiserver.structural.causes import go_quote

__all__ = [
    "OBJECT_META_FIELDS",
    "prune_and_default",
    "strict_decoding_message",
    "unknown_fields",
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
    raw = schema.get("properties")
    properties: dict[str, Any] = raw if isinstance(raw, dict) else {}
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
    if not isinstance(value, dict) or _free_form(schema):
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


def _free_form(schema: TypeSchema) -> bool:
    """A built-in `type: object` with neither properties nor a value schema (FieldsV1,
    RawExtension) is opaque JSON to the Go decoder. In a CRD the same node prunes everything
    below it, so there its keys are unknown. Each node knows which kind of schema it came from."""
    registry = getattr(schema, "_registry", None)
    from_crd = bool(getattr(registry, "crd", False))
    return (
        not from_crd
        and schema.type == "object"
        and not schema.properties
        and schema.additional_properties is None
    )


def strict_decoding_message(
    paths: Iterable[str], *, kind: str | None = None, version: str | None = None
) -> str:
    """The 400 BadRequest message for `fieldValidation=Strict`.

    `strict decoding error: unknown field "spec.x", unknown field "spec.y"`; with `kind` and
    `version` (request bodies of create and update) the decoder's prefix comes first:
    `Widget in version "v1" cannot be handled as a Widget: strict decoding error: ...`."""
    message = "strict decoding error: " + ", ".join(f"unknown field {go_quote(p)}" for p in paths)
    if kind and version:
        return f'{kind} in version "{version}" cannot be handled as a {kind}: {message}'
    return message
