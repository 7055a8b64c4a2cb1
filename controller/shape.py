"""From the API model to the numbers status needs (:class:`controller.status.ClusterShape`).

Kept apart from :mod:`controller.status` so status stays a function of plain data, testable
without building a whole RayCluster.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.api import RayCluster
from controller.api.defaults import desired_replicas
from controller.builders.workloads import group_suspended
from controller.status import ClusterShape, GroupShape, container_resources

__all__ = ["desired_replicas", "shape_of"]


def shape_of(cluster: RayCluster, *, hpa_replicas: Mapping[str, int] | None = None) -> ClusterShape:
    """The shape of ``cluster``; ``hpa_replicas`` gives the observed replicas of HPA-scaled groups."""
    spec = cluster.spec
    suspend = bool(spec.suspend)  # the cluster's; group_suspended adds each group's own
    groups = []
    for group in spec.worker_group_specs:
        replicas = group.replicas
        if group.horizontal_pod_autoscaler is not None and hpa_replicas:
            replicas = hpa_replicas.get(group.group_name, replicas)
        desired = desired_replicas(
            replicas,
            group.min_replicas,
            group.max_replicas,
            suspended=group_suspended(cluster, group),
        )
        groups.append(
            GroupShape(
                name=group.group_name,
                desired=desired,
                min_replicas=0 if group.suspend else group.min_replicas,
                max_replicas=0 if group.suspend else group.max_replicas,
                num_of_hosts=group.num_of_hosts,
                pod_resources=container_resources(group.template),
                replicas_for_resources=desired,
            )
        )
    return ClusterShape(
        name=cluster.metadata.name,
        generation=cluster.metadata.generation or 0,
        suspend=suspend,
        groups=groups,
        head_resources={} if suspend else container_resources(spec.head_group_spec.template),
    )
