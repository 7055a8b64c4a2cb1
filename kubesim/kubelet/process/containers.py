"""One container of a pod under the process runtime: prepare, run, probe, stop.

`Container.run()` is one container instance from start to exit: resolve the image (waiting in
ErrImagePull/ImagePullBackOff while it has no mapping), build the environment and mounts
(CreateContainerConfigError while a ConfigMap or Secret is missing), resolve the command
(Kubernetes semantics: `command` replaces the image's ENTRYPOINT, `args` its CMD; with no image
there is no ENTRYPOINT, so a container without either cannot start), start the process through
enter.py, probe it, and record its exit (`Completed` for 0, `Error` otherwise, 128+signal for a
signalled process). `terminate()` runs preStop, then SIGTERM to the process group and SIGKILL
when the grace period ends. The kubelet decides restarts; this class only runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.dns.files import pod_hostname
from kubesim.kubelet.logs import ContainerLogs, LogWriter
from kubesim.kubelet.process.env import EnvError, Lookup, PodEnv, container_env, expand
from kubesim.kubelet.process.images import ImageMap, ImageNotMapped, ray_version_of
from kubesim.kubelet.process.probes import ExecTarget, probe_loop, run_handler
from kubesim.kubelet.process.processes import ContainerProcess
from kubesim.kubelet.process.sandbox import Sandbox, VolumeError
from kubesim.kubelet.runtime import ContainerRecord, RunState, RuntimeListener

__all__ = ["Container", "PodContext"]

_ENTER = str(Path(__file__).with_name("enter.py"))


@dataclass
class PodContext:
    """What a pod's containers share: the pod, its sandbox, and the runtime's services."""

    uid: str
    pod: dict[str, Any]
    env: PodEnv
    sandbox: Sandbox
    netns: str
    lookup: Lookup
    images: ImageMap
    listener: RuntimeListener
    clock: Clock
    config: WorkloadsConfig
    logs: ContainerLogs
    automount: bool
    #: A stop was asked: no new instance starts; `forced_exit` overrides exit codes.
    stopping: bool = False
    forced_exit: int | None = None
    warned: set[str] = field(default_factory=set)

    def event(self, type_: str, reason: str, message: str, container: str = "") -> None:
        """Record an event about the pod through the kubelet."""
        self.listener.event(self.uid, type_, reason, message, container)

    @property
    def grace(self) -> float:
        """terminationGracePeriodSeconds (30 when unset)."""
        value = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return 30.0 if value is None else float(value)


class _NotReady(Exception):
    """The container cannot start yet: (waiting reason, message, retry after seconds or None)."""

    def __init__(self, reason: str, message: str, retry: float | None) -> None:
        super().__init__(message)
        self.reason, self.message, self.retry = reason, message, retry


class Container:
    """A container of a pod, across its instances."""

    def __init__(self, spec: dict[str, Any], record: ContainerRecord, pod: PodContext) -> None:
        self.spec = spec
        self.record = record
        self._pod = pod
        self.process: ContainerProcess | None = None
        self.target: ExecTarget | None = None
        self._probes: list[asyncio.Task[None]] = []
        self._log: LogWriter | None = None
        self._pull_failures = 0

    @property
    def name(self) -> str:
        """The container's name."""
        return str(self.spec["name"])

    # ------------------------------------------------------------------ one instance

    async def run(self, *, restart: bool) -> int | None:
        """Run one instance to its exit; its exit code (None if the pod stopped first)."""
        record = self.record
        if restart:
            self._next_instance()
        self._set_waiting("PodInitializing" if record.init else "ContainerCreating", "")
        argv, env, env_dir, mounts = await self._prepare()
        if self._pod.stopping:
            return None
        self._start(argv, env, env_dir, mounts)
        assert self.process is not None
        code = await self.process.exited
        self._exited(code)
        return self.record.exit_code

    def _next_instance(self) -> None:
        """The exited instance becomes `lastState`; the next one counts as a restart."""
        record = self.record
        record.last_exit = (
            record.exit_code or 0,
            record.reason,
            record.started_at or 0.0,
            record.finished_at or 0.0,
            record.container_id,
        )
        record.restart_count += 1

    def back_off(self, delay: float) -> None:
        """A failed init container waits `delay` before its next run (Init:CrashLoopBackOff).

        The kubelet restarts main containers itself; init containers are retried here, and
        reported the way the kubelet reports a back-off.
        """
        self._next_instance()
        meta = self._pod.pod["metadata"]
        pod = f"{meta['name']}_{meta.get('namespace', '')}({self._pod.uid})"
        self._set_waiting(
            "CrashLoopBackOff",
            f"back-off {delay:g}s restarting failed container={self.name} pod={pod}",
        )
        self._pod.event(
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {self.name} in pod {pod}",
            self.name,
        )
        self._pod.listener.changed(self._pod.uid)

    async def _prepare(self) -> tuple[list[str], dict[str, str], str, list[dict[str, Any]]]:
        """Image, environment, mounts and command; waits (and reports) until possible."""
        while True:
            try:
                return self._try_prepare()
            except _NotReady as wait:
                self._set_waiting(wait.reason, wait.message)
                self._pod.listener.changed(self._pod.uid)
                if wait.retry is None:
                    await asyncio.Event().wait()
                await asyncio.sleep(wait.retry or 0)

    def _try_prepare(self) -> tuple[list[str], dict[str, str], str, list[dict[str, Any]]]:
        image = str(self.spec.get("image", ""))
        try:
            env_dir = self._pod.images.resolve(image)
        except ImageNotMapped as exc:
            raise self._pull_failed(image, str(exc)) from None
        self._pull_failures = 0
        self._warn_ray_version(image, env_dir)
        try:
            pairs = container_env(self.spec, self._pod.env, self._pod.lookup)
        except EnvError as exc:
            self._pod.event("Warning", "Failed", f"Error: {exc}", self.name)
            raise _NotReady("CreateContainerConfigError", str(exc), self._config_retry()) from None
        if self._pod.env.skipped:
            skipped = ", ".join(sorted(set(self._pod.env.skipped)))
            self._pod.event(
                "Warning",
                "InvalidEnvironmentVariableNames",
                f"Keys [{skipped}] from the EnvFrom were skipped since they are invalid "
                "environment variable names.",
                self.name,
            )
            self._pod.env.skipped.clear()
        env = {"PATH": ImageMap.path(env_dir), "HOME": "/root"}
        env["HOSTNAME"] = pod_hostname(self._pod.pod)
        env.update(pairs)
        mapping = dict(pairs)
        command = [expand(str(c), mapping) for c in self.spec.get("command") or ()]
        args = [expand(str(a), mapping) for a in self.spec.get("args") or ()]
        argv = command + args
        if not argv:
            message = (
                "failed to generate container spec: no command specified (kubesim's process "
                "runtime runs no image ENTRYPOINT: set command)"
            )
            self._pod.event("Warning", "Failed", f"Error: {message}", self.name)
            raise _NotReady("CreateContainerError", message, None)
        try:
            mounts = self._pod.sandbox.mounts(
                self.spec, instance=self._instance, automount=self._pod.automount
            )
        except VolumeError as exc:
            self._pod.event("Warning", "Failed", f"Error: {exc}", self.name)
            raise _NotReady("CreateContainerConfigError", str(exc), self._config_retry()) from None
        return argv, env, env_dir, mounts

    @property
    def _instance(self) -> str:
        return f"{self.name}.{self.record.restart_count}"

    def _pull_failed(self, image: str, message: str) -> _NotReady:
        self._pull_failures += 1
        base = self._pod.config.image_pull_backoff_base
        backoff = min(
            base * 2 ** (self._pull_failures - 1), self._pod.config.image_pull_backoff_max
        )
        if self._pull_failures == 1:
            self._pod.event(
                "Warning", "Failed", f'Failed to pull image "{image}": {message}', self.name
            )
            self._pod.event("Warning", "Failed", "Error: ErrImagePull", self.name)
            return _NotReady("ErrImagePull", message, base / 2)
        self._pod.event("Normal", "BackOff", f'Back-off pulling image "{image}"', self.name)
        self._pod.event("Warning", "Failed", "Error: ImagePullBackOff", self.name)
        return _NotReady(
            "ImagePullBackOff",
            f'Back-off pulling image "{image}": ErrImagePull: {message}',
            backoff,
        )

    def _config_retry(self) -> float:
        return max(self._pod.config.crash_backoff_base, 1.0)

    def _warn_ray_version(self, image: str, env_dir: str) -> None:
        wanted = ImageMap.tag_version(image)
        if wanted is None or "ray" not in image.rsplit(":", 1)[0] or image in self._pod.warned:
            return
        running = ray_version_of(env_dir)
        if running is not None and running != wanted:
            self._pod.warned.add(image)
            self._pod.event(
                "Warning",
                "RayVersionMismatch",
                f"image {image} names Ray {wanted}, but Ray {running} runs (from {env_dir}); "
                "set rayVersion and the image tag to match",
                self.name,
            )

    def _start(
        self, argv: list[str], env: dict[str, str], env_dir: str, mounts: list[dict[str, Any]]
    ) -> None:
        record = self.record
        instance = self._instance
        workdir = str(self.spec.get("workingDir") or "/")
        root = self._pod.sandbox.root / "c" / f"{instance}.root"
        root.mkdir(exist_ok=True)
        spec = {
            "root": str(root),
            "netns": self._pod.netns,
            "hostname": pod_hostname(self._pod.pod),
            "workdir": workdir,
            "argv": argv,
            "env": env,
            "mounts": mounts,
        }
        spec_path = self._pod.sandbox.root / "c" / f"{instance}.json"
        spec_path.write_text(json.dumps(spec))
        spec_path.chmod(0o600)
        self._log = self._pod.logs.writer(self._pod.uid, self.name, record.restart_count)
        self.process = ContainerProcess(
            [sys.executable, "-I", "-S", _ENTER, str(spec_path)],
            env={"PATH": ImageMap.path(env_dir)},
            on_data=self._log.feed,
        )
        self.target = ExecTarget(
            prefix=[
                "nsenter",
                f"--target={self.process.pid}",
                "--net",
                "--mount",
                "--uts",
                f"--wdns={workdir}",
                "--",
            ],
            env=env,
            cwd="/",
        )
        seed = f"{self._pod.uid}/{self.name}/{record.restart_count}".encode()
        record.container_id = "containerd://" + hashlib.sha256(seed).hexdigest()
        record.image = str(self.spec.get("image", ""))
        record.image_id = f"kubesim-local://{env_dir}"
        record.state, record.reason, record.message = RunState.RUNNING, "", ""
        record.exit_code, record.finished_at = None, None
        record.started_at = self._pod.clock.now()
        image = self.spec.get("image", "")
        self._pod.event(
            "Normal", "Pulled", f'Container image "{image}" already present on machine', self.name
        )
        self._pod.event("Normal", "Created", f"Created container {self.name}", self.name)
        self._pod.event("Normal", "Started", f"Started container {self.name}", self.name)
        self._start_probes()
        self._pod.listener.changed(self._pod.uid)

    def _exited(self, code: int) -> None:
        for task in self._probes:
            task.cancel()
        self._probes.clear()
        record = self.record
        if self._pod.forced_exit is not None:
            code = self._pod.forced_exit
        record.state, record.exit_code = RunState.TERMINATED, code
        record.reason, record.message = ("Completed" if code == 0 else "Error"), ""
        record.finished_at = self._pod.clock.now()
        record.ready = record.started = False
        self.process = None
        self.target = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._pod.listener.changed(self._pod.uid)

    def _set_waiting(self, reason: str, message: str) -> None:
        self.record.state, self.record.reason, self.record.message = (
            RunState.WAITING,
            reason,
            message,
        )
        self.record.ready = self.record.started = False

    # ------------------------------------------------------------------ probes

    def _start_probes(self) -> None:
        startup = self.spec.get("startupProbe")
        self.record.started = startup is None
        if startup is not None:
            self._probe("startupProbe", initial=None)
        else:
            self._probe_running()

    def _probe_running(self) -> None:
        if self.spec.get("readinessProbe") is None:
            self.record.ready = not self.record.init
        else:
            self._probe("readinessProbe", initial=False)
        if self.spec.get("livenessProbe") is not None:
            self._probe("livenessProbe", initial=True)

    def _probe(self, field_name: str, *, initial: bool | None) -> None:
        probe = self.spec[field_name]
        kind = {"startupProbe": "Startup", "readinessProbe": "Readiness"}.get(
            field_name, "Liveness"
        )
        pod_ip = self._pod.env.pod_ip

        async def check(time_limit: float) -> tuple[bool, str]:
            return await run_handler(
                probe, pod_ip=pod_ip, container=self.spec, target=self.target, time_limit=time_limit
            )

        def report(ok: bool, message: str, result: bool | None) -> None:
            if not ok:
                self._pod.event(
                    "Warning", "Unhealthy", f"{kind} probe failed: {message}", self.name
                )
            self._probe_result(field_name, result, probe)

        task = asyncio.get_running_loop().create_task(
            probe_loop(probe, initial=initial, check=check, report=report),
            name=f"kubesim-probe-{self._pod.uid[:8]}-{self.name}-{kind.lower()}",
        )
        self._probes.append(task)

    def _probe_result(self, field_name: str, result: bool | None, probe: dict[str, Any]) -> None:
        record = self.record
        if record.state is not RunState.RUNNING:
            return
        if field_name == "readinessProbe":
            if record.ready != bool(result):
                record.ready = bool(result)
                self._pod.listener.changed(self._pod.uid)
        elif field_name == "startupProbe" and result and not record.started:
            record.started = True
            self._probes.pop(0).cancel()
            self._probe_running()
            self._pod.listener.changed(self._pod.uid)
        elif result is False and field_name in ("livenessProbe", "startupProbe"):
            # Killed once: no probe of this instance runs (or reports) any more.
            for task in self._probes:
                task.cancel()
            self._probes.clear()
            what = "liveness" if field_name == "livenessProbe" else "startup"
            self._pod.event(
                "Normal",
                "Killing",
                f"Container {self.name} failed {what} probe, will be restarted",
                self.name,
            )
            grace = probe.get("terminationGracePeriodSeconds")
            asyncio.get_running_loop().create_task(
                self.terminate(self._pod.grace if grace is None else float(grace)),
                name=f"kubesim-kill-{self._pod.uid[:8]}-{self.name}",
            )

    # ------------------------------------------------------------------ stopping

    async def terminate(self, grace: float) -> None:
        """preStop, SIGTERM to the group, SIGKILL when `grace` seconds have passed."""
        process = self.process
        if process is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        hook = (self.spec.get("lifecycle") or {}).get("preStop")
        if hook is not None and grace > 0:
            ok, message = await run_handler(
                hook,
                pod_ip=self._pod.env.pod_ip,
                container=self.spec,
                target=self.target,
                time_limit=grace,
            )
            if not ok:
                self._pod.event(
                    "Warning", "FailedPreStopHook", f"PreStopHook failed: {message}", self.name
                )
        process.signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.exited), max(deadline - loop.time(), 0))
        except TimeoutError:
            process.signal_group(signal.SIGKILL)

    def kill_now(self) -> None:
        """SIGKILL at once and forget the process (the pod is being removed)."""
        for task in self._probes:
            task.cancel()
        self._probes.clear()
        if self.process is not None:
            self.process.kill_now()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
