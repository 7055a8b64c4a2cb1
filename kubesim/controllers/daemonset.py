"""The DaemonSet controller (pkg/controller/daemon), in miniature: one pod per eligible node.

A node is eligible when it matches the template's nodeSelector and every NoSchedule/NoExecute
taint is tolerated, counting the tolerations the controller adds to every daemon pod (not-ready,
unreachable, the pressure conditions, unschedulable; network-unavailable for hostNetwork).
Each pod is pinned to its node as upstream pins it (a `metadata.name` matchFields node affinity)
and, because kubesim's scheduler does not read node affinity, created with `spec.nodeName` set.
Failed pods are deleted and replaced; pods on ineligible or vanished nodes are deleted; a
RollingUpdate replaces out-of-date pods (`controller-revision-hash` differs) while at most
`maxUnavailable` nodes lack an available pod. The status counts nodes as upstream does.
Not simulated: ControllerRevisions and rollback, maxSurge, the failed-pod back-off, required
node affinity terms of the template itself.
"""

from __future__ import annotations

import math
from typing import Any

from kubesim.common.api import ClusterAPI
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, is_ready, is_terminating, key_of
from kubesim.common.store import Cache
from kubesim.controllers.base import BURST_REPLICAS, Controller
from kubesim.controllers.replicaset import available
from kubesim.controllers.revision import REVISION_HASH_LABEL, pod_template_hash

__all__ = ["DaemonSetController", "daemon_tolerations"]

_GENERATION_LABEL = "pod-template-generation"


