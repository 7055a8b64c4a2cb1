"""The write pipeline every change goes through, and the per-request context it carries.

`WritePipeline.write(ctx, info, old, new, ...)` is the shared tail of update, patch, apply and
status or scale writes: system fields restored from the stored object, the status split,
decoding and defaults, validation, generation, managedFields, then the no-op check (a write
that changes nothing persists nothing) and the commit — or the final removal, when an object
being deleted lost its last finalizer. `create` is the same for new objects, with uid,
creationTimestamp, generateName and namespace admission.

What one request decides (fieldValidation) and collects (warnings, whether an apply created)
lives in a `WriteContext` made for that request and passed down, never on a long-lived object:
two requests can never see each other's state, and nothing needs resetting afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubesim.apiserver import errors, strategy
from kubesim.apiserver.allocators import ServiceAllocator
from kubesim.apiserver.crd_registry import CrdRegistrar
from kubesim.apiserver.decode import decode_builtin
from kubesim.apiserver.defaults import apply_defaults
from kubesim.apiserver.engines import Engine
from kubesim.apiserver.errors import Cause
from kubesim.apiserver.omitempty import strip_zero_values
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.scale import scale_of, set_scale_replicas
from kubesim.apiserver.store import CRD_KEY, Store, clone
from kubesim.apiserver.structural import prune_and_default, strict_decoding_message, unknown_fields
from kubesim.apiserver.structural import validate as validate_structural
from kubesim.apiserver.validation import (
    check_kind,
    check_metadata_types,
    check_namespace,
    validate_object_meta,
)
from kubesim.apiserver.watch import ADDED, DELETED, MODIFIED

if TYPE_CHECKING:
    from kubesim.apiserver.admission import Admission

__all__ = ["WriteContext", "WritePipeline", "default_manager"]

SERVICES_KEY = ("", "services")
_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
_RESTORED_META = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "namespace",
    "name",
)
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class WriteContext:
    """What one write request decided and collected.

    `strict` names what a fieldValidation=Strict failure blames (``"body"`` for create and
    update, ``"patch"`` for patches), or is empty when Strict is off.
    """

    strict: str = ""
    warn: bool = False
    #: `unknown field "spec.x"` warnings (fieldValidation=Warn), sent as HTTP `Warning` headers.
    warnings: list[str] = field(default_factory=list)
    #: Whether an apply patch created the object (the HTTP layer answers 201 then).
    created: bool = False

    @classmethod
    def for_request(cls, field_validation: str, *, strict_source: str) -> WriteContext:
        """The context of a request with this `fieldValidation` query value."""
        return cls(
            strict=strict_source if field_validation == "Strict" else "",
            warn=field_validation == "Warn",
        )


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


def _not_an_object(info: ResourceInfo) -> errors.StatusError:
    return errors.bad_request(
        f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: json: cannot unmarshal into Go value of type {info.kind}'
    )


class WritePipeline:
    """Turns a create or a replacement into a committed object, as kube-apiserver's registry."""

    #: The admission chain (`kubesim.apiserver.admission`); None while the cluster bootstraps.
    admission: Admission | None = None

    def __init__(
        self,
        store: Store,
        *,
        engine: Engine,
        crds: CrdRegistrar,
        services: ServiceAllocator,
    ) -> None:
        self._store = store
        self._engine = engine
        self._crds = crds
        self._services = services

    # ------------------------------------------------------------------ create

    def create(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        namespace: str,
        obj: dict[str, Any],
        *,
        manager: str,
        subresource: str | None,
        dry_run: bool = False,
        managed_fields_done: bool = False,
    ) -> dict[str, Any]:
        """Store a new object (`obj` at `info`'s storage version; it is taken over)."""
        if not isinstance(obj, dict):
            raise _not_an_object(info)
        check_kind(info, obj)
        obj["apiVersion"] = f"{info.group}/{info.storage_version}" if info.group else info.version
        obj["kind"] = info.kind
        meta = check_metadata_types(info, obj)
        check_namespace(info, namespace, meta)
        generated = False
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(str(meta["generateName"]))
            generated = True
        for key in _SYSTEM_META:
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self._store.now()
        if strategy.tracks_generation(info):
            meta["generation"] = 1
        if info.namespaced:
            self._admit_namespace(info, meta)
        obj = self._defaults(ctx, info, obj)
        if not managed_fields_done:
            # Upstream records ownership on the decoded, defaulted object, before the
            # strategy resets status (so a client-sent status is neither kept nor owned).
            obj = self._track(info, None, obj, manager=manager, subresource=subresource)
        if self.admission is not None:
            self.admission.admit(info, obj, None)
        strategy.prepare_for_create(info, obj)
        self._validate(ctx, info, obj, None)
        name = obj["metadata"]["name"]
        if obj["metadata"].get("resourceVersion") and not dry_run:
            # etcd3's store refuses it after validation, as a plain error (a 500 with no
            # reason); a dry run never reaches etcd, so it passes there.
            raise errors.untranslated("resourceVersion should not be set on objects to be created")
        if self._store.lookup(info, obj["metadata"].get("namespace"), name) is not None:
            raise errors.already_exists(
                info.plural, info.group, name, retry_after=1 if generated else None
            )
        if info.key == CRD_KEY:
            self._crds.prepare(obj)
        if dry_run:
            return obj
        return self._store.commit(info, obj, None, ADDED)

    def _generate_name(self, base: str) -> str:
        suffix = "".join(self._store.rng.choice(_GENERATE_CHARS) for _ in range(5))
        return base[:58] + suffix

    def _admit_namespace(self, info: ResourceInfo, meta: dict[str, Any]) -> None:
        """NamespaceLifecycle admission: the namespace must exist and not be terminating."""
        ns_name = meta["namespace"]
        ns = self._store.lookup(self._store.storage_infos[("", "namespaces")], None, ns_name)
        if ns is None:
            raise errors.not_found("namespaces", "", ns_name)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                info.plural,
                info.group,
                meta.get("name") or "",
                f"unable to create new content in namespace {ns_name} because it is being terminated",
            )

    # ------------------------------------------------------------------ shared steps

    def _defaults(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        obj: dict[str, Any],
        old: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Server defaults (built-ins) or structural pruning and defaulting (custom resources)."""
        whole_body = ctx.strict == "body"
        if info.custom:
            schema = info.extra.get("schema")
            if (ctx.strict or ctx.warn) and schema:
                unknown = unknown_fields(self._engine.schema_for(info), obj)
                if unknown and ctx.strict:
                    kind = {"kind": info.kind, "version": info.version} if whole_body else {}
                    raise errors.bad_request(strict_decoding_message(unknown, **kind))
                ctx.warnings.extend(f'unknown field "{p}"' for p in unknown)
            return prune_and_default(schema, obj) if schema else obj
        dropped = decode_builtin(
            info,
            obj,
            self._engine.schema_for(info),
            strict=bool(ctx.strict),
            whole_body=whole_body,
            old=old,
        )
        if ctx.warn:
            ctx.warnings.extend(f'unknown field "{p}"' for p in dropped)
        defaulted = apply_defaults(info.group, info.version, info.kind, obj)
        # The real server's Go round trip drops omitempty zero values before managedFields.
        return strip_zero_values(info.group, info.kind, defaulted)

    def _validate(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> None:
        """Raise one 422 Invalid listing every problem of `obj` (metadata, schema, type rules).

        Custom resources are validated against the old object on updates: transition rules
        (`oldSelf`) run, and errors about unchanged values become warnings (ratcheting)."""
        if info.key == SERVICES_KEY:
            # Upstream allocates after managedFields are recorded: allocated values are unowned.
            self._services.prepare(obj, old)
        causes: list[Any] = validate_object_meta(info, obj["metadata"])
        schema = info.extra.get("schema")
        if info.custom and schema:
            causes += validate_structural(schema, obj, old=old, warnings=ctx.warnings)
        if info.key == CRD_KEY:
            causes += self._crds.validate(obj, old)
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
        now = self._store.now()
        if info.has_status and subresource is None and "status" in new:
            status = new["status"]
            bare_old = {k: v for k, v in old.items() if k != "status"} if old else None
            tracked = self._engine.track_update(
                info,
                bare_old,
                {k: v for k, v in new.items() if k != "status"},
                manager=manager,
                subresource=None,
                now=now,
            )
            tracked["status"] = status
            return tracked
        return self._engine.track_update(
            info, old, new, manager=manager, subresource=subresource, now=now
        )

    # ------------------------------------------------------------------ replace

    def replace(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: Any,
        *,
        manager: str,
        subresource: str | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        """PUT: check the body against the URL and the stored resourceVersion, then write it."""
        if not isinstance(body, dict):
            raise _not_an_object(info)
        if subresource == "scale":
            return self.update_scale(
                ctx, info, namespace, name, body, manager=manager, dry_run=dry_run
            )
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
        old = self._store.stored(info, namespace, name)
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
        return self.write(
            ctx, info, old, body, manager=manager, subresource=subresource, dry_run=dry_run
        )

    def write(
        self,
        ctx: WriteContext,
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
            new = self._status_only(old, new, track=track)
        else:
            self._restore_system_fields(info, old, new)
        meta = new["metadata"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        new = self._defaults(ctx, info, new, old)
        if self.admission is not None:
            self.admission.admit(info, new, old)
        self._validate(ctx, info, new, old)
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
            self._store.commit(info, new, old, DELETED)
            return new
        return self._store.commit(info, new, old, MODIFIED)

    @staticmethod
    def _status_only(old: dict[str, Any], new: dict[str, Any], *, track: bool) -> dict[str, Any]:
        """What a /status write may change: status (and managedFields) only.

        An apply arrives with its managedFields already computed (track=False); other writes
        get them later in the pipeline."""
        status = new.get("status")
        applied_fields = new["metadata"].get("managedFields")
        result = {**old, "metadata": dict(old["metadata"])}
        if not track and applied_fields is not None:
            result["metadata"]["managedFields"] = applied_fields
        if status is None:
            result.pop("status", None)
        else:
            result["status"] = status
        return result

    @staticmethod
    def _restore_system_fields(
        info: ResourceInfo, old: dict[str, Any], new: dict[str, Any]
    ) -> None:
        """A main-endpoint write keeps the stored status and the fields only the server sets."""
        old_meta, meta = old["metadata"], new["metadata"]
        if info.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        for key in _RESTORED_META:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if "deletionGracePeriodSeconds" in old_meta:
            meta["deletionGracePeriodSeconds"] = old_meta["deletionGracePeriodSeconds"]
        if not meta.get("managedFields") and old_meta.get("managedFields"):
            # An update that omits managedFields (or sends []) keeps the recorded ones.
            meta["managedFields"] = old_meta["managedFields"]

    @staticmethod
    def _grace_pending(info: ResourceInfo, obj: dict[str, Any]) -> bool:
        return info.key == ("", "pods") and bool(obj["metadata"].get("deletionGracePeriodSeconds"))

    # ------------------------------------------------------------------ scale

    def update_scale(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: dict[str, Any],
        *,
        manager: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        """PUT of /scale: an update of the replicas field."""
        old = self._store.stored(info, namespace, name)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(info.plural, info.group, name)
        return self.write_scale(ctx, info, old, body, manager=manager, dry_run=dry_run)

    def write_scale(
        self,
        ctx: WriteContext,
        info: ResourceInfo,
        old: dict[str, Any],
        scale: dict[str, Any],
        *,
        manager: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        """Set the replicas a Scale asks for; answers with the resulting Scale."""
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
        result = self.write(
            ctx, info, old, new, manager=manager, subresource="scale", dry_run=dry_run
        )
        return scale_of(info, result)
