"""Every default rayop gives a RayCluster, in one place (docs/raycluster-api.md explains each).

Two kinds live here:

- **Schema defaults** (``MIN_REPLICAS`` … ``default_worker_template()``) are the models' field
  defaults *and* the CRD's ``default:`` values (the CRD generator reads them off the models), so
  the API server stores them and every reader of the object sees them. That matters because the
  Ray autoscaler reads the RayCluster itself: it needs ``headGroupSpec``, each group's
  ``template.spec.containers[0].resources``, ``minReplicas``/``maxReplicas`` and ``replicas`` to
  exist, and the seed manifest writes none of them.
- **Derived defaults** (``apply_defaults``) depend on other fields and so cannot be schema
  defaults: the image from ``rayVersion``, the Ray container's name, ``rayStartParams`` that
  depend on the node type or on in-tree autoscaling, each group's workload kind, an HPA's default
  metric, and the clamping of ``replicas`` into ``[minReplicas, maxReplicas]``.

Resource numbers for template-less groups: 1 CPU is the smallest whole CPU, and whole CPUs are
what Ray schedules (``num-cpus`` is derived from the CPU limit and rounded up, so a fraction
would be misreported). Memory: the head runs GCS, the dashboard and a raylet, and Ray's object
store takes 30% of the pod's memory, so 2Gi leaves it about 600Mi of store and enough headroom
for the control processes; a worker runs only a raylet and its task workers, and 1Gi is the
smallest size that still starts one with a useful (300Mi) object store. Requests equal limits
so the pod's memory accounting (Ray reads the limit) matches what the kernel enforces and the
pod is not the first evicted. These are the KubeRay samples' worker size and a slightly
smaller head than theirs (5Gi), so the seed fits on a laptop; real clusters set templates.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any, Final

from controller.api.jsoncopy import copy_json
from controller.api.problems import Problem

if TYPE_CHECKING:
    from controller.api.models import RayCluster, WorkerGroupSpec

__all__ = [
    "DEFAULT_HPA_CPU_UTILIZATION",
    "HEAD_CONTAINER_NAME",
    "HEAD_RESOURCES",
    "IMAGE_REPOSITORY",
    "MAX_REPLICAS",
    "MIN_REPLICAS",
    "NUM_OF_HOSTS",
    "RAY_START_PARAMS_BOTH",
    "RAY_START_PARAMS_HEAD",
    "REPLICAS",
    "UPSCALING_SPEED_BY_MODE",
    "WORKER_CONTAINER_NAME",
    "WORKER_RESOURCES",
    "apply_defaults",
    "default_head_template",
    "default_hpa_metrics",
    "default_image",
    "default_worker_template",
    "desired_replicas",
    "upscaling_mode_for_speed",
]

# ------------------------------------------------------------------ schema defaults (also in CRD)
#: KubeRay's CRD defaults for a worker group.
REPLICAS: Final = 0
MIN_REPLICAS: Final = 0
MAX_REPLICAS: Final = 2147483647  # int32 max: "no upper bound"
NUM_OF_HOSTS: Final = 1

HEAD_CONTAINER_NAME: Final = "ray-head"
WORKER_CONTAINER_NAME: Final = "ray-worker"
HEAD_RESOURCES: Final[dict[str, dict[str, str]]] = {
    "limits": {"cpu": "1", "memory": "2Gi"},
    "requests": {"cpu": "1", "memory": "2Gi"},
}
WORKER_RESOURCES: Final[dict[str, dict[str, str]]] = {
    "limits": {"cpu": "1", "memory": "1Gi"},
    "requests": {"cpu": "1", "memory": "1Gi"},
}


def default_head_template() -> dict[str, Any]:
    """The head pod template when none is given: one Ray container with ``HEAD_RESOURCES``.

    It has no image: the image follows ``rayVersion`` (see ``default_image``), which a schema
    default cannot express, so ``apply_defaults`` fills it in.
    """
    return {
        "spec": {
            "containers": [
                {"name": HEAD_CONTAINER_NAME, "resources": copy.deepcopy(HEAD_RESOURCES)}
            ]
        }
    }


def default_worker_template() -> dict[str, Any]:
    """A worker group's pod template when none is given: one Ray container, ``WORKER_RESOURCES``."""
    return {
        "spec": {
            "containers": [
                {"name": WORKER_CONTAINER_NAME, "resources": copy.deepcopy(WORKER_RESOURCES)}
            ]
        }
    }


# ------------------------------------------------------------------ derived defaults
IMAGE_REPOSITORY: Final = "rayproject/ray"

#: rayStartParams set on the head when absent (KubeRay's): the dashboard listens on every
#: interface so the head Service can reach it.
RAY_START_PARAMS_HEAD: Final[dict[str, str]] = {"dashboard-host": "0.0.0.0"}
#: rayStartParams set on every node when absent (KubeRay's): the metrics port the Services and
#: probes use, and the dashboard agent port the health probes of Ray >= 2.53 query.
RAY_START_PARAMS_BOTH: Final[dict[str, str]] = {
    "metrics-export-port": "8080",
    "dashboard-agent-listen-port": "52365",
}

#: What the Ray autoscaler (KubeRay mode) turns each upscalingMode into: its ``upscaling_speed``.
UPSCALING_SPEED_BY_MODE: Final[dict[str, float]] = {
    "Conservative": 1.0,
    "Default": 1000.0,
    "Aggressive": 1000.0,
}

#: ``kubectl autoscale``'s default target, used when a group asks for an HPA without metrics.
DEFAULT_HPA_CPU_UTILIZATION: Final = 80


