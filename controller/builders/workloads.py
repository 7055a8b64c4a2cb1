"""The workloads that run Ray pods: the head StatefulSet, each group's worker workload, and HPAs.

**Head**: a one-replica StatefulSet, ``<cluster>-head``, so the head pod has a stable name
(``<cluster>-head-0``) and can keep a PVC; zero replicas while the cluster is suspended.

**Workers**: one workload per group, ``<cluster>-<group>-worker``.

* A StatefulSet by default: stable pod names, per-worker PVCs from ``volumeClaimTemplates``, and
  ``podManagementPolicy: Parallel`` so workers start and stop together, not one by one (and a
  broken pod cannot wedge a rollout, which ``OrderedReady`` is documented to do).
* A Deployment for groups under the in-tree Ray autoscaler (the API defaults ``workloadKind``
  so). The autoscaler scales down by naming the exact pods to remove; a StatefulSet can only
  remove its highest ordinals, while a ReplicaSet removes the pods rayop marks with
  ``controller.kubernetes.io/pod-deletion-cost``.

**Rollouts** (``upgradeStrategy``): by default a spec change rolls out to running pods. A
StatefulSet uses ``RollingUpdate``; a Deployment uses ``RollingUpdate`` with ``maxSurge: 0``
(never more pods than ``replicas``: autoscaler v1 rewrites ``replicas`` from the pods it sees,
so a surge pod would grow the group) and ``maxUnavailable: 25%``. ``Recreate`` (KubeRay: replace
every pod at once) makes worker Deployments use ``Recreate``; StatefulSets have no such strategy
and roll. ``None`` (keep running pods) makes StatefulSets ``OnDelete``; a Deployment cannot hold
a template back (a paused Deployment would not even create its first pods), so Deployment-backed
groups still roll, and `controller.builders.warnings` says so.

**Replicas**: the group's ``replicas`` (already clamped into ``[minReplicas, maxReplicas]``)
times ``numOfHosts``; zero when the cluster or the group is suspended. A group with an HPA has
no ``replicas`` at all in what rayop applies, so the HPA owns that field; while suspended it gets
zero and no HPA.
"""

from __future__ import annotations

from typing import Any

from controller.api.defaults import desired_replicas
from controller.api.models import INT32_MAX, RayCluster, WorkerGroupSpec
from controller.api.names import (
    head_service_name,
    head_statefulset_name,
    hpa_name,
    worker_service_name,
    worker_workload_name,
)
from controller.builders.config import BuildConfig
from controller.builders.labels import (
    APP_COMPONENT,
    HEAD_GROUP,
    LABEL_GROUP,
    LABEL_NODE_TYPE,
    NodeType,
    selector_labels,
)
from controller.builders.meta import Owner, object_meta, owned_object
from controller.builders.nodes import head_pod_template, worker_pod_template

__all__ = [
    "group_replicas",
    "group_suspended",
    "head_statefulset",
    "worker_hpa",
    "worker_workload",
]

_DEPLOYMENT_ROLLING: dict[str, Any] = {"maxSurge": 0, "maxUnavailable": "25%"}


def group_suspended(cluster: RayCluster, group: WorkerGroupSpec) -> bool:
    """The one suspend rule: a group runs no pods when the cluster or the group is suspended."""
    return bool(cluster.spec.suspend) or bool(group.suspend)


def group_replicas(cluster: RayCluster, group: WorkerGroupSpec) -> int:
    """The group's pod count: clamped replicas × numOfHosts, 0 when suspended."""
    suspended = group_suspended(cluster, group)
    replicas = desired_replicas(
        group.replicas, group.min_replicas, group.max_replicas, suspended=suspended
    )
    return min(replicas * group.num_of_hosts, INT32_MAX)


def head_statefulset(cluster: RayCluster, owner: Owner, config: BuildConfig) -> dict[str, Any]:
    """The head StatefulSet (module docstring)."""
    name = cluster.metadata.name
    head = cluster.spec.head_group_spec
    selector = selector_labels(name, NodeType.HEAD, HEAD_GROUP)
    spec: dict[str, Any] = {
        "replicas": 0 if cluster.spec.suspend else 1,
        "serviceName": head_service_name(name),
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector},
        "template": head_pod_template(cluster, config),
        "updateStrategy": _statefulset_strategy(cluster),
        **_claims(head),
    }
    metadata = object_meta(
        owner, head_statefulset_name(name), labels=_labels(selector, NodeType.HEAD)
    )
    return owned_object("apps/v1", "StatefulSet", metadata, spec=spec)


