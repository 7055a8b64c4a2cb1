"""`Cluster`: the one place API verb semantics live (the registry store of kube-apiserver).

HTTP handlers and kubesim's own controllers both call these plain-`def` methods, so a write
looks the same whoever makes it: resourceVersion, uid, generation, defaults, validation,
managedFields, the status split, deletion, garbage collection, watch events and the audit log.

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

import base64
import builtins
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from kubesim import errors, strategy
from kubesim.audit import AuditLog
from kubesim.crd_registry import CrdRegistrar
from kubesim.decode import decode_builtin
from kubesim.defaults import apply_defaults
from kubesim.engines import ApplyConflict, Engine, PatchError
from kubesim.errors import Cause, StatusError
from kubesim.gc import GarbageCollector
from kubesim.resources import Registry, ResourceInfo
from kubesim.scale import scale_of, set_scale_replicas
from kubesim.selectors import FieldSelector, LabelSelector
from kubesim.structural import prune_and_default
from kubesim.structural import validate as validate_structural
from kubesim.validation import check_metadata_types, validate_object_meta
from kubesim.watch import ADDED, DELETED, MODIFIED, Broadcaster, Watcher, WatchEvent

__all__ = ["INITIAL_NAMESPACES", "PATCH_TYPES", "Cluster", "rfc3339"]

_log = logging.getLogger("kubesim.cluster")

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: Patch types and the content types that select them.
PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_ObjKey = tuple[tuple[str, str], str, str]
_CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


def rfc3339(seconds: float) -> str:
    """`2026-11-25T17:00:00Z` (second precision, as metav1.Time serialises)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _clone(obj: Any) -> Any:
    """A deep copy of JSON data (orjson round trip: several times faster than deepcopy)."""
    return orjson.loads(orjson.dumps(obj))


