"""The kubelet's pod-status builder and phase rules, as pure functions on plain dicts."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.kubelet.runtime import ContainerRecord, RunState, SandboxRecord
from kubesim.kubelet.status import PodView, build_status, pod_phase

NOW = "2026-11-25T17:00:00Z"


def _pod(restart_policy: str = "Always", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{"name": "app", "image": "nginx:1.25"}],
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort", **status},
    }


def _running(**kw: Any) -> ContainerRecord:
    base: dict[str, Any] = {
        "name": "app",
        "image": "docker.io/library/nginx:1.25",
        "state": RunState.RUNNING,
        "reason": "",
        "started_at": 1_790_000_000.0,
        "ready": True,
        "started": True,
        "container_id": "containerd://abc",
        "image_id": "docker.io/library/nginx@sha256:00",
    }
    base.update(kw)
    return ContainerRecord(**base)


def _exited(code: int) -> ContainerRecord:
    return _running(state=RunState.TERMINATED, exit_code=code, reason="Completed" if code == 0 else "Error", finished_at=1_790_000_060.0, ready=False, started=False)  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "record", "phase"),
    [
        ("Always", _exited(1), "Running"),
        ("Never", _exited(1), "Failed"),
        ("Never", _exited(0), "Succeeded"),
        ("OnFailure", _exited(0), "Succeeded"),
        ("OnFailure", _exited(2), "Running"),
        ("Always", ContainerRecord(name="app", image="nginx"), "Pending"),
    ],
)
def test_phase_follows_the_restart_policy(policy: str, record: ContainerRecord, phase: str) -> None:
    """getPhase: exited containers make the pod Running, Succeeded or Failed by policy."""
    assert pod_phase({"restartPolicy": policy}, [], [record]) == phase


def test_running_ready_pod_status() -> None:
    """A ready container yields Running, all conditions True, and the kubelet's fields."""
    sandbox = SandboxRecord(uid="u1", ready=True, containers=[_running()])
    status = build_status(
        _pod(), sandbox, PodView(host_ip="10.0.0.2", pod_ip="10.244.0.7", start_time=NOW), now=NOW
    )
    assert status["phase"] == "Running"
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("PodReadyToStartContainers", "True"),
        ("Initialized", "True"),
        ("Ready", "True"),
        ("ContainersReady", "True"),
    ]
    assert status["containerStatuses"] == [
        {
            "name": "app",
            "image": "docker.io/library/nginx:1.25",
            "imageID": "docker.io/library/nginx@sha256:00",
            "ready": True,
            "restartCount": 0,
            "started": True,
            "state": {"running": {"startedAt": "2026-09-21T14:13:20Z"}},
            "lastState": {},
            "containerID": "containerd://abc",
        }
    ]
    assert (status["podIP"], status["podIPs"], status["hostIPs"]) == (
        "10.244.0.7",
        [{"ip": "10.244.0.7"}],
        [{"ip": "10.0.0.2"}],
    )


def test_back_off_renders_as_waiting_with_the_exit_as_last_state() -> None:
    """A container held in back-off shows waiting CrashLoopBackOff and its exit in lastState."""
    sandbox = SandboxRecord(uid="u1", ready=True, containers=[_exited(1)])
    view = PodView(
        host_ip="10.0.0.2",
        pod_ip="10.244.0.7",
        back_off={"app": "back-off 10s restarting failed container=app pod=web_default(u1)"},
    )
    status = build_status(_pod(), sandbox, view, now=NOW)
    container = status["containerStatuses"][0]
    assert container["state"] == {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": "back-off 10s restarting failed container=app pod=web_default(u1)",
        }
    }
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert status["phase"] == "Running"


def test_transition_times_are_kept_while_status_is_unchanged() -> None:
    """lastTransitionTime moves only when a condition's status flips; others' conditions stay."""
    old_conditions = [
        {
            "type": "Ready",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        },
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        },
    ]
    sandbox = SandboxRecord(uid="u1", ready=True, containers=[_running()])
    status = build_status(_pod(conditions=old_conditions), sandbox, PodView(host_ip="h"), now=NOW)
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert by_type["ContainersReady"]["lastTransitionTime"] == NOW
    assert status["conditions"][-1]["type"] == "PodScheduled"


def test_forced_terminal_state_wins() -> None:
    """An eviction overrides the computed phase and sets reason and message."""
    sandbox = SandboxRecord(uid="u1", ready=True, containers=[_exited(137)])
    view = PodView(
        host_ip="h", terminal=("Failed", "Evicted", "The node was low on resource: memory. ")
    )
    status = build_status(_pod(), sandbox, view, now=NOW)
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed",
        "Evicted",
        "The node was low on resource: memory. ",
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")
