"""Reading what rayop observes: which pods are dead, which Service is the head's, what an
HPA decided. Pure functions over cached objects (never mutated)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from controller.api.constants import LABEL_GROUP, LABEL_NODE_TYPE
from controller.caches import ChildKey

__all__ = ["dead_pod_reason", "head_service", "hpa_replicas"]


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
