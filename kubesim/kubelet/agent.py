"""`Kubelet`: the node agent of one simulated node.

It admits pods bound to its node, drives their containers through a `ContainerRuntime`, and owns
what a real kubelet owns: restart policy and CrashLoopBackOff, graceful termination (SIGTERM,
grace period, then `DELETE` with grace 0), evictions and forced failures, and the pod status it
writes through `/status`. One keyed queue per node coalesces bursts of runtime changes into one
status write; a write is skipped when the status would not change.
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
from kubesim.common.events import EventRecorder
from kubesim.common.podutil import ObjectKey, is_terminating
from kubesim.common.queue import KeyQueue, QueueShutDown
from kubesim.common.store import Cache
from kubesim.kubelet.nodes import IPAllocator, node_ip, pod_cidr
from kubesim.kubelet.runtime import ContainerRuntime, RunState
from kubesim.kubelet.simulated import Faults, SimulatedRuntime
from kubesim.kubelet.status import PodView, build_status

__all__ = ["Kubelet"]

log = structlog.get_logger(__name__)

# A container that ran this long without crashing has its back-off forgotten (2 × max).
_BACKOFF_RESET_FACTOR = 2


@dataclass
class _Backoff:
    """flowcontrol.Backoff entry for one container."""

    delay: float
    last_update: float


@dataclass
class _PodState:
    """The kubelet's memory of one admitted pod."""

    key: ObjectKey
    uid: str
    view: PodView
    backoffs: dict[str, _Backoff] = field(default_factory=dict)
    stopping: bool = False
    deleted: bool = False
    #: Loop time at which activeDeadlineSeconds runs out, if the pod sets it.
    deadline: float | None = None
    #: finishedAt of the exit last reported with a BackOff event, per container.
    backoff_reported: dict[str, float] = field(default_factory=dict)


