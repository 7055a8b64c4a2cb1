"""The operator's view of the cluster: one informer per watched kind (and namespace).

- RayClusters (``ray.io/v1``), in every namespace or in each ``--namespace``.
- Every kind rayop creates, selected by ``app.kubernetes.io/managed-by=rayop`` so the caches
  hold rayop's children and nothing else; indexed by controller owner uid.
- Ray pods (``ray.io/cluster`` label present), slimmed by :func:`slim_pod` to the fields
  status and failure handling read; indexed by ``namespace/cluster``.

Objects in the stores are shared and read-only: never mutate one (copy first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from kubernetes_asyncio.client import ApiClient

from informers import SharedInformer

__all__ = [
    "CHILD_KINDS",
    "Caches",
    "ChildKey",
    "ChildKind",
    "slim_child",
    "slim_cluster",
    "slim_pod",
]

MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=rayop"
RAY_POD_SELECTOR = "ray.io/cluster"
CLUSTER_INDEX = "raycluster"


class ChildKind(NamedTuple):
    """A kind rayop creates: where it lives and what it is called."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        """``group/version`` (``version`` alone for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version


class ChildKey(NamedTuple):
    """Identity of one child of a RayCluster: its kind and name (the namespace is the cluster's)."""

    kind: str
    name: str


CHILD_KINDS: tuple[ChildKind, ...] = (
    ChildKind("apps", "v1", "statefulsets", "StatefulSet"),
    ChildKind("apps", "v1", "deployments", "Deployment"),
    ChildKind("", "v1", "services", "Service"),
    ChildKind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ChildKind("", "v1", "serviceaccounts", "ServiceAccount"),
    ChildKind("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ChildKind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
)
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


_POD_META = ("name", "namespace", "uid", "labels", "ownerReferences", "deletionTimestamp",
             "resourceVersion", "creationTimestamp")  # fmt: skip
_CONTAINER_STATUS = ("name", "ready", "restartCount", "state", "lastState")


def slim_pod(obj: dict[str, Any]) -> dict[str, Any]:
    """A Pod reduced to what rayop reads: identity, labels, phase, readiness and scheduling
    conditions, container states.

    Idempotent, as informer transforms must be (a slim pod passes through unchanged).
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ready = [
        {k: c[k] for k in ("type", "status", "reason", "message") if k in c}
        for c in status.get("conditions") or []
        if c.get("type") in ("Ready", "PodScheduled")
    ]
    slim_status: dict[str, Any] = {
        k: status[k] for k in ("phase", "reason", "message", "podIP") if k in status
    }
    if ready:
        slim_status["conditions"] = ready
    if "containerStatuses" in status:
        slim_status["containerStatuses"] = [
            {k: cs[k] for k in _CONTAINER_STATUS if k in cs} for cs in status["containerStatuses"]
        ]
    slim: dict[str, Any] = {
        "metadata": {k: meta[k] for k in _POD_META if k in meta},
        "spec": {k: spec[k] for k in ("restartPolicy", "nodeName") if k in spec},
        "status": slim_status,
    }
    if "containers" in spec:
        slim["spec"]["containers"] = [{"name": c.get("name")} for c in spec["containers"]]
    return slim


def _cluster_of_pod(obj: Mapping[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    cluster = (meta.get("labels") or {}).get("ray.io/cluster")
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
    ) -> None:
        scopes: list[str | None] = list(namespaces) or [None]
        self.namespaces = list(namespaces)

        def informer(
            group: str, version: str, plural: str, ns: str | None, **kw: Any
        ) -> SharedInformer:
            return SharedInformer(
                api_client,
                group=group,
                version=version,
                plural=plural,
                namespace=ns,
                resync_period=resync_period,
                name=f"{plural}@{ns or '*'}",
                **kw,
            )

        self.clusters = {
            ns: informer("ray.io", "v1", "rayclusters", ns, transform=slim_cluster) for ns in scopes
        }
        self.children = {
            kind: {
                ns: informer(
                    kind.group,
                    kind.version,
                    kind.plural,
                    ns,
                    label_selector=MANAGED_BY_SELECTOR,
                    transform=slim_child,
                )
                for ns in scopes
            }
            for kind in CHILD_KINDS
        }
        self.pods = {
            ns: informer("", "v1", "pods", ns, label_selector=RAY_POD_SELECTOR, transform=slim_pod)
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
            _add(inf, on_cluster)
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
            for obj in inf.store.by_index("owner", uid):
                found[ChildKey(kind.kind, obj["metadata"]["name"])] = obj
        return found

    def pods_of(self, namespace: str, cluster: str) -> list[Mapping[str, Any]]:
        """The cached Ray pods labelled with ``cluster``."""
        inf = self.pods.get(self._scope(namespace))
        return (
            [] if inf is None else list(inf.store.by_index(CLUSTER_INDEX, f"{namespace}/{cluster}"))
        )


def _add(inf: SharedInformer, handler: Handler) -> None:
    def on_update(old: Any, new: Any) -> None:
        # Both: a child whose owner changed must wake the old owner and the new one.
        handler(old)
        handler(new)

    inf.add_handler(on_add=handler, on_update=on_update, on_delete=handler)


def _add_child(inf: SharedInformer, kind: str, handler: ChildHandler) -> None:
    def on_update(old: Any, new: Any) -> None:
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
            and str(ref.get("apiVersion", "")).startswith("ray.io/")
        ):
            return str(ref.get("name"))
    return None
