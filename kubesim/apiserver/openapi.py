"""The `/openapi/v3` documents kubectl needs to validate, create and apply.

With default flags, `kubectl create -f`, `apply -f` and `apply --server-side -f` fetch
`/openapi/v3` and then the document of the object's group-version, and look there for a PATCH
operation tagged with the object's `x-kubernetes-group-version-kind` that takes a `fieldValidation`
query parameter (cli-runtime `query_param_verifier_v3.go`). Finding it, kubectl leaves validation
to the server and sends `fieldValidation=Strict`; without it, kubectl fails with "failed to
download openapi". So every served group-version gets a document with the REST paths of its
resources and their operations, each tagged with its GVK and listing the standard query
parameters.

PATCH operations declare no request body on purpose: kubectl computes a client-side apply's
strategic merge patch from OpenAPI v3 only when the PATCH body lists
`application/strategic-merge-patch+json`; otherwise it uses its compiled-in types (built-ins) or a
JSON merge patch (custom resources), exactly as it does against a real server whose schemas it
cannot use. `components.schemas` carries each custom resource's `openAPIV3Schema` and, for
built-ins, kubernetes-validate's definitions of Kubernetes 1.32 converted to OpenAPI v3 (the kind
and everything it references), all tagged with their GVK, so `kubectl explain` works for both.

Documents are built lazily, cached per group-version, and dropped by `set_resources` (call it
whenever the served resources change: CRD created, updated or deleted). Each root entry carries a
hash of what its document is built from, so kubectl's HTTP cache never serves a stale document
and serving the root never builds a document. The built-in definitions (1.8 MB) are read once,
on the first request for a group-version document (~100 ms on a 2-core box).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.resources
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["KUBERNETES_VERSION", "OpenAPIResource", "OpenAPIV3", "gv_path"]

#: The `info.version` of every document (the Kubernetes release kubesim imitates).
KUBERNETES_VERSION = "v1.32.0"

Doc = dict[str, Any]


@dataclass(frozen=True)
class OpenAPIResource:
    """One served resource as the OpenAPI documents describe it.

    `schema` is the CRD version's openAPIV3Schema (None for built-ins); `subresources` adds the
    `/status` and `/scale` paths."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    subresources: frozenset[str] = frozenset()