class Kubelet:
    """Runs the pods bound to one node."""

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        index: int,
        name: str,
        pods: Cache,
        faults: Faults,
        runtime_factory: Callable[[Kubelet], ContainerRuntime] | None = None,
    ) -> None:
        self.name = name
        self.index = index
        self.user = f"system:node:{name}"
        self._cluster = cluster
        self._config = config
        self._clock = clock
        self._pods_cache = pods
        self._pods_res = pods.resource
        self._host_ip = node_ip(config, index)
        self._ips = IPAllocator(pod_cidr(config, index))
        self._states: dict[str, _PodState] = {}
        self._by_key: dict[ObjectKey, str] = {}
        self.queue: KeyQueue[ObjectKey] = KeyQueue(f"kubelet-{name}")
        self.events = EventRecorder(
            cluster,
            clock,
            component="kubelet",
            user=self.user,
            host=name,
            enabled=config.record_events,
        )
        self.faults = faults
        #: While partitioned the kubelet cannot reach the API: it syncs nothing.
        self.partitioned = False
        # The kubelet only ever calls ContainerRuntime methods on its runtime; a process-based
        # runtime plugs in through `runtime_factory`.
        self.runtime: ContainerRuntime = (
            runtime_factory(self)
            if runtime_factory is not None
            else SimulatedRuntime(
                node=name, config=config, clock=clock, faults=faults, listener=self
            )
        )

    # ------------------------------------------------------------------ RuntimeListener

    def changed(self, uid: str) -> None:
        """The runtime saw a change in pod `uid`: sync it soon."""
        state = self._states.get(uid)
        if state is not None:
            self.queue.add(state.key)

    def event(self, uid: str, type_: str, reason: str, message: str, container: str = "") -> None:
        """Record a runtime event about pod `uid` as this kubelet."""
        state = self._states.get(uid)
        pod = self._pods_cache.get(state.key) if state is not None else None
        if pod is None:
            return
        field_path = self._field_path(pod, container) if container else ""
        self.events.record(pod, type_, reason, message, field_path=field_path)

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        """Process pod keys until cancelled."""
        try:
            while True:
                key = await self.queue.get()
                try:
                    self.sync(key)
                except Exception:
                    log.exception("kubelet_sync_failed", node=self.name, pod=str(key))
                finally:
                    self.queue.done(key)
                # Let the API server's handlers run between pods.
                await asyncio.sleep(0)
        except QueueShutDown:
            return

    def stop(self) -> None:
        """Stop every pod's timers (the node is going away)."""
        self.queue.shut_down()
        for uid in list(self._states):
            self.runtime.remove_pod(uid)

    def pods_on_node(self) -> list[ObjectKey]:
        """Keys of the pods this kubelet has admitted."""
        return [s.key for s in self._states.values()]

    # ------------------------------------------------------------------ sync

    def sync(self, key: ObjectKey) -> None:
        """Bring pod `key` one step closer to what its spec and deletion state ask for."""
        if self.partitioned:
            return
        pod = self._pods_cache.get(key)
        uid = self._by_key.get(key)
        if pod is None or (uid is not None and pod["metadata"]["uid"] != uid):
            if uid is not None:
                self._forget(uid)
            if pod is None:
                return
        if (pod.get("spec") or {}).get("nodeName") != self.name:
            return
        state = self._admit(pod)
        if state.deleted:
            return
        if is_terminating(pod) and not state.stopping:
            self._begin_termination(pod, state)
        if (
            state.deadline is not None
            and state.view.terminal is None
            and not state.stopping
            and self._clock.monotonic() >= state.deadline
        ):
            message = "Pod was active on the node longer than the specified deadline"
            self.terminate(
                key,
                reason="DeadlineExceeded",
                message=message,
                exit_code=137,
                event=("DeadlineExceeded", message),
            )
        if not state.stopping and state.view.terminal is None:
            self._restart_exited(pod, state)
        self._write_status(pod, state)
        if state.stopping and self._all_stopped(state) and is_terminating(pod):
            self._finish_deletion(pod, state)

    def _admit(self, pod: dict[str, Any]) -> _PodState:
        uid = str(pod["metadata"]["uid"])
        state = self._states.get(uid)
        if state is not None:
            return state
        key = ObjectKey(pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
        view = PodView(host_ip=self._host_ip, start_time=self._clock.rfc3339())
        if not (pod.get("spec") or {}).get("hostNetwork"):
            view.pod_ip = self._ips.allocate(uid)
        else:
            view.pod_ip = self._host_ip
        state = _PodState(key=key, uid=uid, view=view)
        self._states[uid] = state
        self._by_key[key] = uid
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Succeeded", "Failed"):
            self.runtime.start_pod(pod)
        active_deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        if active_deadline is not None:
            state.deadline = self._clock.monotonic() + float(active_deadline)
            self.queue.add_after(key, float(active_deadline))
        return state

    def _forget(self, uid: str) -> None:
        state = self._states.pop(uid, None)
        if state is None:
            return
        self._by_key.pop(state.key, None)
        self.runtime.remove_pod(uid)
        if state.view.pod_ip and state.view.pod_ip != self._host_ip:
            self._ips.release(state.view.pod_ip)

    # ------------------------------------------------------------------ restarts

    def _restart_exited(self, pod: dict[str, Any], state: _PodState) -> None:
        """Restart exited main containers per restartPolicy, honouring CrashLoopBackOff."""
        sandbox = self.runtime.sandbox(state.uid)
        if sandbox is None:
            return
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        now = self._clock.now()
        for record in sandbox.containers:
            if record.init or record.state is not RunState.TERMINATED:
                state.view.back_off.pop(record.name, None)
                continue
            if policy == "Never" or (policy == "OnFailure" and record.exit_code == 0):
                continue
            finished = record.finished_at or now
            wait = self._backoff_remaining(state, record.name, finished, now)
            if wait > 0:
                delay = state.backoffs[record.name].delay
                state.view.back_off[record.name] = (
                    f"back-off {_go_duration(delay)} restarting failed container={record.name} "
                    f"pod={pod['metadata']['name']}_{state.key.namespace}({state.uid})"
                )
                if state.backoff_reported.get(record.name) != finished:
                    state.backoff_reported[record.name] = finished
                    self.events.warning(
                        pod,
                        "BackOff",
                        f"Back-off restarting failed container {record.name} in pod "
                        f"{pod['metadata']['name']}_{state.key.namespace}({state.uid})",
                        field_path=self._field_path(pod, record.name),
                    )
                self.queue.add_after(state.key, wait)
                continue
            state.view.back_off.pop(record.name, None)
            self._backoff_next(state, record.name, finished)
            self.runtime.restart_container(state.uid, record.name)

    def _backoff_remaining(self, state: _PodState, name: str, finished: float, now: float) -> float:
        """IsInBackOffSince(finishedAt): seconds left, 0 when a restart may happen now."""
        entry = state.backoffs.get(name)
        if entry is None:
            return 0.0
        if finished - entry.last_update > _BACKOFF_RESET_FACTOR * self._config.crash_backoff_max:
            return 0.0
        return max(0.0, entry.delay - (now - finished))

    def _backoff_next(self, state: _PodState, name: str, finished: float) -> None:
        entry = state.backoffs.get(name)
        expired = entry is not None and (
            finished - entry.last_update > _BACKOFF_RESET_FACTOR * self._config.crash_backoff_max
        )
        if entry is None or expired:
            state.backoffs[name] = _Backoff(self._config.crash_backoff_base, finished)
        else:
            entry.delay = min(entry.delay * 2, self._config.crash_backoff_max)
            entry.last_update = finished

    # ------------------------------------------------------------------ termination

    def _begin_termination(self, pod: dict[str, Any], state: _PodState) -> None:
        state.stopping = True
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        sandbox = self.runtime.sandbox(state.uid)
        for record in sandbox.containers if sandbox is not None else ():
            if record.state is RunState.RUNNING:
                self.events.normal(
                    pod,
                    "Killing",
                    f"Stopping container {record.name}",
                    field_path=self._field_path(pod, record.name),
                )
        self.runtime.stop_pod(state.uid, grace)

    def _all_stopped(self, state: _PodState) -> bool:
        sandbox = self.runtime.sandbox(state.uid)
        if sandbox is None:
            return True
        return all(r.state is not RunState.RUNNING for r in sandbox.containers)

    def _finish_deletion(self, pod: dict[str, Any], state: _PodState) -> None:
        state.deleted = True
        try:
            self._cluster.delete(
                self._pods_res,
                state.key.namespace,
                state.key.name,
                user=self.user,
                grace_period_seconds=0,
                preconditions={"uid": state.uid},
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise

    def terminate(
        self,
        key: ObjectKey,
        *,
        reason: str,
        message: str,
        exit_code: int,
        condition: dict[str, Any] | None = None,
        event: tuple[str, str] | None = None,
    ) -> bool:
        """Force pod `key` to phase Failed (eviction, failure injection); False if unknown."""
        uid = self._by_key.get(key)
        pod = self._pods_cache.get(key)
        if uid is None or pod is None:
            return False
        state = self._states[uid]
        state.view.terminal = ("Failed", reason, message)
        state.view.back_off.clear()
        if condition is not None:
            state.view.extra_conditions.append(condition)
        if event is not None:
            self.events.warning(pod, event[0], event[1])
        sandbox = self.runtime.sandbox(uid)
        for record in sandbox.containers if sandbox is not None else ():
            if record.state is RunState.RUNNING:
                self.events.normal(
                    pod,
                    "Killing",
                    f"Stopping container {record.name}",
                    field_path=self._field_path(pod, record.name),
                )
        self.runtime.stop_pod(uid, 0.0, exit_code=exit_code)
        self.queue.add(key)
        return True

    def set_partitioned(self, partitioned: bool) -> None:
        """Cut the kubelet off the API, or reconnect it and resync every pod it knows."""
        self.partitioned = partitioned
        if not partitioned:
            for state in self._states.values():
                self.queue.add(state.key)
            for pod in self._pods_cache.on_node(self.name):
                self.queue.add(
                    ObjectKey(pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
                )

    def events_time(self) -> str:
        """The kubelet's clock as RFC 3339 (for conditions set from outside)."""
        return self._clock.rfc3339()

    def pod_ip(self, uid: str) -> str:
        """The IP allocated to admitted pod `uid` ("" if none): a real runtime's sandbox uses it."""
        state = self._states.get(uid)
        return state.view.pod_ip if state is not None else ""

    @property
    def host_ip(self) -> str:
        """This node's InternalIP (`status.hostIP` of its pods)."""
        return self._host_ip

    def uid_of(self, key: ObjectKey) -> str | None:
        """The uid of the admitted pod `key`, if any."""
        return self._by_key.get(key)

    # ------------------------------------------------------------------ status

    def _write_status(self, pod: dict[str, Any], state: _PodState) -> None:
        sandbox = self.runtime.sandbox(state.uid)
        status = build_status(pod, sandbox, state.view, now=self._clock.rfc3339())
        if status == pod.get("status"):
            return
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": state.key.name,
                "namespace": state.key.namespace,
                "resourceVersion": pod["metadata"]["resourceVersion"],
            },
            "status": status,
        }
        try:
            self._cluster.update(
                self._pods_res,
                state.key.namespace,
                state.key.name,
                body,
                user=self.user,
                subresource="status",
                owned=True,
            )
        except StatusError as exc:
            if exc.code == 409:
                self.queue.add(state.key)
            elif exc.code != 404:
                raise

    @staticmethod
    def _field_path(pod: dict[str, Any], container: str) -> str:
        spec = pod.get("spec") or {}
        for init in spec.get("initContainers") or ():
            if init.get("name") == container:
                return f"spec.initContainers{{{container}}}"
        return f"spec.containers{{{container}}}"


def _go_duration(seconds: float) -> str:
    """Go's Duration String: `10s`, `1m20s`, `5m0s`, `500ms`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
