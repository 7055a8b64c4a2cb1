"""`Cluster`: the one place API verb semantics live (the registry store of kube-apiserver).

HTTP handlers and kubesim's own controllers both call these plain-`def` methods, so a write
looks the same whoever makes it: resourceVersion, uid, generation, defaults, validation,
managedFields, the status split, deletion, garbage collection, watch events and the audit log.

`Cluster` is an assembly of parts, each of which knows only what it needs:

    Store          stored objects, the revision, lists, watches, commit hooks   (store.py)
    WritePipeline  create and replace: decode, default, validate, track, commit (pipeline.py)
    Patcher        the four patch types, server-side apply                      (patch.py)
    Deletion       delete, graceful pods, finalizers, propagation               (deletion.py)
    GarbageCollector, CrdRegistrar, ServiceAllocator   react to commits         (gc.py, ...)

Each request's own state (fieldValidation, warnings, whether an apply created) travels in a
`WriteContext`; nothing about a request is kept on the Cluster.

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
from collections.abc import Callable, Iterator
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.admission import Admission
from kubesim.apiserver.allocators import ServiceAllocator, kubernetes_service
from kubesim.apiserver.audit import AuditLog
from kubesim.apiserver.auth import Auth
from kubesim.apiserver.conversion import has_conversion, to_storage
from kubesim.apiserver.crd_registry import CrdRegistrar
from kubesim.apiserver.deletion import Deletion
from kubesim.apiserver.engines import Engine
from kubesim.apiserver.errors import StatusError
from kubesim.apiserver.gc import GarbageCollector
from kubesim.apiserver.patch import PATCH_TYPES, Patcher, content_types
from kubesim.apiserver.pipeline import SERVICES_KEY, WriteContext, WritePipeline, default_manager
from kubesim.apiserver.resources import Registry, ResourceInfo
from kubesim.apiserver.scale import scale_of
from kubesim.apiserver.selectors import FieldSelector, LabelSelector
from kubesim.apiserver.store import CRD_KEY, INITIAL_NAMESPACES, Store, clone, rfc3339
from kubesim.apiserver.watch import DELETED, Broadcaster, Watcher

__all__ = ["INITIAL_NAMESPACES", "PATCH_TYPES", "Cluster", "WriteContext", "rfc3339"]


class Cluster:
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
        self.store = Store(
            history_size=history_size,
            graceful_pod_deletion=graceful_pod_deletion,
            audit=audit,
            clock=clock,
            rng=rng,
        )
        self.engine = Engine()
        self.service_allocator = ServiceAllocator()
        self.crds = CrdRegistrar(self)
        self.gc = GarbageCollector(self)
        self._pipeline = WritePipeline(
            self.store, engine=self.engine, crds=self.crds, services=self.service_allocator
        )
        self._patcher = Patcher(self.store, engine=self.engine, pipeline=self._pipeline)
        self._deletion = Deletion(self.store)
        self.store.before_publish.append(self._before_publish)
        self.store.after_publish.append(self.gc.observe)
        self._bootstrap()

    def _bootstrap(self) -> None:
        """The objects a new API server has: the initial namespaces, the `kubernetes` Service."""
        ctx = WriteContext()
        for name in INITIAL_NAMESPACES:
            self._pipeline.create(
                ctx,
                self.resource("namespaces"),
                "",
                {"metadata": {"name": name}},
                manager="kube-apiserver",
                subresource=None,
            )
        self._pipeline.create(
            ctx,
            self.resource("services"),
            "default",
            kubernetes_service(),
            manager="kube-apiserver",
            subresource=None,
        )
        self.auth = Auth(self)
        self.admission = Admission(self)
        self._pipeline.admission = self.admission

    def _before_publish(
        self, info: ResourceInfo, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        if info.key == CRD_KEY and event_type != DELETED:
            self.crds.serve(obj)
        elif info.key == SERVICES_KEY:
            self.service_allocator.observe(event_type, obj)

    # ------------------------------------------------------------------ the store's reads

    @property
    def registry(self) -> Registry:
        """The served resources (built-ins and those CRDs add)."""
        return self.store.registry

    @property
    def broadcaster(self) -> Broadcaster:
        """Watch fan-out and history."""
        return self.store.broadcaster

    @property
    def audit(self) -> AuditLog:
        """Every request that reached a verb."""
        return self.store.audit

    @property
    def storage_infos(self) -> dict[tuple[str, str], ResourceInfo]:
        """The ResourceInfo of each storage key at its storage version."""
        return self.store.storage_infos

    @property
    def resource_version(self) -> int:
        """The current global revision."""
        return self.store.resource_version

    @property
    def graceful_pod_deletion(self) -> bool:
        """Whether pods with a grace period wait for a kubelet to finish their deletion."""
        return self.store.graceful_pod_deletion

    def now(self) -> str:
        """The server clock as RFC 3339."""
        return self.store.now()

    def resource(
        self, plural_or_kind: str, group: str = "", version: str | None = None
    ) -> ResourceInfo:
        """Look up a served resource by plural, singular, kind or short name (404 if unknown)."""
        return self.store.resource(plural_or_kind, group, version)

    def get(self, res: ResourceInfo | str, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object (read-only). Raises a 404 StatusError."""
        return self.store.get(res, namespace, name)

    def list(
        self,
        res: ResourceInfo | str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """Matching stored objects (read-only) and the list resourceVersion."""
        return self.store.list(
            res, namespace, label_selector=label_selector, field_selector=field_selector
        )

    def list_page(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        limit: int = 0,
        continue_token: str = "",
    ) -> tuple[builtins.list[dict[str, Any]], str, str, int | None]:
        """One page: (items, list RV, continue token, remainingItemCount)."""
        return self.store.list_page(
            info, namespace, labels, fields, limit=limit, continue_token=continue_token
        )

    def iter_objects(
        self, info: ResourceInfo, namespace: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stored objects of a resource in key order (namespace, then name)."""
        return self.store.iter_objects(info, namespace)

    def selectors(
        self, info: ResourceInfo, label_selector: str, field_selector: str
    ) -> tuple[LabelSelector, FieldSelector]:
        """Parse selectors for a resource (400 on a bad selector or unsupported field)."""
        return self.store.selectors(info, label_selector, field_selector)

    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        resource_version: str | None,
    ) -> Watcher:
        """Open a watch (see `Store.watch`)."""
        return self.store.watch(info, namespace, labels, fields, resource_version)

    def subscribe(
        self, res: ResourceInfo | str, callback: Callable[[str, dict[str, Any]], None]
    ) -> Callable[[], None]:
        """In-process watch of every change of a resource (see `Store.subscribe`)."""
        return self.store.subscribe(res, callback)

    def present(self, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object as served at `info`."""
        return self.store.present(info, obj)

    def by_uid(self, uid: str) -> tuple[ResourceInfo, dict[str, Any]] | None:
        """The stored object with this uid, if it still exists."""
        return self.store.by_uid(uid)

    def dependents_of(self, uid: str) -> builtins.list[tuple[ResourceInfo, dict[str, Any]]]:
        """Stored objects whose ownerReferences name `uid`."""
        return self.store.dependents_of(uid)

    # ------------------------------------------------------------------ writes

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
        context: WriteContext | None = None,
    ) -> dict[str, Any]:
        """Create an object (POST). `owned=True` hands `obj` over (kubesim may keep it)."""
        info = self.store.info_of(res)
        ctx = context or WriteContext.for_request(field_validation, strict_source="body")
        manager = field_manager or default_manager(user_agent, user)
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        who = {"user": user, "user_agent": user_agent, "field_manager": manager}

        def run() -> dict[str, Any]:
            body, target = self._to_storage(info, obj if owned else clone(obj), subresource)
            return self._pipeline.create(
                ctx,
                target,
                namespace or "",
                body,
                manager=manager,
                subresource=subresource,
                dry_run=dry_run,
            )

        result = self._audited("create", info, namespace, name, subresource, who, run)
        self.store.audit_request(
            "create",
            info,
            namespace,
            result["metadata"]["name"],
            201,
            subresource=subresource,
            **who,
        )
        return self.present(info, result)

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
        context: WriteContext | None = None,
    ) -> dict[str, Any]:
        """Replace an object (PUT), or its status or scale with `subresource`."""
        info = self.store.info_of(res)
        ctx = context or WriteContext.for_request(field_validation, strict_source="body")
        manager = field_manager or default_manager(user_agent, user)
        who = {"user": user, "user_agent": user_agent, "field_manager": manager}

        def run() -> dict[str, Any]:
            body, target = self._to_storage(info, obj if owned else clone(obj), subresource)
            return self._pipeline.replace(
                ctx,
                target,
                namespace or "",
                name,
                body,
                manager=manager,
                subresource=subresource,
                dry_run=dry_run,
            )

        result = self._audited("update", info, namespace, name, subresource, who, run)
        self.store.audit_request(
            "update", info, namespace, name, 200, subresource=subresource, **who
        )
        return result if subresource == "scale" else self.present(info, result)

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
        context: WriteContext | None = None,
    ) -> dict[str, Any]:
        """PATCH with one of `PATCH_TYPES`. An apply that creates sets `context.created`

        (the HTTP layer answers 201 then)."""
        info = self.store.info_of(res)
        ctx = context or WriteContext.for_request(field_validation, strict_source="patch")
        manager = field_manager or (
            "" if patch_type == "apply" else default_manager(user_agent, user)
        )
        who = {"user": user, "user_agent": user_agent}

        def run() -> dict[str, Any]:
            return self._patcher.patch(
                ctx,
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

        result = self._audited(
            "patch",
            info,
            namespace,
            name,
            subresource,
            {**who, "field_manager": manager or None},
            run,
        )
        self.store.audit_request(
            "patch",
            info,
            namespace,
            name,
            201 if ctx.created else 200,
            subresource=subresource,
            field_manager=manager,
            **who,
        )
        return result if subresource == "scale" else self.present(info, result)

    def _to_storage(
        self, info: ResourceInfo, body: Any, subresource: str | None
    ) -> tuple[Any, ResourceInfo]:
        """A request body and the resource it is written at (its storage version)."""
        if has_conversion(info) and isinstance(body, dict) and subresource != "scale":
            return to_storage(info, body), self.storage_infos[info.key]
        return body, info

    def _audited(
        self,
        verb: str,
        info: ResourceInfo,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
        who: dict[str, Any],
        run: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """`run()`, with its failure recorded in the audit log (success is the caller's)."""
        try:
            return run()
        except StatusError as exc:
            self.store.audit_request(
                verb, info, namespace, name, exc.code, subresource=subresource, **who
            )
            raise

    @staticmethod
    def patch_content_types(info: ResourceInfo) -> builtins.list[str]:
        """Content types PATCH accepts for this resource, as the 415 message lists them."""
        return content_types(info)

    def get_scale(
        self, res: ResourceInfo | str, namespace: str | None, name: str
    ) -> dict[str, Any]:
        """The autoscaling/v1 Scale of a scalable object."""
        info = self.store.info_of(res)
        if info.scale is None:
            raise errors.path_not_found()
        return scale_of(info, self.store.stored(info, namespace, name))

    def delete(
        self,
        res: ResourceInfo | str,
        namespace: str | None,
        name: str,
        *,
        user: str = "kubesim",
        user_agent: str = "",
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE: the removed object (pods), the terminating object, or a Success Status."""
        return self._deletion.delete(
            res,
            namespace,
            name,
            user=user,
            user_agent=user_agent,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            preconditions=preconditions,
            dry_run=dry_run,
        )

    def delete_collection(
        self,
        res: ResourceInfo | str,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        user: str = "kubesim",
        user_agent: str = "",
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE on a collection: deletes every match, returns them as a List."""
        return self._deletion.delete_collection(
            res,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            user=user,
            user_agent=user_agent,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            dry_run=dry_run,
        )

    # ------------------------------------------------------------------ internal writes

    def system_create(
        self, info: ResourceInfo, namespace: str, obj: dict[str, Any], *, manager: str
    ) -> dict[str, Any]:
        """An object kubesim's control plane makes for itself (bootstrap RBAC policy, each
        namespace's default ServiceAccount): admitted and stored, not audited."""
        return self._pipeline.create(
            WriteContext(), info, namespace, obj, manager=manager, subresource=None
        )

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
            return self._pipeline.write(
                WriteContext(), info, old, new, manager=manager, subresource=None
            )
        except StatusError as exc:
            code = exc.code
            raise
        finally:
            self.store.audit_request(
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
        meta = obj["metadata"]
        stored = self.store.lookup(info, meta.get("namespace"), meta["name"])
        if stored is not None:
            self.store.commit(info, stored, stored, DELETED)
