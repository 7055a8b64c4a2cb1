"""KubeRay's RayCluster metrics, under KubeRay's names, labels and meaning.

- ``kuberay_cluster_info{name,namespace,uid,owner_kind}`` = 1 per RayCluster; ``owner_kind``
  is the ``ray.io/originated-from-crd`` label (``RayJob``, ``RayService``) or ``None``.
- ``kuberay_cluster_condition_provisioned{name,namespace,uid,condition}`` = 1, with
  ``condition`` ``"true"`` or ``"false"``: whether ``RayClusterProvisioned`` is True now.
- ``kuberay_cluster_provisioned_duration_seconds{name,namespace,uid}``: seconds from the
  RayCluster's ``creationTimestamp`` to the first time this operator saw
  ``RayClusterProvisioned`` turn True (set once; a later suspend and resume does not move it).

The first two are computed at scrape time from the RayCluster cache, as KubeRay computes them
from a list, so a deleted RayCluster's series disappear with it. The duration is observed by
the controller at the transition (:meth:`ClusterMetrics.observe_status`) and dropped at the
first scrape after its RayCluster left the cache. Like KubeRay, a cluster that was already
provisioned before this process started leading has no duration sample.

Series are exported only while ``enabled()`` (the controller's caches have synced in the
leader), so a standby replica never reports clusters twice and a starting one never reports
an empty cache as "no clusters". KubeRay HEAD carries ``uid`` on all three (older releases
did not); it tells apart a deleted cluster and its same-named successor.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.api.constants import LABEL_ORIGINATED_FROM_CRD, ConditionType

__all__ = ["ORIGINATED_FROM_LABEL", "ClusterMetrics"]

ORIGINATED_FROM_LABEL = LABEL_ORIGINATED_FROM_CRD
_PROVISIONED = ConditionType.PROVISIONED
_INFO = "kuberay_cluster_info"
_CONDITION = "kuberay_cluster_condition_provisioned"
_DURATION = "kuberay_cluster_provisioned_duration_seconds"


class ClusterMetrics(Collector):
    """A Prometheus collector over the RayCluster cache, plus the observed durations."""

    def __init__(
        self,
        registry: CollectorRegistry | None,
        *,
        clusters: Callable[[], Iterable[Mapping[str, Any]]],
        enabled: Callable[[], bool] = lambda: True,
    ) -> None:
        self._clusters = clusters
        self._enabled = enabled
        # uid -> (namespace, name, seconds); written by reconcile, read at scrape time.
        self._durations: dict[str, tuple[str, str, float]] = {}
        if registry is not None:
            registry.register(self)

    def observe_status(
        self,
        obj: Mapping[str, Any],
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        *,
        now: datetime.datetime,
    ) -> None:
        """Record the provisioning time if ``after`` turns ``RayClusterProvisioned`` True.

        ``before``/``after`` are the status rayop compared and wrote; never awaits.
        """
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if uid in self._durations or _provisioned(before) or not _provisioned(after):
            return
        created = _parse_time(meta.get("creationTimestamp"))
        if created is None:
            return
        seconds = max(0.0, (now - created).total_seconds())
        self._durations[uid] = (str(meta.get("namespace") or ""), str(meta.get("name")), seconds)

    def describe(self) -> Iterable[Metric]:
        """The three families (so the registry can reject a duplicate name)."""
        return _families()

    def collect(self) -> Iterator[Metric]:
        """The current samples (module docstring)."""
        info, condition, duration = _families()
        if self._enabled():
            live: set[str] = set()
            for obj in self._clusters():
                meta = obj.get("metadata") or {}
                uid = str(meta.get("uid") or "")
                live.add(uid)
                ids = [str(meta.get("name")), str(meta.get("namespace") or ""), uid]
                owner = (meta.get("labels") or {}).get(ORIGINATED_FROM_LABEL) or "None"
                info.add_metric([*ids, str(owner)], 1)
                provisioned = _provisioned(obj.get("status") or {})
                condition.add_metric([*ids, "true" if provisioned else "false"], 1)
            for uid in [u for u in self._durations if u not in live]:
                del self._durations[uid]
            for uid, (namespace, name, seconds) in self._durations.items():
                duration.add_metric([name, namespace, uid], seconds)
        yield from (info, condition, duration)


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    ids = ["name", "namespace", "uid"]
    return (
        GaugeMetricFamily(
            _INFO,
            "Metadata information about RayCluster custom resources",
            labels=[*ids, "owner_kind"],
        ),
        GaugeMetricFamily(
            _CONDITION,
            "Indicates whether the RayCluster is provisioned",
            labels=[*ids, "condition"],
        ),
        GaugeMetricFamily(
            _DURATION,
            "The time, in seconds, when a RayCluster's `RayClusterProvisioned` status "
            "transitions from false (or unset) to true",
            labels=ids,
        ),
    )


def _provisioned(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == _PROVISIONED and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _parse_time(value: object) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
