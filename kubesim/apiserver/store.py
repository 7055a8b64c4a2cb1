"""`Store`: kubesim's etcd and watch cache — stored objects, the revision, lists and watches.

Objects live in plain dicts keyed (group, plural) -> namespace -> name. `Store` owns the global
resourceVersion, the uid and owner-reference indexes, paginated lists, watch registration and
in-process subscriptions. It knows nothing of verbs: `kubesim.apiserver.cluster.Cluster` composes
it with the write pipeline, deletion and the garbage collector, which build the API semantics.
Components that must react to a commit register `before_publish` (a change is stored, watchers
do not have it yet) and `after_publish` (watchers and subscribers have it) callbacks.

Invariants:

* One global resourceVersion counter; every persisted change takes the next value (`commit`
  is the only writer). A list's resourceVersion is the current revision.
* Stored objects are never mutated in place: every write builds a new dict and swaps it in.
  Objects returned by `get`/`list` and passed to watchers ARE the stored ones: callers must
  copy before changing them.
* State changes never await.
"""

from __future__ import annotations

import base64
import builtins
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import structlog

from kubesim.apiserver import errors
from kubesim.apiserver.audit import AuditLog
from kubesim.apiserver.conversion import from_storage, has_conversion
from kubesim.apiserver.errors import StatusError
from kubesim.apiserver.resources import Registry, ResourceInfo
from kubesim.apiserver.selectors import FieldSelector, LabelSelector
from kubesim.apiserver.watch import DELETED, Broadcaster, Watcher, WatchEvent

__all__ = ["CRD_KEY", "INITIAL_NAMESPACES", "CommitHook", "ObjKey", "Store", "clone", "rfc3339"]

