"""The HorizontalPodAutoscaler controller (autoscaling/v2, resource metrics).

Every `hpa_sync_period` each HPA reads its target's /scale, computes a proposal per metric from
`UsageStore` (kubesim's metrics-server), takes the largest, normalizes it (stabilization, rate
limits, min/max), writes the new replica count through /scale, and records status, conditions
and a SuccessfulRescale event, worded like pkg/controller/podautoscaler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubesim.apiserver.selectors import LabelSelector
from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller
from kubesim.controllers.hpa_algo import (
    CpuTrust,
    Limited,
    MetricProposal,
    MetricsError,
    Recommendation,
    ScaleEvent,
    apply_behavior,
    apply_rules,
    resource_proposal,
)
from kubesim.controllers.usage import UsageStore, container_requests_sum

__all__ = ["HPAController"]

_DEFAULT_METRICS: list[dict[str, Any]] = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
]


@dataclass
class _History:
    recommendations: list[Recommendation] = field(default_factory=list)
    up: list[ScaleEvent] = field(default_factory=list)
    down: list[ScaleEvent] = field(default_factory=list)


class HPAController(Controller):
    """Scales targets of HorizontalPodAutoscalers from simulated pod usage."""

    name = "horizontal-pod-autoscaler"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        hpas: Cache,
        pods: Cache,
        usage: UsageStore,
        replicasets: Cache | None = None,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.hpas = hpas
        self.pods = pods
        self.usage = usage
        self.replicasets = replicasets
        self._history: dict[ObjectKey, _History] = {}
        self._trust = CpuTrust(
            initialization=config.hpa_cpu_initialization_period,
            readiness_delay=config.hpa_initial_readiness_delay,
            window=config.hpa_metric_window,
        )
        self.watch_owners(hpas)

    def reconcile(self, key: ObjectKey) -> float | None:
        """One reconcileAutoscaler pass; always comes back after the sync period."""
        hpa = self.hpas.get(key)
        if hpa is None:
            self._history.pop(key, None)
            return None
        history = self._history.setdefault(key, _History())
        self._reconcile(hpa, history)
        return self.config.hpa_sync_period

    def _reconcile(self, hpa: dict[str, Any], history: _History) -> None:
        spec = hpa.get("spec") or {}
        namespace = hpa["metadata"]["namespace"]
        ref = spec.get("scaleTargetRef") or {}
        conditions: dict[str, tuple[str, str, str]] = {}
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        try:
            res = self.cluster.resource(str(ref.get("kind", "")), group)
            scale = self.cluster.get_scale(res, namespace, str(ref.get("name", "")))
        except StatusError as exc:
            message = f"the HPA controller was unable to get the target's current scale: {exc}"
            self.events.warning(hpa, "FailedGetScale", str(exc))
            conditions["AbleToScale"] = ("False", "FailedGetScale", message)
            self._write(hpa, None, None, [], conditions, rescaled=False)
            return
        current = int((scale.get("spec") or {}).get("replicas", 0) or 0)
        min_replicas = int(spec.get("minReplicas", 1) or 1)
        max_replicas = int(spec.get("maxReplicas", 1))
        now = self.clock.monotonic()
        statuses: list[dict[str, Any]] = []
        reason = ""
        if current == 0 and min_replicas != 0:
            desired = 0
            conditions["ScalingActive"] = (
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
        elif current > max_replicas:
            desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            pods = self._target_pods(namespace, scale, res, str(ref.get("name", "")))
            try:
                proposal, statuses = self._propose(spec, pods, current)
            except MetricsError as exc:
                conditions["AbleToScale"] = (
                    "True",
                    "SucceededGetScale",
                    "the HPA controller was able to get the target's current scale",
                )
                conditions["ScalingActive"] = (
                    "False",
                    exc.reason,
                    f"the HPA was unable to compute the replica count: {exc.message}",
                )
                self.events.warning(hpa, exc.reason, exc.message)
                self._write(hpa, current, current, [], conditions, rescaled=False)
                return
            conditions["ScalingActive"] = (
                "True",
                "ValidMetricFound",
                f"the HPA was able to successfully calculate a replica count from {proposal.description}",
            )
            desired = proposal.replicas
            if desired > current:
                reason = f"{proposal.description} above target"
            elif desired < current:
                reason = "All metrics below target"
            limited = self._normalize(
                spec, current, desired, min_replicas, max_replicas, history, now
            )
            desired = limited.replicas
            conditions["AbleToScale"] = (
                "True",
                limited.stabilize_reason,
                limited.stabilize_message,
            )
            conditions["ScalingLimited"] = (
                "True" if limited.limited else "False",
                limited.limit_reason,
                limited.limit_message,
            )
        rescaled = False
        if desired != current:
            rescaled = self._rescale(
                hpa, res, namespace, scale, desired, reason, history, current, now
            )
            if rescaled:
                conditions["AbleToScale"] = (
                    "True",
                    "SucceededRescale",
                    f"the HPA controller was able to update the target scale to {desired}",
                )
        self._write(hpa, current, desired, statuses, conditions, rescaled=rescaled)

    def _target_pods(
        self, namespace: str, scale: dict[str, Any], res: Any, name: str
    ) -> list[dict[str, Any]]:
        """Pods selected by the target's selector; owned pods first, a namespace scan as fallback."""
        selector = LabelSelector(str((scale.get("status") or {}).get("selector", "")))
        if selector.empty:
            return []
        uid = (scale.get("metadata") or {}).get("uid")
        owned = self.pods.owned_by(str(uid)) if uid else []
        if not owned and uid and self.replicasets is not None:
            # A Deployment's pods belong to its ReplicaSets.
            owned = [
                p
                for rs in self.replicasets.owned_by(str(uid))
                for p in self.pods.owned_by(rs["metadata"]["uid"])
            ]
        if owned:
            return [p for p in owned if selector.matches(p["metadata"].get("labels"))]
        return [
            p
            for p in self.pods
            if p["metadata"].get("namespace") == namespace
            and selector.matches(p["metadata"].get("labels"))
        ]

    def _propose(
        self, spec: dict[str, Any], pods: list[dict[str, Any]], current: int
    ) -> tuple[MetricProposal, list[dict[str, Any]]]:
        best: MetricProposal | None = None
        statuses = []
        for metric in spec.get("metrics") or _DEFAULT_METRICS:
            if metric.get("type") != "Resource":
                raise MetricsError(
                    "FailedGetExternalMetric",
                    f"kubesim only simulates Resource metrics, not {metric.get('type')}",
                )
            name = str((metric.get("resource") or {}).get("name", ""))
            usage: dict[str, Fraction] = {}
            requests: dict[str, Fraction | None] = {}
            for pod in pods:
                pod_name = pod["metadata"]["name"]
                requests[pod_name] = container_requests_sum(pod, name)
                value = self.usage.usage(pod, name)
                if value is not None:
                    usage[pod_name] = value
            proposal = resource_proposal(
                metric,
                pods=pods,
                usage=usage,
                requests=requests,
                current_replicas=current,
                tolerance=self.config.hpa_tolerance,
                now=self.clock.now(),
                trust=self._trust,
            )
            statuses.append(proposal.status)
            if best is None or proposal.replicas > best.replicas:
                best = proposal
        assert best is not None
        return best, statuses

    def _normalize(
        self,
        spec: dict[str, Any],
        current: int,
        desired: int,
        min_replicas: int,
        max_replicas: int,
        history: _History,
        now: float,
    ) -> Limited:
        behavior = spec.get("behavior")
        if behavior is None:
            return apply_rules(
                current=current,
                desired=desired,
                min_replicas=min_replicas,
                max_replicas=max_replicas,
                history=history.recommendations,
                now=now,
                window=self.config.hpa_downscale_stabilization,
            )
        return apply_behavior(
            behavior=behavior,
            current=current,
            desired=desired,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            history=history.recommendations,
            up_events=history.up,
            down_events=history.down,
            now=now,
            default_down_window=self.config.hpa_downscale_stabilization,
        )

    def _rescale(
        self,
        hpa: dict[str, Any],
        res: Any,
        namespace: str,
        scale: dict[str, Any],
        desired: int,
        reason: str,
        history: _History,
        current: int,
        now: float,
    ) -> bool:
        body = {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": scale["metadata"]["name"], "namespace": namespace},
            "spec": {"replicas": desired},
        }
        try:
            self.cluster.update(
                res, namespace, scale["metadata"]["name"], body, user=self.user, subresource="scale"
            )
        except StatusError as exc:
            self.events.warning(
                hpa, "FailedRescale", f"New size: {desired}; reason: {reason}; error: {exc}"
            )
            return False
        self.events.normal(hpa, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        events = history.up if desired > current else history.down
        events.append(ScaleEvent(abs(desired - current), now))
        horizon = now - 3600
        history.up[:] = [e for e in history.up if e.time > horizon]
        history.down[:] = [e for e in history.down if e.time > horizon]
        return True

    def _write(
        self,
        hpa: dict[str, Any],
        current: int | None,
        desired: int | None,
        metrics: list[dict[str, Any]],
        conditions: dict[str, tuple[str, str, str]],
        *,
        rescaled: bool,
    ) -> None:
        old = hpa.get("status") or {}
        now = self.clock.rfc3339()
        status: dict[str, Any] = {"observedGeneration": hpa["metadata"].get("generation", 1)}
        last_scale = now if rescaled else old.get("lastScaleTime")
        if last_scale:
            status["lastScaleTime"] = last_scale
        status["currentReplicas"] = (
            current if current is not None else old.get("currentReplicas", 0)
        )
        status["desiredReplicas"] = (
            desired if desired is not None else old.get("desiredReplicas", 0)
        )
        if metrics:
            status["currentMetrics"] = metrics
        previous = {c.get("type"): c for c in old.get("conditions") or ()}
        written = []
        for kind in ("AbleToScale", "ScalingActive", "ScalingLimited"):
            if kind not in conditions:
                if kind in previous:
                    written.append(previous[kind])
                continue
            state, reason, message = conditions[kind]
            prior = previous.get(kind) or {}
            written.append(
                {
                    "type": kind,
                    "status": state,
                    "lastTransitionTime": prior.get("lastTransitionTime", now)
                    if prior.get("status") == state
                    else now,
                    "reason": reason,
                    "message": message,
                }
            )
        status["conditions"] = written
        self.write_status(self.hpas.resource, hpa, status)
