"""The ReplicaSet controller: keep `spec.replicas` active pods, delete surplus by rank.

Pods are `<rs>-<5 random chars>` (generateName). Scale-down victims come from
`ranking.pods_to_delete`, with the pods of every ReplicaSet sharing this one's owner as the
"related" pods for the doubled-up rank (as upstream's getIndirectlyRelatedPods). The cache is
updated synchronously by each write, so no create/delete expectations are needed.
Not simulated: adopting orphans, the slow-start create batches.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock, parse_time
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import (
    ObjectKey,
    controller_uid,
    is_active,
    is_running_and_ready,
    owner_reference,
    ready_since,
)
from kubesim.common.store import Cache
from kubesim.controllers.base import BURST_REPLICAS, Controller
from kubesim.controllers.ranking import pods_to_delete

__all__ = ["ReplicaSetController", "available"]


def available(pod: dict[str, Any], min_ready: float, now: float) -> bool:
    """podutil.IsPodAvailable: Running+Ready for at least minReadySeconds."""
    if not is_running_and_ready(pod):
        return False
    if min_ready <= 0:
        return True
    since = parse_time(ready_since(pod))
    return since is not None and since + min_ready <= now


class ReplicaSetController(Controller):
    """Creates and deletes the pods of ReplicaSets."""

    name = "replicaset-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        sets: Cache,
        pods: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.sets = sets
        self.pods = pods
        self.watch_owners(sets)
        self.watch_children(pods)

    def reconcile(self, key: ObjectKey) -> float | None:
        """Create or delete pods to match spec.replicas, then write the status."""
        rs = self.sets.get(key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return None
        owned = self.pods.owned_by(rs["metadata"]["uid"])
        active = [p for p in owned if is_active(p)]
        want = int((rs.get("spec") or {}).get("replicas", 1))
        if len(active) < want:
            want = self.within_budget(rs, "ReplicaSet", want)
        burst = min(abs(want - len(active)), BURST_REPLICAS)
        if len(active) < want:
            self._create(rs, burst)
        elif len(active) > want:
            self._delete(rs, active, burst)
        status_requeue = self._write_status(rs)
        if abs(want - len(active)) > BURST_REPLICAS:
            return 0.0  # the rest in the next sync, as upstream's burstReplicas does
        return status_requeue

    def _create(self, rs: dict[str, Any], count: int) -> None:
        template = (rs.get("spec") or {}).get("template") or {}
        meta = template.get("metadata") or {}
        name = rs["metadata"]["name"]
        namespace = rs["metadata"]["namespace"]
        for _ in range(count):
            pod_meta: dict[str, Any] = {
                "generateName": f"{name}-",
                "namespace": namespace,
                "labels": dict(meta.get("labels") or {}),
                "ownerReferences": [owner_reference(rs, kind="ReplicaSet", api_version="apps/v1")],
            }
            if meta.get("annotations"):
                pod_meta["annotations"] = dict(meta["annotations"])
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": pod_meta,
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            try:
                created = self.cluster.create(
                    self.pods.resource, namespace, pod, user=self.user, owned=True
                )
            except StatusError as exc:
                self.events.warning(rs, "FailedCreate", f"Error creating: {exc}")
                raise
            self.events.normal(
                rs, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}"
            )

    def _delete(self, rs: dict[str, Any], active: list[dict[str, Any]], count: int) -> None:
        related = self._related_pods(rs)
        for pod in pods_to_delete(active, count, related=related, now=self.clock.now()):
            if self.delete_quietly(self.pods.resource, pod):
                self.events.normal(
                    rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}"
                )

    def _related_pods(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        """Pods of every ReplicaSet controlled by the same owner (or just this one's)."""
        owner = controller_uid(rs)
        if owner is None:
            return self.pods.owned_by(rs["metadata"]["uid"])
        return [
            p for s in self.sets.owned_by(owner) for p in self.pods.owned_by(s["metadata"]["uid"])
        ]

    def _write_status(self, rs: dict[str, Any]) -> float | None:
        spec = rs.get("spec") or {}
        min_ready = float(spec.get("minReadySeconds", 0) or 0)
        now = self.clock.now()
        active = [p for p in self.pods.owned_by(rs["metadata"]["uid"]) if is_active(p)]
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        labelled = sum(
            1
            for p in active
            if all(
                (p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items()
            )
        )
        ready = [p for p in active if is_running_and_ready(p)]
        avail = [p for p in ready if available(p, min_ready, now)]
        status: dict[str, Any] = {"replicas": len(active)}
        if labelled:
            status["fullyLabeledReplicas"] = labelled
        if ready:
            status["readyReplicas"] = len(ready)
        if avail:
            status["availableReplicas"] = len(avail)
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        conditions = (rs.get("status") or {}).get("conditions")
        if conditions:
            status["conditions"] = conditions
        self.write_status(self.sets.resource, rs, status)
        if len(avail) < len(ready):
            # Look again when the next pod reaches minReadySeconds.
            return min_ready
        return None