def worker_workload(
    cluster: RayCluster, group: WorkerGroupSpec, owner: Owner, config: BuildConfig
) -> dict[str, Any]:
    """A worker group's StatefulSet or Deployment (module docstring)."""
    name = cluster.metadata.name
    selector = selector_labels(name, NodeType.WORKER, group.group_name)
    spec: dict[str, Any] = {}
    if group.horizontal_pod_autoscaler is None or group_suspended(cluster, group):
        spec["replicas"] = group_replicas(cluster, group)
    kind = group.workload_kind or "StatefulSet"
    if kind == "StatefulSet":
        spec.update(
            serviceName=worker_service_name(name),
            podManagementPolicy="Parallel",
            selector={"matchLabels": selector},
            template=worker_pod_template(cluster, group, config),
            updateStrategy=_statefulset_strategy(cluster),
            **_claims(group),
        )
    else:
        spec.update(
            selector={"matchLabels": selector},
            template=worker_pod_template(cluster, group, config),
            strategy=_deployment_strategy(cluster),
        )
    metadata = object_meta(
        owner,
        worker_workload_name(name, group.group_name),
        labels=_labels(selector, NodeType.WORKER),
    )
    return owned_object("apps/v1", kind, metadata, spec=spec)


def worker_hpa(cluster: RayCluster, group: WorkerGroupSpec, owner: Owner) -> dict[str, Any] | None:
    """The group's autoscaling/v2 HPA, or None when it has none or is suspended.

    The HPA's bounds are the group's times ``numOfHosts``; its minimum is at least 1, because an
    HPA cannot scale to zero (that needs the alpha HPAScaleToZero gate).
    """
    hpa = group.horizontal_pod_autoscaler
    if hpa is None or group_suspended(cluster, group):
        return None
    name = cluster.metadata.name
    workload = worker_workload_name(name, group.group_name)
    minimum = min(max(1, group.min_replicas * group.num_of_hosts), INT32_MAX)
    maximum = max(minimum, min(group.max_replicas * group.num_of_hosts, INT32_MAX))
    spec: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": group.workload_kind or "StatefulSet",
            "name": workload,
        },
        "minReplicas": minimum,
        "maxReplicas": maximum,
        "metrics": hpa.metrics,
        "behavior": hpa.behavior,
    }
    selector = selector_labels(name, NodeType.WORKER, group.group_name)
    metadata = object_meta(
        owner, hpa_name(name, group.group_name), labels=_labels(selector, NodeType.WORKER)
    )
    return owned_object("autoscaling/v2", "HorizontalPodAutoscaler", metadata, spec=spec)


def _labels(selector: dict[str, str], node_type: NodeType) -> dict[str, str]:
    return {
        LABEL_NODE_TYPE: selector[LABEL_NODE_TYPE],
        LABEL_GROUP: selector[LABEL_GROUP],
        APP_COMPONENT: node_type.value,
    }


def _upgrade_type(cluster: RayCluster) -> str | None:
    strategy = cluster.spec.upgrade_strategy
    return strategy.type if strategy is not None else None


def _statefulset_strategy(cluster: RayCluster) -> dict[str, Any]:
    if _upgrade_type(cluster) == "None":
        return {"type": "OnDelete"}
    return {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}


def _deployment_strategy(cluster: RayCluster) -> dict[str, Any]:
    if _upgrade_type(cluster) == "Recreate":
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": dict(_DEPLOYMENT_ROLLING)}


def _claims(group: Any) -> dict[str, Any]:
    """``volumeClaimTemplates`` and their retention policy, when the group has them."""
    result: dict[str, Any] = {}
    if group.volume_claim_templates:
        result["volumeClaimTemplates"] = group.volume_claim_templates
    policy = group.persistent_volume_claim_retention_policy
    if policy is not None:
        result["persistentVolumeClaimRetentionPolicy"] = policy.model_dump(
            by_alias=True, exclude_none=True
        )
    return result
