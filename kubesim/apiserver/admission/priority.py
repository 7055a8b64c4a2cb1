"""Priority admission: a pod's priorityClassName resolves to its priority (403 if the class
does not exist), a class marked globalDefault applies to pods without one; and the two system
classes every cluster has (`system-cluster-critical`, `system-node-critical`).
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.admission.serviceaccount import display_name
from kubesim.apiserver.store import Store

__all__ = ["SYSTEM_PRIORITY_CLASSES", "admit_priority"]

_GROUP = "scheduling.k8s.io"

SYSTEM_PRIORITY_CLASSES: tuple[dict[str, Any], ...] = (
    {
        "apiVersion": f"{_GROUP}/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "system-node-critical"},
        "value": 2000001000,
        "description": "Used for system critical pods that must not be moved from their current node.",
        "preemptionPolicy": "PreemptLowerPriority",
    },
    {
        "apiVersion": f"{_GROUP}/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "system-cluster-critical"},
        "value": 2000000000,
        "description": "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        "preemptionPolicy": "PreemptLowerPriority",
    },
)


def admit_priority(store: Store, pod: dict[str, Any]) -> None:
    """Resolve the pod's priority from its class (mutates `pod`)."""
    spec = pod.setdefault("spec", {})
    info = store.resource("priorityclasses", _GROUP)
    name = spec.get("priorityClassName")
    found: dict[str, Any] | None = None
    if name:
        try:
            found = store.get(info, None, str(name))
        except errors.StatusError:
            raise errors.forbidden(
                "pods",
                "",
                display_name(pod["metadata"]),
                f"no PriorityClass with name {name} was found",
            )
    else:
        found = next((c for c in store.iter_objects(info) if c.get("globalDefault")), None)
        if found is not None:
            spec["priorityClassName"] = found["metadata"]["name"]
    if found is None:
        return
    value = int(found.get("value") or 0)
    given = spec.get("priority")
    if given not in (None, 0, value):
        raise errors.forbidden(
            "pods",
            "",
            display_name(pod["metadata"]),
            f"the integer value of priority ({given}) must not be provided in pod spec; "
            f"priority admission controller computed {value} from the given PriorityClass name",
        )
    spec["priority"] = value
    spec["preemptionPolicy"] = found.get("preemptionPolicy") or "PreemptLowerPriority"
