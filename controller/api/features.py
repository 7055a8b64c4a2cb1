"""Validation of features: the in-tree autoscaler, GCS fault tolerance, and what rayop lacks.

KubeRay's rules (reference kuberay.md §3 and §5.4) where they apply, plus one of ours: with
in-tree autoscaling, the Ray autoscaler must be able to tell each group's CPUs from the
RayCluster (it crashes with "failed to detect CPU" otherwise, ray-autoscaler.md §3.1).

KubeRay features rayop does not implement are never dropped silently. Where the cluster still
runs as the user would sensibly expect, they are warnings (an Ingress, the history server,
multi-host replica indexing, embedded RocksDB storage); where running without them would
weaken what the user asked for (token auth, mTLS, network policies), they are problems.
"""

from __future__ import annotations

from typing import Any

from controller.api.constants import (
    ANNOTATION_EXTERNAL_STORAGE_NAMESPACE,
    ANNOTATION_FT_ENABLED,
    LABEL_REPLICA_HOST_INDEX,
    LABEL_WORKER_GROUP_REPLICA_NAME,
)
from controller.api.models import HeadGroupSpec, RayCluster, WorkerGroupSpec
from controller.api.rules import Findings, container_env, parse_version, ray_container

__all__ = ["check_features"]

FT_ANNOTATION = ANNOTATION_FT_ENABLED
STORAGE_NAMESPACE_ANNOTATION = ANNOTATION_EXTERNAL_STORAGE_NAMESPACE
_AUTOSCALER_V2_ENV = "RAY_enable_autoscaler_v2"
_PRIORITY_MIN_RAY = (2, 56, 0)


def check_features(cluster: RayCluster, findings: Findings) -> None:
    """Append the feature rules' problems and warnings to ``findings``."""
    _check_autoscaling(cluster, findings)
    _check_gcs_fault_tolerance(cluster, findings)
    _check_unsupported(cluster, findings)


# ------------------------------------------------------------------------------ autoscaling
def _check_autoscaling(cluster: RayCluster, findings: Findings) -> None:
    spec = cluster.spec
    options = spec.autoscaler_options
    version = options.version if options else None
    head_path = "spec.headGroupSpec.template.spec.containers[0]"
    head_env = container_env(ray_container(spec.head_group_spec.template))
    if not spec.enable_in_tree_autoscaling:
        if _AUTOSCALER_V2_ENV in head_env and str(head_env[_AUTOSCALER_V2_ENV][1]).lower() in (
            "1",
            "true",
        ):
            findings.error(
                f"{head_path}.env[{head_env[_AUTOSCALER_V2_ENV][0]}]",
                f"sets {_AUTOSCALER_V2_ENV} but spec.enableInTreeAutoscaling is not true.",
            )
        if options is not None:
            findings.warn(
                "spec.autoscalerOptions",
                "has no effect because spec.enableInTreeAutoscaling is not true.",
            )
    else:
        if version is not None and _AUTOSCALER_V2_ENV in head_env:
            findings.error(
                "spec.autoscalerOptions.version",
                f"cannot be combined with the {_AUTOSCALER_V2_ENV} env var of the head's Ray "
                "container; keep one of them.",
            )
        for index, item in enumerate((options.env if options else None) or []):
            if isinstance(item, dict) and item.get("name") == "KUBERAY_GEN_AUTOSCALER_START_CMD":
                findings.error(
                    f"spec.autoscalerOptions.env[{index}]",
                    "must not set KUBERAY_GEN_AUTOSCALER_START_CMD; rayop sets it.",
                )
        _check_cpu_detectable(spec.head_group_spec, "spec.headGroupSpec", findings)
        for index, group in enumerate(spec.worker_group_specs):
            path = f"spec.workerGroupSpecs[{index}]"
            _check_cpu_detectable(group, path, findings)
            if group.suspend:
                findings.error(
                    f"{path}.suspend",
                    "cannot be true with in-tree autoscaling: the Ray autoscaler owns the "
                    "group's size.",
                )
    if version == "v2":
        _check_v2_restart_policies(cluster, findings)
    _check_v2_only_fields(cluster, findings)


