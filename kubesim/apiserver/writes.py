"""Create and update verbs, and the write pipeline every change goes through.

`WriteVerbs._write(info, old, new, ...)` is the shared tail of update, patch, apply and status
or scale writes: system fields restored from the stored object, the status split, decoding and
defaults, validation, generation, managedFields, then the no-op check (a write that changes
nothing persists nothing) and the commit — or the final removal, when an object being deleted
lost its last finalizer. `_create` is the same for new objects, with uid, creationTimestamp,
generateName and namespace admission.

The /scale subresource is here too: a scale write is an update of the replicas field.

`WriteVerbs` is a layer of `kubesim.apiserver.cluster.Cluster`, which sets the attributes declared below.
"""

from __future__ import annotations

import uuid
from typing import Any

from kubesim.apiserver import errors, strategy
from kubesim.apiserver.conversion import has_conversion, to_storage
from kubesim.apiserver.crd_registry import CrdRegistrar
from kubesim.apiserver.decode import decode_builtin
from kubesim.apiserver.defaults import apply_defaults
from kubesim.apiserver.deletion import DeletionVerbs
from kubesim.apiserver.engines import Engine
from kubesim.apiserver.errors import Cause, StatusError
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.scale import scale_of, set_scale_replicas
from kubesim.apiserver.store import CRD_KEY, clone
from kubesim.apiserver.structural import prune_and_default, strict_decoding_message, unknown_fields
from kubesim.apiserver.structural import validate as validate_structural
from kubesim.apiserver.validation import (
    check_kind,
    check_metadata_types,
    check_namespace,
    validate_object_meta,
)
from kubesim.apiserver.watch import ADDED, DELETED, MODIFIED

__all__ = ["WriteVerbs", "default_manager"]

_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def default_manager(user_agent: str, user: str) -> str:
    """The manager of a write without fieldManager: the User-Agent up to its first "/"."""
    if user_agent:
        return user_agent.split("/", 1)[0][:128]
    if user.startswith("system:serviceaccount:kube-system:"):
        return "kube-controller-manager"
    if user.startswith("system:node:"):
        return "kubelet"
    return user or "kubesim"


