"""The garbage collector and namespace controller of kube-controller-manager, in miniature.

They react to committed changes (`observe`, called after every `Store.commit`) and do their work in
a callback scheduled right after the request that caused it (`loop.call_soon`), like the real
controllers acting a moment later. All their writes go through the ordinary verbs, so they
produce watch events and audit entries under the controllers' own identities.

Rules (`pkg/controller/garbagecollector`, §6 of the fidelity notes):

* A dependent all of whose owners are gone (uid not found, or in another namespace) is deleted
  in the background. With some owners still present, the dangling references are removed.
* An owner deleted with `propagationPolicy=Foreground` carries the `foregroundDeletion`
  finalizer: its dependents are deleted, and once none that has `blockOwnerDeletion: true`
  remains, the finalizer is removed and the owner goes.
* `Orphan` (`orphan` finalizer): the owner's reference is removed from every dependent, then the
  finalizer, then the owner.
* A Terminating namespace has all its content deleted and is removed once empty.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from kubesim.apiserver.errors import StatusError
from kubesim.apiserver.resources import ResourceInfo

if TYPE_CHECKING:
    from kubesim.apiserver.cluster import Cluster

__all__ = ["GarbageCollector"]

_log = structlog.get_logger("kubesim.apiserver.gc")

GC_USER = "system:serviceaccount:kube-system:generic-garbage-collector"
NS_USER = "system:serviceaccount:kube-system:namespace-controller"
_UA = "kube-controller-manager"
_WorkItem = tuple[str, str]


class GarbageCollector:
    """Owner-reference garbage collection and namespace cleanup for one `Cluster`."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        #: Work items in arrival order (a dict used as an ordered set).
        self._pending: dict[_WorkItem, None] = {}
        self._scheduled = False
        self._running = False

    def observe(
        self, info: ResourceInfo, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        """Queue whatever GC work a committed change implies. Never awaits."""
        meta = obj["metadata"]
        uid = meta["uid"]
        if event_type == "DELETED":
            if self._cluster.store.has_dependents(uid):
                self._add(("attempt-dependents", uid))
            for ref in meta.get("ownerReferences") or []:
                self._add(("owner", str(ref.get("uid"))))
            ns = meta.get("namespace")
            if ns and self._namespace_terminating(ns):
                self._add(("namespace", ns))
            if info.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self._cluster.crds.unserve(obj)
            return
        if meta.get("deletionTimestamp"):
            if info.key == ("", "namespaces"):
                self._add(("namespace", meta["name"]))
            finalizers = meta.get("finalizers") or ()
            if "foregroundDeletion" in finalizers or "orphan" in finalizers:
                self._add(("owner", uid))
            if info.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
                self._add(("crd", uid))
        elif (
            meta.get("ownerReferences")
            and (
                old is None or old["metadata"].get("ownerReferences") != meta.get("ownerReferences")
            )
            and any(
                self._cluster.by_uid(str(r.get("uid"))) is None for r in meta["ownerReferences"]
            )
        ):
            self._add(("attempt", uid))

    def _namespace_terminating(self, ns: str) -> bool:
        store = self._cluster.store
        found = store.lookup(store.storage_infos[("", "namespaces")], None, ns)
        return bool(found and found["metadata"].get("deletionTimestamp"))

    def _add(self, item: _WorkItem) -> None:
        self._pending[item] = None
        if self._running or self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run_pending()
            return
        self._scheduled = True
        loop.call_soon(self.run_pending)

    def run_pending(self) -> None:
        """Process queued work until none is left (work may queue more work)."""
        self._scheduled = False
        if self._running:
            return
        self._running = True
        try:
            while self._pending:
                item = next(iter(self._pending))
                del self._pending[item]
                try:
                    self._handle(item)
                except StatusError as exc:
                    _log.debug(
                        "kubesim.gc_work_failed", work=item[0], key=item[1], error=exc.message
                    )
        finally:
            self._running = False

    def _handle(self, item: _WorkItem) -> None:
        kind, key = item
        if kind == "attempt":
            self._attempt_delete(key)
        elif kind == "attempt-dependents":
            for _, dep in self._cluster.dependents_of(key):
                self._attempt_delete(dep["metadata"]["uid"])
        elif kind == "owner":
            self._process_owner(key)
        elif kind == "namespace":
            self._clean_namespace(key)
        elif kind == "crd":
            self._cluster.crds.cleanup(key)

    # ------------------------------------------------------------------ dependents

    def _attempt_delete(self, uid: str) -> None:
        found = self._cluster.by_uid(uid)
        if found is None:
            return
        info, obj = found
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        dangling, waiting, solid = [], [], []
        for ref in meta.get("ownerReferences") or []:
            owner = self._cluster.by_uid(str(ref.get("uid")))
            if owner is None or (
                owner[0].namespaced
                and owner[1]["metadata"].get("namespace") != meta.get("namespace")
            ):
                dangling.append(ref)
                continue
            owner_meta = owner[1]["metadata"]
            if owner_meta.get("deletionTimestamp") and "foregroundDeletion" in (
                owner_meta.get("finalizers") or ()
            ):
                waiting.append(ref)
            else:
                solid.append(ref)
        if not dangling and not waiting:
            return
        if solid:
            gone = {r.get("uid") for r in dangling + waiting}
            self._set_owner_refs(
                info, obj, [r for r in meta["ownerReferences"] if r.get("uid") not in gone]
            )
            return
        policy = (
            "Foreground" if waiting and self._cluster.store.has_dependents(uid) else "Background"
        )
        self._cluster.delete(
            info,
            meta.get("namespace"),
            meta["name"],
            user=GC_USER,
            user_agent=_UA,
            propagation_policy=policy,
        )

    def _set_owner_refs(
        self, info: ResourceInfo, obj: dict[str, Any], refs: list[dict[str, Any]]
    ) -> None:
        new = {**obj, "metadata": {**obj["metadata"]}}
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        self._cluster.system_update(info, obj, new, user=GC_USER, manager=_UA)

    def _remove_finalizer(self, info: ResourceInfo, obj: dict[str, Any], finalizer: str) -> None:
        new = {**obj, "metadata": {**obj["metadata"]}}
        remaining = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        if remaining:
            new["metadata"]["finalizers"] = remaining
        else:
            new["metadata"].pop("finalizers", None)
        self._cluster.system_update(info, obj, new, user=GC_USER, manager=_UA)

    # ------------------------------------------------------------------ owners

    def _process_owner(self, uid: str) -> None:
        found = self._cluster.by_uid(uid)
        if found is None:
            return
        info, owner = found
        meta = owner["metadata"]
        finalizers = meta.get("finalizers") or ()
        if not meta.get("deletionTimestamp"):
            return
        if "orphan" in finalizers:
            for dep_info, dep in self._cluster.dependents_of(uid):
                refs = [
                    r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
                ]
                self._set_owner_refs(dep_info, dep, refs)
            self._remove_finalizer(info, self._cluster.by_uid(uid)[1], "orphan")  # type: ignore[index]
            return
        if "foregroundDeletion" not in finalizers:
            return
        for _, dep in self._cluster.dependents_of(uid):
            self._attempt_delete(dep["metadata"]["uid"])
        blocking = [
            dep
            for _, dep in self._cluster.dependents_of(uid)
            if any(
                r.get("uid") == uid and r.get("blockOwnerDeletion")
                for r in dep["metadata"].get("ownerReferences") or []
            )
        ]
        current = self._cluster.by_uid(uid)
        if not blocking and current is not None:
            self._remove_finalizer(info, current[1], "foregroundDeletion")

    # ------------------------------------------------------------------ namespaces

    def _clean_namespace(self, ns: str) -> None:
        cluster = self._cluster
        ns_info = cluster.storage_infos[("", "namespaces")]
        namespace = cluster.store.lookup(ns_info, None, ns)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for info, objects in cluster.store.namespace_contents(ns):
            for obj in objects:
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        cluster.delete(
                            info,
                            ns,
                            obj["metadata"]["name"],
                            user=NS_USER,
                            user_agent=_UA,
                            propagation_policy="Background",
                        )
                    except StatusError as exc:
                        if exc.code != 404:
                            raise
            remaining += sum(1 for _ in cluster.iter_objects(info, ns))
        if remaining == 0 and not namespace["metadata"].get("finalizers"):
            cluster.remove_now(ns_info, namespace)
