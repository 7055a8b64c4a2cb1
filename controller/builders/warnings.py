"""What rayop builds differently from what a manifest asks, said to the user rather than hidden.

The API's validation reports what is wrong with a manifest; these are the places where a valid
manifest meets a limit of the objects rayop builds, so `rayop render` (and the operator's events)
can tell the user.
"""

from __future__ import annotations

from typing import Any

from controller.api.constants import LABEL_SCHEDULER_NAME
from controller.api.models import RayCluster
from controller.api.names import autoscaler_rbac_name
from controller.api.problems import Problem
from controller.builders.labels import HEAD_GROUP
from controller.builders.shapes import mapping

__all__ = ["BATCH_SCHEDULER_LABELS", "build_warnings"]

#: RayCluster labels through which KubeRay hands pods to a batch scheduler (its
#: ``--batch-scheduler`` integrations), which rayop does not have.
BATCH_SCHEDULER_LABELS = (
    LABEL_SCHEDULER_NAME,
    "kai.scheduler/queue",
    "volcano.sh/queue-name",
    "yunikorn.apache.org/queue",
    "yunikorn.apache.org/app-id",
)


def build_warnings(cluster: RayCluster) -> list[Problem]:
    """Every warning about how `cluster`'s children differ from what its spec literally asks."""
    warnings: list[Problem] = []
    for label in BATCH_SCHEDULER_LABELS:
        if label in cluster.metadata.labels:
            warnings.append(
                Problem(
                    f"metadata.labels.{label}",
                    "rayop has no batch-scheduler integration: the label is not passed to the "
                    "pods and they use the default scheduler; set schedulerName and the "
                    "scheduler's labels in the pod templates instead.",
                )
            )
    if cluster.spec.head_service_type == "ExternalName":
        warnings.append(
            Problem(
                "spec.headGroupSpec.serviceType",
                "an ExternalName Service is a DNS alias and does not route to the head pod: "
                "workers will not reach the GCS through it.",
            )
        )
    strategy = cluster.spec.upgrade_strategy
    if strategy is not None and strategy.type == "None":
        for index, group in enumerate(cluster.spec.worker_group_specs):
            if group.workload_kind == "Deployment":
                warnings.append(
                    Problem(
                        f"spec.workerGroupSpecs[{index}].workloadKind",
                        "a Deployment cannot keep running pods on their old spec, so changes "
                        "to this group still roll out; use workloadKind: StatefulSet to "
                        "honour upgradeStrategy.type: None.",
                    )
                )
    head_service = cluster.spec.head_group_spec.head_service or {}
    custom_name = mapping(head_service.get("metadata")).get("name")
    if custom_name:
        warnings.append(
            Problem(
                "spec.headGroupSpec.headService.metadata.name",
                f"rayop names the head Service {cluster.metadata.name}-head-svc (shortened if "
                f"too long); the name {custom_name!r} is not used.",
            )
        )
    options = cluster.spec.autoscaler_options
    if cluster.spec.enable_in_tree_autoscaling and options is not None and options.version == "v2":
        warnings.append(
            Problem(
                "spec.autoscalerOptions.version",
                "KubeRay runs autoscaler v2 pods with restartPolicy Never; rayop's StatefulSets "
                "and Deployments restart a failed Ray container in place, under the same pod name.",
            )
        )
    warnings.extend(_autoscaler_account(cluster))
    for index, group in enumerate(cluster.spec.worker_group_specs):
        if group.group_name == HEAD_GROUP:
            warnings.append(
                Problem(
                    f"spec.workerGroupSpecs[{index}].groupName",
                    f"{HEAD_GROUP!r} is the head's ray.io/group label; the Ray autoscaler takes "
                    "these workers for the head node type. Choose another name.",
                )
            )
    for container_path, template in _templates(cluster):
        if mapping(template.get("spec")).get("restartPolicy") not in (None, "Always"):
            warnings.append(
                Problem(
                    f"{container_path}.spec.restartPolicy",
                    "StatefulSets and Deployments run pods with restartPolicy Always; "
                    "the Ray container is restarted in place instead.",
                )
            )
    return warnings


def _templates(cluster: RayCluster) -> list[tuple[str, dict[str, Any]]]:
    spec = cluster.spec
    result = [("spec.headGroupSpec.template", spec.head_group_spec.template)]
    for index, group in enumerate(spec.worker_group_specs):
        result.append((f"spec.workerGroupSpecs[{index}].template", group.template))
    return result


def _autoscaler_account(cluster: RayCluster) -> list[Problem]:
    """Under the in-tree autoscaler, a head ServiceAccount rayop did not create gets none of
    the autoscaler's rights (builders/autoscaler.py): say so, and how to grant them."""
    if not cluster.spec.enable_in_tree_autoscaling:
        return []
    template_spec = mapping(cluster.spec.head_group_spec.template.get("spec"))
    account = template_spec.get("serviceAccountName")
    ours = autoscaler_rbac_name(cluster.metadata.name)
    if not isinstance(account, str) or not account or account == ours:
        return []
    return [
        Problem(
            "spec.headGroupSpec.template.spec.serviceAccountName",
            f"the head runs as ServiceAccount {account!r}, which rayop did not create; rayop "
            f"binds the autoscaler's Role {ours!r} only to its own ServiceAccount {ours!r}, so "
            f"the autoscaler has no rights unless you bind Role {ours!r} to {account!r} "
            "yourself (or drop serviceAccountName). KubeRay binds it to your account.",
        )
    ]