def _same_ignoring_volatile(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether persisting `new` over `old` would change nothing a client can see.

    resourceVersion and managedFields timestamps are ignored (upstream's
    IgnoreManagedFieldsTimestampsTransformer)."""
    if old.keys() != new.keys():
        return False
    for key, value in new.items():
        if key != "metadata" and old[key] != value:
            return False
    old_meta, new_meta = old["metadata"], new["metadata"]
    keys = (old_meta.keys() | new_meta.keys()) - {"resourceVersion", "managedFields"}
    if any(old_meta.get(k) != new_meta.get(k) for k in keys):
        return False

    def untimed(meta: dict[str, Any]) -> list[Any]:
        return [
            {k: v for k, v in e.items() if k != "time"} for e in meta.get("managedFields") or []
        ]

    return untimed(old_meta) == untimed(new_meta)


class WriteVerbs(DeletionVerbs):
    """create, update and the shared write pipeline."""

    engine: Engine
    crds: CrdRegistrar
    #: fieldValidation=Strict for the write in progress: "body" (create, update), "patch", or ""
    #: when off. Set per call; calls never await.
    _strict: str
    #: fieldValidation=Warn for the write in progress.
    _warn: bool
    #: Warnings of the last write (`unknown field "spec.x"`), sent as HTTP `Warning` headers.
    warnings: list[str]

    def _begin_write(self, field_validation: str, *, strict_source: str) -> None:
        """Reset the per-request decoding state: fieldValidation mode and collected warnings.

        ``strict_source`` names what a Strict failure blames (``"body"`` or ``"patch"``).
        """
        self._strict = strict_source if field_validation == "Strict" else ""
        self._warn = field_validation == "Warn"
        self.warnings = []

    # ------------------------------------------------------------------ create

    def create(
        self,
        res: ResourceInfo | str,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        user: str = "kubesim",
        user_agent: str = "",
        field_manager: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Ignore",
        owned: bool = False,
    ) -> dict[str, Any]:
        """Create an object (POST). `owned=True` hands `obj` over (kubesim may keep it)."""
        info = self._info(res)
        self._begin_write(field_validation, strict_source="body")
        manager = field_manager or default_manager(user_agent, user)
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        try:
            body = obj if owned else clone(obj)
            target = info
            if has_conversion(info) and isinstance(body, dict):
                body, target = to_storage(info, body), self.storage_infos[info.key]
            result = self._create(
                target,
                namespace or "",
                body,
                manager=manager,
                subresource=subresource,
                dry_run=dry_run,
            )
        except StatusError as exc:
            self._audit(
                "create",
                info,
                namespace,
                name,
                exc.code,
                user=user,
                user_agent=user_agent,
                field_manager=manager,
                subresource=subresource,
            )
            raise
        finally:
            self._strict = ""
            self._warn = False
        self._audit(
            "create",
            info,
            namespace,
            result["metadata"]["name"],
            201,
            user=user,
            user_agent=user_agent,
            field_manager=manager,
            subresource=subresource,
        )
        return self._as_version(info, result)

    def _create(
        self,
        info: ResourceInfo,
        namespace: str,
        obj: dict[str, Any],
        *,
        manager: str,
        subresource: str | None,
        dry_run: bool = False,
        managed_fields_done: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise errors.bad_request(
                f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: json: cannot unmarshal into Go value of type {info.kind}'
            )
        check_kind(info, obj)
        obj["apiVersion"] = f"{info.group}/{info.storage_version}" if info.group else info.version
        obj["kind"] = info.kind
        meta = check_metadata_types(info, obj)
        check_namespace(info, namespace, meta)
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        generated = False
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(str(meta["generateName"]))
            generated = True
        for key in _SYSTEM_META:
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.now()
        if strategy.tracks_generation(info):
            meta["generation"] = 1
        if info.namespaced:
            self._admit_namespace(info, meta)
        obj = self._defaults(info, obj)
        if not managed_fields_done:
            # Upstream records ownership on the decoded, defaulted object, before the
            # strategy resets status (so a client-sent status is neither kept nor owned).
            obj = self._track(info, None, obj, manager=manager, subresource=subresource)
        strategy.prepare_for_create(info, obj)
        self._validate(info, obj, None)
        name = obj["metadata"]["name"]
        bucket = self._objects.get(info.key, {}).get(obj["metadata"].get("namespace", ""), {})
        if name in bucket:
            raise errors.already_exists(
                info.plural, info.group, name, retry_after=1 if generated else None
            )
        if info.key == CRD_KEY:
            self.crds.prepare(obj)
        if dry_run:
            return obj
        return self._commit(info, obj, None, ADDED)

    def _generate_name(self, base: str) -> str:
        suffix = "".join(self._rng.choice(_GENERATE_CHARS) for _ in range(5))
        return base[:58] + suffix

    def _admit_namespace(self, info: ResourceInfo, meta: dict[str, Any]) -> None:
        """NamespaceLifecycle admission: the namespace must exist and not be terminating."""
        ns_name = meta["namespace"]
        ns = self._objects.get(("", "namespaces"), {}).get("", {}).get(ns_name)
        if ns is None:
            raise errors.not_found("namespaces", "", ns_name)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                info.plural,
                info.group,
                meta.get("name") or "",
                f"unable to create new content in namespace {ns_name} because it is being terminated",
            )

    def _defaults(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Server defaults (built-ins) or structural pruning and defaulting (custom resources)."""
        whole_body = self._strict == "body"
        if info.custom:
            schema = info.extra.get("schema")
            if (self._strict or self._warn) and schema:
                unknown = unknown_fields(self.engine.schema_for(info), obj)
                if unknown and self._strict:
                    kind = {"kind": info.kind, "version": info.version} if whole_body else {}
                    raise errors.bad_request(strict_decoding_message(unknown, **kind))
                self.warnings.extend(f'unknown field "{p}"' for p in unknown)
            return prune_and_default(schema, obj) if schema else obj
        dropped = decode_builtin(
            info,
            obj,
            self.engine.schema_for(info),
            strict=bool(self._strict),
            whole_body=whole_body,
            old=old,
        )
        if self._warn:
            self.warnings.extend(f'unknown field "{p}"' for p in dropped)
        return apply_defaults(info.group, info.version, info.kind, obj)

    def _validate(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        """Raise one 422 Invalid listing every problem of `obj` (metadata, schema, type rules)."""
        causes: list[Any] = validate_object_meta(info, obj["metadata"])
        schema = info.extra.get("schema")
        if info.custom and schema:
            causes += validate_structural(schema, obj)
        if info.key == CRD_KEY:
            causes += self.crds.validate(obj, old)
        causes += (
            strategy.validate_create(info, obj)
            if old is None
            else strategy.validate_update(info, old, obj)
        )
        if causes:
            name = obj["metadata"].get("name") or ""
            raise errors.invalid(
                info.kind, info.group, name, [Cause(c.type, c.field, c.message) for c in causes]
            )

    def _track(
        self,
        info: ResourceInfo,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        *,
        manager: str,
        subresource: str | None,
    ) -> dict[str, Any]:
        """managedFields for a non-apply write; status is not owned through the main endpoint."""
        if info.has_status and subresource is None and "status" in new:
            status = new["status"]
            bare_old = {k: v for k, v in old.items() if k != "status"} if old else None
            tracked = self.engine.track_update(
                info,
                bare_old,
                {k: v for k, v in new.items() if k != "status"},
                manager=manager,
                subresource=None,
                now=self.now(),
            )
            tracked["status"] = status
            return tracked
        return self.engine.track_update(
            info, old, new, manager=manager, subresource=subresource, now=self.now()
        )

    # ------------------------------------------------------------------ update

    def update(
        self,
        res: ResourceInfo | str,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        *,
        user: str = "kubesim",
        user_agent: str = "",
        field_manager: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Ignore",
        owned: bool = False,
    ) -> dict[str, Any]:
        """Replace an object (PUT), or its status or scale with `subresource`."""
        info = self._info(res)
        self._begin_write(field_validation, strict_source="body")
        manager = field_manager or default_manager(user_agent, user)
        try:
            body = obj if owned else clone(obj)
            target = info
            if has_conversion(info) and isinstance(body, dict) and subresource != "scale":
                body, target = to_storage(info, body), self.storage_infos[info.key]
            result = self._update(
                target,
                namespace or "",
                name,
                body,
                manager=manager,
                subresource=subresource,
                dry_run=dry_run,
            )
        except StatusError as exc:
            self._audit(
                "update",
                info,
                namespace,
                name,
                exc.code,
                user=user,
                user_agent=user_agent,
                field_manager=manager,
                subresource=subresource,
            )
            raise
        finally:
            self._strict = ""
            self._warn = False
        self._audit(
            "update",
            info,
            namespace,
            name,
            200,
            user=user,
            user_agent=user_agent,
            field_manager=manager,
            subresource=subresource,
        )
        return result if subresource == "scale" else self._as_version(info, result)

    def _update(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: Any,
        *,
        manager: str,
        subresource: str | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request(
                f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: json: cannot unmarshal into Go value of type {info.kind}'
            )
        if subresource == "scale":
            return self._update_scale(info, namespace, name, body, manager=manager, dry_run=dry_run)
        check_kind(info, body)
        meta = check_metadata_types(info, body)
        if meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})"
            )
        if info.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        old = self._stored(info, namespace, name)
        rv = meta.get("resourceVersion")
        if not rv:
            if info.custom:
                raise errors.invalid(
                    info.plural,
                    info.group,
                    name,
                    [
                        Cause(
                            "FieldValueInvalid",
                            "metadata.resourceVersion",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
        elif rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(info.plural, info.group, name)
        return self._write(
            info, old, body, manager=manager, subresource=subresource, dry_run=dry_run
        )

    def _write(
        self,
        info: ResourceInfo,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        manager: str,
        subresource: str | None,
        dry_run: bool = False,
        track: bool = True,
    ) -> dict[str, Any]:
        """The shared tail of update, patch and apply: `new` replaces `old` (both whole objects)."""
        old_meta = old["metadata"]
        meta = new.setdefault("metadata", {})
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise errors.invalid(
                info.kind,
                info.group,
                old_meta["name"],
                [
                    Cause(
                        "FieldValueInvalid",
                        "metadata.uid",
                        f'Invalid value: "{meta["uid"]}": field is immutable',
                    )
                ],
            )
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        if subresource == "status":
            # Only status (and managedFields) may change through /status. An apply arrives with
            # its managedFields already computed (track=False); other writes get them below.
            status = new.get("status")
            applied_fields = meta.get("managedFields")
            new = {**old, "metadata": dict(old_meta)}
            if not track and applied_fields is not None:
                new["metadata"]["managedFields"] = applied_fields
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        else:
            if info.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            for key in (
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "namespace",
                "name",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if "deletionGracePeriodSeconds" in old_meta:
                meta["deletionGracePeriodSeconds"] = old_meta["deletionGracePeriodSeconds"]
            if not meta.get("managedFields") and old_meta.get("managedFields"):
                # An update that omits managedFields (or sends []) keeps the recorded ones.
                meta["managedFields"] = old_meta["managedFields"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        new = self._defaults(info, new, old)
        self._validate(info, new, old)
        meta = new["metadata"]
        if subresource != "status" and strategy.generation_changed(info, old, new):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        if track:
            new = self._track(info, old, new, manager=manager, subresource=subresource)
        if _same_ignoring_volatile(old, new):
            return old
        if dry_run:
            return new
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not self._grace_pending(info, new)
        ):
            self._commit(info, new, old, DELETED)
            return new
        return self._commit(info, new, old, MODIFIED)

    def _grace_pending(self, info: ResourceInfo, obj: dict[str, Any]) -> bool:
        return info.key == ("", "pods") and bool(obj["metadata"].get("deletionGracePeriodSeconds"))

    # ------------------------------------------------------------------ scale

    def get_scale(
        self, res: ResourceInfo | str, namespace: str | None, name: str
    ) -> dict[str, Any]:
        """The autoscaling/v1 Scale of a scalable object."""
        info = self._info(res)
        if info.scale is None:
            raise errors.path_not_found()
        return scale_of(info, self._stored(info, namespace, name))

    def _update_scale(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: dict[str, Any],
        *,
        manager: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        old = self._stored(info, namespace, name)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(info.plural, info.group, name)
        return self._write_scale(info, old, body, manager=manager, dry_run=dry_run)

    def _write_scale(
        self,
        info: ResourceInfo,
        old: dict[str, Any],
        scale: dict[str, Any],
        *,
        manager: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        name = old["metadata"]["name"]
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise errors.bad_request(
                f'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal {type(replicas).__name__} into Go struct field ScaleSpec.spec.replicas of type int32'
            )
        if replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    Cause(
                        "FieldValueInvalid",
                        "spec.replicas",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
            )
        new = set_scale_replicas(info, clone(old), replicas)
        result = self._write(info, old, new, manager=manager, subresource="scale", dry_run=dry_run)
        return scale_of(info, result)