def _check_v2_only_fields(cluster: RayCluster, findings: Findings) -> None:
    spec = cluster.spec
    version = spec.autoscaler_options.version if spec.autoscaler_options else None
    for index, group in enumerate(spec.worker_group_specs):
        path = f"spec.workerGroupSpecs[{index}]"
        if group.idle_timeout_seconds is not None and version != "v2":
            findings.error(
                f"{path}.idleTimeoutSeconds",
                "needs spec.autoscalerOptions.version v2 (autoscaler v1 only has the "
                "cluster-wide spec.autoscalerOptions.idleTimeoutSeconds).",
            )
        if group.priority:
            ray_version = parse_version(spec.ray_version)
            if version != "v2" or ray_version is None or ray_version < _PRIORITY_MIN_RAY:
                findings.error(
                    f"{path}.priority",
                    "needs spec.autoscalerOptions.version v2 and spec.rayVersion 2.56.0 or later.",
                )


def _check_v2_restart_policies(cluster: RayCluster, findings: Findings) -> None:
    spec = cluster.spec
    groups: list[tuple[str, HeadGroupSpec | WorkerGroupSpec]] = [
        ("spec.headGroupSpec", spec.head_group_spec)
    ]
    groups += [(f"spec.workerGroupSpecs[{i}]", g) for i, g in enumerate(spec.worker_group_specs)]
    for path, group in groups:
        pod_spec = group.template.get("spec")
        policy = pod_spec.get("restartPolicy") if isinstance(pod_spec, dict) else None
        if policy not in (None, "Never"):
            findings.error(
                f"{path}.template.spec.restartPolicy",
                f"must be Never or unset with autoscaler v2, not {policy!r} (a Ray node that "
                "restarts in place confuses the v2 autoscaler).",
            )


def _check_cpu_detectable(
    group: HeadGroupSpec | WorkerGroupSpec, path: str, findings: Findings
) -> None:
    """The Ray autoscaler reads CPUs from resources.CPU, num-cpus, or the Ray container's cpu."""
    if group.resources and ("CPU" in group.resources or "cpu" in group.resources):
        return
    if "num-cpus" in group.ray_start_params:
        return
    container = ray_container(group.template) or {}
    resources = container.get("resources")
    if isinstance(resources, dict):
        for kind in ("limits", "requests"):
            amounts = resources.get(kind)
            if isinstance(amounts, dict) and "cpu" in amounts:
                return
    findings.error(
        f"{path}.template.spec.containers[0].resources",
        "must set a cpu limit or request (or set rayStartParams num-cpus): the Ray autoscaler "
        "cannot size this group otherwise.",
    )