def _default_manager(user_agent: str, user: str) -> str:
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
        self.registry = Registry()
        self.engine = Engine()
        self.broadcaster = Broadcaster(history_size)
        self.audit = audit or AuditLog()
        #: Pods with a grace period stay Terminating until a kubelet deletes them. Without a
        #: kubelet (controllers off) they are removed at once so nothing waits forever.
        self.graceful_pod_deletion = graceful_pod_deletion
        self.clock = clock
        self._rng = rng or random.Random()
        #: fieldValidation=Strict for the write in progress (set per call; calls never await).
        self._strict = False
        self._rv = 0
        self._objects: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = {}
        self._uids: dict[str, _ObjKey] = {}
        self._dependents: dict[str, set[_ObjKey]] = {}
        self._subscribers: dict[tuple[str, str], list[Callable[[str, dict[str, Any]], None]]] = {}
        self.storage_infos: dict[tuple[str, str], ResourceInfo] = {i.key: i for i in self.registry}
        self.gc = GarbageCollector(self)
        self.crds = CrdRegistrar(self)
        ns_info = self.resource("namespaces")
        for name in INITIAL_NAMESPACES:
            self._create(
                ns_info,
                "",
                {"metadata": {"name": name}},
                manager="kube-apiserver",
                subresource=None,
            )

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

    def _info(self, res: ResourceInfo | str) -> ResourceInfo:
        if isinstance(res, ResourceInfo):
            return res
        plural, _, group = res.partition(".")
        return self.resource(plural, group)

    def _bucket(self, info: ResourceInfo, namespace: str) -> dict[str, dict[str, Any]]:
        return self._objects.setdefault(info.key, {}).setdefault(
            namespace if info.namespaced else "", {}
        )

    def _stored(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        ns = (namespace or "") if info.namespaced else ""
        found = self._objects.get(info.key, {}).get(ns, {}).get(name)
        if found is None:
            raise errors.not_found(info.plural, info.group, name)
        return found

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

    def dependents_of(self, uid: str) -> list[tuple[ResourceInfo, dict[str, Any]]]:
        """Stored objects whose ownerReferences name `uid`."""
        out = []
        for key, ns, name in sorted(self._dependents.get(uid, ())):
            obj = self._objects.get(key, {}).get(ns, {}).get(name)
            if obj is not None:
                out.append((self.storage_infos[key], obj))
        return out

    def _as_version(self, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` as served at `info`'s version (conversion strategy None: apiVersion only)."""
        if obj.get("apiVersion") == info.api_version:
            return obj
        return {**obj, "apiVersion": info.api_version}

    # ------------------------------------------------------------------ reads

    def get(self, res: ResourceInfo | str, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object (read-only). Raises a 404 StatusError."""
        info = self._info(res)
        return self._as_version(info, self._stored(info, namespace, name))

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
        info = self._info(res)
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
        if pinned is not None and info.namespaced and namespace:
            found = self._objects.get(info.key, {}).get(namespace, {}).get(pinned)
            source = [found] if found is not None else []
        else:
            source = self.iter_objects(info, namespace)
        for obj in source:
            meta = obj["metadata"]
            if start is not None and (meta.get("namespace", ""), meta["name"]) <= start:
                continue
            if (labels.empty or labels.matches(meta.get("labels"))) and (
                fields.empty or fields.matches(obj)
            ):
                items.append(self._as_version(info, obj))
        token, remaining = "", None
        if limit and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = items[-1]["metadata"]
            token = self._encode_continue(rv, (last.get("namespace", ""), last["name"]))
        return items, str(rv), token, remaining

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
        history = self.broadcaster.histories
        oldest = min((h.compacted_rv for h in history.values()), default=0)
        if rv < oldest:
            raise errors.expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
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
        watcher = Watcher(namespace if info.namespaced else None, labels, fields)
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
        key = self._info(res).key
        callbacks = self._subscribers.setdefault(key, [])
        callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in callbacks:
                callbacks.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ commit

    def _commit(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None, event_type: str
    ) -> dict[str, Any]:
        """Persist one change under the next resourceVersion and publish it. Never awaits."""
        self._rv += 1
        rv = self._rv
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if info.namespaced else ""
        name = meta["name"]
        where: _ObjKey = (info.key, ns, name)
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
        if info.key == _CRD_KEY and event_type != DELETED:
            self.crds.serve(obj)
        self.broadcaster.publish(info.key, WatchEvent(event_type, obj, old, rv))
        for callback in list(self._subscribers.get(info.key, ())):
            try:
                callback(event_type, obj)
            except Exception:
                _log.exception("kubesim subscriber failed")
        self.gc.observe(info, event_type, obj, old)
        return obj

    def _index_owners(self, where: _ObjKey, old_refs: Any, new_refs: Any) -> None:
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

    def _audit(
        self,
        verb: str,
        info: ResourceInfo,
        namespace: str | None,
        name: str | None,
        code: int,
        **kw: Any,
    ) -> None:
        self.audit.record(
            verb=verb,
            group=info.group,
            resource=info.plural,
            namespace=namespace if info.namespaced else None,
            name=name,
            code=code,
            **kw,
        )

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
        self._strict = field_validation == "Strict"
        manager = field_manager or _default_manager(user_agent, user)
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        try:
            body = obj if owned else _clone(obj)
            result = self._create(
                info,
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
            self._strict = False
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

    def _check_kind(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if (
            api_version
            and api_version != info.api_version
            and not (info.custom and str(api_version).startswith(info.group + "/"))
        ):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({info.api_version})"
            )
        if kind and kind != info.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({info.kind})"
            )

    def _check_namespace(self, info: ResourceInfo, namespace: str, meta: dict[str, Any]) -> None:
        if not info.namespaced:
            meta.pop("namespace", None)
            return
        body_ns = meta.get("namespace")
        if body_ns and namespace and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if not namespace and not body_ns:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace or body_ns

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
        self._check_kind(info, obj)
        obj["apiVersion"] = f"{info.group}/{info.storage_version}" if info.group else info.version
        obj["kind"] = info.kind
        meta = check_metadata_types(info, obj)
        self._check_namespace(info, namespace, meta)
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
        if info.key == _CRD_KEY:
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
        if info.custom:
            schema = info.extra.get("schema")
            return prune_and_default(schema, obj) if schema else obj
        decode_builtin(info, obj, self.engine.schema_for(info), strict=self._strict, old=old)
        return apply_defaults(info.group, info.version, info.kind, obj)

    def _validate(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        """Raise one 422 Invalid listing every problem of `obj` (metadata, schema, type rules)."""
        causes: list[Any] = validate_object_meta(info, obj["metadata"])
        schema = info.extra.get("schema")
        if info.custom and schema:
            causes += validate_structural(schema, obj)
        if info.key == _CRD_KEY:
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
        self._strict = field_validation == "Strict"
        manager = field_manager or _default_manager(user_agent, user)
        try:
            body = obj if owned else _clone(obj)
            result = self._update(
                info,
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
            self._strict = False
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
        self._check_kind(info, body)
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
            # Only status (and managedFields, recomputed below) may change through /status.
            status = new.get("status")
            new = {**old, "metadata": dict(old_meta)}
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
        self._strict = field_validation == "Strict"
        manager = field_manager or (
            "" if patch_type == "apply" else _default_manager(user_agent, user)
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
            self._strict = False
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
        base = scale_of(info, old) if subresource == "scale" else _clone(old)
        try:
            patched = self.engine.patch(info, base, body, patch_type)
        except PatchError as exc:
            raise StatusError(
                getattr(exc, "code", 422),
                getattr(exc, "reason", "Invalid"),
                getattr(exc, "message", str(exc)),
            )
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch produced a non-object result")
        if subresource == "scale":
            return self._write_scale(info, old, patched, manager=manager, dry_run=dry_run)
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
                    info,
                    namespace,
                    created,
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
                _clone(live),
                config,
                manager=manager,
                force=force,
                subresource=subresource,
                now=now,
            )
        except ApplyConflict as exc:
            raise self._conflict_error(exc)
        except PatchError as exc:
            raise StatusError(
                getattr(exc, "code", 422),
                getattr(exc, "reason", "Invalid"),
                getattr(exc, "message", str(exc)),
            )
        return self._write(
            info,
            live,
            merged,
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
    def _conflict_error(exc: Exception) -> StatusError:
        conflicts: list[tuple[str, str]] = list(getattr(exc, "conflicts", []))
        causes = [
            {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": f}
            for m, f in conflicts
        ]
        message = getattr(exc, "message", "") or str(exc)
        return StatusError(409, "Conflict", message, {"causes": causes} if causes else None)

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
        new = set_scale_replicas(info, _clone(old), replicas)
        result = self._write(info, old, new, manager=manager, subresource="scale", dry_run=dry_run)
        return scale_of(info, result)

    # ------------------------------------------------------------------ delete

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
        info = self._info(res)
        try:
            result = self._delete(
                info,
                namespace or "",
                name,
                propagation=propagation_policy,
                grace=grace_period_seconds,
                preconditions=preconditions,
                dry_run=dry_run,
            )
        except StatusError as exc:
            self._audit("delete", info, namespace, name, exc.code, user=user, user_agent=user_agent)
            raise
        self._audit("delete", info, namespace, name, 200, user=user, user_agent=user_agent)
        return result

    def _delete(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        *,
        propagation: str | None,
        grace: int | None,
        preconditions: dict[str, Any] | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        if propagation not in (None, "Foreground", "Background", "Orphan"):
            raise errors.invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "FieldValueNotSupported",
                        "propagationPolicy",
                        f'Unsupported value: "{propagation}": supported values: "Foreground", "Background", "Orphan"',
                    )
                ],
            )
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
            raise errors.bad_request("gracePeriodSeconds must be an integer")
        old = self._stored(info, namespace, name)
        meta = old["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != meta.get(field):
                detail = f"the {label} in the precondition ({wanted}) does not match the {label} in record ({meta.get(field)}). "
                detail += (
                    "The object might have been deleted and then recreated"
                    if field == "uid"
                    else "The object might have been modified"
                )
                raise errors.conflict(info.plural, info.group, name, detail)
        grace_s = self._pod_grace(old, grace) if info.key == ("", "pods") else 0
        finalizers = list(meta.get("finalizers") or [])
        deleting = bool(meta.get("deletionTimestamp"))
        if not deleting:
            wanted = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(propagation or "")
            if propagation == "Background":
                finalizers = [f for f in finalizers if f not in ("orphan", "foregroundDeletion")]
            elif wanted:
                finalizers = [
                    f for f in finalizers if f not in ("orphan", "foregroundDeletion")
                ] + [wanted]
        if info.key == ("", "namespaces"):
            return self._terminate_namespace(info, old, dry_run=dry_run)
        if deleting:
            return self._delete_again(info, old, grace_s, dry_run=dry_run)
        if finalizers or grace_s > 0:
            new = {**old, "metadata": dict(meta)}
            new_meta = new["metadata"]
            new_meta["deletionTimestamp"] = rfc3339(self.clock() + grace_s)
            new_meta["deletionGracePeriodSeconds"] = grace_s
            if finalizers:
                new_meta["finalizers"] = finalizers
            if "generation" in new_meta:
                new_meta["generation"] = int(new_meta["generation"]) + 1
            if dry_run:
                return new
            return self._commit(info, new, old, MODIFIED)
        if dry_run:
            return self._deleted_response(info, old)
        final = self._commit(info, old, old, DELETED)
        return self._deleted_response(info, final)

    def _delete_again(
        self, info: ResourceInfo, old: dict[str, Any], grace_s: int, *, dry_run: bool
    ) -> dict[str, Any]:
        """A DELETE of an object already terminating: may only shorten a pod's grace period."""
        meta = old["metadata"]
        current = meta.get("deletionGracePeriodSeconds") or 0
        if info.key != ("", "pods") or grace_s >= current:
            return old
        if grace_s == 0 and not meta.get("finalizers"):
            if dry_run:
                return old
            return self._deleted_response(info, self._commit(info, old, old, DELETED))
        new = {
            **old,
            "metadata": {
                **meta,
                "deletionGracePeriodSeconds": grace_s,
                "deletionTimestamp": rfc3339(self.clock() + grace_s),
            },
        }
        return new if dry_run else self._commit(info, new, old, MODIFIED)

    def _terminate_namespace(
        self, info: ResourceInfo, old: dict[str, Any], *, dry_run: bool
    ) -> dict[str, Any]:
        if old["metadata"]["name"] in INITIAL_NAMESPACES[:3]:
            raise errors.forbidden(
                "namespaces", "", old["metadata"]["name"], "this namespace may not be deleted"
            )
        if old["metadata"].get("deletionTimestamp"):
            return old
        new = {
            **old,
            "metadata": {
                **old["metadata"],
                "deletionTimestamp": self.now(),
                "deletionGracePeriodSeconds": 0,
            },
            "status": {"phase": "Terminating"},
        }
        if dry_run:
            return new
        return self._commit(info, new, old, MODIFIED)

    def _pod_grace(self, pod: dict[str, Any], requested: int | None) -> int:
        """The grace period of a pod deletion (§6.1); 0 when no kubelet will finish it."""
        if not self.graceful_pod_deletion:
            return 0
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = (
            requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
        )
        grace = int(grace or 0)
        return 1 if grace < 0 else grace

    @staticmethod
    def _deleted_response(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        if info.return_deleted_object:
            return obj
        meta = obj["metadata"]
        details = {
            "name": meta["name"],
            "group": info.group,
            "kind": info.plural,
            "uid": meta["uid"],
        }
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {k: v for k, v in details.items() if v},
        }

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
        info = self._info(res)
        if "deletecollection" not in info.verbs:
            raise errors.method_not_allowed(info.plural, info.group, "deletecollection")
        items, _ = self.list(
            info, namespace, label_selector=label_selector, field_selector=field_selector
        )
        deleted = []
        for obj in list(items):
            meta = obj["metadata"]
            try:
                result = self.delete(
                    info,
                    meta.get("namespace"),
                    meta["name"],
                    user=user,
                    user_agent=user_agent,
                    propagation_policy=propagation_policy,
                    grace_period_seconds=grace_period_seconds,
                    dry_run=dry_run,
                )
            except StatusError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(obj if result.get("kind") == "Status" else result)
        self._audit(
            "deletecollection", info, namespace, None, 200, user=user, user_agent=user_agent
        )
        return {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": deleted,
        }

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
        """A write by kubesim's own control plane (GC, namespace controller): audited as `user`."""
        try:
            result = self._write(info, old, new, manager=manager, subresource=None)
        except StatusError as exc:
            self._audit(
                "update",
                info,
                old["metadata"].get("namespace"),
                old["metadata"]["name"],
                exc.code,
                user=user,
                field_manager=manager,
            )
            raise
        self._audit(
            "update",
            info,
            old["metadata"].get("namespace"),
            old["metadata"]["name"],
            200,
            user=user,
            field_manager=manager,
        )
        return result

    def remove_now(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """Remove an object whose deletion is complete (namespace controller, CRD cleanup)."""
        stored = (
            self._objects.get(info.key, {})
            .get(obj["metadata"].get("namespace", "") if info.namespaced else "", {})
            .get(obj["metadata"]["name"])
        )
        if stored is not None:
            self._commit(info, stored, stored, DELETED)
