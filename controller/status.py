"""A RayCluster's status, computed as a pure function of what rayop observes.

Field names and meanings are KubeRay's (``kuberay.md`` §4) so dashboards, ``kubectl`` columns
and the Ray autoscaler keep working; rayop departs where KubeRay's status lies:

- ``state`` says what is true *now*: ``ready`` while every desired Ray pod is running and
  ready, ``suspended`` once a suspended cluster has no pods, ``failed`` for an invalid spec,
  and empty otherwise (provisioning, an outage, a rollout). ``reason`` says why it is not
  ready. (KubeRay latches ``ready`` forever, kuberay#2188.)
- Condition ``Ready`` is true exactly when every desired Ray pod is running and ready, so
  ``kubectl wait --for=condition=Ready raycluster/NAME`` works.
- ``lastUpdateTime`` moves only when something else in the status changed, and a status equal
  to the previous one is returned unchanged: in steady state rayop writes nothing.

Conditions follow ``metav1.Condition``: ``lastTransitionTime`` changes only when ``status``
does. Types: ``HeadPodReady``, ``RayClusterProvisioned`` (latched true the first time all pods
are ready; reset when suspended), ``ReplicaFailure`` (true while a Ray pod is failing or rayop
failed to apply a child), ``RayClusterSuspended`` and ``Ready``; all five are always present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from controller.api.constants import LABEL_GROUP, LABEL_NODE_TYPE, ConditionType, EventReason
from controller.quantity import format_cpu, format_memory, parse_quantity

__all__ = [
    "ClusterShape",
    "GroupShape",
    "PodFacts",
    "compute_status",
    "container_resources",
    "failed_status",
    "pod_facts",
]

INT32_MAX = 2**31 - 1
UNSCHEDULABLE = "Unschedulable"

# Container waiting reasons that mean "this pod is failing", not "this pod is starting".
_FAILING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class GroupShape:
    """What one worker group asks for."""

    name: str
    desired: int
    min_replicas: int
    max_replicas: int
    num_of_hosts: int = 1
    pod_resources: Mapping[str, Decimal] = field(default_factory=dict)
    replicas_for_resources: int = 0


@dataclass(frozen=True)
class ClusterShape:
    """The parts of a RayCluster spec that status reads, already normalised."""

    name: str
    generation: int
    suspend: bool
    groups: Sequence[GroupShape]
    head_resources: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class PodFacts:
    """What status needs to know about one Ray pod."""

    name: str
    node_type: str
    group: str
    phase: str
    ready: bool
    ip: str = ""
    ready_reason: str = ""
    ready_message: str = ""
    failing: str = ""  # why the pod is failing ("CrashLoopBackOff", "Evicted"), "" if it is not
    terminating: bool = False


def pod_facts(pod: Mapping[str, Any]) -> PodFacts:
    """Extract :class:`PodFacts` from a (slimmed) Pod object."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready_cond = conditions.get("Ready")
    ready = phase == "Running" and bool(ready_cond and ready_cond.get("status") == "True")
    reason = str((ready_cond or {}).get("reason") or "")
    message = str((ready_cond or {}).get("message") or "")
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        reason = str(scheduled.get("reason") or UNSCHEDULABLE)
        message = str(scheduled.get("message") or "")
    failing = ""
    if phase == "Failed":
        failing = str(status.get("reason") or "Failed")
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = state.get("terminated") or {}
        if waiting in _FAILING_REASONS:
            failing = failing or str(waiting)
        if reason == "ContainersNotReady" and (waiting or terminated):
            reason = str(waiting or terminated.get("reason") or reason)
            message = str((state.get("waiting") or terminated).get("message") or message)
        if not ready and not failing and cs.get("restartCount", 0) > 0 and not cs.get("ready"):
            failing = "ContainerRestarting"
    return PodFacts(
        name=str(meta.get("name") or ""),
        node_type=str(labels.get(LABEL_NODE_TYPE) or ""),
        group=str(labels.get(LABEL_GROUP) or ""),
        phase=phase,
        ready=ready,
        ip=str(status.get("podIP") or ""),
        ready_reason=reason,
        ready_message=message,
        failing=failing,
        terminating=bool(meta.get("deletionTimestamp")),
    )


