"""The node Lease a kubelet keeps renewed: its heartbeat, as `kube-node-lease/<node>`.

Upstream's kubelet creates a `coordination.k8s.io/v1` Lease named after its node in the
`kube-node-lease` namespace, owned by the Node, with `holderIdentity` the node name and
`leaseDurationSeconds` 40, and renews `renewTime` every quarter of that (10 s). `kubectl describe
node` reads it (without it: "Failed to get lease"), and node-lifecycle tooling treats a stale
lease as a dead kubelet. A partitioned kubelet cannot reach the API, so it renews nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import structlog

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock

__all__ = ["LEASE_NAMESPACE", "NodeLease"]

LEASE_NAMESPACE = "kube-node-lease"
log = structlog.get_logger("kubesim.kubelet")


def _micro_time(epoch: float) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeLease:
    """Creates and renews one node's Lease."""

    def __init__(
        self, *, cluster: ClusterAPI, clock: Clock, node: str, duration_seconds: int
    ) -> None:
        self._cluster = cluster
        self._clock = clock
        self._node = node
        self._duration = duration_seconds
        self._resource = cluster.resource("leases", "coordination.k8s.io")
        self._user = f"system:node:{node}"

    @property
    def renew_interval(self) -> float:
        """How often the lease is renewed: a quarter of its duration, as upstream."""
        return self._duration / 4

    async def run(self, partitioned: Callable[[], bool]) -> None:
        """Renew until cancelled, skipping renewals while `partitioned()`."""
        while True:
            if not partitioned():
                try:
                    self.renew()
                except StatusError as exc:
                    log.debug("node_lease_renew_failed", node=self._node, error=exc.message)
            await asyncio.sleep(self.renew_interval)

    def renew(self) -> None:
        """Set `renewTime` to now, creating the Lease first if it is missing."""
        now = _micro_time(self._clock.now())
        try:
            lease = self._cluster.get(self._resource, LEASE_NAMESPACE, self._node)
        except StatusError as exc:
            if exc.code != 404:
                raise
            self._cluster.create(self._resource, LEASE_NAMESPACE, self._new(now), user=self._user)
            return
        spec = {**(lease.get("spec") or {}), "holderIdentity": self._node, "renewTime": now}
        self._cluster.update(
            self._resource,
            LEASE_NAMESPACE,
            self._node,
            {**lease, "spec": spec},
            user=self._user,
        )

    def _new(self, now: str) -> dict[str, Any]:
        owner: list[dict[str, Any]] = []
        try:
            node = self._cluster.get(self._cluster.resource("nodes"), None, self._node)
            meta = node["metadata"]
            owner = [{"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta["uid"]}]
        except StatusError:
            pass
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._node, "ownerReferences": owner},
            "spec": {
                "holderIdentity": self._node,
                "leaseDurationSeconds": self._duration,
                "renewTime": now,
            },
        }
