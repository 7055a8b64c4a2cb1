"""The pod status a kubelet writes, as a pure function of what it knows (generateAPIPodStatus).

Input: the pod as stored, the runtime's `SandboxRecord`, and the kubelet's own view (`PodView`:
IPs, start time, containers held in CrashLoopBackOff, a forced terminal state such as an
eviction). Output: the full `status` dict. Conditions keep their `lastTransitionTime` while their
status does not change, and conditions owned by others (PodScheduled, DisruptionTarget set by
others, readiness gates) are carried over after the kubelet's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubesim.common.clock import format_time
from kubesim.common.podutil import qos_class
from kubesim.kubelet.runtime import ContainerRecord, RunState, SandboxRecord

__all__ = ["KUBELET_CONDITIONS", "PodView", "build_status", "pod_phase"]

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


@dataclass
class PodView:
    """What the kubelet itself knows about a pod, beyond the runtime's records."""

    host_ip: str
    pod_ip: str = ""
    start_time: str = ""
    #: container name → CrashLoopBackOff message, for containers waiting out a back-off.
    back_off: dict[str, str] = field(default_factory=dict)
    #: (phase, reason, message) forced by the kubelet (eviction, failure injection).
    terminal: tuple[str, str, str] | None = None
    #: Conditions the kubelet adds (e.g. DisruptionTarget on eviction).
    extra_conditions: list[dict[str, Any]] = field(default_factory=list)