def gv_path(group: str, version: str) -> str:
    """The key of a group-version in the root document: `api/v1` or `apis/apps/v1`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _query(name: str, description: str) -> Doc:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "uniqueItems": True},
    }


_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted.")
_FIELD_MANAGER = _query(
    "fieldManager",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
)
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
)
_FORCE = {
    "name": "force",
    "in": "query",
    "description": 'Force is going to "force" Apply requests.',
    "schema": {"type": "boolean", "uniqueItems": True},
}
_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
_WRITE_PARAMS = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]


def _operation(action: str, gvk: Doc, op_id: str, params: list[Doc]) -> Doc:
    return {
        "operationId": op_id,
        "parameters": [copy.deepcopy(p) for p in params],
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": dict(gvk),
    }


def _op_suffix(res: OpenAPIResource) -> str:
    group = "".join(part.capitalize() for part in res.group.replace("-", ".").split(".")) or "Core"
    scope = "Namespaced" if res.namespaced else ""
    return f"{group}{res.version.capitalize()}{scope}{res.kind}"


def _resource_paths(res: OpenAPIResource) -> dict[str, Doc]:
    prefix = f"/{gv_path(res.group, res.version)}"
    base = (
        f"{prefix}/namespaces/{{namespace}}/{res.plural}"
        if res.namespaced
        else f"{prefix}/{res.plural}"
    )
    gvk = {"group": res.group, "version": res.version, "kind": res.kind}
    suffix = _op_suffix(res)
    path_params: list[Doc] = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "uniqueItems": True},
        }
    ]
    if res.namespaced:
        path_params.append(
            {
                "name": "namespace",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "uniqueItems": True},
            }
        )
    paths: dict[str, Doc] = {
        base: {
            "get": _operation("list", gvk, f"list{suffix}", [_PRETTY]),
            "post": _operation("post", gvk, f"create{suffix}", _WRITE_PARAMS),
            "delete": _operation("deletecollection", gvk, f"deletecollection{suffix}", [_DRY_RUN]),
            "parameters": [copy.deepcopy(p) for p in path_params[1:]],
        },
        f"{base}/{{name}}": _item_path(gvk, suffix, path_params, with_delete=True),
    }
    for sub in sorted(res.subresources):
        sub_gvk = (
            {"group": "autoscaling", "version": "v1", "kind": "Scale"} if sub == "scale" else gvk
        )
        paths[f"{base}/{{name}}/{sub}"] = _item_path(
            sub_gvk, f"{suffix}{sub.capitalize()}", path_params, with_delete=False
        )
    return paths


def _item_path(gvk: Doc, suffix: str, path_params: list[Doc], *, with_delete: bool) -> Doc:
    item: Doc = {
        "get": _operation("get", gvk, f"read{suffix}", [_PRETTY]),
        "put": _operation("put", gvk, f"replace{suffix}", _WRITE_PARAMS),
        "patch": _operation("patch", gvk, f"patch{suffix}", [*_WRITE_PARAMS, _FORCE]),
        "parameters": [copy.deepcopy(p) for p in path_params],
    }
    if with_delete:
        item["delete"] = _operation("delete", gvk, f"delete{suffix}", [_DRY_RUN])
    return item


def _schema_name(res: OpenAPIResource) -> str:
    reversed_group = ".".join(reversed(res.group.split("."))) if res.group else "core"
    return f"{reversed_group}.{res.version}.{res.kind}"


class OpenAPIV3:
    """Builds and caches the OpenAPI v3 root and per-group-version documents.

    Plain `def` methods, no I/O: KS-CORE's handlers serve `root()` at `/openapi/v3` and
    `document(path)` at `/openapi/v3/<path>` (404 when it returns None)."""

    def __init__(self, resources: Iterable[Any] = ()) -> None:
        self._by_gv: dict[str, list[OpenAPIResource]] = {}
        self._docs: dict[str, Doc] = {}
        self._root: Doc | None = None
        self.set_resources(resources)

    def set_resources(
        self, resources: Iterable[Any], *, schemas: Mapping[tuple[str, str, str], Doc] | None = None
    ) -> None:
        """Replace the served resources and drop every cached document.

        Accepts `OpenAPIResource`s or anything with `group`, `version`, `kind`, `plural`,
        `namespaced` (and optionally `subresources`, `custom` and `extra["schema"]`, as
        KS-CORE's ResourceInfo has). `schemas` maps (group, version, kind) to an
        openAPIV3Schema for resources that carry none themselves."""
        by_gv: dict[str, list[OpenAPIResource]] = {}
        for item in resources:
            res = _coerce(item, schemas or {})
            by_gv.setdefault(gv_path(res.group, res.version), []).append(res)
        self._by_gv = by_gv
        self._docs = {}
        self._root = None

    def invalidate(self) -> None:
        """Drop the cached documents (resources unchanged)."""
        self._docs = {}
        self._root = None

    def group_versions(self) -> list[str]:
        """The served group-version paths (`api/v1`, `apis/apps/v1`, ...), sorted."""
        return sorted(self._by_gv)

    def root(self) -> Doc:
        """The `/openapi/v3` discovery document: every group-version with its hashed URL.

        Hashes come from what a document is built from, so the root never builds documents."""
        if self._root is None:
            paths = {}
            for path in self.group_versions():
                digest = _fingerprint(self._by_gv[path])
                paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
            self._root = {"paths": paths}
        return self._root

    def document(self, path: str) -> Doc | None:
        """The document for `api/v1` or `apis/<group>/<version>` (leading `/` and query ignored)."""
        key = path.split("?", 1)[0].strip("/").removeprefix("openapi/v3/")
        if key not in self._by_gv:
            return None
        return self._built(key)

    def etag(self, path: str) -> str | None:
        """The hash of a group-version document (what the root's `hash=` carries)."""
        key = path.split("?", 1)[0].strip("/").removeprefix("openapi/v3/")
        return _fingerprint(self._by_gv[key]) if key in self._by_gv else None

    def _built(self, key: str) -> Doc:
        cached = self._docs.get(key)
        if cached is None:
            cached = self._docs[key] = _build_document(self._by_gv[key])
        return cached


def _coerce(item: Any, schemas: Mapping[tuple[str, str, str], Doc]) -> OpenAPIResource:
    if isinstance(item, OpenAPIResource):
        return item
    group, version, kind = str(item.group), str(item.version), str(item.kind)
    extra = getattr(item, "extra", None)
    schema = extra.get("schema") if isinstance(extra, dict) else None
    schema = schema or schemas.get((group, version, kind))
    subresources: Iterable[Any] = getattr(item, "subresources", ()) or ()
    return OpenAPIResource(
        group=group,
        version=version,
        kind=kind,
        plural=str(item.plural),
        namespaced=bool(item.namespaced),
        subresources=frozenset(str(s) for s in subresources),
        schema=schema if isinstance(schema, dict) else None,
    )


def _fingerprint(resources: list[OpenAPIResource]) -> str:
    """A content hash of everything a group-version document is built from."""
    described = sorted(
        [r.group, r.version, r.kind, r.plural, r.namespaced, sorted(r.subresources), r.schema]
        for r in resources
    )
    body = json.dumps([_BUILTIN_DIR, described], sort_keys=True, separators=(",", ":"))
    return hashlib.sha512(body.encode()).hexdigest().upper()


def _build_document(resources: list[OpenAPIResource]) -> Doc:
    paths: dict[str, Doc] = {}
    schemas: dict[str, Doc] = {}
    for res in sorted(resources, key=lambda r: r.plural):
        paths.update(_resource_paths(res))
        if res.schema:
            schema = copy.deepcopy(res.schema)
            schema["x-kubernetes-group-version-kind"] = [
                {"group": res.group, "version": res.version, "kind": res.kind}
            ]
            schemas[_schema_name(res)] = schema
        else:
            schemas.update(_builtin_closure(res.group, res.version, res.kind))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }


# ---------------------------------------------------------------- built-in schemas

#: kubernetes-validate's definitions for the release kubesim imitates.
_BUILTIN_DIR = f"{KUBERNETES_VERSION}-local"
_REF = "#/$defs/"


@functools.cache
def _builtin_defs() -> tuple[Mapping[str, Any], Mapping[tuple[str, str, str], str]]:
    """kubernetes-validate's `_definitions.json` (read once, on first use) and a GVK index."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    try:
        document = orjson.loads((root / _BUILTIN_DIR / "_definitions.json").read_bytes())
    except FileNotFoundError:
        return {}, {}
    defs: dict[str, Any] = document.get("$defs", {})
    index: dict[tuple[str, str, str], str] = {}
    for name, raw in defs.items():
        for gvk in raw.get("x-kubernetes-group-version-kind") or ():
            index.setdefault(
                (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name
            )
    return defs, index


def _builtin_closure(group: str, version: str, kind: str) -> dict[str, Doc]:
    """The definition of a built-in kind and every definition it references, as OpenAPI v3."""
    defs, index = _builtin_defs()
    start = index.get((group, version, kind))
    out: dict[str, Doc] = {}
    pending = [start] if start else []
    while pending:
        name = pending.pop()
        if name in out or name not in defs:
            continue
        refs: list[str] = []
        out[name] = _to_openapi(defs[name], refs)
        pending += refs
    top = out.get(start or "")
    if top is not None:
        # kubernetes-validate pins apiVersion/kind with enums the real OpenAPI does not have.
        for key in ("apiVersion", "kind"):
            top.get("properties", {}).get(key, {}).pop("enum", None)
    return out


def _to_openapi(node: Any, refs: list[str]) -> Any:
    """JSON Schema (draft 2020-12, nullable unions) to OpenAPI v3 (`#/components/schemas` refs)."""
    if isinstance(node, list):
        return [_to_openapi(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
            refs.append(value[len(_REF) :])
            out[key] = "#/components/schemas/" + value[len(_REF) :]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        else:
            out[key] = _to_openapi(value, refs)
    return out
