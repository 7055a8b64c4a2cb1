"""The container-runtime seam: what the kubelet asks of whatever runs a pod's containers.

The kubelet decides *what* should run (restart policy, back-off, termination); the runtime
runs it and reports what it observes as `ContainerRecord`s, calling `listener.changed(uid)`
whenever something changed and `listener.event(...)` for the events a kubelet records about
runtime activity (Pulling, Pulled, Created, Started, Unhealthy, Failed).

The simulated runtime implements this with timers. A process runtime implements the same
methods by starting `command`/`args` with the pod's environment (downward API, `$(VAR)`
expansion), probing for real, and reporting exits; nothing in the kubelet changes.

What containers write goes to the runtime's `logs` (`kubelet.logs.ContainerLogs`): each instance
of a container gets a writer numbered by the container's restartCount when it starts, and the
runtime closes it when that instance exits. `exec` runs a command in a running container for
`kubectl exec` (`kubelet.exec.ExecProcess`); a runtime that cannot raises `ExecRefused`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from kubesim.kubelet.exec import ExecProcess
from kubesim.kubelet.logs import ContainerLogs

__all__ = ["ContainerRecord", "ContainerRuntime", "RunState", "RuntimeListener", "SandboxRecord"]


class RunState(Enum):
    """The three container states of the API (`state.waiting|running|terminated`)."""

    WAITING = "waiting"
    RUNNING = "running"
    TERMINATED = "terminated"


@dataclass
class ContainerRecord:
    """What the runtime observes about one container (one instance at a time)."""

    name: str
    image: str
    init: bool = False
    state: RunState = RunState.WAITING
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str = ""
    image_id: str = ""
    #: The previous instance's terminated state (wall-clock seconds), for `lastState`.
    last_exit: tuple[int, str, float, float, str] | None = None


@dataclass
class SandboxRecord:
    """A pod's sandbox and containers as the runtime sees them."""

    uid: str
    ready: bool = False
    containers: list[ContainerRecord] = field(default_factory=list)
    stopping: bool = False

    @classmethod
    def for_pod(cls, pod: dict[str, Any]) -> SandboxRecord:
        """A new pod's sandbox: init containers waiting in PodInitializing, main containers in
        PodInitializing (when there are init containers) or ContainerCreating."""
        spec = pod.get("spec") or {}
        inits = spec.get("initContainers") or []
        waiting = "PodInitializing" if inits else "ContainerCreating"
        records = [
            ContainerRecord(
                name=c["name"], image=c.get("image", ""), init=True, reason="PodInitializing"
            )
            for c in inits
        ] + [
            ContainerRecord(name=c["name"], image=c.get("image", ""), reason=waiting)
            for c in spec.get("containers") or []
        ]
        return cls(uid=str(pod["metadata"]["uid"]), containers=records)

    def container(self, name: str) -> ContainerRecord | None:
        """The record of container `name` (init or main)."""
        for record in self.containers:
            if record.name == name:
                return record
        return None


class RuntimeListener(Protocol):
    """How the runtime reports back to the kubelet (plain calls; never await)."""

    def changed(self, uid: str) -> None:
        """Something about pod `uid` changed: re-read `sandbox(uid)`."""

    def event(self, uid: str, type_: str, reason: str, message: str, container: str = "") -> None:
        """Record a kubelet event about pod `uid` (and container, for `fieldPath`)."""


class ContainerRuntime(Protocol):
    """Runs pods' containers for one node."""

    def start_pod(self, pod: dict[str, Any]) -> None:
        """Create the sandbox and bring up init containers, then the main containers."""

    def restart_container(self, uid: str, name: str) -> None:
        """Start a new instance of an exited container (the kubelet decided it is time)."""

    def stop_pod(self, uid: str, grace_seconds: float, *, exit_code: int | None = None) -> None:
        """Stop every container: SIGTERM, then SIGKILL after the grace period.

        `exit_code` forces the exit code (e.g. 137 for an eviction's hard kill).
        """

    def remove_pod(self, uid: str) -> None:
        """Forget the pod (after the kubelet deleted it), its log files too."""

    def sandbox(self, uid: str) -> SandboxRecord | None:
        """The runtime's view of pod `uid`."""

    @property
    def logs(self) -> ContainerLogs:
        """The node's container log files (what `kubectl logs` reads)."""
        ...

    async def exec(
        self, uid: str, container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> ExecProcess:
        """Run `argv` in running container `container` of pod `uid` (`kubectl exec`).

        Raises `kubelet.exec.ExecRefused` with a message for the user when it cannot.
        """
        ...
