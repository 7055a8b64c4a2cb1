"""Printers of pods and the workloads that own them (kubectl's built-in columns)."""

from __future__ import annotations

__all__ = [
    "DEPLOY_COLUMNS",
    "POD_COLUMNS",
    "RS_COLUMNS",
    "STS_COLUMNS",
    "deploy_row",
    "pod_conditions",
    "pod_row",
    "rs_row",
    "sts_row",
]

from kubesim.apiserver.tables.fields import (
    AGE_COLUMN,
    NAME_COLUMN,
    SELECTOR_WIDE,
    TEMPLATE_WIDE,
    Obj,
    Row,
    age,
    at,
    column,
    container_cells,
    dict_at,
    dicts_at,
    format_label_selector,
    int_at,
    selector_string,
    str_at,
)


def _pod_reason_and_counts(pod: Obj) -> tuple[str, int, int, int, str]:
    """(status reason, ready, total, restarts, last restart time) as printPod computes them."""
    status = dict_at(pod, "status")
    init_specs = {str_at(c, "name"): c for c in dicts_at(pod, "spec", "initContainers")}

    def sidecar(name: str) -> bool:
        return bool(at(init_specs.get(name), "restartPolicy") == "Always")

    total = len(dicts_at(pod, "spec", "containers")) + sum(1 for n in init_specs if sidecar(n))
    reason = str_at(status, "reason") or str_at(status, "phase")
    for cond in dicts_at(status, "conditions"):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last = ""
    initializing = False
    init_statuses = dicts_at(status, "initContainerStatuses")
    for index, cs in enumerate(init_statuses):
        restarts += int_at(cs, "restartCount")
        finished = str_at(cs, "lastState", "terminated", "finishedAt")
        last_restart = max(last_restart, finished)
        is_sidecar = sidecar(str_at(cs, "name"))
        if is_sidecar:
            sidecar_restarts += int_at(cs, "restartCount")
            sidecar_last = max(sidecar_last, finished)
        terminated, waiting = at(cs, "state", "terminated"), at(cs, "state", "waiting")
        if isinstance(terminated, dict) and int_at(terminated, "exitCode") == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            ready += 1 if cs.get("ready") is True else 0
            continue
        initializing = True
        if isinstance(terminated, dict):
            if str_at(terminated, "reason"):
                reason = "Init:" + str_at(terminated, "reason")
            elif int_at(terminated, "signal"):
                reason = f"Init:Signal:{int_at(terminated, 'signal')}"
            else:
                reason = f"Init:ExitCode:{int_at(terminated, 'exitCode')}"
        elif str_at(waiting, "reason") and str_at(waiting, "reason") != "PodInitializing":
            reason = "Init:" + str_at(waiting, "reason")
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in dicts_at(status, "conditions")
    )
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(dicts_at(status, "containerStatuses")):
            restarts += int_at(cs, "restartCount")
            last_restart = max(last_restart, str_at(cs, "lastState", "terminated", "finishedAt"))
            waiting, terminated = at(cs, "state", "waiting"), at(cs, "state", "terminated")
            if str_at(waiting, "reason"):
                reason = str_at(waiting, "reason")
            elif isinstance(terminated, dict) and str_at(terminated, "reason"):
                reason = str_at(terminated, "reason")
            elif isinstance(terminated, dict):
                signal = int_at(terminated, "signal")
                reason = (
                    f"Signal:{signal}" if signal else f"ExitCode:{int_at(terminated, 'exitCode')}"
                )
            elif cs.get("ready") is True and isinstance(at(cs, "state", "running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in dicts_at(status, "conditions")
            )
            reason = "Running" if pod_ready else "NotReady"
    if at(pod, "metadata", "deletionTimestamp"):
        if str_at(status, "reason") == "NodeLost":
            reason = "Unknown"
        elif str_at(status, "phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, total, restarts, last_restart


POD_COLUMNS = [
    NAME_COLUMN,
    column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    column("Status", description="The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE_COLUMN,
    column("IP", description="podIP address allocated to the pod.", priority=1),
    column(
        "Node", description="NodeName indicates in which node this pod is scheduled.", priority=1
    ),
    column("Nominated Node", description="nominatedNodeName of the pod.", priority=1),
    column("Readiness Gates", description="Readiness gates of the pod.", priority=1),
]


def pod_row(pod: Obj, now: str) -> Row:
    reason, ready, total, restarts, last_restart = _pod_reason_and_counts(pod)
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({age(last_restart, now)} ago)"
    ips = dicts_at(pod, "status", "podIPs")
    gates = dicts_at(pod, "spec", "readinessGates")
    gates_text = "<none>"
    if gates:
        conditions = {
            str_at(c, "type"): c.get("status") for c in dicts_at(pod, "status", "conditions")
        }
        true = sum(1 for g in gates if conditions.get(str_at(g, "conditionType")) == "True")
        gates_text = f"{true}/{len(gates)}"
    return [
        str_at(pod, "metadata", "name"),
        f"{ready}/{total}",
        reason,
        restarts_text,
        age(at(pod, "metadata", "creationTimestamp"), now),
        (str_at(ips[0], "ip") if ips else "") or "<none>",
        str_at(pod, "spec", "nodeName") or "<none>",
        str_at(pod, "status", "nominatedNodeName") or "<none>",
        gates_text,
    ]


def pod_conditions(pod: Obj) -> list[Obj] | None:
    phase = str_at(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return None
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


STS_COLUMNS = [
    NAME_COLUMN,
    column("Ready", description="Number of the pod with ready state"),
    AGE_COLUMN,
    *TEMPLATE_WIDE,
]


def sts_row(sts: Obj, now: str) -> Row:
    desired = at(sts, "spec", "replicas")
    return [
        str_at(sts, "metadata", "name"),
        f"{int_at(sts, 'status', 'readyReplicas')}/{desired if isinstance(desired, int) else 0}",
        age(at(sts, "metadata", "creationTimestamp"), now),
        *container_cells(at(sts, "spec", "template", "spec")),
    ]


DEPLOY_COLUMNS = [
    NAME_COLUMN,
    column("Ready", description="Number of the pod with ready state"),
    column(
        "Up-to-date",
        "integer",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    column(
        "Available",
        "integer",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE_COLUMN,
    *TEMPLATE_WIDE,
    SELECTOR_WIDE,
]


def deploy_row(deploy: Obj, now: str) -> Row:
    desired = at(deploy, "spec", "replicas")
    return [
        str_at(deploy, "metadata", "name"),
        f"{int_at(deploy, 'status', 'readyReplicas')}/{desired if isinstance(desired, int) else 0}",
        int_at(deploy, "status", "updatedReplicas"),
        int_at(deploy, "status", "availableReplicas"),
        age(at(deploy, "metadata", "creationTimestamp"), now),
        *container_cells(at(deploy, "spec", "template", "spec")),
        selector_string(at(deploy, "spec", "selector")),
    ]


RS_COLUMNS = [
    NAME_COLUMN,
    column("Desired", "integer", "Replicas is the number of desired pods."),
    column(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods.",
    ),
    column(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
    ),
    AGE_COLUMN,
    *TEMPLATE_WIDE,
    SELECTOR_WIDE,
]


def rs_row(rs: Obj, now: str) -> Row:
    return [
        str_at(rs, "metadata", "name"),
        int_at(rs, "spec", "replicas"),
        int_at(rs, "status", "replicas"),
        int_at(rs, "status", "readyReplicas"),
        age(at(rs, "metadata", "creationTimestamp"), now),
        *container_cells(at(rs, "spec", "template", "spec")),
        format_label_selector(at(rs, "spec", "selector")),
    ]