# ------------------------------------------------------------------------------ GCS FT
def _check_gcs_fault_tolerance(cluster: RayCluster, findings: Findings) -> None:
    spec = cluster.spec
    options = spec.gcs_fault_tolerance_options
    annotations = cluster.metadata.annotations
    head = spec.head_group_spec
    head_path = "spec.headGroupSpec.template.spec.containers[0]"
    head_env = container_env(ray_container(head.template))
    legacy = annotations.get(FT_ANNOTATION)
    if "REDIS_USERNAME" in head_env:
        findings.error(
            f"{head_path}.env[{head_env['REDIS_USERNAME'][0]}]",
            "must not set REDIS_USERNAME; use spec.gcsFaultToleranceOptions.redisUsername.",
        )
    if "redis-username" in head.ray_start_params:
        findings.error(
            "spec.headGroupSpec.rayStartParams.redis-username",
            "is not allowed; use spec.gcsFaultToleranceOptions.redisUsername.",
        )
    if options is None:
        if legacy is not None and legacy.lower() == "true":
            findings.warn(
                f"metadata.annotations[{FT_ANNOTATION}]",
                "is KubeRay's legacy switch, which rayop does not implement; use "
                "spec.gcsFaultToleranceOptions for GCS fault tolerance.",
            )
        elif "RAY_REDIS_ADDRESS" in head_env:
            findings.error(
                f"{head_path}.env[{head_env['RAY_REDIS_ADDRESS'][0]}]",
                "sets RAY_REDIS_ADDRESS without GCS fault tolerance; use "
                "spec.gcsFaultToleranceOptions.redisAddress.",
            )
        return
    base = "spec.gcsFaultToleranceOptions"
    if legacy is not None:
        findings.error(
            f"metadata.annotations[{FT_ANNOTATION}]",
            f"cannot be combined with {base}; remove the annotation.",
        )
    if STORAGE_NAMESPACE_ANNOTATION in annotations:
        findings.error(
            f"metadata.annotations[{STORAGE_NAMESPACE_ANNOTATION}]",
            f"cannot be combined with {base}; use {base}.externalStorageNamespace.",
        )
    if "redis-password" in head.ray_start_params:
        findings.error(
            "spec.headGroupSpec.rayStartParams.redis-password",
            f"is not allowed with {base}; use {base}.redisPassword.",
        )
    for name, replacement in (
        ("REDIS_PASSWORD", "redisPassword"),
        ("RAY_REDIS_ADDRESS", "redisAddress"),
    ):
        if name in head_env:
            findings.error(
                f"{head_path}.env[{head_env[name][0]}]",
                f"must not set {name} with {base}; use {base}.{replacement}.",
            )
    if options.backend == "rocksdb":
        findings.warn(
            f"{base}.backend",
            "rocksdb (KubeRay's alpha embedded GCS storage) is not supported by rayop: the "
            "cluster runs without GCS fault tolerance, and a head restart loses GCS state.",
        )
        return
    if options.storage is not None:
        findings.error(f"{base}.storage", "is only for the rocksdb backend.")
    if not options.redis_address:
        findings.error(f"{base}.redisAddress", "is required for the redis backend.")


# ------------------------------------------------------------------------------ unsupported
def _check_unsupported(cluster: RayCluster, findings: Findings) -> None:
    spec = cluster.spec
    auth: dict[str, Any] = spec.auth_options or {}
    if auth.get("mode") == "token":
        findings.error(
            "spec.authOptions.mode",
            "token authentication is not supported by rayop; remove authOptions (the cluster "
            "would otherwise run without the authentication you asked for).",
        )
    tls: dict[str, Any] = spec.tls_options or {}
    if tls.get("enabled") is True:
        findings.error(
            "spec.tlsOptions.enabled",
            "mTLS between Ray nodes is not supported by rayop; remove tlsOptions.",
        )
    if spec.network_policy is not None:
        findings.error(
            "spec.networkPolicy",
            "rayop does not create NetworkPolicies; remove networkPolicy and create the "
            "policies you need yourself.",
        )
    if spec.history_server_options is not None:
        findings.warn(
            "spec.historyServerOptions",
            "the Ray history server collector is not supported by rayop; no collector sidecar "
            "is added.",
        )
    if spec.head_group_spec.enable_ingress:
        findings.warn(
            "spec.headGroupSpec.enableIngress",
            "rayop does not create an Ingress for the dashboard; expose the head Service "
            "yourself (for example with an Ingress of your own).",
        )
    if spec.managed_by == "kueue.x-k8s.io/multikueue":
        findings.warn(
            "spec.managedBy",
            "is kueue.x-k8s.io/multikueue: rayop leaves this cluster to that controller.",
        )
    for index, group in enumerate(spec.worker_group_specs):
        if group.num_of_hosts > 1:
            findings.warn(
                f"spec.workerGroupSpecs[{index}].numOfHosts",
                f"{group.num_of_hosts}: multi-host groups are not supported by rayop. Each "
                f"replica runs as {group.num_of_hosts} independent worker pods, without "
                f"KubeRay's multi-host indexing ({LABEL_WORKER_GROUP_REPLICA_NAME}, "
                f"{LABEL_REPLICA_HOST_INDEX}), so a multi-host TPU slice will not form.",
            )
