"""The head's and each worker group's pod template, from the RayCluster model.

This module is the seam between the API model and the dict-level pod rules of
`controller.builders.pod`: it gathers what one node group needs (its template and flags, where
the head is, which features are on) into a `RayNode`, then adds the autoscaler sidecar to the
head.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from controller.api.models import RayCluster, WorkerGroupSpec
from controller.api.names import autoscaler_rbac_name, head_service_name
from controller.builders.autoscaler import add_autoscaler
from controller.builders.config import BuildConfig
from controller.builders.env import value_env
from controller.builders.gcs import gcs_fault_tolerance
from controller.builders.labels import HEAD_GROUP, NodeType
from controller.builders.pod import RayNode, ray_pod_template
from controller.builders.raystart import (
    DEFAULT_GCS_PORT,
    OVERWRITE_COMMAND_ANNOTATION,
    int_param,
)
from controller.builders.shapes import mapping

__all__ = [
    "head_gcs_port",
    "head_pod_template",
    "head_service_account",
    "worker_pod_template",
]


def head_gcs_port(cluster: RayCluster) -> int:
    """The head's GCS port: its ``port`` flag, 6379 by default."""
    return int_param(cluster.spec.head_group_spec.ray_start_params, "port", DEFAULT_GCS_PORT)


def head_service_account(cluster: RayCluster) -> str:
    """The head pod's ServiceAccount under the in-tree autoscaler: the user's, else ``<cluster>``."""
    template_spec = mapping(cluster.spec.head_group_spec.template.get("spec"))
    account = template_spec.get("serviceAccountName")
    return (
        account
        if isinstance(account, str) and account
        else autoscaler_rbac_name(cluster.metadata.name)
    )


def head_pod_template(cluster: RayCluster, config: BuildConfig) -> dict[str, Any]:
    """The head's pod template, with the autoscaler sidecar under in-tree autoscaling."""
    spec = cluster.spec
    head = spec.head_group_spec
    gcs = gcs_fault_tolerance(cluster)
    autoscaling = spec.enable_in_tree_autoscaling
    options = spec.autoscaler_options
    env = list(gcs.head_env)
    if autoscaling and options is not None and options.version is not None:
        env.append(value_env("RAY_enable_autoscaler_v2", str(options.version == "v2").lower()))
    node = replace(
        _node(cluster, NodeType.HEAD, HEAD_GROUP, head.template, head.ray_start_params),
        group_resources=head.resources or {},
        group_labels=head.labels or {},
        autoscaling=autoscaling,
        extra_params=gcs.head_params,
        env_managed=env,
        env_defaults=gcs.head_env_defaults,
        annotations=gcs.head_annotations,
        service_account=head_service_account(cluster) if autoscaling else None,
    )
    template = ray_pod_template(node, config)
    if autoscaling and template["spec"]["containers"]:
        dumped = options.model_dump(by_alias=True, exclude_none=True) if options else {}
        template = add_autoscaler(template, dumped)
    return template


def worker_pod_template(
    cluster: RayCluster, group: WorkerGroupSpec, config: BuildConfig
) -> dict[str, Any]:
    """A worker group's pod template."""
    gcs = gcs_fault_tolerance(cluster)
    node = replace(
        _node(cluster, NodeType.WORKER, group.group_name, group.template, group.ray_start_params),
        group_resources=group.resources or {},
        group_labels=group.labels or {},
        env_defaults=gcs.worker_env_defaults,
    )
    return ray_pod_template(node, config)


def _node(
    cluster: RayCluster,
    node_type: NodeType,
    group: str,
    template: dict[str, Any],
    ray_start_params: dict[str, str],
) -> RayNode:
    """A group's `RayNode` with the cluster-wide parts filled in; features are added by the caller."""
    annotations = cluster.metadata.annotations
    return RayNode(
        cluster=cluster.metadata.name,
        namespace=cluster.metadata.namespace,
        node_type=node_type,
        group=group,
        template=template,
        ray_start_params=ray_start_params,
        ray_version=cluster.spec.ray_version,
        head_service=head_service_name(cluster.metadata.name),
        gcs_port=head_gcs_port(cluster),
        overwrite_command=annotations.get(OVERWRITE_COMMAND_ANNOTATION, "").lower() == "true",
    )
