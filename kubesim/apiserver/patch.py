"""PATCH in its four types (JSON, merge, strategic merge, server-side apply).

`Patcher.patch` turns a patch into a whole new object with the patch engine
(`kubesim.apiserver.engines`), then hands it to the write pipeline like any update; an apply
of an object that does not exist creates it (`WriteContext.created`).
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.conversion import has_conversion, to_storage
from kubesim.apiserver.engines import ApplyConflict, Engine, PatchError
from kubesim.apiserver.errors import Cause, StatusError
from kubesim.apiserver.pipeline import WriteContext, WritePipeline
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.scale import scale_of
from kubesim.apiserver.store import Store
from kubesim.apiserver.validation import check_metadata_types

__all__ = ["PATCH_TYPES", "Patcher", "content_types"]

#: Patch types and the content types that select them.
PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def content_types(info: ResourceInfo) -> list[str]:
    """Content types PATCH accepts for this resource, as the 415 message lists them."""
    types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ]
    if not info.custom:
        types.insert(2, "application/strategic-merge-patch+json")
    return types


class Patcher:
    """The PATCH verb over a store, the patch engine and the write pipeline."""

    def __init__(self, store: Store, *, engine: Engine, pipeline: WritePipeline) -> None:
        self._store = store
        self._engine = engine
        self._pipeline = pipeline

    def patch(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: Any,
        *,
        patch_type: str,
        manager: str,
        force: bool,
        subresource: str | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        """Apply one patch of `patch_type` to the stored object and write the result."""
        if patch_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(content_types(info))
        if force and patch_type != "apply":
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "FieldValueForbidden",
                        "force",
                        "Forbidden: may not be specified for non-apply patch",
                    )
                ],
            )
        if patch_type == "strategic" and info.custom:
            raise errors.unsupported_media_type(content_types(info))
        if patch_type == "apply":
            return self._apply(
                ctx,
                info,
                namespace,
                name,
                body,
                manager=manager,
                force=force,
                subresource=subresource,
                dry_run=dry_run,
            )
        if patch_type == "json" and not isinstance(body, list):
            raise errors.bad_request(
                f"json: cannot unmarshal {'object' if isinstance(body, dict) else 'value'} into Go value of type jsonpatch.Patch"
            )
        if patch_type != "json" and not isinstance(body, dict):
            raise errors.bad_request(
                "json: cannot unmarshal array into Go value of type map[string]interface {}"
                if isinstance(body, list)
                else "invalid JSON patch body: expected an object"
            )
        old = self._store.stored(info, namespace, name)
        # The engine never modifies its input: the stored object is passed as is (or as the
        # endpoint shows it, when it converts).
        base = scale_of(info, old) if subresource == "scale" else self._store.present(info, old)
        try:
            patched = self._engine.patch(info, base, body, patch_type)
        except PatchError as exc:
            raise StatusError(exc.code, exc.reason, exc.message, exc.details)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch produced a non-object result")
        if subresource == "scale":
            return self._pipeline.write_scale(
                ctx, info, old, patched, manager=manager, dry_run=dry_run
            )
        patched = to_storage(info, patched)
        info = self._store.storage_infos.get(info.key, info) if has_conversion(info) else info
        meta = check_metadata_types(info, patched)
        if meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})"
            )
        if (
            meta.get("resourceVersion")
            and meta["resourceVersion"] != old["metadata"]["resourceVersion"]
        ):
            raise errors.conflict(info.plural, info.group, name)
        return self._pipeline.write(
            ctx, info, old, patched, manager=manager, subresource=subresource, dry_run=dry_run
        )

    def _apply(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: Any,
        *,
        manager: str,
        force: bool,
        subresource: str | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        if not manager:
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "FieldValueRequired",
                        "fieldManager",
                        "Required value: is required for apply patch",
                    )
                ],
            )
        if body is None:  # `null` decodes into an empty map upstream
            body = {}
        if not isinstance(body, dict):
            # sigs.k8s.io/yaml into a map[string]interface{}, as kube-apiserver 1.37 words it.
            go_type = {list: "array", str: "string", bool: "bool"}.get(type(body), "number")
            raise errors.bad_request(
                "error decoding patch: error unmarshaling JSON: while decoding JSON: json: cannot "
                f"unmarshal {go_type} into Go value of type map[string]interface {{}}"
            )
        api_version = body.get("apiVersion")
        if api_version != info.api_version:
            raise errors.bad_request(
                f"Incorrect version specified in apply patch. Specified patch version: {api_version or ''}, expected: {info.api_version}"
            )
        if body.get("kind") != info.kind:
            raise errors.bad_request(
                f"Incorrect kind specified in apply patch. Specified patch kind: {body.get('kind') or ''}, expected: {info.kind}"
            )
        meta = check_metadata_types(info, body)
        if "managedFields" in meta:
            raise errors.bad_request("metadata.managedFields must be nil")
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        if info.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        config = self._strip_for_subresource(info, body, subresource)
        storage = self._store.storage_infos.get(info.key, info) if has_conversion(info) else info
        live = self._store.lookup(info, namespace, name)
        now = self._store.now()
        try:
            if live is None:
                if subresource:
                    raise errors.not_found(info.plural, info.group, name)
                if meta.get("resourceVersion"):
                    # Create-on-apply compares the RV with the (absent) object's, as an update.
                    raise errors.conflict(info.plural, info.group, name)
                created = self._engine.apply(
                    info, None, config, manager=manager, force=force, subresource=None, now=now
                )
                result = self._pipeline.create(
                    ctx,
                    storage,
                    namespace,
                    to_storage(info, created),
                    manager=manager,
                    subresource=None,
                    dry_run=dry_run,
                    managed_fields_done=True,
                )
                ctx.created = True
                return result
            rv = meta.get("resourceVersion")
            if rv and rv != live["metadata"]["resourceVersion"]:
                raise errors.conflict(info.plural, info.group, name)
            merged = self._engine.apply(
                info,
                self._store.present(info, live),
                config,
                manager=manager,
                force=force,
                subresource=subresource,
                now=now,
            )
        except ApplyConflict as exc:
            raise self._conflict_error(exc)
        except PatchError as exc:
            raise StatusError(exc.code, exc.reason, exc.message, exc.details)
        return self._pipeline.write(
            ctx,
            storage,
            live,
            to_storage(info, merged),
            manager=manager,
            subresource=subresource,
            dry_run=dry_run,
            track=False,
        )

    @staticmethod
    def _strip_for_subresource(
        info: ResourceInfo, body: dict[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        """What an apply may set through this endpoint (status via /status, the rest via main)."""
        if subresource == "status":
            meta = body.get("metadata") or {}
            keep = {k: meta[k] for k in ("name", "namespace") if k in meta}
            out = {"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": keep}
            if "status" in body:
                out["status"] = body["status"]
            return out
        if info.has_status and "status" in body:
            return {k: v for k, v in body.items() if k != "status"}
        return body

    @staticmethod
    def _conflict_error(exc: ApplyConflict) -> StatusError:
        """The engine's ApplyConflict as the real server's 409 (its causes passed through)."""
        return StatusError(
            409, "Conflict", exc.message, {"causes": exc.causes} if exc.causes else None
        )
