"""`Cluster`: the one place API verb semantics live (the registry store of kube-apiserver).

HTTP handlers and kubesim's own controllers both call these plain-`def` methods, so a write
looks the same whoever makes it: resourceVersion, uid, generation, defaults, validation,
managedFields, the status split, deletion, garbage collection, watch events and the audit log.
The layers: `kubesim.apiserver.store.Store` (storage, lists, watches) < `kubesim.apiserver.deletion` (delete) <
`kubesim.apiserver.writes` (create, update, the write pipeline) < `Cluster` here (patch in all four
types, server-side apply, scale, and the control plane's own writes).

Invariants:

* One global resourceVersion counter; every persisted change takes the next value. A write
  whose result equals the stored object (ignoring managedFields timestamps) persists nothing:
  no new resourceVersion, no watch event.
* Stored objects are never mutated in place: every write builds a new dict and swaps it in.
  Objects returned by `get`/`list` and passed to watchers ARE the stored ones: callers must
  copy before changing them.
* State changes never await. Work that upstream does asynchronously (garbage collection,
  namespace cleanup) is scheduled with `loop.call_soon`, so it runs right after the request
  that caused it, in the order causes happened.
"""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Callable
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.allocators import ServiceAllocator, kubernetes_service
from kubesim.apiserver.audit import AuditLog
from kubesim.apiserver.conversion import has_conversion, to_storage
from kubesim.apiserver.crd_registry import CrdRegistrar
from kubesim.apiserver.engines import ApplyConflict, Engine, PatchError
from kubesim.apiserver.errors import Cause, StatusError
from kubesim.apiserver.gc import GarbageCollector
from kubesim.apiserver.omitempty import strip_zero_values
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.scale import scale_of
from kubesim.apiserver.store import CRD_KEY, INITIAL_NAMESPACES, rfc3339
from kubesim.apiserver.validation import check_metadata_types
from kubesim.apiserver.watch import DELETED
from kubesim.apiserver.writes import WriteVerbs, default_manager

__all__ = ["INITIAL_NAMESPACES", "PATCH_TYPES", "Cluster", "rfc3339"]

SERVICES_KEY = ("", "services")