def compute_status(
    shape: ClusterShape,
    *,
    pods: Iterable[PodFacts],
    head_service: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
    now: str,
    apply_error: str = "",
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """The status rayop wants on the RayCluster.

    Returns ``previous`` itself (same contents) when nothing but ``lastUpdateTime`` would change.
    ``apply_error`` is a failure to write children in this reconcile (shown as ReplicaFailure).
    ``missing`` names desired children not observed (``Service/rc-head-svc``): a cluster is
    never ready without every child, the head Service included.
    """
    previous = previous or {}
    live = [p for p in pods if not p.terminating]
    heads = [p for p in live if p.node_type == "head"]
    head = next((p for p in heads if p.ready), heads[0] if heads else None)
    workers = [p for p in live if p.node_type == "worker"]
    desired_workers = 0 if shape.suspend else sum(g.desired * g.num_of_hosts for g in shape.groups)
    complete = not missing and head_service is not None
    all_ready = complete and not shape.suspend and _all_desired_ready(shape, head, workers)

    status: dict[str, Any] = {
        "desiredWorkerReplicas": desired_workers,
        "availableWorkerReplicas": sum(1 for p in workers if p.phase == "Running"),
        "readyWorkerReplicas": sum(1 for p in workers if p.ready),
        "minWorkerReplicas": sum(g.min_replicas * g.num_of_hosts for g in shape.groups),
        "maxWorkerReplicas": min(
            INT32_MAX, sum(g.max_replicas * g.num_of_hosts for g in shape.groups)
        ),
        **_desired_resources(shape),
        "observedGeneration": shape.generation,
    }
    # Every field is always present (empty when unknown), never omitted: a field rayop stops
    # sending is only removed by a server that tracks apply ownership exactly, and an explicit
    # empty value reads the same everywhere.
    status["endpoints"] = _endpoints(head_service)
    status["head"] = _head_info(head, head_service)

    suspended = shape.suspend and not live
    failing = sorted((p for p in live if p.failing), key=lambda p: p.name)
    if all_ready:
        status["state"], status["reason"] = "ready", ""
    elif suspended:
        status["state"], status["reason"] = "suspended", "RayCluster is suspended"
    else:
        status["state"] = ""
        status["reason"] = _not_ready_reason(shape, head, workers, desired_workers)
        if not complete and _all_desired_ready(shape, head, workers):
            status["reason"] = "waiting for child objects: " + (
                ", ".join(missing) or "the head Service"
            )

    prev_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    conditions = [
        _head_condition(head),
        _provisioned_condition(all_ready, suspended, prev_conditions),
        _failure_condition(failing, apply_error),
        _suspended_condition(suspended, shape.suspend),
        _ready_condition(all_ready, shape.suspend, status.get("reason", "")),
    ]
    status["conditions"] = [_with_transition_time(c, prev_conditions, now) for c in conditions]
    return _finish(status, previous, now)


def failed_status(
    *, generation: int, message: str, previous: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    """The status of a RayCluster whose spec is invalid: ``state: failed`` and why.

    Observed counts and head information are kept from ``previous``: the pods that exist
    still exist. Ready becomes false: rayop will not bring up a cluster it cannot read.
    """
    previous = dict(previous or {})
    status = {
        k: v for k, v in previous.items() if k not in ("lastUpdateTime", "stateTransitionTimes")
    }
    status.update(state="failed", reason=message, observedGeneration=generation)
    prev_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    ready = _condition(ConditionType.READY, False, "InvalidSpec", message)
    kept = [c for c in previous.get("conditions") or [] if c.get("type") != ConditionType.READY]
    status["conditions"] = [*kept, _with_transition_time(ready, prev_conditions, now)]
    return _finish(status, previous, now)


# ------------------------------------------------------------------ helpers


def _all_desired_ready(
    shape: ClusterShape, head: PodFacts | None, workers: Sequence[PodFacts]
) -> bool:
    if head is None or not head.ready:
        return False
    for group in shape.groups:
        ready = sum(1 for p in workers if p.group == group.name and p.ready)
        if ready < group.desired * group.num_of_hosts:
            return False
    return True


def _not_ready_reason(
    shape: ClusterShape, head: PodFacts | None, workers: Sequence[PodFacts], desired: int
) -> str:
    ready = sum(1 for p in workers if p.ready)
    counts = f"{ready}/{desired} workers ready"
    stuck = [p for p in workers if p.ready_reason == UNSCHEDULABLE]
    if stuck:
        counts += f" ({len(stuck)} cannot be scheduled: {stuck[0].ready_message})"
    if shape.suspend:
        return "RayCluster is suspending: deleting its pods"
    if head is None:
        return f"head pod not found; {counts}"
    if head.ready_reason == UNSCHEDULABLE:
        return f"head pod {head.name} cannot be scheduled: {head.ready_message}; {counts}"
    if not head.ready:
        detail = f" ({head.ready_reason})" if head.ready_reason else ""
        return f"head pod {head.name} not ready{detail}; {counts}"
    return counts


def _desired_resources(shape: ClusterShape) -> dict[str, str]:
    totals: dict[str, Decimal] = {}
    parts: list[tuple[Mapping[str, Decimal], int]] = [(shape.head_resources, 1)]
    parts += [(g.pod_resources, g.replicas_for_resources * g.num_of_hosts) for g in shape.groups]
    for resources, count in parts:
        for key, amount in resources.items():
            totals[key] = totals.get(key, Decimal(0)) + amount * count
    gpus = sum((v for k, v in totals.items() if _is_gpu(k)), Decimal(0))
    return {
        "desiredCPU": format_cpu(totals.get("cpu", Decimal(0))),
        "desiredMemory": format_memory(totals.get("memory", Decimal(0))),
        "desiredGPU": format_cpu(gpus),
        "desiredTPU": format_cpu(totals.get("google.com/tpu", Decimal(0))),
    }


def _is_gpu(resource: str) -> bool:
    return resource.endswith("gpu") or (resource.startswith("nvidia.com/mig-") and "g." in resource)


def container_resources(template: Mapping[str, Any]) -> dict[str, Decimal]:
    """One pod's resources from its template: per container, requests win over limits."""
    totals: dict[str, Decimal] = {}
    for container in (template.get("spec") or {}).get("containers") or []:
        res = container.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        for key, value in merged.items():
            amount = parse_quantity(value)
            if amount is not None:
                totals[key] = totals.get(key, Decimal(0)) + amount
    return totals


def _endpoints(service: Mapping[str, Any] | None) -> dict[str, str]:
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    return {
        str(p["name"]): str(p.get("nodePort") or p.get("targetPort") or p.get("port"))
        for p in ports
        if p.get("name")
    }


def _head_info(head: PodFacts | None, service: Mapping[str, Any] | None) -> dict[str, str]:
    info = {
        "podName": head.name if head is not None else "",
        "podIP": head.ip if head is not None else "",
        "serviceName": "",
        "serviceIP": "",
    }
    if service is not None:
        info["serviceName"] = str((service.get("metadata") or {}).get("name") or "")
        cluster_ip = str((service.get("spec") or {}).get("clusterIP") or "")
        ip = info["podIP"] if cluster_ip == "None" else cluster_ip
        info["serviceIP"] = ip
    return info


def _condition(type_: ConditionType, status: bool, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": type_.value,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
    }


def _head_condition(head: PodFacts | None) -> dict[str, Any]:
    if head is None:
        return _condition(
            ConditionType.HEAD_POD_READY, False, "HeadPodNotFound", "Head Pod not found"
        )
    if head.ready:
        return _condition(ConditionType.HEAD_POD_READY, True, "HeadPodRunningAndReady", "")
    return _condition(
        ConditionType.HEAD_POD_READY,
        False,
        head.ready_reason or "Unknown",
        head.ready_message or head.phase,
    )


def _provisioned_condition(
    all_ready: bool, suspended: bool, previous: Mapping[Any, Mapping[str, Any]]
) -> dict[str, Any]:
    if suspended:
        return _condition(
            ConditionType.PROVISIONED, False, "RayClusterSuspended", "RayCluster has been suspended"
        )
    before = previous.get(ConditionType.PROVISIONED) or {}
    if all_ready or (before.get("status") == "True"):
        return _condition(
            ConditionType.PROVISIONED,
            True,
            "AllPodRunningAndReadyFirstTime",
            "All Ray Pods are ready for the first time",
        )
    return _condition(
        ConditionType.PROVISIONED,
        False,
        "RayClusterPodsProvisioning",
        "RayCluster Pods are being provisioned for first time",
    )


def _failure_condition(failing: Sequence[PodFacts], apply_error: str) -> dict[str, Any]:
    if apply_error:
        return _condition(
            ConditionType.REPLICA_FAILURE, True, EventReason.FAILED_TO_APPLY_CHILDREN, apply_error
        )
    if not failing:
        return _condition(ConditionType.REPLICA_FAILURE, False, "NoReplicaFailure", "")
    names = ", ".join(f"{p.name} ({p.failing})" for p in failing[:5])
    more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
    head_failing = any(p.node_type == "head" for p in failing)
    reason = EventReason.HEAD_POD_FAILING if head_failing else EventReason.WORKER_POD_FAILING
    return _condition(
        ConditionType.REPLICA_FAILURE,
        True,
        reason,
        f"{len(failing)} Ray pod(s) failing: {names}{more}",
    )


def _suspended_condition(suspended: bool, suspend: bool) -> dict[str, Any]:
    if suspended:
        return _condition(ConditionType.SUSPENDED, True, "RayClusterSuspended", "")
    reason = "RayClusterSuspending" if suspend else "RayClusterNotSuspended"
    return _condition(ConditionType.SUSPENDED, False, reason, "")


def _ready_condition(all_ready: bool, suspend: bool, reason: str) -> dict[str, Any]:
    if all_ready:
        return _condition(
            ConditionType.READY, True, "AllPodsReady", "All desired Ray pods are running and ready"
        )
    why = "Suspended" if suspend else "PodsNotReady"
    return _condition(ConditionType.READY, False, why, reason)


def _with_transition_time(
    condition: dict[str, Any], previous: Mapping[Any, Mapping[str, Any]], now: str
) -> dict[str, Any]:
    before = previous.get(condition["type"])
    if before and before.get("status") == condition["status"] and before.get("lastTransitionTime"):
        condition["lastTransitionTime"] = before["lastTransitionTime"]
    else:
        condition["lastTransitionTime"] = now
    return condition


def _finish(status: dict[str, Any], previous: Mapping[str, Any], now: str) -> dict[str, Any]:
    transitions = dict(previous.get("stateTransitionTimes") or {})
    state = status.get("state")
    if state and state != previous.get("state"):
        transitions[state] = now
    if transitions:
        status["stateTransitionTimes"] = transitions
    if _unchanged(previous, status):
        return dict(previous)
    status["lastUpdateTime"] = now
    return status


def _unchanged(previous: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """True when every field rayop sets already has rayop's value.

    Only rayop's fields count: a field or condition another writer left (KubeRay's
    ``RayClusterSuspending`` on a migrated cluster, say) is not rayop's to remove, and must not
    make every reconcile write. Conditions are matched by type, as the list-map they are.
    """
    for key, value in status.items():
        if key == "lastUpdateTime":
            continue
        if key == "conditions":
            before = {c.get("type"): c for c in previous.get("conditions") or []}
            if any(before.get(c["type"]) != c for c in value):
                return False
        elif previous.get(key) != value:
            return False
    return True
