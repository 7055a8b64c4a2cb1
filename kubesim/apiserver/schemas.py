"""Type schemas that drive strategic merge patch and server-side apply.

A `TypeSchema` wraps one OpenAPI v3 schema node and answers the questions the merge engines ask:
what kind of value lives here (struct, map, list, scalar, or untyped), how a list merges
(``x-kubernetes-list-type`` atomic/set/map and its map keys, or the older patch merge key and
strategy), whether a map is atomic, whether unknown fields are preserved.

Two sources of schemas:

* `builtin_schema(api_version, kind)`: the Kubernetes OpenAPI definitions shipped inside the
  ``kubernetes_validate`` package (the newest version directory it ships). Its
  ``_definitions.json`` keeps every x-kubernetes marker. The file is read once, on first use
  (about 10 ms with orjson), and nodes are built lazily as the engines walk into them; each
  definition becomes one shared, cached `TypeSchema`, so per-node lookups are computed once.
* `schema_from_openapi_v3(schema)`: a CRD version's ``openAPIV3Schema``. As on the real server,
  lists without ``x-kubernetes-list-type`` are atomic there, and the object's ``metadata`` is
  typed as the built-in ``ObjectMeta`` (so labels merge per key and finalizers as a set).

A node with no type information ("untyped", e.g. under ``x-kubernetes-preserve-unknown-fields``
or a field the schema does not declare) behaves like structured-merge-diff's deduced type:
objects are granular maps, lists are atomic, anything else is a scalar.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = [
    "UNTYPED",
    "TypeSchema",
    "builtin_schema",
    "schema_from_openapi_v3",
]

_OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

#: Struct fields that Go API types declare as values, not pointers: they exist (at least as
#: ``{}``) in every serialized object, so an update never "adds" them.
_VALUE_STRUCT_FIELDS: Final = frozenset(
    [
        "metadata",
        "spec",
        "status",
        "template",
        "resources",
        "updateStrategy",
        "strategy",
        "target",
        "scaleTargetRef",
        "roleRef",
        "involvedObject",
        "source",
    ]
)

#: Key fields of associative lists that the real server's OpenAPI defaults (the shipped
#: schemas lack ``default`` there). structured-merge-diff uses the default when an item omits
#: the key, so ``ports: [{containerPort: 80}]`` is keyed ``{"containerPort":80,"protocol":"TCP"}``.
_BUILTIN_KEY_DEFAULTS: Final[Mapping[str, object]] = {"protocol": "TCP"}


class _Registry:
    """Resolves ``$ref`` names to shared `TypeSchema` nodes (one per definition)."""

    __slots__ = ("_cache", "_defs", "crd")

    def __init__(self, defs: Mapping[str, Any], *, crd: bool) -> None:
        self._defs = defs
        self._cache: dict[str, TypeSchema] = {}
        self.crd = crd

    def by_name(self, name: str) -> TypeSchema | None:
        cached = self._cache.get(name)
        if cached is None:
            raw = self._defs.get(name)
            if raw is None:
                return None
            cached = TypeSchema(raw, self)
            self._cache[name] = cached
        return cached

    def node(self, raw: Mapping[str, Any]) -> TypeSchema:
        ref = raw.get("$ref")
        if isinstance(ref, str):
            target = self.by_name(ref.rpartition("/")[2])
            if target is not None:
                return target
        all_of = raw.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and "type" not in raw:
            return self.node(all_of[0])
        return TypeSchema(raw, self)


def _type_name(raw: Mapping[str, Any]) -> str | None:
    declared = raw.get("type")
    if isinstance(declared, list):
        names = [t for t in declared if t != "null"]
        declared = names[0] if len(names) == 1 else None
    if isinstance(declared, str):
        return declared
    if "properties" in raw or "additionalProperties" in raw:
        return "object"
    if "items" in raw:
        return "array"
    one_of = raw.get("oneOf")
    if isinstance(one_of, list) and one_of:
        # IntOrString and Quantity: a scalar that may be a string or a number.
        return "string"
    return None


class TypeSchema:
    """One node of an OpenAPI v3 schema with its Kubernetes merge markers.

    Attributes are read once from the raw schema; children (`field`, `items`,
    `additional_properties`) are resolved lazily and cached on the node, so repeated walks
    over the same type cost a dict lookup per step.
    """

    __slots__ = (
        "_absent_in_zero",
        "_additional",
        "_fields",
        "_items",
        "_key_defaults",
        "_raw",
        "_registry",
        "default",
        "effective_list_type",
        "effective_map_keys",
        "embedded_resource",
        "int_or_string",
        "is_atomic_map",
        "is_granular_map",
        "list_map_keys",
        "list_type",
        "map_type",
        "patch_merge_key",
        "patch_strategy",
        "preserve_unknown_fields",
        "required",
        "type",
    )

    def __init__(self, raw: Mapping[str, Any], registry: _Registry | None = None) -> None:
        self._raw = raw
        self._registry = registry if registry is not None else _Registry({}, crd=True)
        self._fields: dict[str, TypeSchema | None] = {}
        self._absent_in_zero: dict[str, bool] = {}
        self._items: TypeSchema | bool | None = False
        self._additional: TypeSchema | bool | None = False
        #: "object", "array", "string", "integer", "number", "boolean", or None when untyped.
        self.type: str | None = _type_name(raw)
        self.int_or_string: bool = bool(raw.get("x-kubernetes-int-or-string")) or (
            "oneOf" in raw and self.type == "string"
        )
        #: The raw ``x-kubernetes-list-type`` marker ("atomic", "set", "map") or None.
        self.list_type: str | None = raw.get("x-kubernetes-list-type")
        self.list_map_keys: tuple[str, ...] = tuple(raw.get("x-kubernetes-list-map-keys") or ())
        self.patch_merge_key: str | None = raw.get("x-kubernetes-patch-merge-key")
        #: The raw patch strategy, e.g. "merge", "replace", "merge,retainKeys".
        self.patch_strategy: str | None = raw.get("x-kubernetes-patch-strategy")
        #: The raw ``x-kubernetes-map-type`` ("atomic", "granular") or None.
        self.map_type: str | None = raw.get("x-kubernetes-map-type")
        self.preserve_unknown_fields: bool = bool(raw.get("x-kubernetes-preserve-unknown-fields"))
        self.embedded_resource: bool = bool(raw.get("x-kubernetes-embedded-resource"))
        self.default: object = raw.get("default")
        #: Names of required properties (in Go types: fields serialized even when empty).
        self.required: frozenset[str] = frozenset(raw.get("required") or ())
        #: How server-side apply treats this list: "atomic", "set" or "map". An explicit marker
        #: wins; built-in types without one fall back to the patch strategy (``merge`` with a
        #: merge key is a map keyed by it, ``merge`` on scalars is a set), as the real server
        #: does; CRD lists without a marker are atomic.
        self.effective_list_type: str = self._list_semantics()
        #: The key fields of an associative list (the patch merge key when no marker names them).
        self.effective_map_keys: tuple[str, ...] = self.list_map_keys or (
            (self.patch_merge_key,) if self.patch_merge_key else ()
        )
        self._key_defaults: Mapping[str, object] | None = None
        #: Whether an object here is replaced and owned as a whole (``map-type: atomic``).
        self.is_atomic_map: bool = self.map_type == "atomic"
        #: Whether this is a map of arbitrary keys (``additionalProperties``, not a struct).
        self.is_granular_map: bool = (
            self.type == "object"
            and not raw.get("properties")
            and raw.get("additionalProperties") is not None
            and not self.is_atomic_map
        )

    def __repr__(self) -> str:
        return f"TypeSchema(type={self.type!r}, list_type={self.list_type!r})"

    # ------------------------------------------------------------------ navigation

    @property
    def properties(self) -> Mapping[str, Any]:
        """The raw ``properties`` of this node (empty when it declares none)."""
        props = self._raw.get("properties")
        return props if isinstance(props, dict) else {}

    def field(self, name: str) -> TypeSchema | None:
        """The schema of declared property `name`, or None when this node does not declare it."""
        try:
            return self._fields[name]
        except KeyError:
            pass
        raw = self.properties.get(name)
        node: TypeSchema | None
        if isinstance(raw, dict):
            node = self._registry.node(raw)
        elif name == "metadata" and self.embedded_resource:
            node = _object_meta()
        else:
            node = None
        self._fields[name] = node
        return node

    def member(self, name: str) -> TypeSchema:
        """The schema of key `name` in an object: its property, else the map's value schema,
        else `UNTYPED` (unknown fields merge like structured-merge-diff's deduced type)."""
        found = self.field(name)
        if found is not None:
            return found
        additional = self.additional_properties
        return additional if additional is not None else UNTYPED

    def declares(self, name: str) -> bool:
        """Whether `name` is a declared property (a struct field rather than a map key)."""
        return self.field(name) is not None

    @property
    def items(self) -> TypeSchema | None:
        """The schema of list items, or None when this node is not a typed list."""
        if self._items is False:
            raw = self._raw.get("items")
            self._items = self._registry.node(raw) if isinstance(raw, dict) else None
        return self._items  # type: ignore[return-value]

    @property
    def additional_properties(self) -> TypeSchema | None:
        """The schema of map values (``additionalProperties``), or None."""
        if self._additional is False:
            raw = self._raw.get("additionalProperties")
            if isinstance(raw, dict):
                self._additional = self._registry.node(raw)
            elif raw is True or self.preserve_unknown_fields:
                self._additional = UNTYPED
            else:
                self._additional = None
        return self._additional  # type: ignore[return-value]

    # ------------------------------------------------------------------ merge semantics

    def _list_semantics(self) -> str:
        if self.list_type in ("atomic", "set", "map"):
            return self.list_type
        strategy = self.patch_strategy or ""
        if not self._registry.crd and "merge" in strategy.split(","):
            return "map" if self.patch_merge_key else "set"
        return "atomic"

    @property
    def from_crd(self) -> bool:
        """Whether this node comes from a CRD schema (objects there are unstructured JSON)."""
        return self._registry.crd

    def absent_in_zero_value(self, name: str) -> bool:
        """Whether declared container field `name` is missing from this type's empty object.

        The real server compares an update against the stored object as its Go type
        serializes it: value structs and required fields always exist, while maps, merged
        lists and pointer structs appear only when set, so setting one adds the node itself
        and the writer owns it (``f:labels: {".": {}, ...}``). Custom resources are plain
        JSON, where every object and list appears only when set.
        """
        cached = self._absent_in_zero.get(name)
        if cached is not None:
            return cached
        sub = self.field(name)
        answer = False
        if sub is not None:
            merged_list = sub.type == "array" and sub.effective_list_type != "atomic"
            if self._registry.crd:
                answer = merged_list or (sub.type == "object" and not sub.is_atomic_map)
            elif name not in self.required:
                struct = sub.type == "object" and not sub.is_granular_map
                answer = (
                    merged_list
                    or sub.is_granular_map
                    or (struct and not sub.is_atomic_map and name not in _VALUE_STRUCT_FIELDS)
                )
        self._absent_in_zero[name] = answer
        return answer

    @property
    def key_defaults(self) -> Mapping[str, object]:
        """Defaults of this associative list's key fields, used when an item omits a key."""
        if self._key_defaults is not None:
            return self._key_defaults
        item = self.items
        out: dict[str, object] = {}
        for key in self.effective_map_keys:
            sub = item.field(key) if item is not None else None
            if sub is not None and sub.default is not None:
                out[key] = sub.default
            elif not self._registry.crd and key in _BUILTIN_KEY_DEFAULTS:
                out[key] = _BUILTIN_KEY_DEFAULTS[key]
        self._key_defaults = out
        return out

    @property
    def is_untyped(self) -> bool:
        """Whether this node carries no type (merged like structured-merge-diff's deduced type)."""
        return self.type is None


class _Untyped(TypeSchema):
    """The schema of values nothing describes: objects granular, lists atomic."""

    __slots__ = ()

    def field(self, name: str) -> TypeSchema | None:
        return None

    def member(self, name: str) -> TypeSchema:
        return self


#: Shared schema for values no schema describes.
UNTYPED: Final[TypeSchema] = _Untyped({})


# ---------------------------------------------------------------------- built-in schemas

_VERSION_DIR = re.compile(r"^v1\.(\d+)\.(\d+)-local$")


@functools.cache
def _builtin_registry() -> tuple[_Registry, Mapping[tuple[str, str, str], str]]:
    """Load the newest shipped ``_definitions.json`` once and index it by group/version/kind."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    best: tuple[int, int] = (-1, -1)
    best_name = ""
    for entry in root.iterdir():
        match = _VERSION_DIR.match(entry.name)
        if match and (int(match[1]), int(match[2])) > best:
            best = (int(match[1]), int(match[2]))
            best_name = entry.name
    document = orjson.loads((root / best_name / "_definitions.json").read_bytes())
    defs: dict[str, Any] = document["$defs"]
    index: dict[tuple[str, str, str], str] = {}
    for name, raw in defs.items():
        for gvk in raw.get("x-kubernetes-group-version-kind") or ():
            index.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
    return _Registry(defs, crd=False), index


def _object_meta() -> TypeSchema | None:
    return _builtin_registry()[0].by_name(_OBJECT_META)


@functools.cache
def builtin_schema(api_version: str, kind: str) -> TypeSchema | None:
    """The schema of a built-in kind (e.g. ``("apps/v1", "StatefulSet")``), or None if unknown.

    Cached: the same `TypeSchema` is returned on every call for the same kind.
    """
    group, _, version = api_version.rpartition("/")
    registry, index = _builtin_registry()
    name = index.get((group, version, kind))
    return registry.by_name(name) if name is not None else None


def schema_from_openapi_v3(schema: Mapping[str, Any]) -> TypeSchema:
    """A `TypeSchema` for a CRD version's ``openAPIV3Schema``.

    Lists without ``x-kubernetes-list-type`` are atomic, and ``metadata`` at the root is the
    built-in ``ObjectMeta`` whatever the CRD declares there (the real server does the same).
    """
    root = TypeSchema(schema, _Registry({}, crd=True))
    meta = _object_meta()
    if meta is not None:
        root._fields["metadata"] = meta
    return root