def daemon_tolerations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The template's tolerations plus those the controller adds (util.AddOrUpdateDaemonPodTolerations)."""
    added = [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    if spec.get("hostNetwork"):
        added.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    tolerations = [dict(t) for t in spec.get("tolerations") or ()]
    for key, effect in added:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    return tolerations


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def should_run(node: dict[str, Any], pod_spec: dict[str, Any]) -> bool:
    """NodeShouldRunDaemonPod: nodeSelector matches and every hard taint is tolerated."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    tolerations = daemon_tolerations(pod_spec)
    return all(
        _tolerates(tolerations, taint)
        for taint in (node.get("spec") or {}).get("taints") or ()
        if taint.get("effect") in ("NoSchedule", "NoExecute")
    )


class DaemonSetController(Controller):
    """Keeps one pod of each DaemonSet on each eligible node."""

    name = "daemon-set-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        sets: Cache,
        pods: Cache,
        nodes: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.sets = sets
        self.pods = pods
        self.nodes = nodes
        self.watch_owners(sets)
        self.watch_children(pods)
        nodes.add_handler(self._on_node)

    def _on_node(self, event: str, old: dict[str, Any] | None, node: dict[str, Any]) -> None:
        for ds in self.sets:
            self.queue.add(key_of(ds))

    def reconcile(self, key: ObjectKey) -> float | None:
        """Create, delete and replace daemon pods node by node, then write the status."""
        ds = self.sets.get(key)
        if ds is None or is_terminating(ds):
            return None
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        pod_spec = template.get("spec") or {}
        hash_ = pod_template_hash(template)
        per_node: dict[str, list[dict[str, Any]]] = {}
        for pod in self.pods.owned_by(ds["metadata"]["uid"]):
            per_node.setdefault(str((pod.get("spec") or {}).get("nodeName", "")), []).append(pod)
        eligible = [n["metadata"]["name"] for n in self.nodes if should_run(n, pod_spec)]
        missing: list[str] = []
        for node in eligible:
            pods = [p for p in per_node.get(node, ()) if not is_terminating(p)]
            for pod in [p for p in pods if _phase(p) == "Failed"]:
                message = (
                    f"Found failed daemon pod {key.namespace}/{pod['metadata']['name']} on node "
                    f"{node}, will try to kill it"
                )
                self.events.warning(ds, "FailedDaemonPod", message)
                self._delete(ds, pod)
                pods.remove(pod)
            if not pods and not per_node.get(node):
                missing.append(node)
            for extra in sorted(pods, key=_age)[1:]:
                self._delete(ds, extra)
        for node, pods in per_node.items():
            if node not in eligible:
                for pod in pods:
                    if not is_terminating(pod):
                        self._delete(ds, pod)
        for node in missing[:BURST_REPLICAS]:
            self._create(ds, node, hash_)
        if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
            self._roll(ds, eligible, hash_)
        return self._write_status(ds, eligible, hash_)

    def _roll(self, ds: dict[str, Any], eligible: list[str], hash_: str) -> None:
        """Replace out-of-date pods, the unavailable ones first, within maxUnavailable."""
        spec = ds.get("spec") or {}
        min_ready = float(spec.get("minReadySeconds", 0) or 0)
        now = self.clock.now()
        current = self._node_pods(ds)
        budget = _max_unavailable(spec, len(eligible))
        unavailable = sum(
            1 for n in eligible if not (n in current and available(current[n], min_ready, now))
        )
        old = [current[n] for n in eligible if n in current and _hash(current[n]) != hash_]
        for pod in sorted(old, key=lambda p: available(p, min_ready, now)):
            if available(pod, min_ready, now):
                if unavailable >= budget:
                    break
                unavailable += 1
            self._delete(ds, pod)

    def _node_pods(self, ds: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The oldest live pod of the DaemonSet on each node."""
        found: dict[str, dict[str, Any]] = {}
        for pod in sorted(self.pods.owned_by(ds["metadata"]["uid"]), key=_age):
            node = str((pod.get("spec") or {}).get("nodeName", ""))
            if not is_terminating(pod) and node not in found:
                found[node] = pod
        return found

    def _create(self, ds: dict[str, Any], node: str, hash_: str) -> None:
        pod = self.pod_from_template(ds, kind="DaemonSet", api_version="apps/v1")
        spec = pod["spec"]
        spec["nodeName"] = node
        spec["tolerations"] = daemon_tolerations(spec)
        affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
            ]
        }
        labels = pod["metadata"]["labels"]
        labels[REVISION_HASH_LABEL] = hash_
        labels[_GENERATION_LABEL] = str(ds["metadata"].get("generation", 1))
        self.create_pod(ds, self.pods.resource, pod)

    def _delete(self, ds: dict[str, Any], pod: dict[str, Any]) -> None:
        if self.delete_quietly(self.pods.resource, pod):
            self.events.normal(ds, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

    def _write_status(self, ds: dict[str, Any], eligible: list[str], hash_: str) -> float | None:
        """updateDaemonSetStatus: counts per node; look again when a pod turns available."""
        spec = ds.get("spec") or {}
        min_ready = float(spec.get("minReadySeconds", 0) or 0)
        now = self.clock.now()
        current = self._node_pods(ds)
        on_eligible = [current[n] for n in eligible if n in current]
        ready = [p for p in on_eligible if is_ready(p) and _phase(p) == "Running"]
        avail = [p for p in ready if available(p, min_ready, now)]
        status: dict[str, Any] = {
            "currentNumberScheduled": len(on_eligible),
            "numberMisscheduled": sum(1 for n in current if n not in eligible),
            "desiredNumberScheduled": len(eligible),
            "numberReady": len(ready),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        updated = sum(1 for p in on_eligible if _hash(p) == hash_)
        for name, value in (
            ("updatedNumberScheduled", updated),
            ("numberAvailable", len(avail)),
            ("numberUnavailable", len(eligible) - len(avail)),
        ):
            if value:
                status[name] = value
        conditions = (ds.get("status") or {}).get("conditions")
        if conditions:
            status["conditions"] = conditions
        self.write_status(self.sets.resource, ds, status)
        return min_ready if len(avail) < len(ready) else None


def _phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def _hash(pod: dict[str, Any]) -> str | None:
    return (pod["metadata"].get("labels") or {}).get(REVISION_HASH_LABEL)


def _age(pod: dict[str, Any]) -> tuple[str, str]:
    """Oldest first: creationTimestamp, then name."""
    return (str(pod["metadata"].get("creationTimestamp", "")), pod["metadata"]["name"])


def _max_unavailable(spec: dict[str, Any], desired: int) -> int:
    """rollingUpdate.maxUnavailable as a count (a percentage of desired, rounded up), ≥ 1."""
    raw = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", 1)
    if isinstance(raw, str) and raw.endswith("%"):
        try:
            return max(math.ceil(desired * float(raw[:-1]) / 100), 1)
        except ValueError:
            return 1
    try:
        return max(int(raw), 1)
    except (TypeError, ValueError):
        return 1
