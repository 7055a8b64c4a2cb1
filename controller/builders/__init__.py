"""Desired state: the Kubernetes objects a RayCluster becomes, as pure functions of its spec.

``build_children(cluster)`` returns every child object, each ready for server-side apply
(apiVersion, kind, name, namespace, labels, and a controller ownerReference when the cluster has
a uid), in a fixed order: autoscaler RBAC, head Service, worker Service, head StatefulSet, worker
workloads and HPAs in group order. Nothing here does I/O, reads the environment or the clock:
the same cluster and config always give the same objects, which is what lets the operator skip
writes when desired equals observed.

Module map: `raystart` (the ``ray start`` line), `env`, `probes`, `pod` (a node group's pod
template), `nodes` (model → pod templates), `autoscaler` (sidecar and RBAC), `gcs` (GCS fault
tolerance), `services`, `workloads` (StatefulSets, Deployments, HPAs), `labels`, `meta`,
`canonical` (the server's stored form), `shapes` (reading raw template parts safely),
`warnings` (what rayop changes or cannot honour).
"""

from __future__ import annotations

from typing import Any

from controller.api.models import RayCluster
from controller.api.names import (
    autoscaler_rbac_name,
    child_name,
    head_service_name,
    head_statefulset_name,
    hpa_name,
    worker_service_name,
    worker_workload_name,
)
from controller.builders.autoscaler import autoscaler_rbac as _autoscaler_rbac
from controller.builders.config import BuildConfig
from controller.builders.labels import (
    APP_COMPONENT,
    APP_INSTANCE,
    APP_NAME,
    HEAD_GROUP,
    LABEL_CLUSTER,
    LABEL_GROUP,
    LABEL_IDENTIFIER,
    LABEL_IS_RAY_NODE,
    LABEL_NODE_TYPE,
    MANAGED_BY,
    NodeType,
)
from controller.builders.meta import Owner
from controller.builders.services import head_service as _head_service
from controller.builders.services import worker_service as _worker_service
from controller.builders.warnings import build_warnings
from controller.builders.workloads import head_statefulset as _head_statefulset
from controller.builders.workloads import worker_hpa as _worker_hpa
from controller.builders.workloads import worker_workload as _worker_workload

__all__ = [
    "APP_COMPONENT",
    "APP_INSTANCE",
    "APP_NAME",
    "HEAD_GROUP",
    "LABEL_CLUSTER",
    "LABEL_GROUP",
    "LABEL_IDENTIFIER",
    "LABEL_IS_RAY_NODE",
    "LABEL_NODE_TYPE",
    "MANAGED_BY",
    "BuildConfig",
    "NodeType",
    "autoscaler_rbac",
    "autoscaler_rbac_name",
    "build_children",
    "build_warnings",
    "child_name",
    "head_service",
    "head_service_name",
    "head_statefulset",
    "head_statefulset_name",
    "hpa_name",
    "owner_of",
    "worker_hpa",
    "worker_service",
    "worker_service_name",
    "worker_workload",
    "worker_workload_name",
]

_DEFAULT_CONFIG = BuildConfig()


def owner_of(cluster: RayCluster) -> Owner:
    """The owner every child of `cluster` points at."""
    meta = cluster.metadata
    return Owner(name=meta.name, namespace=meta.namespace, uid=meta.uid)


def head_statefulset(
    cluster: RayCluster, *, config: BuildConfig = _DEFAULT_CONFIG
) -> dict[str, Any]:
    """The head StatefulSet ``<cluster>-head``."""
    return _head_statefulset(cluster, owner_of(cluster), config)


def head_service(cluster: RayCluster) -> dict[str, Any]:
    """The head Service ``<cluster>-head-svc``."""
    return _head_service(cluster, owner_of(cluster))


def worker_service(cluster: RayCluster) -> dict[str, Any]:
    """The headless worker Service ``<cluster>-workers``."""
    return _worker_service(cluster, owner_of(cluster))


def worker_workload(
    cluster: RayCluster, group_name: str, *, config: BuildConfig = _DEFAULT_CONFIG
) -> dict[str, Any]:
    """The StatefulSet or Deployment ``<cluster>-<group>-worker`` of the named group."""
    return _worker_workload(cluster, _group(cluster, group_name), owner_of(cluster), config)


def worker_hpa(cluster: RayCluster, group_name: str) -> dict[str, Any] | None:
    """The named group's HPA, or None when it has none (or is suspended)."""
    return _worker_hpa(cluster, _group(cluster, group_name), owner_of(cluster))


def autoscaler_rbac(cluster: RayCluster) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding for the autoscaler sidecar; empty without one."""
    if not cluster.spec.enable_in_tree_autoscaling:
        return []
    return _autoscaler_rbac(owner_of(cluster), name=autoscaler_rbac_name(cluster.metadata.name))


def build_children(
    cluster: RayCluster, *, config: BuildConfig = _DEFAULT_CONFIG
) -> list[dict[str, Any]]:
    """Every desired child object of `cluster`, in a fixed order (module docstring).

    `cluster` must be a parsed, defaulted model (``controller.api.parse_raycluster``).
    """
    owner = owner_of(cluster)
    children = [
        *autoscaler_rbac(cluster),
        _head_service(cluster, owner),
        _worker_service(cluster, owner),
        _head_statefulset(cluster, owner, config),
    ]
    for group in cluster.spec.worker_group_specs:
        children.append(_worker_workload(cluster, group, owner, config))
        hpa = _worker_hpa(cluster, group, owner)
        if hpa is not None:
            children.append(hpa)
    return children


def _group(cluster: RayCluster, group_name: str) -> Any:
    for group in cluster.spec.worker_group_specs:
        if group.group_name == group_name:
            return group
    raise KeyError(f"RayCluster {cluster.metadata.name} has no worker group {group_name!r}")
