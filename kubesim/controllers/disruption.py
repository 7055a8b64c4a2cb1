"""The disruption controller's PodDisruptionBudget status (pkg/controller/disruption), in miniature.

For each PDB: the pods its selector picks in its namespace (an empty selector picks all, as
policy/v1 says); `currentHealthy` counts those Ready and not being deleted. With an integer
`minAvailable`, `expectedPods` is the number of pods and `desiredHealthy` is minAvailable; with
a percentage or `maxUnavailable`, `expectedPods` is the sum of the scales of the pods'
controllers (a Deployment for its ReplicaSets, any owner with a /scale subresource) and
`desiredHealthy` is derived from it, rounding as upstream. `disruptionsAllowed` is what is left,
and the DisruptionAllowed condition says SufficientPods or InsufficientPods.
Not simulated: the eviction bookkeeping of `disruptedPods`, the unhealthyPodEvictionPolicy.
"""

from __future__ import annotations

import math
from typing import Any

from kubesim.apiserver.scale import format_label_selector
from kubesim.apiserver.selectors import LabelSelector
from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, is_ready, is_terminating, key_of
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller

__all__ = ["DisruptionController"]


class DisruptionController(Controller):
    """Keeps PodDisruptionBudget status current."""

    name = "disruption-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        pdbs: Cache,
        pods: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.pdbs = pdbs
        self.pods = pods
        self.watch_owners(pdbs)
        pods.add_handler(self._on_pod)

    def _on_pod(self, event: str, old: dict[str, Any] | None, pod: dict[str, Any]) -> None:
        namespace = pod["metadata"].get("namespace")
        for pdb in self.pdbs:
            if pdb["metadata"].get("namespace") == namespace:
                self.queue.add(key_of(pdb))

    def reconcile(self, key: ObjectKey) -> float | None:
        """Recount the budget's pods and write its status."""
        pdb = self.pdbs.get(key)
        if pdb is None or is_terminating(pdb):
            return None
        spec = pdb.get("spec") or {}
        pods = self._selected(pdb)
        healthy = sum(1 for p in pods if is_ready(p) and not is_terminating(p))
        expected, desired = self._desired(spec, pods)
        allowed = max(healthy - desired, 0)
        status: dict[str, Any] = {
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
        }
        disrupted = (pdb.get("status") or {}).get("disruptedPods")
        if disrupted:
            status["disruptedPods"] = disrupted
        status["conditions"] = [self._condition(pdb, allowed)]
        self.write_status(self.pdbs.resource, pdb, status)
        return None

    def _selected(self, pdb: dict[str, Any]) -> list[dict[str, Any]]:
        selector_obj = (pdb.get("spec") or {}).get("selector")
        if selector_obj is None:
            return []
        selector = LabelSelector(format_label_selector(selector_obj))
        namespace = pdb["metadata"].get("namespace")
        return [
            p
            for p in self.pods
            if p["metadata"].get("namespace") == namespace
            and selector.matches(p["metadata"].get("labels"))
        ]

    def _desired(self, spec: dict[str, Any], pods: list[dict[str, Any]]) -> tuple[int, int]:
        """(expectedPods, desiredHealthy), as getExpectedPodCount."""
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int):
            return len(pods), min_available
        expected = self._expected_scale(pods)
        max_unavailable = spec.get("maxUnavailable")
        if max_unavailable is not None:
            unavailable = _scaled(max_unavailable, expected, round_up=True)
            return expected, max(expected - unavailable, 0)
        if min_available is not None:
            return expected, _scaled(min_available, expected, round_up=True)
        return expected, 0

    def _expected_scale(self, pods: list[dict[str, Any]]) -> int:
        """The summed replicas of the pods' controllers, each counted once."""
        seen: dict[str, int] = {}
        for pod in pods:
            found = self._scale_owner(pod["metadata"].get("namespace", ""), pod)
            if found is not None:
                seen[found[0]] = found[1]
        return sum(seen.values())

    def _scale_owner(self, namespace: str, obj: dict[str, Any]) -> tuple[str, int] | None:
        """(uid, spec.replicas) of the scalable controller of `obj` (a Deployment over its RS)."""
        ref = next(
            (r for r in obj["metadata"].get("ownerReferences") or () if r.get("controller")), None
        )
        if ref is None:
            return None
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        try:
            res = self.cluster.resource(str(ref.get("kind")), group)
            if ref.get("kind") == "ReplicaSet" and group == "apps":
                rs = self.cluster.get(res, namespace, str(ref.get("name")))
                above = self._scale_owner(namespace, rs)
                if above is not None:
                    return above
            scale = self.cluster.get_scale(res, namespace, str(ref.get("name")))
        except StatusError:
            return None
        return str(ref.get("uid")), int((scale.get("spec") or {}).get("replicas", 0) or 0)

    def _condition(self, pdb: dict[str, Any], allowed: int) -> dict[str, Any]:
        status, reason = (
            ("True", "SufficientPods") if allowed > 0 else ("False", "InsufficientPods")
        )
        old = next(
            (
                c
                for c in (pdb.get("status") or {}).get("conditions") or ()
                if c.get("type") == "DisruptionAllowed"
            ),
            None,
        )
        since = (
            old["lastTransitionTime"]
            if old is not None and old.get("status") == status and old.get("lastTransitionTime")
            else self.clock.rfc3339()
        )
        return {
            "type": "DisruptionAllowed",
            "status": status,
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "lastTransitionTime": since,
            "reason": reason,
            "message": "",
        }


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            return 0
    try:
        fraction = float(text[:-1]) * total / 100
    except ValueError:
        return 0
    return math.ceil(fraction) if round_up else math.floor(fraction)
