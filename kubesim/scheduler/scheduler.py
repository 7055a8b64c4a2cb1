"""kubesim's kube-scheduler: binds pending pods to simulated nodes that can hold them.

Resource accounting is incremental (a pod's requests are added to its node when it is bound
and removed when it ends or goes away), so scheduling one pod costs O(nodes), not O(pods).
Pods that fit nowhere get `PodScheduled=False/Unschedulable` and a FailedScheduling event, and
are retried when a node appears or changes or a pod releases resources.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import structlog

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.events import EventRecorder
from kubesim.common.podutil import ObjectKey, is_terminating, key_of
from kubesim.common.quantity import pod_requests
from kubesim.common.queue import KeyQueue, QueueShutDown
from kubesim.common.store import Cache
from kubesim.scheduler.fit import fit_reasons, node_allocatable, unschedulable_message

__all__ = ["Scheduler"]

log = structlog.get_logger(__name__)
USER = "system:kube-scheduler"
_INITIAL_BACKOFF = 1.0
_MAX_BACKOFF = 10.0
_MAX_UNSCHEDULABLE = 300.0


class Scheduler:
    """The default scheduler (`schedulerName: default-scheduler`)."""

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        pods: Cache,
        nodes: Cache,
    ) -> None:
        self._cluster = cluster
        self._config = config
        self._clock = clock
        self._pods = pods
        self._nodes = nodes
        self.queue: KeyQueue[ObjectKey] = KeyQueue("scheduler")
        self.events = EventRecorder(
            cluster, clock, component="default-scheduler", user=USER, enabled=config.record_events
        )
        self._used: dict[str, dict[str, Fraction]] = {}
        self._count: dict[str, int] = {}
        self._counted: dict[ObjectKey, tuple[str, dict[str, Fraction]]] = {}
        self._unschedulable: set[ObjectKey] = set()
        # Failed attempts per pod, for the 1 s doubling to 10 s retry back-off.
        self._attempts: dict[ObjectKey, int] = {}
        self._allocatable: dict[str, tuple[str, dict[str, Fraction]]] = {}
        pods.add_handler(self._on_pod)
        nodes.add_handler(self._on_node)

    # ------------------------------------------------------------------ handlers

    def _on_pod(self, event: str, old: dict[str, Any] | None, pod: dict[str, Any]) -> None:
        key = key_of(pod)
        self._account(key, None if event == "DELETED" else pod)
        spec = pod.get("spec") or {}
        if event == "DELETED":
            self._unschedulable.discard(key)
            self._attempts.pop(key, None)
            return
        if spec.get("nodeName") or is_terminating(pod):
            return
        if spec.get("schedulerName", "default-scheduler") != "default-scheduler":
            return
        if key in self._unschedulable:
            return
        if self._config.schedule_delay > 0 and old is None:
            self.queue.add_after(key, self._config.schedule_delay)
        else:
            self.queue.add(key)

    def _on_node(self, event: str, old: dict[str, Any] | None, node: dict[str, Any]) -> None:
        self._retry_unschedulable()

    def _account(self, key: ObjectKey, pod: dict[str, Any] | None) -> None:
        """Keep per-node usage equal to the sum of requests of live pods bound there."""
        target = ""
        if pod is not None and (pod.get("status") or {}).get("phase") not in (
            "Succeeded",
            "Failed",
        ):
            target = str((pod.get("spec") or {}).get("nodeName") or "")
        previous = self._counted.get(key)
        if previous is not None and previous[0] == target:
            return
        if previous is not None:
            del self._counted[key]
            node, requests = previous
            used = self._used[node]
            for name, amount in requests.items():
                used[name] = used.get(name, Fraction(0)) - amount
            self._count[node] -= 1
            self._retry_unschedulable()
        if not target or pod is None:
            return
        requests = pod_requests(pod.get("spec") or {})
        used = self._used.setdefault(target, {})
        for name, amount in requests.items():
            used[name] = used.get(name, Fraction(0)) + amount
        self._count[target] = self._count.get(target, 0) + 1
        self._counted[key] = (target, requests)

    def _retry_unschedulable(self) -> None:
        """A cluster change may make room: retry unschedulable pods after their back-off
        (podInitialBackoffSeconds 1 doubling to podMaxBackoffSeconds 10)."""
        for key in self._unschedulable:
            attempts = self._attempts.get(key, 1)
            self.queue.add_after(key, min(_INITIAL_BACKOFF * 2 ** (attempts - 1), _MAX_BACKOFF))
        self._unschedulable.clear()

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        """Schedule pods until cancelled."""
        try:
            while True:
                key = await self.queue.get()
                try:
                    self.schedule(key)
                except Exception:
                    log.exception("schedule_failed", pod=str(key))
                finally:
                    self.queue.done(key)
                await asyncio.sleep(0)
        except QueueShutDown:
            return

    def schedule(self, key: ObjectKey) -> None:
        """Bind pod `key` to the least-loaded feasible node, or report it unschedulable.

        Nodes are tried in score order (fewest pods, then name) and the first that fits wins,
        which is the node a full scoring pass would pick; every node's reasons are gathered
        only when none fits, for the message.
        """
        pod = self._pods.get(key)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or is_terminating(pod):
            return
        requests = pod_requests(pod.get("spec") or {})
        nodes = sorted(
            (n for n in self._nodes if not is_terminating(n)),
            key=lambda n: (self._count.get(n["metadata"]["name"], 0), n["metadata"]["name"]),
        )
        per_node: list[list[str]] = [["node(s) were unschedulable"]] * (
            len(self._nodes) - len(nodes)
        )
        for node in nodes:
            name = node["metadata"]["name"]
            reasons = fit_reasons(
                pod,
                requests,
                node,
                used=self._used.get(name, {}),
                pod_count=self._count.get(name, 0),
                allocatable=self._allocatable_of(node),
            )
            if not reasons:
                self._attempts.pop(key, None)
                self._unschedulable.discard(key)
                self._bind(pod, name)
                return
            per_node.append(reasons)
        self._mark_unschedulable(pod, unschedulable_message(len(self._nodes), per_node))

    def _allocatable_of(self, node: dict[str, Any]) -> dict[str, Fraction]:
        name = node["metadata"]["name"]
        version = str(node["metadata"].get("resourceVersion", ""))
        cached = self._allocatable.get(name)
        if cached is None or cached[0] != version:
            cached = (version, node_allocatable(node))
            self._allocatable[name] = cached
        return cached[1]

    def _bind(self, pod: dict[str, Any], node: str) -> None:
        meta = pod["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        body = {**pod, "metadata": dict(meta), "spec": {**pod["spec"], "nodeName": node}}
        try:
            bound = self._cluster.update(self._pods.resource, namespace, name, body, user=USER)
        except StatusError as exc:
            if exc.code == 409:
                self.queue.add(key_of(pod))
            elif exc.code != 404:
                raise
            return
        self._set_condition(bound, {"type": "PodScheduled", "status": "True"})
        self.events.normal(
            bound, "Scheduled", f"Successfully assigned {namespace}/{name} to {node}"
        )

    def _mark_unschedulable(self, pod: dict[str, Any], message: str) -> None:
        key = key_of(pod)
        self._unschedulable.add(key)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        # Without any cluster change, unschedulable pods are still retried every 5 minutes
        # (podMaxInUnschedulablePodsDuration).
        self.queue.add_after(key, _MAX_UNSCHEDULABLE)
        self._set_condition(
            pod,
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            },
        )
        self.events.warning(pod, "FailedScheduling", message)

    def _set_condition(self, pod: dict[str, Any], condition: dict[str, Any]) -> None:
        status = dict(pod.get("status") or {})
        conditions = [dict(c) for c in status.get("conditions") or ()]
        for existing in conditions:
            if existing.get("type") == condition["type"]:
                if all(existing.get(k) == v for k, v in condition.items()):
                    return
                existing.update(condition)
                existing["lastTransitionTime"] = self._clock.rfc3339()
                existing.setdefault("lastProbeTime", None)
                break
        else:
            conditions.append(
                {**condition, "lastProbeTime": None, "lastTransitionTime": self._clock.rfc3339()}
            )
        status["conditions"] = conditions
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": meta["name"],
                "namespace": meta.get("namespace", ""),
                "resourceVersion": meta["resourceVersion"],
            },
            "status": status,
        }
        try:
            self._cluster.update(
                self._pods.resource,
                meta.get("namespace", ""),
                meta["name"],
                body,
                user=USER,
                subresource="status",
                owned=True,
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
