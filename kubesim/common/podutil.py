"""Read-only helpers over raw pod (and owned-object) dicts, as kube-controller-manager reads them."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "DELETION_COST_ANNOTATION",
    "ObjectKey",
    "condition",
    "controller_uid",
    "deletion_cost",
    "is_active",
    "is_failed",
    "is_ready",
    "is_running_and_ready",
    "is_terminating",
    "key_of",
    "owner_reference",
    "qos_class",
    "ready_since",
]

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"


class ObjectKey(NamedTuple):
    """Namespace and name of a namespaced object (namespace "" for cluster-scoped ones)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def key_of(obj: dict[str, Any]) -> ObjectKey:
    """The key of an object."""
    meta = obj["metadata"]
    return ObjectKey(meta.get("namespace") or "", meta["name"])


def controller_uid(obj: dict[str, Any]) -> str | None:
    """uid of the owner reference with `controller: true`, if any."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref["uid"])
    return None


def owner_reference(owner: dict[str, Any], *, kind: str, api_version: str) -> dict[str, Any]:
    """What metav1.NewControllerRef produces for `owner`."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type `kind`, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


def is_ready(pod: dict[str, Any]) -> bool:
    """Pod condition Ready is True (podutil.IsPodReady)."""
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_running_and_ready(pod: dict[str, Any]) -> bool:
    """What StatefulSet and ReplicaSet count as ready: phase Running and Ready=True."""
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def is_terminating(obj: dict[str, Any]) -> bool:
    """The object has a deletionTimestamp."""
    return bool(obj["metadata"].get("deletionTimestamp"))


def is_failed(pod: dict[str, Any]) -> bool:
    """Phase Failed (the StatefulSet controller recreates such pods)."""
    return (pod.get("status") or {}).get("phase") == "Failed"


def is_active(pod: dict[str, Any]) -> bool:
    """controller.IsPodActive: not Succeeded, not Failed, not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def ready_since(pod: dict[str, Any]) -> str | None:
    """lastTransitionTime of a True Ready condition (podReadyTime), else None."""
    cond = condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return cond.get("lastTransitionTime")


def deletion_cost(pod: dict[str, Any]) -> int:
    """The pod-deletion-cost annotation as an int32; 0 when missing or invalid."""
    raw = (pod["metadata"].get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    if raw is None:
        return 0
    try:
        value = int(str(raw).strip())
    except ValueError:
        return 0
    return value if -(2**31) <= value < 2**31 else 0


def qos_class(pod_spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = [*(pod_spec.get("containers") or ()), *(pod_spec.get("initContainers") or ())]
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = {**limits, **(resources.get("requests") or {})}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or str(requests.get(name)) != str(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