def build_status(
    pod: dict[str, Any], sandbox: SandboxRecord | None, view: PodView, *, now: str
) -> dict[str, Any]:
    """The complete `status` the kubelet would write for `pod` now."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    records = sandbox.containers if sandbox is not None else []
    init_records = [r for r in records if r.init]
    main_records = [r for r in records if not r.init]
    phase = view.terminal[0] if view.terminal else pod_phase(spec, init_records, main_records)
    status: dict[str, Any] = {"phase": phase}
    if view.terminal and view.terminal[1]:
        status["reason"] = view.terminal[1]
    if view.terminal and view.terminal[2]:
        status["message"] = view.terminal[2]
    status["conditions"] = _conditions(
        spec, old, sandbox, init_records, main_records, view, phase, now
    )
    status["hostIP"] = view.host_ip
    status["hostIPs"] = [{"ip": view.host_ip}]
    if view.pod_ip and sandbox is not None and sandbox.ready:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    if view.start_time:
        status["startTime"] = view.start_time
    if init_records:
        status["initContainerStatuses"] = [
            _container_status(r, spec, view, init=True) for r in init_records
        ]
    status["containerStatuses"] = [
        _container_status(r, spec, view, init=False) for r in main_records
    ]
    if not main_records:
        status["containerStatuses"] = [_unstarted_status(c) for c in spec.get("containers") or ()]
    status["qosClass"] = old.get("qosClass") or qos_class(spec)
    if old.get("nominatedNodeName"):
        status["nominatedNodeName"] = old["nominatedNodeName"]
    return status


def pod_phase(
    spec: dict[str, Any], init_records: list[ContainerRecord], main_records: list[ContainerRecord]
) -> str:
    """getPhase: Pending until every container has started once; then by restart policy."""
    policy = spec.get("restartPolicy", "Always")
    if any(not (r.state is RunState.TERMINATED and r.exit_code == 0) for r in init_records):
        failed_init = any(
            r.state is RunState.TERMINATED and r.exit_code not in (0, None) for r in init_records
        )
        return "Failed" if failed_init and policy == "Never" else "Pending"
    if not main_records:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for record in main_records:
        if record.state is RunState.RUNNING:
            running += 1
        elif record.state is RunState.TERMINATED:
            stopped += 1
            succeeded += record.exit_code == 0
        elif record.last_exit is not None:
            stopped += 1
            succeeded += record.last_exit[0] == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


def _conditions(
    spec: dict[str, Any],
    old: dict[str, Any],
    sandbox: SandboxRecord | None,
    init_records: list[ContainerRecord],
    main_records: list[ContainerRecord],
    view: PodView,
    phase: str,
    now: str,
) -> list[dict[str, Any]]:
    previous = {c.get("type"): c for c in old.get("conditions") or ()}
    fresh: list[dict[str, Any]] = []

    def put(kind: str, ok: bool, reason: str = "", message: str = "") -> None:
        cond: dict[str, Any] = {"type": kind, "status": "True" if ok else "False"}
        prior = previous.get(kind)
        same = prior is not None and prior.get("status") == cond["status"]
        cond["lastProbeTime"] = None
        cond["lastTransitionTime"] = prior.get("lastTransitionTime") if same and prior else now
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        fresh.append(cond)

    put("PodReadyToStartContainers", sandbox is not None and sandbox.ready)
    incomplete = [
        r.name for r in init_records if not (r.state is RunState.TERMINATED and r.exit_code == 0)
    ]
    if incomplete and phase not in ("Succeeded", "Failed"):
        put(
            "Initialized",
            False,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        )
    else:
        put("Initialized", True)
    if phase in ("Succeeded", "Failed"):
        put("Ready", False, "PodCompleted")
        put("ContainersReady", False, "PodCompleted")
    else:
        names = [c["name"] for c in spec.get("containers") or ()]
        ready_names = {r.name for r in main_records if r.ready}
        unready = [n for n in names if n not in ready_names]
        gates = [g.get("conditionType") for g in spec.get("readinessGates") or ()]
        gates_ok = all((previous.get(g) or {}).get("status") == "True" for g in gates)
        if unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            put("Ready", False, "ContainersNotReady", message)
            put("ContainersReady", False, "ContainersNotReady", message)
        else:
            if gates_ok:
                put("Ready", True)
            else:
                put(
                    "Ready",
                    False,
                    "ReadinessGatesNotReady",
                    'the status of pod readiness gate is not "True"',
                )
            put("ContainersReady", True)
    own = {c["type"] for c in fresh}
    for extra in view.extra_conditions:
        if extra["type"] not in own:
            fresh.append(dict(extra))
            own.add(extra["type"])
    for cond in old.get("conditions") or ():
        if cond.get("type") not in own:
            fresh.append(cond)
    return fresh


def _container_status(
    record: ContainerRecord, spec: dict[str, Any], view: PodView, *, init: bool
) -> dict[str, Any]:
    state: dict[str, Any]
    back_off = view.back_off.get(record.name)
    if back_off is not None and record.state is RunState.TERMINATED:
        state = {"waiting": {"reason": "CrashLoopBackOff", "message": back_off}}
        last = _terminated(
            record.exit_code or 0,
            record.reason,
            record.started_at,
            record.finished_at,
            record.container_id,
        )
    else:
        state = _state(record)
        last = (
            _terminated(*record.last_exit[:4], record.last_exit[4])
            if record.last_exit is not None
            else {}
        )
    out: dict[str, Any] = {
        "name": record.name,
        "image": record.image if record.image_id else _spec_image(spec, record.name),
        "imageID": record.image_id,
        "ready": record.ready,
        "restartCount": record.restart_count,
        "started": record.started,
        "state": state,
        "lastState": last,
    }
    if record.container_id:
        out["containerID"] = record.container_id
    if init:
        out.pop("started")
        out["started"] = record.state is RunState.RUNNING
    return out


def _unstarted_status(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": "ContainerCreating"}},
        "lastState": {},
    }


def _state(record: ContainerRecord) -> dict[str, Any]:
    if record.state is RunState.RUNNING:
        return {"running": {"startedAt": format_time(record.started_at or 0.0)}}
    if record.state is RunState.TERMINATED:
        return _terminated(
            record.exit_code or 0,
            record.reason,
            record.started_at,
            record.finished_at,
            record.container_id,
        )
    waiting: dict[str, Any] = {"reason": record.reason}
    if record.message:
        waiting["message"] = record.message
    return {"waiting": waiting}


def _terminated(
    exit_code: int, reason: str, started: float | None, finished: float | None, container_id: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
    }
    if started is not None:
        body["startedAt"] = format_time(started)
    if finished is not None:
        body["finishedAt"] = format_time(finished)
    if container_id:
        body["containerID"] = container_id
    return {"terminated": body}


def _spec_image(spec: dict[str, Any], name: str) -> str:
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        if container.get("name") == name:
            return str(container.get("image", ""))
    return ""