_log = structlog.get_logger("kubesim.apiserver.store")

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: Where an object is stored: ((group, plural), namespace, name).
ObjKey = tuple[tuple[str, str], str, str]
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
#: `hook(info, event_type, obj, old)`, called for every commit (see `Store.commit`).
CommitHook = Callable[[ResourceInfo, str, dict[str, Any], dict[str, Any] | None], None]
_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def rfc3339(seconds: float) -> str:
    """`2026-11-25T17:00:00Z` (second precision, as metav1.Time serialises)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def clone(obj: Any) -> Any:
    """A deep copy of JSON data (orjson round trip: several times faster than deepcopy)."""
    return orjson.loads(orjson.dumps(obj))


class Store:
    """Stored objects, the global revision, indexes, lists and watches."""

    def __init__(
        self,
        *,
        history_size: int = 10_000,
        graceful_pod_deletion: bool = False,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.registry = Registry()
        self.broadcaster = Broadcaster(history_size)
        self.audit = audit or AuditLog()
        #: Pods with a grace period stay Terminating until a kubelet deletes them. Without a
        #: kubelet (controllers off) they are removed at once so nothing waits forever.
        self.graceful_pod_deletion = graceful_pod_deletion
        self.clock = clock
        self.rng = rng or random.Random()
        #: Called once a change is stored, before watchers see it (CRDs start serving here).
        self.before_publish: list[CommitHook] = []
        #: Called once watchers and subscribers have the change (the GC reacts here).
        self.after_publish: list[CommitHook] = []
        self._rv = 0
        self._objects: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = {}
        self._uids: dict[str, ObjKey] = {}
        self._dependents: dict[str, set[ObjKey]] = {}
        self._subscribers: dict[tuple[str, str], list[Callable[[str, dict[str, Any]], None]]] = {}
        self._notifications: deque[tuple[ResourceInfo, str, dict[str, Any]]] = deque()
        self._notifying = False
        #: The ResourceInfo of each storage key at its storage version.
        self.storage_infos: dict[tuple[str, str], ResourceInfo] = {
            i.key: i
            for i in self.registry
            if i.storage_group is None and i.version == i.storage_version
        }

    # ------------------------------------------------------------------ lookups

    @property
    def resource_version(self) -> int:
        """The current global revision."""
        return self._rv

    def now(self) -> str:
        """The server clock as RFC 3339."""
        return rfc3339(self.clock())

    def resource(
        self, plural_or_kind: str, group: str = "", version: str | None = None
    ) -> ResourceInfo:
        """Look up a served resource by plural, singular, kind or short name (404 if unknown)."""
        info = self.registry.find(plural_or_kind, group, version)
        if info is None:
            raise errors.path_not_found()
        return info

    def info_of(self, res: ResourceInfo | str) -> ResourceInfo:
        """`res` itself, or the resource a "plural[.group]" string names (404 if unknown)."""
        if isinstance(res, ResourceInfo):
            return res
        plural, _, group = res.partition(".")
        return self.resource(plural, group)

    def _bucket(self, info: ResourceInfo, namespace: str) -> dict[str, dict[str, Any]]:
        return self._objects.setdefault(info.key, {}).setdefault(
            namespace if info.namespaced else "", {}
        )

    def lookup(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object at its storage version (read-only), or None."""
        ns = (namespace or "") if info.namespaced else ""
        return self._objects.get(info.key, {}).get(ns, {}).get(name)

    def stored(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object at its storage version (read-only). Raises a 404 StatusError."""
        found = self.lookup(info, namespace, name)
        if found is None:
            raise errors.not_found(info.plural, info.group, name)
        return found

    def namespace_contents(
        self, namespace: str
    ) -> Iterator[tuple[ResourceInfo, builtins.list[dict[str, Any]]]]:
        """Every namespaced resource with the objects it stores in `namespace` (maybe none)."""
        for key, by_ns in builtins.list(self._objects.items()):
            info = self.storage_infos.get(key)
            if info is not None and info.namespaced:
                yield info, builtins.list(by_ns.get(namespace, {}).values())

    def by_uid(self, uid: str) -> tuple[ResourceInfo, dict[str, Any]] | None:
        """The stored object with this uid, if it still exists."""
        where = self._uids.get(uid)
        if where is None:
            return None
        key, ns, name = where
        obj = self._objects.get(key, {}).get(ns, {}).get(name)
        if obj is None:
            return None
        return self.storage_infos[key], obj

    def has_dependents(self, uid: str) -> bool:
        """Whether any stored object's ownerReferences name `uid`."""
        return bool(self._dependents.get(uid))

    def dependents_of(self, uid: str) -> list[tuple[ResourceInfo, dict[str, Any]]]:
        """Stored objects whose ownerReferences name `uid`."""
        out = []
        for key, ns, name in sorted(self._dependents.get(uid, ())):
            obj = self._objects.get(key, {}).get(ns, {}).get(name)
            if obj is not None:
                out.append((self.storage_infos[key], obj))
        return out

    def present(self, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object as served at `info` (the stored dict itself when no conversion)."""
        return from_storage(info, obj)

    # ------------------------------------------------------------------ reads

    def get(self, res: ResourceInfo | str, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object (read-only). Raises a 404 StatusError."""
        info = self.info_of(res)
        return from_storage(info, self.stored(info, namespace, name))

    def iter_objects(
        self, info: ResourceInfo, namespace: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stored objects of a resource in key order (namespace, then name)."""
        by_ns = self._objects.get(info.key, {})
        namespaces = [namespace] if info.namespaced and namespace else sorted(by_ns)
        for ns in namespaces:
            bucket = by_ns.get(ns, {})
            for name in sorted(bucket):
                yield bucket[name]

    def selectors(
        self, info: ResourceInfo, label_selector: str, field_selector: str
    ) -> tuple[LabelSelector, FieldSelector]:
        """Parse selectors for a resource (400 on a bad selector or unsupported field)."""
        supported = {"metadata.name", *info.field_labels}
        if info.namespaced:
            supported.add("metadata.namespace")
        return LabelSelector(label_selector), FieldSelector(field_selector, supported)

    def list(
        self,
        res: ResourceInfo | str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        """Matching stored objects (read-only) and the list resourceVersion."""
        info = self.info_of(res)
        items, rv, _, _ = self.list_page(
            info, namespace, *self.selectors(info, label_selector, field_selector)
        )
        return items, rv

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
        rv = self._rv
        start: tuple[str, str] | None = None
        if continue_token:
            rv, start = self._decode_continue(continue_token)
        pinned = fields.required_value("metadata.name")
        items: list[dict[str, Any]] = []
        source: Iterator[dict[str, Any]] | list[dict[str, Any]]
        if continue_token:
            try:
                source = self._snapshot(info, namespace, rv)
            except StatusError as exc:
                if exc.code != 410:
                    raise
                raise errors.expired(_CONTINUE_EXPIRED)
        elif pinned is not None and info.namespaced and namespace:
            found = self._objects.get(info.key, {}).get(namespace, {}).get(pinned)
            source = [found] if found is not None else []
        else:
            source = self.iter_objects(info, namespace)
        for obj in source:
            meta = obj["metadata"]
            if start is not None and (meta.get("namespace", ""), meta["name"]) <= start:
                continue
            if labels.empty or labels.matches(meta.get("labels")):
                shown = from_storage(info, obj)
                if fields.empty or fields.matches(shown):
                    items.append(shown)
        token, remaining = "", None
        if limit and len(items) > limit:
            # Upstream counts the rest only for unfiltered lists (ListMeta.remainingItemCount).
            remaining = len(items) - limit if labels.empty and fields.empty else None
            items = items[:limit]
            last = items[-1]["metadata"]
            token = self._encode_continue(rv, (last.get("namespace", ""), last["name"]))
        return items, str(rv), token, remaining

    def _snapshot(
        self, info: ResourceInfo, namespace: str | None, rv: int
    ) -> builtins.list[dict[str, Any]]:
        """The objects as they were at revision `rv`, in key order (what a continued list sees).

        Rebuilt from the current objects by undoing the history after `rv`: each object changed
        since then is replaced by its state before the first such change (absent if it was
        created). Raises 410 Expired when that history is gone."""
        before: dict[tuple[str, str], dict[str, Any] | None] = {}
        for event in self.broadcaster.history(info.key).since(rv, self._rv):
            meta = event.obj["metadata"]
            key = (meta.get("namespace", "") if info.namespaced else "", meta["name"])
            if key not in before:
                before[key] = None if event.type == "ADDED" else event.old
        keyed: dict[tuple[str, str], dict[str, Any]] = {}
        for obj in self.iter_objects(info, namespace):
            meta = obj["metadata"]
            keyed[(meta.get("namespace", "") if info.namespaced else "", meta["name"])] = obj
        for key, old in before.items():
            if old is None:
                keyed.pop(key, None)
            elif not (info.namespaced and namespace) or key[0] == namespace:
                keyed[key] = old
        return [keyed[key] for key in sorted(keyed)]

    @staticmethod
    def _encode_continue(rv: int, start: tuple[str, str]) -> str:
        raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(start)})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_continue(self, token: str) -> tuple[int, tuple[str, str]]:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv, start = int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
        except Exception:
            raise errors.bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
            )
        return rv, start

    # ------------------------------------------------------------------ watch

    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        resource_version: str | None,
    ) -> Watcher:
        """Open a watch. Raises 410 Expired (before registering) for a too-old RV.

        RV "" or "0": synthetic ADDED for every matching object, then changes. RV N: every
        change after N, from history."""
        present = (lambda obj: from_storage(info, obj)) if has_conversion(info) else None
        watcher = Watcher(namespace if info.namespaced else None, labels, fields, present=present)
        if resource_version in (None, "", "0"):
            for obj in self.iter_objects(info, namespace):
                if watcher._matches(obj):
                    watcher.push_initial(obj, self._rv)
        else:
            try:
                since = int(str(resource_version))
            except ValueError:
                raise errors.bad_request(
                    f'invalid resource version: strconv.ParseUint: parsing "{resource_version}": invalid syntax'
                )
            for event in self.broadcaster.history(info.key).since(since, self._rv):
                watcher.offer(event)
        self.broadcaster.add(info.key, watcher)
        return watcher

    def subscribe(
        self, res: ResourceInfo | str, callback: Callable[[str, dict[str, Any]], None]
    ) -> Callable[[], None]:
        """In-process watch of every change of a resource; returns the unsubscribe function.

        `callback(event_type, obj)` runs synchronously right after each commit. It must not
        mutate `obj` and should not raise (exceptions are logged and swallowed)."""
        key = self.info_of(res).key
        callbacks = self._subscribers.setdefault(key, [])
        callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in callbacks:
                callbacks.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ commit

    def commit(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None, event_type: str
    ) -> dict[str, Any]:
        """Persist one change under the next resourceVersion and publish it. Never awaits.

        The only writer of stored objects. `obj` is stored as is (its resourceVersion set);
        for DELETED the stored object is removed and the returned final state carries the new
        resourceVersion."""
        self._rv += 1
        rv = self._rv
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if info.namespaced else ""
        name = meta["name"]
        where: ObjKey = (info.key, ns, name)
        if event_type == DELETED:
            final = {**obj, "metadata": {**meta, "resourceVersion": str(rv)}}
            self._bucket(info, ns).pop(name, None)
            self._uids.pop(meta["uid"], None)
            self._index_owners(where, meta.get("ownerReferences"), None)
            obj = final
        else:
            meta["resourceVersion"] = str(rv)
            self._bucket(info, ns)[name] = obj
            if old is None:
                self._uids[meta["uid"]] = where
            old_refs = old["metadata"].get("ownerReferences") if old else None
            if old_refs is not meta.get("ownerReferences"):
                self._index_owners(where, old_refs, meta.get("ownerReferences"))
        for hook in self.before_publish:
            hook(info, event_type, obj, old)
        self.broadcaster.publish(info.key, WatchEvent(event_type, obj, old, rv))
        self._notifications.append((info, event_type, obj))
        if not self._notifying:
            self._notify()
        for hook in self.after_publish:
            hook(info, event_type, obj, old)
        return obj

    def _notify(self) -> None:
        """Call subscribers for queued changes, oldest first.

        A subscriber that writes (re-entering `commit`) only queues its change, so every
        subscriber sees every change in resourceVersion order."""
        self._notifying = True
        try:
            while self._notifications:
                info, event_type, obj = self._notifications.popleft()
                for callback in list(self._subscribers.get(info.key, ())):
                    try:
                        callback(event_type, obj)
                    except Exception:
                        _log.exception(
                            "kubesim.subscriber_failed", resource=info.qualified, event=event_type
                        )
        finally:
            self._notifying = False

    def _index_owners(self, where: ObjKey, old_refs: Any, new_refs: Any) -> None:
        old_uids = {r.get("uid") for r in old_refs or []}
        new_uids = {r.get("uid") for r in new_refs or []}
        for uid in old_uids - new_uids:
            dependents = self._dependents.get(uid)
            if dependents is not None:
                dependents.discard(where)
                if not dependents:
                    del self._dependents[uid]
        for uid in new_uids - old_uids:
            if uid:
                self._dependents.setdefault(uid, set()).add(where)

    def audit_request(
        self,
        verb: str,
        info: ResourceInfo,
        namespace: str | None,
        name: str | None,
        code: int,
        **kw: Any,
    ) -> None:
        """Record one API request on `info` in the audit log."""
        self.audit.record(
            verb=verb,
            group=info.group,
            resource=info.plural,
            namespace=namespace if info.namespaced else None,
            name=name,
            code=code,
            **kw,
        )
