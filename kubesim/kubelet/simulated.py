"""The simulated container runtime: containers as little state machines on event-loop timers.

Per pod: the sandbox appears after `container_create_delay` (never, while startup is stalled);
init containers then run one after another (each "works" for `start_to_ready_delay` and exits
0); then every main container pulls its image (`image_pull_delay`, unless present and not
`Always`), is created and started, and turns ready after `start_to_ready_delay` plus its readiness
probe's `initialDelaySeconds`. Faults (set by `Workloads`' chaos methods) make pulls fail,
containers crash, readiness fail, or startup stall, and the runtime reports each the way
containerd and the kubelet's prober would.

A pod whose `restartPolicy` is Never or OnFailure runs to completion: each main container exits
after `completion_delay` (or the pod's `kubesim.io/run-seconds` annotation) with code 0 (or the
pod's `kubesim.io/exit-code` annotation), so Jobs finish. `Always` pods run until stopped.

Each container instance logs one line when it starts and one when it exits (to stdout, in the
node's `ContainerLogs`), so `kubectl logs` shows the simulated lifecycle. There is no process to
run a command in: `exec` refuses and says so.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubesim.common.clock import Clock, format_time
from kubesim.common.config import WorkloadsConfig
from kubesim.kubelet.exec import ExecProcess, ExecRefused
from kubesim.kubelet.logs import ContainerLogs, LogWriter
from kubesim.kubelet.runtime import ContainerRecord, RunState, RuntimeListener, SandboxRecord

__all__ = [
    "EXIT_CODE_ANNOTATION",
    "RUN_SECONDS_ANNOTATION",
    "CrashPlan",
    "Faults",
    "SimulatedRuntime",
    "image_id",
    "normalize_image",
]

#: On a pod (or a Job's pod template): the exit code of its run-to-completion containers.
EXIT_CODE_ANNOTATION = "kubesim.io/exit-code"
#: On a pod (or a Job's pod template): how long its run-to-completion containers run.
RUN_SECONDS_ANNOTATION = "kubesim.io/run-seconds"


@dataclass
class CrashPlan:
    """A container told to exit: now, and (when `repeat`) again `after` seconds into each run."""

    exit_code: int = 1
    repeat: bool = False
    after: float = 0.0


@dataclass
class Faults:
    """Injected failures, shared by the nodes' runtimes and consulted as containers progress."""

    failing_images: set[str] = field(default_factory=set)
    #: Pods whose sandbox never comes up while listed: (namespace, pod name) or
    #: (namespace, sorted label pairs a pod's labels must include).
    stalled: set[tuple[str, str | tuple[tuple[str, str], ...]]] = field(default_factory=set)
    crashes: dict[tuple[str, str], CrashPlan] = field(default_factory=dict)
    not_ready: set[tuple[str, str]] = field(default_factory=set)

    def is_stalled(self, pod: dict[str, Any]) -> bool:
        """Whether a stall rule holds `pod` in ContainerCreating."""
        if not self.stalled:
            return False
        meta = pod["metadata"]
        namespace = meta.get("namespace", "")
        if (namespace, meta["name"]) in self.stalled:
            return True
        labels = meta.get("labels") or {}
        return any(
            ns == namespace and isinstance(rule, tuple) and all(labels.get(k) == v for k, v in rule)
            for ns, rule in self.stalled
        )


def normalize_image(image: str) -> str:
    """`nginx:1.25` → `docker.io/library/nginx:1.25`, as containerd reports `status.image`."""
    name = image
    if "/" not in name.split(":")[0] and "/" not in name:
        name = f"docker.io/library/{name}"
    elif (
        "." not in name.split("/")[0]
        and ":" not in name.split("/")[0]
        and name.split("/")[0] != "localhost"
    ):
        name = f"docker.io/{name}"
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    """A stable `repo@sha256:...` digest for an image reference."""
    normalized = normalize_image(image)
    repo = normalized.rsplit(":", 1)[0] if "@" not in normalized else normalized.split("@")[0]
    return f"{repo}@sha256:{hashlib.sha256(normalized.encode()).hexdigest()}"


def _pull_policy(container: dict[str, Any]) -> str:
    policy = container.get("imagePullPolicy")
    if policy:
        return str(policy)
    image = str(container.get("image", ""))
    tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
    return "IfNotPresent" if tagged or "@" in image else "Always"


