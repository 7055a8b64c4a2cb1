"""Where each kind rayop touches lives on the API server: ``(apiVersion, kind)`` → URL path.

rayop talks to a fixed, known set of kinds, so a static table replaces discovery (one less
round trip at startup and no RESTMapper cache to keep fresh). Unknown kinds fall back to the
usual lower-case plural, which is right for every kind that is not irregular.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ResourceRef", "object_path", "resource_for"]


class ResourceRef(NamedTuple):
    """The one resource-reference type: the REST coordinates of a kind and its name.

    Writes find their URL by it, informers watch by its group/version/plural, and the caches
    key rayop's child kinds by it.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None) -> str:
        """The URL path of the collection (all namespaces when ``namespace`` is None)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


_PLURALS: dict[str, tuple[str, bool]] = {
    "Pod": ("pods", True),
    "Service": ("services", True),
    "ServiceAccount": ("serviceaccounts", True),
    "Event": ("events", True),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "StatefulSet": ("statefulsets", True),
    "Deployment": ("deployments", True),
    "ReplicaSet": ("replicasets", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "Role": ("roles", True),
    "RoleBinding": ("rolebindings", True),
    "Lease": ("leases", True),
    "RayCluster": ("rayclusters", True),
    "Namespace": ("namespaces", False),
    "Node": ("nodes", False),
    "ClusterRole": ("clusterroles", False),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
}


def resource_for(api_version: str, kind: str) -> ResourceRef:
    """The resource that serves ``kind`` at ``api_version`` (e.g. ``"apps/v1"``, ``"StatefulSet"``)."""
    group, _, version = api_version.rpartition("/")
    plural, namespaced = _PLURALS.get(kind, (kind.lower() + "s", True))
    return ResourceRef(group, version, plural, kind, namespaced)


def object_path(
    ref: ResourceRef, namespace: str | None, name: str, subresource: str | None = None
) -> str:
    """The URL path of one object (or of its subresource)."""
    path = f"{ref.collection_path(namespace)}/{name}"
    return f"{path}/{subresource}" if subresource else path
