"""`ProcessRuntime`: a `ContainerRuntime` that runs a node's pods as real processes.

Per pod: the sandbox (network namespace with the pod IP the kubelet allocated, the pod's files
and tmpfs volumes), then the init containers one after another (a failed one is retried with a
doubling back-off unless `restartPolicy: Never`), then every main container at once. Each
container is a `Container` (containers.py). The kubelet keeps deciding restarts (CrashLoopBackOff)
and termination; this class only runs what it is told and reports `ContainerRecord`s.

Pods that would need the host itself are refused, never run: `hostNetwork: true` and
`privileged` containers wait with `CreateContainerConfigError` and a Warning event saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.kubelet.exec import ExecProcess, ExecRefused, spawn
from kubesim.kubelet.logs import ContainerLogs
from kubesim.kubelet.process.containers import Container, PodContext
from kubesim.kubelet.process.env import EnvError, PodEnv
from kubesim.kubelet.process.host import ProcessHost
from kubesim.kubelet.process.probes import ExecTarget
from kubesim.kubelet.process.sandbox import Sandbox, VolumeError
from kubesim.kubelet.runtime import RunState, RuntimeListener, SandboxRecord

__all__ = ["ProcessRuntime"]

log = structlog.get_logger(__name__)


@dataclass
class _Pod:
    """Runtime-private bookkeeping for one pod."""

    pod: dict[str, Any]
    record: SandboxRecord
    containers: dict[str, Container] = field(default_factory=dict)
    context: PodContext | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    #: The task running each container's current instance.
    runs: dict[str, asyncio.Task[int | None]] = field(default_factory=dict)


def refusal(pod: dict[str, Any]) -> str | None:
    """Why the process runtime will not run `pod` (it would act on the host), or None."""
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        return "hostNetwork pods are refused by kubesim's process runtime: they would run on the host's network"
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        if ((container.get("securityContext") or {}).get("privileged")) is True:
            return (
                f"container {container['name']} is privileged; kubesim's process runtime refuses "
                "privileged containers: they would have the host's devices and capabilities"
            )
    return None


def _stopping(entry: _Pod) -> bool:
    return entry.record.stopping


class ProcessRuntime:
    """Runs one node's pods as processes in per-pod Linux namespaces."""

    def __init__(
        self,
        *,
        host: ProcessHost,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        node: str,
        listener: RuntimeListener,
        pod_ip: Callable[[str], str],
        host_ip: str,
    ) -> None:
        self._host = host
        self._cluster = cluster
        self._config = config
        self._clock = clock
        self._node = node
        self._listener = listener
        self._pod_ip = pod_ip
        self._host_ip = host_ip
        self._pods: dict[str, _Pod] = {}
        self._logs = ContainerLogs(now=clock.now)

    # ------------------------------------------------------------------ ContainerRuntime

    def start_pod(self, pod: dict[str, Any]) -> None:
        """Create the sandbox, then run init containers and main containers."""
        uid = str(pod["metadata"]["uid"])
        if uid in self._pods:
            return
        entry = _Pod(pod=pod, record=SandboxRecord.for_pod(pod))
        self._pods[uid] = entry
        refused = refusal(pod)
        if refused is not None:
            for record in entry.record.containers:
                record.reason, record.message = "CreateContainerConfigError", refused
            self._listener.event(uid, "Warning", "Failed", f"Error: {refused}")
            self._listener.changed(uid)
            return
        self._spawn(entry, self._bring_up(entry), "sandbox")

    def restart_container(self, uid: str, name: str) -> None:
        """Start a new instance of an exited container."""
        entry = self._pods.get(uid)
        container = entry.containers.get(name) if entry is not None else None
        if entry is None or container is None or entry.record.stopping:
            return
        if container.record.state is RunState.TERMINATED:
            self._run(entry, container, restart=True)

    def stop_pod(self, uid: str, grace_seconds: float, *, exit_code: int | None = None) -> None:
        """preStop, SIGTERM, and SIGKILL after the grace period, for every running container."""
        entry = self._pods.get(uid)
        if entry is None or entry.record.stopping:
            return
        entry.record.stopping = True
        if entry.context is not None:
            entry.context.stopping = True
            entry.context.forced_exit = exit_code
        grace = 0.0 if exit_code is not None else max(grace_seconds, 0.0)
        # A running container is stopped gracefully and its run ends with the exit; one still
        # waiting (image, config, back-off) has nothing to stop: its run is cancelled.
        for container in entry.containers.values():
            if container.process is not None:
                self._spawn(entry, container.terminate(grace), f"stop-{container.name}")
            else:
                run = entry.runs.get(container.name)
                if run is not None:
                    run.cancel()

    def remove_pod(self, uid: str) -> None:
        """Kill what still runs, delete the pod's namespace, mounts and files (synchronously)."""
        entry = self._pods.pop(uid, None)
        if entry is None:
            return
        for task in entry.tasks:
            task.cancel()
        for container in entry.containers.values():
            container.kill_now()
        self._logs.remove(uid)
        try:
            self._host.network.remove_pod(uid)
        finally:
            if entry.context is not None:
                entry.context.sandbox.remove()
            else:
                Sandbox(self._pod_root(uid), pod=entry.pod, lookup=self._lookup).remove()

    def sandbox(self, uid: str) -> SandboxRecord | None:
        """The runtime's view of pod `uid`."""
        entry = self._pods.get(uid)
        return entry.record if entry is not None else None

    @property
    def logs(self) -> ContainerLogs:
        """This node's container log files (what `kubectl logs` reads)."""
        return self._logs

    async def exec(
        self, uid: str, container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> ExecProcess:
        """Run `argv` in the container's namespaces with its environment (`kubectl exec`)."""
        target = self.exec_target(uid, container)
        if target is None:
            raise ExecRefused(f'container "{container}" is not running')
        env = {**target.env, "TERM": "xterm"} if tty else target.env
        return await spawn(argv, env=env, tty=tty, stdin=stdin, prefix=target.prefix)

    def exec_target(self, uid: str, container: str) -> ExecTarget | None:
        """How to run a command in a running container (nsenter prefix, env, cwd), or None."""
        entry = self._pods.get(uid)
        found = entry.containers.get(container) if entry is not None else None
        return found.target if found is not None else None

    # ------------------------------------------------------------------ bring-up

    def _spawn(self, entry: _Pod, coro: Any, what: str) -> asyncio.Task[Any]:
        uid = entry.record.uid
        task = asyncio.get_running_loop().create_task(coro, name=f"kubesim-{what}-{uid[:8]}")
        entry.tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(entry, t))
        return task

    def _run(self, entry: _Pod, container: Container, *, restart: bool) -> asyncio.Task[int | None]:
        task: asyncio.Task[int | None] = self._spawn(
            entry, container.run(restart=restart), container.name
        )
        entry.runs[container.name] = task
        return task

    def _task_done(self, entry: _Pod, task: asyncio.Task[Any]) -> None:
        entry.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "process_runtime_task_failed", task=task.get_name(), exc_info=task.exception()
            )

    async def _bring_up(self, entry: _Pod) -> None:
        uid = entry.record.uid
        try:
            context = await self._create_sandbox(entry)
        except (RuntimeError, OSError, VolumeError, EnvError) as exc:
            message = f"Failed to create pod sandbox: {exc}"
            for record in entry.record.containers:
                record.reason, record.message = "ContainerCreating", message
            self._listener.event(uid, "Warning", "FailedCreatePodSandBox", message)
            self._listener.changed(uid)
            return
        entry.context = context
        spec = entry.pod.get("spec") or {}
        for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
            found = entry.record.container(c["name"])
            assert found is not None
            entry.containers[c["name"]] = Container(c, found, context)
        entry.record.ready = True
        self._listener.changed(uid)
        for c in spec.get("initContainers") or ():
            if not await self._run_init(entry, entry.containers[c["name"]]):
                return
        if _stopping(entry):
            return
        for c in spec.get("containers") or ():
            self._run(entry, entry.containers[c["name"]], restart=False)

    async def _run_init(self, entry: _Pod, container: Container) -> bool:
        """Run an init container until it succeeds; False if the pod must not go on."""
        policy = (entry.pod.get("spec") or {}).get("restartPolicy", "Always")
        if _stopping(entry):
            return False
        code = await self._run(entry, container, restart=False)
        delay = self._config.crash_backoff_base
        while code != 0:
            if code is None or policy == "Never" or _stopping(entry):
                return False
            container.back_off(delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._config.crash_backoff_max)
            if _stopping(entry):
                return False
            code = await self._run(entry, container, restart=False)
        return True

    async def _create_sandbox(self, entry: _Pod) -> PodContext:
        uid = entry.record.uid
        pod = entry.pod
        pod_ip = self._pod_ip(uid)
        if not pod_ip:
            raise RuntimeError("no pod IP left in the node's pod CIDR")
        making = asyncio.ensure_future(asyncio.to_thread(self._host.network.add_pod, uid, pod_ip))
        try:
            await asyncio.shield(making)
        except asyncio.CancelledError:
            # Removed while the thread makes the namespace: remove it once it exists.
            making.add_done_callback(lambda done: self._undo_network(uid, done))
            raise
        ctx = PodEnv(
            pod=pod,
            pod_ip=pod_ip,
            host_ip=self._host_ip,
            services=self._services(pod),
            api=self._host.api,
            allocatable={"cpu": self._config.node_cpu, "memory": self._config.node_memory},
        )
        sandbox = Sandbox(self._pod_root(uid), pod=pod, lookup=self._lookup)
        automount = self._automount(pod)
        sandbox.create(
            ctx=ctx,
            nameserver=self._host.nameserver,
            domain=self._config.cluster_domain,
            sa=self._host.service_accounts if automount else None,
        )
        return PodContext(
            uid=uid,
            pod=pod,
            env=ctx,
            sandbox=sandbox,
            netns=self._host.network.netns_path(uid),
            lookup=self._lookup,
            images=self._host.images,
            listener=self._listener,
            clock=self._clock,
            config=self._config,
            logs=self._logs,
            automount=automount,
        )

    def _undo_network(self, uid: str, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.warning("pod_network_failed", uid=uid, error=str(done.exception()))
        self._host.network.remove_pod(uid)

    # ------------------------------------------------------------------ API reads

    def _pod_root(self, uid: str) -> Any:
        return self._host.instance.root / uid[:8]

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        plural = {"ConfigMap": "configmaps", "Secret": "secrets", "Service": "services"}[kind]
        try:
            return self._cluster.get(self._cluster.resource(plural), namespace, name)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    def _services(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        res = self._cluster.resource("services")
        namespace = pod["metadata"].get("namespace", "default")
        items, _ = self._cluster.list(res, namespace)
        master = self._lookup("Service", "default", "kubernetes")
        return [*items, *([master] if master is not None else [])]

    def _automount(self, pod: dict[str, Any]) -> bool:
        """automountServiceAccountToken: the pod's field, else its ServiceAccount's, else true."""
        spec = pod.get("spec") or {}
        if spec.get("automountServiceAccountToken") is not None:
            return bool(spec["automountServiceAccountToken"])
        name = spec.get("serviceAccountName") or "default"
        try:
            account = self._cluster.get(
                self._cluster.resource("serviceaccounts"),
                pod["metadata"].get("namespace", "default"),
                name,
            )
        except StatusError:
            return True
        return account.get("automountServiceAccountToken") is not False
