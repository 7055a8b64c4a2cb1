"""Reading what rayop observes: which pods are dead, which Service is the head's, what an
HPA decided. Pure functions over cached objects (never mutated)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from controller.api.constants import LABEL_GROUP, LABEL_NODE_TYPE
from controller.caches import ChildKey

__all__ = ["controlled_pods", "dead_pod_reason", "head_service", "hpa_replicas"]

_WORKLOADS = ("StatefulSet", "Deployment")


def controlled_pods(
    pods: list[Mapping[str, Any]],
    desired: Mapping[ChildKey, Mapping[str, Any]],
    observed: Mapping[ChildKey, Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """The pods rayop may delete, count and report for a cluster: those whose controller is one
    of the cluster's own workloads (observed children are already controlled by the cluster).

    A label is not ownership: anyone can label a batch pod ``ray.io/cluster=<name>``, or call a
    pod a head. A pod is kept only when its controller reference is one of this cluster's
    StatefulSets by uid (a head pod only from the head workload, a worker only from a worker
    workload), or a ReplicaSet named ``<deployment>-<hash>`` for one of its Deployments: the
    ReplicaSet hop is matched by name, because rayop does not cache ReplicaSets.
    """
    owners: dict[str, str] = {}  # StatefulSet uid, or "rs:<deployment>", -> node type
    for key, obj in desired.items():
        have = observed.get(key)
        if key.kind not in _WORKLOADS or have is None:
            continue
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        node_type = str(selector.get(LABEL_NODE_TYPE) or "")
        if key.kind == "StatefulSet":
            owners[str((have.get("metadata") or {}).get("uid"))] = node_type
        else:
            owners[f"rs:{key.name}"] = node_type
    return [
        pod for pod in pods if _controller_key(pod) in owners and _node_type_matches(pod, owners)
    ]


def _controller_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        if ref.get("kind") == "StatefulSet" and ref.get("apiVersion") == "apps/v1":
            return str(ref.get("uid"))
        if ref.get("kind") == "ReplicaSet" and ref.get("apiVersion") == "apps/v1":
            return "rs:" + str(ref.get("name")).rpartition("-")[0]
    return ""


def _node_type_matches(pod: Mapping[str, Any], owners: Mapping[str, str]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_NODE_TYPE) == owners[_controller_key(pod)]


def dead_pod_reason(pod: Mapping[str, Any]) -> str:
    """Why ``pod`` should be deleted ("" if it should not): KubeRay's ``shouldDeletePod``."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return ""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Failed", "Succeeded"):
        return str(status.get("reason") or phase)
    if phase == "Running" and (pod.get("spec") or {}).get("restartPolicy") == "Never":
        containers = (pod.get("spec") or {}).get("containers") or []
        ray = containers[0].get("name") if containers else None
        for cs in status.get("containerStatuses") or []:
            if cs.get("name") == ray and "terminated" in (cs.get("state") or {}):
                return "Ray container terminated and restartPolicy is Never"
    return ""


def head_service(
    desired: Mapping[ChildKey, Mapping[str, Any]], observed: Mapping[ChildKey, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    for key, obj in desired.items():
        selector = (obj.get("spec") or {}).get("selector") or {}
        if key.kind == "Service" and selector.get(LABEL_NODE_TYPE) == "head":
            return observed.get(key)
    return None


def hpa_replicas(
    desired: Mapping[ChildKey, Mapping[str, Any]], observed: Mapping[ChildKey, Mapping[str, Any]]
) -> dict[str, int]:
    """Observed replicas of workloads whose replicas rayop leaves to an HPA, by group."""
    found: dict[str, int] = {}
    for key, obj in desired.items():
        spec = obj.get("spec") or {}
        if key.kind not in ("StatefulSet", "Deployment") or "replicas" in spec:
            continue
        group = ((spec.get("selector") or {}).get("matchLabels") or {}).get(LABEL_GROUP)
        have = observed.get(key)
        if group and have is not None:
            with contextlib.suppress(TypeError, ValueError):
                found[group] = int((have.get("spec") or {}).get("replicas", 0))
    return found
