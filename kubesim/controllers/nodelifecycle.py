"""Node partitions: what the node lifecycle and taint-eviction controllers do when a kubelet
stops reporting.

`partition(node)`: the kubelet stops syncing (its containers keep running, it just cannot talk
to the API); the node's conditions turn `Unknown` (`NodeStatusUnknown`, "Kubelet stopped posting
node status."); the `node.kubernetes.io/unreachable` NoSchedule and NoExecute taints are added;
the node's pods get `Ready=False`; and each pod is deleted once its toleration of the NoExecute
taint runs out (300 s with the API server's default tolerations, at once without one). Those
deletions cannot finish while the kubelet is away, so the pods stay Terminating, the classic
StatefulSet stall. `heal(node)` reverses it: conditions True, taints gone, the kubelet resumes
and completes the pending deletions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.events import EventRecorder
from kubesim.common.podutil import ObjectKey, key_of
from kubesim.common.store import Cache

__all__ = ["UNREACHABLE", "NodeLifecycle"]

UNREACHABLE = "node.kubernetes.io/unreachable"
_NODE_USER = "system:serviceaccount:kube-system:node-controller"
_EVICTION_USER = "system:serviceaccount:kube-system:taint-eviction-controller"


class NodeLifecycle:
    """Partitions and heals nodes on behalf of the chaos API."""

    def __init__(
        self, *, cluster: ClusterAPI, clock: Clock, nodes: Cache, pods: Cache, record_events: bool
    ) -> None:
        self._cluster = cluster
        self._clock = clock
        self._nodes = nodes
        self._pods = pods
        self._evictions: dict[ObjectKey, asyncio.TimerHandle] = {}
        self.events = EventRecorder(
            cluster,
            clock,
            component="taint-eviction-controller",
            user=_EVICTION_USER,
            enabled=record_events,
        )

    def partition(self, name: str) -> list[str]:
        """Cut node `name` off; returns the pods scheduled for eviction."""
        node = self._node(name)
        now = self._clock.rfc3339()
        conditions = []
        for cond in (node.get("status") or {}).get("conditions") or ():
            conditions.append(
                {
                    **cond,
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastTransitionTime": now,
                }
            )
        self._write_node_status(node, conditions)
        taints = [
            t for t in (node.get("spec") or {}).get("taints") or () if t.get("key") != UNREACHABLE
        ]
        taints += [
            {"key": UNREACHABLE, "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now},
        ]
        self._write_taints(name, taints)
        evicted = []
        loop = asyncio.get_running_loop()
        for pod in self._pods.on_node(name):
            key = key_of(pod)
            self._mark_not_ready(pod, now)
            delay = _toleration_seconds(pod)
            if delay is None:
                continue
            evicted.append(str(key))
            self._evictions[key] = loop.call_later(delay, self._evict, key)
        return sorted(evicted)

    def heal(self, name: str) -> None:
        """Reconnect node `name`: conditions back to the kubelet's, taints removed."""
        node = self._node(name)
        now = self._clock.rfc3339()
        healthy = {
            "MemoryPressure": (
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            "PIDPressure": (
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
        }
        conditions = []
        for cond in (node.get("status") or {}).get("conditions") or ():
            status, reason, message = healthy.get(
                cond["type"], (cond["status"], cond.get("reason", ""), cond.get("message", ""))
            )
            conditions.append(
                {
                    **cond,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": now,
                    "lastHeartbeatTime": now,
                }
            )
        self._write_node_status(node, conditions)
        taints = [
            t for t in (node.get("spec") or {}).get("taints") or () if t.get("key") != UNREACHABLE
        ]
        self._write_taints(name, taints)
        for key in [
            k
            for k in self._evictions
            if (self._pods.get(k) or {}).get("spec", {}).get("nodeName") == name
        ]:
            self._evictions.pop(key).cancel()

    # ------------------------------------------------------------------ helpers

    def _node(self, name: str) -> dict[str, Any]:
        node = self._nodes.get(ObjectKey("", name))
        if node is None:
            raise ValueError(f"node {name!r} not found")
        return node

    def _write_node_status(self, node: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        status = {**(node.get("status") or {}), "conditions": conditions}
        body = {"metadata": {"name": node["metadata"]["name"]}, "status": status}
        self._cluster.update(
            self._nodes.resource,
            None,
            node["metadata"]["name"],
            body,
            user=_NODE_USER,
            subresource="status",
            owned=True,
        )

    def _write_taints(self, name: str, taints: list[dict[str, Any]]) -> None:
        node = self._node(name)
        spec = {**(node.get("spec") or {}), "taints": taints}
        if not taints:
            spec.pop("taints")
        self._cluster.update(
            self._nodes.resource, None, name, {**node, "spec": spec}, user=_NODE_USER
        )

    def _mark_not_ready(self, pod: dict[str, Any], now: str) -> None:
        """MarkPodsNotReady: the node controller flips the pod's Ready condition to False."""
        status = dict(pod.get("status") or {})
        conditions = []
        for cond in status.get("conditions") or ():
            if cond.get("type") == "Ready" and cond.get("status") != "False":
                cond = {**cond, "status": "False", "lastTransitionTime": now}
            conditions.append(cond)
        status["conditions"] = conditions
        if status == pod.get("status"):
            return
        meta = pod["metadata"]
        body = {
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "status": status,
        }
        try:
            self._cluster.update(
                self._pods.resource,
                meta["namespace"],
                meta["name"],
                body,
                user=_NODE_USER,
                subresource="status",
                owned=True,
            )
        except StatusError as exc:
            if exc.code != 404:
                raise

    def _evict(self, key: ObjectKey) -> None:
        self._evictions.pop(key, None)
        pod = self._pods.get(key)
        if pod is None:
            return
        self.events.normal(pod, "TaintManagerEviction", f"Marking for deletion Pod {key}")
        try:
            self._cluster.delete(self._pods.resource, key.namespace, key.name, user=_EVICTION_USER)
        except StatusError as exc:
            if exc.code != 404:
                raise


def _toleration_seconds(pod: dict[str, Any]) -> float | None:
    """Seconds the pod tolerates the unreachable NoExecute taint: 0 without a toleration,
    None when it tolerates it forever."""
    for toleration in (pod.get("spec") or {}).get("tolerations") or ():
        if toleration.get("effect") not in (None, "", "NoExecute"):
            continue
        if toleration.get("operator") == "Exists" and not toleration.get("key"):
            seconds = toleration.get("tolerationSeconds")
            return None if seconds is None else max(0.0, float(seconds))
        if toleration.get("key") == UNREACHABLE:
            seconds = toleration.get("tolerationSeconds")
            return None if seconds is None else max(0.0, float(seconds))
    return 0.0