#: Patch types and the content types that select them.
PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class Cluster(WriteVerbs):
    """The in-process API: verbs over stored objects, with the real server's semantics."""

    def __init__(
        self,
        *,
        history_size: int = 10_000,
        graceful_pod_deletion: bool = False,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            history_size=history_size,
            graceful_pod_deletion=graceful_pod_deletion,
            audit=audit,
            clock=clock,
            rng=rng,
        )
        self.engine = Engine()
        self._strict = ""
        self._warn = False
        self.warnings: list[str] = []
        self.last_patch_created = False
        self.gc = GarbageCollector(self)
        self.crds = CrdRegistrar(self)
        self.service_allocator = ServiceAllocator()
        ns_info = self.resource("namespaces")
        for name in INITIAL_NAMESPACES:
            self._create(
                ns_info,
                "",
                {"metadata": {"name": name}},
                manager="kube-apiserver",
                subresource=None,
            )
        svc_info = self.resource("services")
        self._create(
            svc_info, "default", kubernetes_service(), manager="kube-apiserver", subresource=None
        )

    def _defaults(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super()._defaults(info, obj, old)
        # The real server's Go round trip drops omitempty zero values before managedFields.
        return result if info.custom else strip_zero_values(info.group, info.kind, result)

    def _validate(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        # Upstream allocates after managedFields are recorded: the allocated values are unowned.
        if info.key == SERVICES_KEY:
            self.service_allocator.prepare(obj, old)
        super()._validate(info, obj, old)

    def _before_publish(self, info: ResourceInfo, event_type: str, obj: dict[str, Any]) -> None:
        if info.key == CRD_KEY and event_type != DELETED:
            self.crds.serve(obj)
        elif info.key == SERVICES_KEY:
            self.service_allocator.observe(event_type, obj)

    def _after_publish(
        self, info: ResourceInfo, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        self.gc.observe(info, event_type, obj, old)

    # ------------------------------------------------------------------ patch

    def patch(
        self,
        res: ResourceInfo | str,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        patch_type: str,
        user: str = "kubesim",
        user_agent: str = "",
        field_manager: str | None = None,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Ignore",
    ) -> dict[str, Any]:
        """PATCH with one of `PATCH_TYPES`. An apply that creates returns with `created=True`

        set in `self.last_patch_created` (the HTTP layer answers 201 then)."""
        info = self._info(res)
        self._begin_write(field_validation, strict_source="patch")
        manager = field_manager or (
            "" if patch_type == "apply" else default_manager(user_agent, user)
        )
        self.last_patch_created = False
        try:
            result = self._patch(
                info,
                namespace or "",
                name,
                body,
                patch_type=patch_type,
                manager=manager,
                force=force,
                subresource=subresource,
                dry_run=dry_run,
            )
        except StatusError as exc:
            self._audit(
                "patch",
                info,
                namespace,
                name,
                exc.code,
                user=user,
                user_agent=user_agent,
                field_manager=manager or None,
                subresource=subresource,
            )
            raise
        finally:
            self._strict = ""
            self._warn = False
        code = 201 if self.last_patch_created else 200
        self._audit(
            "patch",
            info,
            namespace,
            name,
            code,
            user=user,
            user_agent=user_agent,
            field_manager=manager,
            subresource=subresource,
        )
        return result if subresource == "scale" else self._as_version(info, result)

    def _patch(
        self,
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
        if patch_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(self.patch_content_types(info))
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
            raise errors.unsupported_media_type(self.patch_content_types(info))
        if patch_type == "apply":
            return self._apply(
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
        old = self._stored(info, namespace, name)
        # The engine never modifies its input: the stored object is passed as is (or as the
        # endpoint shows it, when it converts).
        base = scale_of(info, old) if subresource == "scale" else self.present(info, old)
        try:
            patched = self.engine.patch(info, base, body, patch_type)
        except PatchError as exc:
            raise StatusError(exc.code, exc.reason, exc.message)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch produced a non-object result")
        if subresource == "scale":
            return self._write_scale(info, old, patched, manager=manager, dry_run=dry_run)
        patched = to_storage(info, patched)
        info = self.storage_infos.get(info.key, info) if has_conversion(info) else info
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
        return self._write(
            info, old, patched, manager=manager, subresource=subresource, dry_run=dry_run
        )

    @staticmethod
    def patch_content_types(info: ResourceInfo) -> builtins.list[str]:
        """Content types PATCH accepts for this resource, as the 415 message lists them."""
        types = [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]
        if not info.custom:
            types.insert(2, "application/strategic-merge-patch+json")
        return types

    def _apply(
        self,
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
        if not isinstance(body, dict):
            raise errors.bad_request(
                "error decoding YAML: the apply patch must be a YAML or JSON object"
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
        storage = self.storage_infos.get(info.key, info) if has_conversion(info) else info
        bucket = self._objects.get(info.key, {}).get(namespace if info.namespaced else "", {})
        live = bucket.get(name)
        now = self.now()
        try:
            if live is None:
                if subresource:
                    raise errors.not_found(info.plural, info.group, name)
                created = self.engine.apply(
                    info, None, config, manager=manager, force=force, subresource=None, now=now
                )
                result = self._create(
                    storage,
                    namespace,
                    to_storage(info, created),
                    manager=manager,
                    subresource=None,
                    dry_run=dry_run,
                    managed_fields_done=True,
                )
                self.last_patch_created = True
                return result
            rv = meta.get("resourceVersion")
            if rv and rv != live["metadata"]["resourceVersion"]:
                raise errors.conflict(info.plural, info.group, name)
            merged = self.engine.apply(
                info,
                self.present(info, live),
                config,
                manager=manager,
                force=force,
                subresource=subresource,
                now=now,
            )
        except ApplyConflict as exc:
            raise self._conflict_error(exc)
        except PatchError as exc:
            raise StatusError(exc.code, exc.reason, exc.message)
        return self._write(
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

    # ------------------------------------------------------------------ internal writes

    def system_update(
        self,
        info: ResourceInfo,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        user: str,
        manager: str,
    ) -> dict[str, Any]:
        """A write by kubesim's own control plane (GC, namespace and CRD controllers).

        Audited as a `patch` by `user`, which is how those controllers write upstream."""
        meta = old["metadata"]
        code = 200
        try:
            return self._write(info, old, new, manager=manager, subresource=None)
        except StatusError as exc:
            code = exc.code
            raise
        finally:
            self._audit(
                "patch",
                info,
                meta.get("namespace"),
                meta["name"],
                code,
                user=user,
                user_agent=manager,
                field_manager=manager,
            )

    def remove_now(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """Remove an object whose deletion is complete (namespace controller, CRD cleanup)."""
        stored = (
            self._objects.get(info.key, {})
            .get(obj["metadata"].get("namespace", "") if info.namespaced else "", {})
            .get(obj["metadata"]["name"])
        )
        if stored is not None:
            self._commit(info, stored, stored, DELETED)
