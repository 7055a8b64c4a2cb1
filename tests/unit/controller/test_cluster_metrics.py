"""controller.cluster_metrics: KubeRay's kuberay_cluster_* series from the cache and transitions."""

from __future__ import annotations

import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from controller.cluster_metrics import ClusterMetrics

CREATED = "2026-11-25T17:00:00Z"
T0 = datetime.datetime(2026, 11, 25, 17, 0, tzinfo=datetime.UTC)


def _cluster(name: str, *, provisioned: bool | None = None, **labels: str) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if provisioned is not None:
        status["conditions"] = [
            {"type": "RayClusterProvisioned", "status": "True" if provisioned else "False"}
        ]
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                     "creationTimestamp": CREATED, "labels": labels},
        "status": status,
    }  # fmt: skip


def _setup(
    clusters: list[dict[str, Any]], *, enabled: bool = True
) -> tuple[CollectorRegistry, ClusterMetrics]:
    registry = CollectorRegistry()
    metrics = ClusterMetrics(registry, clusters=lambda: clusters, enabled=lambda: enabled)
    return registry, metrics


def _labels(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "namespace": "ns", "uid": f"uid-{name}", **extra}


def test_info_is_one_per_cluster_with_owner_kind() -> None:
    """kuberay_cluster_info is 1 per RayCluster; owner_kind is the originated-from label or None."""
    clusters = [_cluster("a"), _cluster("b", **{"ray.io/originated-from-crd": "RayJob"})]
    registry, _ = _setup(clusters)
    assert registry.get_sample_value("kuberay_cluster_info", _labels("a", owner_kind="None")) == 1
    assert registry.get_sample_value("kuberay_cluster_info", _labels("b", owner_kind="RayJob")) == 1


def test_condition_provisioned_follows_the_status() -> None:
    """condition="false" until RayClusterProvisioned is True, then condition="true" only."""
    clusters = [_cluster("a")]
    registry, _ = _setup(clusters)
    name = "kuberay_cluster_condition_provisioned"
    assert registry.get_sample_value(name, _labels("a", condition="false")) == 1
    clusters[0] = _cluster("a", provisioned=True)
    assert registry.get_sample_value(name, _labels("a", condition="true")) == 1
    assert registry.get_sample_value(name, _labels("a", condition="false")) is None


def test_provisioned_duration_is_observed_once_at_the_first_transition() -> None:
    """Seconds from creation to the first True; a later flip (after a suspend) does not move it."""
    clusters = [_cluster("a")]
    registry, metrics = _setup(clusters)
    name = "kuberay_cluster_provisioned_duration_seconds"
    off, on = {"conditions": []}, _cluster("a", provisioned=True)["status"]
    metrics.observe_status(clusters[0], off, off, now=T0 + datetime.timedelta(seconds=5))
    assert registry.get_sample_value(name, _labels("a")) is None
    metrics.observe_status(clusters[0], off, on, now=T0 + datetime.timedelta(seconds=12.5))
    assert registry.get_sample_value(name, _labels("a")) == 12.5
    metrics.observe_status(clusters[0], off, on, now=T0 + datetime.timedelta(seconds=99))
    assert registry.get_sample_value(name, _labels("a")) == 12.5


def test_already_provisioned_cluster_gets_no_duration() -> None:
    """True before and after is no transition: no sample (as KubeRay, after an operator restart)."""
    clusters = [_cluster("a", provisioned=True)]
    registry, metrics = _setup(clusters)
    on = clusters[0]["status"]
    metrics.observe_status(clusters[0], on, on, now=T0 + datetime.timedelta(seconds=3))
    assert (
        registry.get_sample_value("kuberay_cluster_provisioned_duration_seconds", _labels("a"))
        is None
    )


def test_a_deleted_cluster_leaves_no_series() -> None:
    """Once a RayCluster is out of the cache, none of its three series is exported."""
    clusters = [_cluster("a")]
    registry, metrics = _setup(clusters)
    on = _cluster("a", provisioned=True)["status"]
    metrics.observe_status(clusters[0], {}, on, now=T0 + datetime.timedelta(seconds=1))
    clusters.clear()
    families = {m.name: m.samples for m in registry.collect()}
    assert families["kuberay_cluster_info"] == []
    assert families["kuberay_cluster_condition_provisioned"] == []
    assert families["kuberay_cluster_provisioned_duration_seconds"] == []


def test_nothing_is_exported_until_enabled() -> None:
    """A standby (or a replica whose caches have not synced) exports no cluster series."""
    registry, _ = _setup([_cluster("a")], enabled=False)
    assert (
        registry.get_sample_value("kuberay_cluster_info", _labels("a", owner_kind="None")) is None
    )
