"""The operator's view of the cluster: one informer per watched kind (and namespace).

- RayClusters (``ray.io/v1``), in every namespace or in each ``--namespace``.
- Every kind rayop creates, selected by ``app.kubernetes.io/managed-by=rayop`` so the caches
  hold rayop's children and nothing else; indexed by controller owner uid.
- Ray pods (``ray.io/cluster`` label present), slimmed by :func:`slim_pod` to the fields
  status, failure handling and scale-down read, with the parts pods repeat shared (about
  1.6 KB a pod); indexed by ``namespace/cluster``.

Objects in the stores are shared and read-only: never mutate one (copy first).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from kubernetes_asyncio.client import ApiClient

from controller.api.constants import (
    API_VERSION,
    API_VERSION_PREFIX,
    KIND,
    LABEL_CLUSTER,
    LABEL_PREFIX,
)
from controller.kube.resources import ResourceRef, resource_for
from informers import OWNER_INDEX, FrozenDict, RequestHooks, SharedInformer

__all__ = [
    "CHILD_KINDS",
    "Caches",
    "ChildKey",
    "slim_child",
    "slim_cluster",
    "slim_pod",
]

MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=rayop"
RAY_POD_SELECTOR = LABEL_CLUSTER
CLUSTER_INDEX = "raycluster"


class ChildKey(NamedTuple):
    """Identity of one child of a RayCluster: its kind and name (the namespace is the cluster's)."""

    kind: str
    name: str


CHILD_KINDS: tuple[ResourceRef, ...] = (
    resource_for("apps/v1", "StatefulSet"),
    resource_for("apps/v1", "Deployment"),
    resource_for("v1", "Service"),
    resource_for("autoscaling/v2", "HorizontalPodAutoscaler"),
    resource_for("v1", "ServiceAccount"),
    resource_for("rbac.authorization.k8s.io/v1", "Role"),
    resource_for("rbac.authorization.k8s.io/v1", "RoleBinding"),
)
RAYCLUSTERS = resource_for(API_VERSION, KIND)
PODS = resource_for("v1", "Pod")
CHILD_KIND_BY_NAME = {kind.kind: kind for kind in CHILD_KINDS}


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def slim_cluster(obj: dict[str, Any]) -> dict[str, Any]:
    """RayClusters are kept whole but for managedFields."""
    return _without_managed_fields(obj)


def slim_child(obj: dict[str, Any]) -> dict[str, Any]:
    """Children without managedFields and status: rayop compares only what it sets."""
    obj.pop("status", None)
    return _without_managed_fields(obj)


_POD_META = ("name", "namespace", "uid", "deletionTimestamp", "resourceVersion")
_POD_LABEL_PREFIX = LABEL_PREFIX
_OWNER_REF = ("apiVersion", "kind", "name", "uid", "controller")
_CONDITION = ("type", "status", "reason", "message")
_STATE = ("reason", "message", "exitCode")
_CONTAINER_STATUS = ("name", "ready", "restartCount")
_SHARED_LIMIT = 16384


class _SharedValues:
    """One copy of each equal read-only value that many pods carry (hash-consing).

    The labels of a group's pods, their owner reference, a running container's status and the
    Ready condition are the same for every pod of a group: stored once, they cost one pointer
    per pod instead of a dict each, which is what brings a cached pod under 2 KiB (about 1.6 KB,
    from 5 KB: ``benchmarks/bench_pod_cache.py``). The dicts in shared values are frozen: a
    reader that mutated one would change every pod holding it. The table is bounded: when full
    it is emptied, which only stops sharing with the pods cached before.
    """

    def __init__(self, limit: int = _SHARED_LIMIT) -> None:
        self.limit = limit
        self._values: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The value stored under ``key``, built (and stored) by ``build()`` if there is none."""
        value = self._values.get(key)
        if value is None:
            if len(self._values) >= self.limit:
                self._values.clear()
            value = self._values[key] = build()
        return value

    def __len__(self) -> int:
        return len(self._values)


_shared = _SharedValues()


def _intern(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


def _frozen(obj: Mapping[str, Any], fields: Sequence[str]) -> FrozenDict:
    return FrozenDict({k: _intern(obj[k]) for k in fields if k in obj})


def _key(obj: Mapping[str, Any], fields: Sequence[str]) -> tuple[Any, ...]:
    return tuple(map(obj.get, fields))


def _container_state(cs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    # Only the state's verdict: its timestamps and container id differ on every pod.
    return {
        kind: {k: detail[k] for k in _STATE if k in detail}
        for kind, detail in (cs.get("state") or {}).items()
        if isinstance(detail, Mapping)
    }


def _container_status_key(cs: Mapping[str, Any]) -> tuple[Any, ...]:
    state = _container_state(cs)
    return (*_key(cs, _CONTAINER_STATUS),
            *((kind, *detail.items()) for kind, detail in state.items()))  # fmt: skip


def _container_status(cs: Mapping[str, Any]) -> FrozenDict:
    slim = {k: _intern(cs[k]) for k in _CONTAINER_STATUS if k in cs}
    slim["state"] = FrozenDict(
        {kind: _frozen(detail, _STATE) for kind, detail in _container_state(cs).items()}
    )
    return FrozenDict(slim)


def slim_pod(obj: dict[str, Any]) -> dict[str, Any]:
    """A Pod reduced to what rayop reads, as compactly as a dict can hold it.

    Kept: identity (name, namespace, uid, resourceVersion, deletionTimestamp), the ``ray.io/``
    labels, the controller owner reference, phase/reason/message/podIP, the Ready and
    PodScheduled conditions (type, status, reason, message), container names and restart
    policy, and per container status its name, readiness, restart count and state (reason,
    message, exit code). Everything else (other labels, annotations, timestamps, images, ids)
    is read by nobody in rayop and dropped. Values many pods repeat are shared
    (:class:`_SharedValues`) and frozen; strings they hold are interned.

    Idempotent, as informer transforms must be (a slim pod passes through unchanged).
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    slim_meta: dict[str, Any] = {k: meta[k] for k in _POD_META if k in meta}
    if "namespace" in slim_meta:
        slim_meta["namespace"] = sys.intern(slim_meta["namespace"])
    labels = sorted(
        (k, v) for k, v in (meta.get("labels") or {}).items() if k.startswith(_POD_LABEL_PREFIX)
    )
    if labels:
        slim_meta["labels"] = _shared.get(
            ("labels", *labels), lambda: FrozenDict({sys.intern(k): _intern(v) for k, v in labels})
        )
    refs = [ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")]
    if refs:
        slim_meta["ownerReferences"] = _shared.get(
            ("owners", *(_key(ref, _OWNER_REF) for ref in refs)),
            lambda: [_frozen(ref, _OWNER_REF) for ref in refs],
        )
    slim_status: dict[str, Any] = {
        k: _intern(status[k]) for k in ("phase", "reason", "message") if k in status
    }
    if "podIP" in status:
        slim_status["podIP"] = status["podIP"]
    conditions = [
        c for c in status.get("conditions") or [] if c.get("type") in ("Ready", "PodScheduled")
    ]
    if conditions:
        slim_status["conditions"] = _shared.get(
            ("conditions", *(_key(c, _CONDITION) for c in conditions)),
            lambda: [_frozen(c, _CONDITION) for c in conditions],
        )
    if "containerStatuses" in status:
        statuses = status["containerStatuses"]
        slim_status["containerStatuses"] = _shared.get(
            ("containerStatuses", *map(_container_status_key, statuses)),
            lambda: [_container_status(cs) for cs in statuses],
        )
    names = tuple(c.get("name") for c in spec.get("containers") or [])
    slim_spec = _shared.get(
        ("spec", spec.get("restartPolicy"), spec.get("nodeName"), "containers" in spec, *names),
        lambda: _slim_spec(spec, names),
    )
    return {"metadata": slim_meta, "spec": slim_spec, "status": slim_status}


def _slim_spec(spec: Mapping[str, Any], names: tuple[Any, ...]) -> FrozenDict:
    slim: dict[str, Any] = {k: _intern(spec[k]) for k in ("restartPolicy", "nodeName") if k in spec}
    if "containers" in spec:
        slim["containers"] = [FrozenDict({"name": _intern(name)}) for name in names]
    return FrozenDict(slim)


def _cluster_of_pod(obj: Mapping[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    cluster = (meta.get("labels") or {}).get(LABEL_CLUSTER)
    return [f"{meta.get('namespace')}/{cluster}"] if cluster else []


Handler = Callable[[Any], None]
ChildHandler = Callable[[str, Any, bool], None]
"""Called with the child's kind, the object (or a tombstone) and whether it was deleted."""


class Caches:
    """Informers and indexed stores for RayClusters, their children and their pods."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        namespaces: Sequence[str] = (),
        resync_period: float | None = None,
        request_hooks: RequestHooks | None = None,
    ) -> None:
        """Informers on ``api_client``; ``request_hooks`` (the operator's KubeClient) throttles
        and counts their lists and watches with the writes.

        ``resync_period`` is the RayCluster informers' only: a resync is there to reconcile
        every cluster again, and one cluster's resync already reads all its children and pods
        from the caches. Children and pods do not resync (each of their resyncs woke the owner
        for nothing, once per pod and child), and their handlers ignore updates that carry the
        resourceVersion already held or that change nothing the cache keeps (``_changed``)."""
        scopes: list[str | None] = list(namespaces) or [None]
        self.namespaces = list(namespaces)

        def informer(
            ref: ResourceRef, ns: str | None, *, resync: float | None = None, **kw: Any
        ) -> SharedInformer:
            return SharedInformer(
                api_client,
                group=ref.group,
                version=ref.version,
                plural=ref.plural,
                namespace=ns,
                resync_period=resync,
                name=f"{ref.plural}@{ns or '*'}",
                request_hooks=request_hooks,
                # Restarts list by streaming watches where the server can: object by object,
                # never the whole list decoded at once (the restart's memory peak).
                stream_lists=True,
                **kw,
            )

        self.clusters = {
            ns: informer(RAYCLUSTERS, ns, resync=resync_period, transform=slim_cluster)
            for ns in scopes
        }
        self.children = {
            kind: {
                ns: informer(
                    kind,
                    ns,
                    label_selector=MANAGED_BY_SELECTOR,
                    transform=slim_child,
                )
                for ns in scopes
            }
            for kind in CHILD_KINDS
        }
        self.pods = {
            ns: informer(PODS, ns, label_selector=RAY_POD_SELECTOR, transform=slim_pod)
            for ns in scopes
        }
        for pod_informer in self.pods.values():
            pod_informer.store.add_index(CLUSTER_INDEX, _cluster_of_pod)

    def all(self) -> list[SharedInformer]:
        """Every informer, RayClusters first."""
        result = list(self.clusters.values())
        for by_ns in self.children.values():
            result.extend(by_ns.values())
        result.extend(self.pods.values())
        return result

    @property
    def has_synced(self) -> bool:
        """True once every informer has listed and delivered its initial objects."""
        return all(i.has_synced for i in self.all())

    def watch(self, *, on_cluster: Handler, on_child: ChildHandler, on_pod: Handler) -> None:
        """Register the controller's handlers (each called with the object, or a tombstone)."""
        for inf in self.clusters.values():
            _add(inf, on_cluster, resync=True)
        for kind, by_ns in self.children.items():
            for inf in by_ns.values():
                _add_child(inf, kind.kind, on_child)
        for inf in self.pods.values():
            _add(inf, on_pod)

    def _scope(self, namespace: str) -> str | None:
        return namespace if self.namespaces else None

    def get_cluster(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The cached RayCluster ``namespace/name``, or None."""
        inf = self.clusters.get(self._scope(namespace))
        return None if inf is None else inf.store.get(f"{namespace}/{name}")

    def list_clusters(self) -> list[Mapping[str, Any]]:
        """Every cached RayCluster."""
        return [obj for inf in self.clusters.values() for obj in inf.store.list()]

    def children_of(self, namespace: str, uid: str) -> dict[ChildKey, Mapping[str, Any]]:
        """The cached children whose controller owner is the RayCluster with ``uid``."""
        scope = self._scope(namespace)
        found: dict[ChildKey, Mapping[str, Any]] = {}
        for kind, by_ns in self.children.items():
            inf = by_ns.get(scope)
            if inf is None:
                continue
            for obj in inf.store.by_index(OWNER_INDEX, uid):
                found[ChildKey(kind.kind, obj["metadata"]["name"])] = obj
        return found

    def get_child(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The cached child object ``kind`` ``namespace/name``, whoever owns it, or None."""
        ref = CHILD_KIND_BY_NAME.get(kind)
        inf = None if ref is None else self.children[ref].get(self._scope(namespace))
        return None if inf is None else inf.store.get(f"{namespace}/{name}")

    def pods_of(self, namespace: str, cluster: str) -> list[Mapping[str, Any]]:
        """The cached Ray pods labelled with ``cluster``."""
        inf = self.pods.get(self._scope(namespace))
        return (
            [] if inf is None else list(inf.store.by_index(CLUSTER_INDEX, f"{namespace}/{cluster}"))
        )


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """False for an update that changes nothing rayop keeps: the same resourceVersion (a resync,
    a relist), or a new version equal in everything the cache holds (a workload's status moved:
    ``slim_child`` drops status, and each pod's own event already woke the owner)."""
    rv_old, rv_new = _resource_version(old), _resource_version(new)
    if rv_new and rv_old == rv_new:
        return False
    return _unversioned(old) != _unversioned(new)


def _unversioned(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _add(inf: SharedInformer, handler: Handler, *, resync: bool = False) -> None:
    def on_update(old: Any, new: Any) -> None:
        if not resync and not _changed(old, new):
            return
        # Both: a pod whose labels changed must wake the old cluster and the new one.
        handler(old)
        handler(new)

    inf.add_handler(on_add=handler, on_update=on_update, on_delete=handler)


def _add_child(inf: SharedInformer, kind: str, handler: ChildHandler) -> None:
    def on_update(old: Any, new: Any) -> None:
        if not _changed(old, new):
            return
        # Both: a child whose owner changed must wake the old owner and the new one.
        handler(kind, old, False)
        handler(kind, new, False)

    inf.add_handler(
        on_add=lambda obj: handler(kind, obj, False),
        on_update=on_update,
        on_delete=lambda obj: handler(kind, obj, True),
    )


def owner_cluster(obj: Mapping[str, Any]) -> str | None:
    """The name of the RayCluster that controls ``obj``, from its ownerReferences."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if (
            ref.get("controller")
            and ref.get("kind") == "RayCluster"
            and str(ref.get("apiVersion", "")).startswith(API_VERSION_PREFIX)
        ):
            return str(ref.get("name"))
    return None