@dataclass
class _Pod:
    """Runtime-private bookkeeping for one pod."""

    pod: dict[str, Any]
    record: SandboxRecord
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    pull_failures: dict[str, int] = field(default_factory=dict)
    #: The running instance's log writer, per container.
    writers: dict[str, LogWriter] = field(default_factory=dict)


class SimulatedRuntime:
    """A `ContainerRuntime` that pretends, on timers, for one node."""

    def __init__(
        self,
        *,
        node: str,
        config: WorkloadsConfig,
        clock: Clock,
        faults: Faults,
        listener: RuntimeListener,
    ) -> None:
        self._node = node
        self._config = config
        self._clock = clock
        self._faults = faults
        self._listener = listener
        self._pods: dict[str, _Pod] = {}
        self._images: set[str] = set()
        self._logs = ContainerLogs(now=clock.now)

    # ------------------------------------------------------------------ ContainerRuntime

    def start_pod(self, pod: dict[str, Any]) -> None:
        """Create the sandbox, then run init containers and main containers."""
        uid = str(pod["metadata"]["uid"])
        if uid in self._pods:
            return
        self._pods[uid] = _Pod(pod=pod, record=SandboxRecord.for_pod(pod))
        if not self._faults.is_stalled(pod):
            self._later(uid, "sandbox", self._config.container_create_delay, self._sandbox_ready)

    def restart_container(self, uid: str, name: str) -> None:
        """Start a new instance of an exited container."""
        entry = self._pods.get(uid)
        if entry is None or entry.record.stopping:
            return
        record = entry.record.container(name)
        if record is None or record.state is not RunState.TERMINATED:
            return
        self._start_container(uid, record, restart=True)

    def stop_pod(self, uid: str, grace_seconds: float, *, exit_code: int | None = None) -> None:
        """SIGTERM every container; each exits after `termination_delay` or at the grace deadline."""
        entry = self._pods.get(uid)
        if entry is None or entry.record.stopping:
            return
        entry.record.stopping = True
        for key in list(entry.timers):
            entry.timers.pop(key).cancel()
        delay = min(self._config.termination_delay, max(grace_seconds, 0.0))
        killed = exit_code is not None or self._config.termination_delay > grace_seconds
        code = exit_code if exit_code is not None else (137 if killed else 0)
        self._later(uid, "stop", delay, lambda u: self._stopped(u, code))

    def remove_pod(self, uid: str) -> None:
        """Forget the pod and cancel its timers."""
        entry = self._pods.pop(uid, None)
        if entry is not None:
            for handle in entry.timers.values():
                handle.cancel()
        self._logs.remove(uid)

    def sandbox(self, uid: str) -> SandboxRecord | None:
        """The runtime's view of pod `uid`."""
        entry = self._pods.get(uid)
        return entry.record if entry is not None else None

    @property
    def logs(self) -> ContainerLogs:
        """The lifecycle lines of this node's simulated containers."""
        return self._logs

    async def exec(
        self, uid: str, container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> ExecProcess:
        """Refuse: a simulated container has no process to run a command next to."""
        raise ExecRefused(
            f'container "{container}" is simulated by kubesim (--runtime simulated): '
            "exec needs --runtime process"
        )

    # ------------------------------------------------------------------ fault hooks

    def unstall(self, uid: str) -> None:
        """Let a stalled pod's sandbox come up now."""
        entry = self._pods.get(uid)
        if entry is not None and not entry.record.ready and "sandbox" not in entry.timers:
            self._later(uid, "sandbox", self._config.container_create_delay, self._sandbox_ready)

    def crash(self, uid: str, name: str, plan: CrashPlan) -> bool:
        """Make a running container exit now with `plan.exit_code`; False if it is not running."""
        entry = self._pods.get(uid)
        record = entry.record.container(name) if entry is not None else None
        if entry is None or record is None or record.state is not RunState.RUNNING:
            return False
        self._exit(uid, record, plan.exit_code)
        return True

    def fail_liveness(self, uid: str, name: str) -> bool:
        """Fail a running container's liveness probe until the kubelet kills it (once)."""
        entry = self._pods.get(uid)
        record = entry.record.container(name) if entry is not None else None
        if entry is None or record is None or record.state is not RunState.RUNNING:
            return False
        probe = self._spec(entry.pod, name).get("livenessProbe") or {}
        period = self._config.probe_period or float(probe.get("periodSeconds", 10) or 10)
        threshold = int(probe.get("failureThreshold", 3) or 3)
        failures = 0
        message = self._probe_failure(entry.pod, name, kind="Liveness", probe=probe)

        def tick(u: str) -> None:
            nonlocal failures
            if record.state is not RunState.RUNNING:
                return
            failures += 1
            self._listener.event(u, "Warning", "Unhealthy", message, name)
            if failures < threshold:
                self._later(u, f"liveness:{name}", period, tick)
                return
            self._listener.event(
                u,
                "Normal",
                "Killing",
                f"Container {name} failed liveness probe, will be restarted",
                name,
            )
            self._exit(u, record, 137)

        self._later(uid, f"liveness:{name}", 0.0, tick)
        return True

    def readiness_changed(self, uid: str, name: str) -> None:
        """Re-evaluate a container's readiness after a not-ready fault was set or cleared."""
        entry = self._pods.get(uid)
        record = entry.record.container(name) if entry is not None else None
        if entry is None or record is None or record.state is not RunState.RUNNING:
            return
        failing = (uid, name) in self._faults.not_ready
        if failing and record.ready:
            record.ready = False
            self._listener.event(
                uid, "Warning", "Unhealthy", self._probe_failure(entry.pod, name), name
            )
            self._listener.changed(uid)
        elif not failing and not record.ready and f"ready:{name}" not in entry.timers:
            self._later(
                uid,
                f"ready:{name}",
                self._probe_period(entry.pod, name),
                lambda u: self._became_ready(u, name),
            )

    # ------------------------------------------------------------------ the state machine

    def _later(self, uid: str, key: str, delay: float, fn: Callable[[str], None]) -> None:
        entry = self._pods[uid]
        old = entry.timers.pop(key, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            current = self._pods.get(uid)
            if current is not None and current.timers.get(key) is handle:
                del current.timers[key]
                fn(uid)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        entry.timers[key] = handle

    def _sandbox_ready(self, uid: str) -> None:
        entry = self._pods[uid]
        entry.record.ready = True
        self._start_next(uid)
        self._listener.changed(uid)

    def _start_next(self, uid: str) -> None:
        """Start the first init container not yet completed, or every main container."""
        entry = self._pods[uid]
        for record in entry.record.containers:
            if record.init:
                if record.state is RunState.TERMINATED and record.exit_code == 0:
                    continue
                if record.state is RunState.WAITING:
                    self._start_container(uid, record, restart=False)
                return
        for record in entry.record.containers:
            if record.state is RunState.WAITING and record.started_at is None:
                record.reason = "ContainerCreating"
                self._start_container(uid, record, restart=False)

    def _start_container(self, uid: str, record: ContainerRecord, *, restart: bool) -> None:
        entry = self._pods[uid]
        spec = self._spec(entry.pod, record.name)
        image = str(spec.get("image", ""))
        if restart:
            record.last_exit = (
                record.exit_code or 0,
                record.reason,
                record.started_at or 0.0,
                record.finished_at or 0.0,
                record.container_id,
            )
            record.restart_count += 1
        record.state = RunState.WAITING
        record.reason = "ContainerCreating" if not record.init else "PodInitializing"
        record.ready = False
        record.started = False
        needs_pull = _pull_policy(spec) == "Always" or normalize_image(image) not in self._images
        if normalize_image(image) in self._faults.failing_images:
            self._pull_failed(uid, record, image)
        elif needs_pull and _pull_policy(spec) != "Never":
            self._listener.event(uid, "Normal", "Pulling", f'Pulling image "{image}"', record.name)
            self._later(
                uid,
                f"pull:{record.name}",
                self._config.image_pull_delay,
                lambda u: self._pulled(u, record, image),
            )
        else:
            self._listener.event(
                uid,
                "Normal",
                "Pulled",
                f'Container image "{image}" already present on machine',
                record.name,
            )
            self._run(uid, record, image)

    def _pull_failed(self, uid: str, record: ContainerRecord, image: str) -> None:
        entry = self._pods[uid]
        failures = entry.pull_failures.get(record.name, 0) + 1
        entry.pull_failures[record.name] = failures
        ref = normalize_image(image)
        error = (
            "rpc error: code = NotFound desc = "
            f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
            f"{ref}: not found"
        )
        self._listener.event(uid, "Normal", "Pulling", f'Pulling image "{image}"', record.name)
        self._listener.event(
            uid, "Warning", "Failed", f'Failed to pull image "{image}": {error}', record.name
        )
        self._listener.event(uid, "Warning", "Failed", "Error: ErrImagePull", record.name)
        record.state = RunState.WAITING
        record.reason = "ErrImagePull"
        record.message = error
        self._listener.changed(uid)
        backoff = min(
            self._config.image_pull_backoff_base * 2 ** (failures - 1),
            self._config.image_pull_backoff_max,
        )

        def back_off(u: str) -> None:
            record.reason = "ImagePullBackOff"
            record.message = f'Back-off pulling image "{image}": ErrImagePull: {error}'
            self._listener.event(
                u, "Normal", "BackOff", f'Back-off pulling image "{image}"', record.name
            )
            self._listener.event(u, "Warning", "Failed", "Error: ImagePullBackOff", record.name)
            self._listener.changed(u)
            self._later(
                u,
                f"pull:{record.name}",
                backoff,
                lambda v: self._start_container(v, record, restart=False),
            )

        # The kubelet reports ErrImagePull first, then flips to ImagePullBackOff on its next sync.
        self._later(
            uid,
            f"backoff:{record.name}",
            min(backoff, self._config.image_pull_backoff_base) / 2,
            back_off,
        )

    def _pulled(self, uid: str, record: ContainerRecord, image: str) -> None:
        took = self._config.image_pull_delay
        self._images.add(normalize_image(image))
        message = (
            f'Successfully pulled image "{image}" in {_duration(took)} ({_duration(took)} including waiting). '
            "Image size: 0 bytes."
        )
        self._listener.event(uid, "Normal", "Pulled", message, record.name)
        self._run(uid, record, image)

    def _run(self, uid: str, record: ContainerRecord, image: str) -> None:
        entry = self._pods[uid]
        entry.pull_failures.pop(record.name, None)
        self._images.add(normalize_image(image))
        seed = f"{uid}/{record.name}/{record.restart_count}".encode()
        record.container_id = "containerd://" + hashlib.sha256(seed).hexdigest()
        record.image = normalize_image(image)
        record.image_id = image_id(image)
        record.state = RunState.RUNNING
        record.reason = ""
        record.message = ""
        record.exit_code = None
        record.finished_at = None
        record.started_at = self._clock.now()
        startup = self._spec(entry.pod, record.name).get("startupProbe")
        # With a startup probe, `started` (and readiness probing) waits for it to pass.
        record.started = not startup
        writer = self._logs.writer(uid, record.name, record.restart_count)
        entry.writers[record.name] = writer
        writer.write_line(
            "stdout",
            f"{format_time(record.started_at)} kubesim: container {record.name} started "
            f"(image {record.image}); its process is simulated",
        )
        self._listener.event(
            uid, "Normal", "Created", f"Created container {record.name}", record.name
        )
        self._listener.event(
            uid, "Normal", "Started", f"Started container {record.name}", record.name
        )
        plan = self._faults.crashes.get((uid, record.name))
        if plan is not None and plan.repeat:
            self._later(
                uid,
                f"crash:{record.name}",
                plan.after,
                lambda u: self._exit(u, record, plan.exit_code),
            )
        elif record.init:
            self._later(
                uid,
                f"init:{record.name}",
                self._config.start_to_ready_delay,
                lambda u: self._init_done(u, record),
            )
        elif startup:
            delay = self._config.start_to_ready_delay + float(
                startup.get("initialDelaySeconds", 0) or 0
            )
            self._later(uid, f"ready:{record.name}", delay, lambda u: self._started(u, record.name))
        else:
            self._later(
                uid,
                f"ready:{record.name}",
                self._ready_delay(entry.pod, record.name),
                lambda u: self._became_ready(u, record.name),
            )
        if not record.init and (plan is None or not plan.repeat):
            self._run_to_completion(uid, record)
        self._listener.changed(uid)

    def _run_to_completion(self, uid: str, record: ContainerRecord) -> None:
        """Under restartPolicy Never/OnFailure, make the container exit after its run time."""
        pod = self._pods[uid].pod
        if (pod.get("spec") or {}).get("restartPolicy", "Always") == "Always":
            return
        code = self._annotation_number(uid, EXIT_CODE_ANNOTATION, 0, integer=True)
        seconds = self._annotation_number(
            uid, RUN_SECONDS_ANNOTATION, self._config.completion_delay, integer=False
        )
        self._later(uid, f"run:{record.name}", seconds, lambda u: self._exit(u, record, int(code)))

    def _annotation_number(self, uid: str, name: str, default: float, *, integer: bool) -> float:
        """A numeric pod annotation (0-255 for exit codes), or `default` with a Warning event."""
        raw = (self._pods[uid].pod["metadata"].get("annotations") or {}).get(name)
        if raw is None:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            value = -1
        if 0 <= value <= (255 if integer else 1e9):
            return value
        wanted = "an integer 0-255" if integer else "a number of seconds >= 0"
        self._listener.event(
            uid,
            "Warning",
            "InvalidAnnotation",
            f"annotation {name}: must be {wanted}, got {raw!r}; kubesim uses {default:g}",
        )
        return default

    def _started(self, uid: str, name: str) -> None:
        """The startup probe passed: `started` turns true and readiness probing begins."""
        entry = self._pods[uid]
        record = entry.record.container(name)
        if record is None or record.state is not RunState.RUNNING:
            return
        record.started = True
        self._listener.changed(uid)
        self._later(
            uid,
            f"ready:{name}",
            self._ready_delay(entry.pod, name),
            lambda u: self._became_ready(u, name),
        )

    def _became_ready(self, uid: str, name: str) -> None:
        entry = self._pods[uid]
        record = entry.record.container(name)
        if record is None or record.state is not RunState.RUNNING:
            return
        if (uid, name) in self._faults.not_ready:
            self._listener.event(
                uid, "Warning", "Unhealthy", self._probe_failure(entry.pod, name), name
            )
            return
        record.ready = True
        self._listener.changed(uid)

    def _init_done(self, uid: str, record: ContainerRecord) -> None:
        self._terminate(uid, record, 0)
        self._start_next(uid)
        self._listener.changed(uid)

    def _exit(self, uid: str, record: ContainerRecord, exit_code: int) -> None:
        if record.state is not RunState.RUNNING:
            return
        entry = self._pods[uid]
        for prefix in ("ready:", "crash:", "init:", "liveness:", "run:"):
            timer = entry.timers.pop(prefix + record.name, None)
            if timer is not None:
                timer.cancel()
        self._terminate(uid, record, exit_code)
        self._listener.changed(uid)

    def _terminate(self, uid: str, record: ContainerRecord, exit_code: int) -> None:
        now = self._clock.now()
        writer = self._pods[uid].writers.pop(record.name, None)
        if writer is not None:
            writer.write_line(
                "stdout",
                f"{format_time(now)} kubesim: container {record.name} exited with code {exit_code}",
            )
            writer.close()
        record.state = RunState.TERMINATED
        record.exit_code = exit_code
        record.reason = "Completed" if exit_code == 0 else "Error"
        record.message = ""
        record.finished_at = self._clock.now()
        record.ready = False
        record.started = False

    def _stopped(self, uid: str, exit_code: int) -> None:
        entry = self._pods[uid]
        for record in entry.record.containers:
            if record.state is RunState.RUNNING:
                self._terminate(uid, record, exit_code)
        self._listener.changed(uid)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _spec(pod: dict[str, Any], name: str) -> dict[str, Any]:
        spec = pod.get("spec") or {}
        for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
            if container.get("name") == name:
                return dict(container)
        return {}

    def _ready_delay(self, pod: dict[str, Any], name: str) -> float:
        probe = self._spec(pod, name).get("readinessProbe") or {}
        return self._config.start_to_ready_delay + float(probe.get("initialDelaySeconds", 0) or 0)

    def _probe_period(self, pod: dict[str, Any], name: str) -> float:
        if self._config.probe_period is not None:
            return self._config.probe_period
        probe = self._spec(pod, name).get("readinessProbe") or {}
        return float(probe.get("periodSeconds", 10) or 10)

    def _probe_failure(
        self,
        pod: dict[str, Any],
        name: str,
        *,
        kind: str = "Readiness",
        probe: dict[str, Any] | None = None,
    ) -> str:
        """The prober's message for a failed probe, by probe handler."""
        if probe is None:
            probe = self._spec(pod, name).get("readinessProbe") or {}
        ip = (pod.get("status") or {}).get("podIP", "")
        if "tcpSocket" in probe:
            port = probe["tcpSocket"].get("port")
            return f"{kind} probe failed: dial tcp {ip}:{port}: connect: connection refused"
        if "exec" in probe:
            return f"{kind} probe failed: command exited with status 1"
        code = 503 if kind == "Readiness" else 500
        return f"{kind} probe failed: HTTP probe failed with statuscode: {code}"


def _duration(seconds: float) -> str:
    """Go's time.Duration String for short durations (`500ms`, `1.5s`)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"
