"""Every rule a RayCluster must satisfy beyond its types, reported all at once.

``validate_cluster`` returns (problems, warnings). Problems make the cluster unusable; warnings
are things the user should know (a shortened name, an unsupported KubeRay feature rayop can run
without). This module holds the structural rules (names, groups, templates, workload kinds,
HPAs, volumes); ``controller.api.features`` holds the rules about autoscaling, GCS fault
tolerance and KubeRay features rayop does not support. Rules mirror KubeRay's (reference
kuberay.md §5.4) where they apply to rayop.

KubeRay's "with autoscaling off, minReplicas and maxReplicas must both be set" cannot be told
apart from the CRD's defaults (0 and 2147483647) once the API server has stored the object, in
KubeRay as here, so it is not checked.
"""

from __future__ import annotations

from typing import Any

from controller.api import features, names
from controller.api.defaults import default_hpa_metrics
from controller.api.models import HeadGroupSpec, RayCluster, WorkerGroupSpec
from controller.api.problems import Problem
from controller.api.rules import Findings, ray_container

__all__ = ["validate_cluster"]

#: rayStartParams that set a node's Ray resources; exclusive with the group's ``resources``.
_RESOURCE_PARAMS = ("num-cpus", "num-gpus", "memory", "resources")


def validate_cluster(cluster: RayCluster) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) for a typed, seed-normalized cluster (before derived defaults)."""
    findings = Findings()
    _check_names(cluster, findings)
    spec = cluster.spec
    _check_group(spec.head_group_spec, "spec.headGroupSpec", cluster, findings)
    seen: dict[str, int] = {}
    for index, group in enumerate(spec.worker_group_specs):
        path = f"spec.workerGroupSpecs[{index}]"
        if group.group_name in seen:
            findings.error(
                f"{path}.groupName",
                f"{group.group_name!r} is already the name of "
                f"spec.workerGroupSpecs[{seen[group.group_name]}]; group names must be unique.",
            )
        seen.setdefault(group.group_name, index)
        _check_group(group, path, cluster, findings)
        _check_worker_group(group, path, cluster, findings)
    features.check_features(cluster, findings)
    return findings.problems, findings.warnings


# ------------------------------------------------------------------------------------ names
def _check_names(cluster: RayCluster, findings: Findings) -> None:
    name = cluster.metadata.name
    if not names.is_dns1035_label(name):
        findings.error(
            "metadata.name",
            f"{name!r} must be a DNS label of at most {names.DNS_LABEL_MAX} characters: lower-case "
            "letters, digits and '-', starting with a letter and ending with a letter or digit "
            "(it is the ray.io/cluster label the Ray autoscaler selects pods by, and it names "
            "Services).",
        )
        return
    sts_max, dns_max = names.STATEFULSET_NAME_MAX, names.DNS_LABEL_MAX
    derived = [
        (
            "metadata.name",
            "head StatefulSet",
            f"{name}-head",
            names.head_statefulset_name(name),
            sts_max,
        ),
        (
            "metadata.name",
            "head Service",
            f"{name}-head-svc",
            names.head_service_name(name),
            dns_max,
        ),
        (
            "metadata.name",
            "worker Service",
            f"{name}-workers",
            names.worker_service_name(name),
            dns_max,
        ),
    ]
    for index, group in enumerate(cluster.spec.worker_group_specs):
        if names.is_dns1123_label(group.group_name):
            derived.append(
                (
                    f"spec.workerGroupSpecs[{index}].groupName",
                    "worker workload",
                    f"{name}-{group.group_name}-worker",
                    names.worker_workload_name(name, group.group_name),
                    sts_max,
                )
            )
    for path, what, full, actual, limit in derived:
        if actual != full:
            findings.warn(
                path,
                f"the {what} would be named {full!r}, longer than {limit} characters; "
                f"it is named {actual!r} instead.",
            )


# ------------------------------------------------------------------------------------ groups
def _check_group(
    group: HeadGroupSpec | WorkerGroupSpec, path: str, cluster: RayCluster, findings: Findings
) -> None:
    """Rules shared by the head group and worker groups."""
    _check_template(group.template, f"{path}.template", cluster, findings)
    params = group.ray_start_params
    if group.resources is not None:
        clashing = [key for key in _RESOURCE_PARAMS if key in params]
        if clashing:
            findings.error(
                f"{path}.resources",
                f"cannot be combined with rayStartParams {', '.join(clashing)}: both set the "
                "node's Ray resources; use one of them.",
            )
    if "labels" in params:
        findings.error(
            f"{path}.rayStartParams.labels",
            "is not allowed; set Ray node labels with the group's labels field.",
        )
    for key, value in (group.labels or {}).items():
        if not names.is_label_key(key):
            findings.error(f"{path}.labels", f"{key!r} is not a valid label key.")
        if not names.is_label_value(value):
            findings.error(f"{path}.labels.{key}", f"{value!r} is not a valid label value.")
    if (
        group.persistent_volume_claim_retention_policy is not None
        and not group.volume_claim_templates
    ):
        findings.warn(
            f"{path}.persistentVolumeClaimRetentionPolicy",
            "has no effect without volumeClaimTemplates.",
        )


def _check_template(
    template: dict[str, Any], path: str, cluster: RayCluster, findings: Findings
) -> None:
    pod_spec = template.get("spec")
    if not isinstance(pod_spec, dict):
        findings.error(f"{path}.spec", "must be an object with the pod's containers.")
        return
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers:
        findings.error(
            f"{path}.spec.containers",
            "must list at least one container; the first one is the Ray container.",
        )
        return
    for index, container in enumerate(containers):
        container_path = f"{path}.spec.containers[{index}]"
        if not isinstance(container, dict):
            findings.error(container_path, "must be an object (a container).")
            continue
        # The Ray container (index 0) gets a default name; any other must be named.
        if index > 0 and not container.get("name"):
            findings.error(f"{container_path}.name", "is required.")
    first = ray_container(template)
    if first is not None and not first.get("image") and not cluster.spec.ray_version:
        findings.error(
            f"{path}.spec.containers[0].image",
            "is required when spec.rayVersion is not set (the default image is "
            "rayproject/ray:<rayVersion>).",
        )


def _check_hpa_requests(group: WorkerGroupSpec, path: str, findings: Findings) -> None:
    """Utilization targets need every container to request the resource (or limit it)."""
    hpa = group.horizontal_pod_autoscaler
    if hpa is None:
        return
    metrics = hpa.metrics if hpa.metrics is not None else default_hpa_metrics()
    pod_spec = group.template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if not isinstance(containers, list):
        return
    for index, metric in enumerate(metrics):
        resource = metric.get("resource") if isinstance(metric, dict) else None
        if metric.get("type") != "Resource" or not isinstance(resource, dict):
            continue
        target = resource.get("target")
        name = resource.get("name")
        if not isinstance(target, dict) or target.get("type") != "Utilization":
            continue
        for container in containers:
            if isinstance(container, dict) and not _asks_for(container, name):
                where = f"{path}.metrics[{index}]" if hpa.metrics is not None else path
                findings.warn(
                    where,
                    f"targets {name} utilization, but container {container.get('name')!r} "
                    f"sets no {name} request or limit: the HorizontalPodAutoscaler cannot "
                    "compute utilization and will not scale.",
                )
                return


def _asks_for(container: dict[str, Any], resource: object) -> bool:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        return False
    return any(
        isinstance(resources.get(kind), dict) and resource in resources[kind]
        for kind in ("requests", "limits")
    )


def _check_worker_group(
    group: WorkerGroupSpec, path: str, cluster: RayCluster, findings: Findings
) -> None:
    """Rules that only apply to worker groups."""
    if not names.is_dns1123_label(group.group_name):
        findings.error(
            f"{path}.groupName",
            f"{group.group_name!r} must be a DNS label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (it names the group's objects and is "
            "the ray.io/group label).",
        )
    if group.min_replicas > group.max_replicas:
        findings.error(
            f"{path}.minReplicas",
            f"{group.min_replicas} must not be greater than maxReplicas ({group.max_replicas}).",
        )
    autoscaling = cluster.spec.enable_in_tree_autoscaling
    kind = group.workload_kind or ("Deployment" if autoscaling else "StatefulSet")
    if group.horizontal_pod_autoscaler is not None:
        if autoscaling:
            findings.error(
                f"{path}.horizontalPodAutoscaler",
                "cannot be combined with spec.enableInTreeAutoscaling: the Ray autoscaler and "
                "the HorizontalPodAutoscaler would both set this group's size.",
            )
        if group.min_replicas < 1:
            findings.error(
                f"{path}.minReplicas",
                "must be at least 1 with a horizontalPodAutoscaler (a HorizontalPodAutoscaler "
                "cannot scale to zero).",
            )
        _check_hpa_requests(group, f"{path}.horizontalPodAutoscaler", findings)
    if group.volume_claim_templates and kind == "Deployment":
        reason = (
            "workloadKind is Deployment"
            if group.workload_kind
            else "this group runs as a Deployment because in-tree autoscaling is on (set "
            "workloadKind: StatefulSet to keep them; scale-down then removes the "
            "highest-numbered pods rather than the ones the autoscaler chose)"
        )
        findings.error(
            f"{path}.volumeClaimTemplates",
            f"need a StatefulSet-backed group, but {reason}.",
        )
    if group.workload_kind == "StatefulSet" and autoscaling:
        findings.warn(
            f"{path}.workloadKind",
            "is StatefulSet under in-tree autoscaling: a StatefulSet removes its "
            "highest-numbered pods, so scale-down may remove other pods than the ones the Ray "
            "autoscaler named in workersToDelete.",
        )