def default_image(ray_version: str) -> str:
    """The Ray container image for a Ray version: ``rayproject/ray:<rayVersion>``."""
    return f"{IMAGE_REPOSITORY}:{ray_version}"


def default_hpa_metrics() -> list[dict[str, Any]]:
    """An HPA's metrics when the group gives none: average CPU utilization at 80%."""
    return [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {
                    "type": "Utilization",
                    "averageUtilization": DEFAULT_HPA_CPU_UTILIZATION,
                },
            },
        }
    ]


def upscaling_mode_for_speed(speed: float) -> str:
    """The upscalingMode whose autoscaler speed is nearest ``speed`` on a log scale.

    KubeRay mode only knows two speeds, 1 (Conservative) and 1000 (Default/Aggressive), so the
    seed's ``upscalingSpeed`` is mapped onto the nearer one; the boundary is their geometric mean.
    """
    conservative = UPSCALING_SPEED_BY_MODE["Conservative"]
    default = UPSCALING_SPEED_BY_MODE["Default"]
    return "Conservative" if speed <= math.sqrt(conservative * default) else "Default"


def apply_defaults(cluster: RayCluster) -> tuple[RayCluster, list[Problem]]:
    """The cluster with every derived default filled in, and warnings about what was changed.

    Pure: returns a new model and never mutates ``cluster`` (templates are deep-copied first).
    Expects a cluster that passed validation (every group has a container).
    """
    warnings: list[Problem] = []
    spec = cluster.spec
    autoscaling = spec.enable_in_tree_autoscaling
    head = spec.head_group_spec
    head_params = {**RAY_START_PARAMS_BOTH, **RAY_START_PARAMS_HEAD, **head.ray_start_params}
    if autoscaling:
        # The sidecar is the monitor: `ray start --head` must not start a second one.
        head_params["no-monitor"] = "true"
    head = head.model_copy(
        update={
            "ray_start_params": head_params,
            "template": _with_ray_container_defaults(
                head.template, spec.ray_version, HEAD_CONTAINER_NAME
            ),
            "service_type": head.service_type or "ClusterIP",
        }
    )
    workers = []
    for index, group in enumerate(spec.worker_group_specs):
        group, group_warnings = _default_worker_group(
            group, f"spec.workerGroupSpecs[{index}]", spec.ray_version, autoscaling
        )
        workers.append(group)
        warnings.extend(group_warnings)
    new_spec = spec.model_copy(update={"head_group_spec": head, "worker_group_specs": workers})
    return cluster.model_copy(update={"spec": new_spec}), warnings


def _default_worker_group(
    group: WorkerGroupSpec, path: str, ray_version: str | None, autoscaling: bool
) -> tuple[WorkerGroupSpec, list[Problem]]:
    from controller.api.models import HorizontalPodAutoscalerSpec

    warnings: list[Problem] = []
    update: dict[str, Any] = {
        "ray_start_params": {**RAY_START_PARAMS_BOTH, **group.ray_start_params},
        "template": _with_ray_container_defaults(
            group.template, ray_version, WORKER_CONTAINER_NAME
        ),
    }
    if group.workload_kind is None:
        # Under the in-tree autoscaler, scale-down must remove exactly the pods the autoscaler
        # names in workersToDelete; a StatefulSet can only remove its highest ordinals.
        update["workload_kind"] = "Deployment" if autoscaling else "StatefulSet"
    hpa = group.horizontal_pod_autoscaler
    if hpa is not None and hpa.metrics is None:
        update["horizontal_pod_autoscaler"] = HorizontalPodAutoscalerSpec(
            metrics=default_hpa_metrics(), behavior=hpa.behavior
        )
    wanted = group.replicas if group.replicas is not None else group.min_replicas
    replicas = desired_replicas(group.replicas, group.min_replicas, group.max_replicas)
    if wanted > replicas:
        warnings.append(
            Problem(
                f"{path}.replicas",
                f"replicas {wanted} is above maxReplicas {group.max_replicas}; "
                f"the group runs {replicas}.",
            )
        )
    elif wanted < replicas and wanted != REPLICAS:
        # 0 is the schema default, so a group that never set replicas starts at minReplicas
        # silently, as in KubeRay; an explicit value below the minimum is worth a warning.
        warnings.append(
            Problem(
                f"{path}.replicas",
                f"replicas {wanted} is below minReplicas {group.min_replicas}; "
                f"the group runs {replicas}.",
            )
        )
    update["replicas"] = replicas
    return group.model_copy(update=update), warnings


def desired_replicas(
    replicas: int | None, minimum: int, maximum: int, *, suspended: bool = False
) -> int:
    """The one replica clamp (KubeRay's): 0 when suspended, else ``replicas`` (``minimum``
    when unset) clamped into ``[minimum, maximum]``.

    Builders (the workload's replicas) and status (``desiredWorkerReplicas``, with an HPA's
    observed replicas in place of the spec's) both count this way, so they never disagree.
    """
    if suspended:
        return 0
    wanted = minimum if replicas is None else replicas
    return max(minimum, min(maximum, wanted))


def _with_ray_container_defaults(
    template: dict[str, Any], ray_version: str | None, container_name: str
) -> dict[str, Any]:
    """The template with the Ray container's (index 0) name and image filled in when absent."""
    template = copy_json(template)
    containers = template.get("spec", {}).get("containers") or []
    if not containers:
        return template
    ray_container = containers[0]
    ray_container.setdefault("name", container_name)
    if not ray_container.get("image") and ray_version:
        ray_container["image"] = default_image(ray_version)
    return template
