"""The operator's ``/metrics``, scraped over HTTP like Prometheus does, with leader election on."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from controller.builders import BuildConfig
from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from controller.kube.lease import KubeLeaseClient
from controller.leaderelection import LeaderElectionConfig, LeaderElector
from controller.operator import Operator, OperatorOptions
from kubesim import KubeSim, WorkloadsConfig
from tests.e2e.harness import (
    NS,
    OPERATOR_NS,
    condition,
    operator_kubeconfig,
    small_cluster,
    wait_for,
)

LEASE = "rayop-metrics-test"


@dataclass
class Scraped:
    """One operator with leader election, a user client, and the metrics URL."""

    user: KubeClient
    url: str

    async def samples(self) -> list[Sample]:
        async with aiohttp.ClientSession() as session, session.get(self.url) as response:
            assert response.status == 200
            text = await response.text()
        return [s for family in text_string_to_metric_families(text) for s in family.samples]

    async def named(self, name: str, cluster: str | None = None) -> list[Sample]:
        return [
            s
            for s in await self.samples()
            if s.name == name and (cluster is None or s.labels.get("name") == cluster)
        ]


@pytest.fixture
async def scraped(tmp_path: Path) -> AsyncIterator[Scraped]:
    async with KubeSim(
        kubeconfig_path=tmp_path / "kc.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        user = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0,
                          field_manager="kubectl")  # fmt: skip
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        kubeconfig = await operator_kubeconfig(sim, user, tmp_path / "rayop.yaml")
        api = await load_api_client(kubeconfig=str(kubeconfig))
        options = OperatorOptions(health_addr="0", metrics_addr="127.0.0.1:0", qps=0)
        # Ray's probes wait 10 s before the first check; nothing here needs them.
        operator = Operator(api, options, build_config=BuildConfig(inject_probes=False))
        config = LeaderElectionConfig(name=LEASE, namespace=OPERATOR_NS, identity="replica-a",
                                      lease_duration=3.0, renew_deadline=2.0, retry_period=0.5)  # fmt: skip
        operator.attach_elector(
            LeaderElector(
                KubeLeaseClient(KubeClient(api, qps=0)), config, registry=operator.registry
            )
        )
        task = asyncio.create_task(operator.run(), name="operator")
        try:
            await wait_for(operator.controller.ready.is_set, what="the leader's caches to sync")
            port = operator.servers.ports["metrics"]
            yield Scraped(user, f"http://127.0.0.1:{port}/metrics")
        finally:
            operator.stop()
            await asyncio.wait_for(task, timeout=15)
            await user.close()


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_kuberay_cluster_metrics_follow_a_cluster_from_creation_to_deletion(
    scraped: Scraped,
) -> None:
    """info, condition and provisioned duration appear with KubeRay's labels and vanish on delete."""
    await scraped.user.apply(small_cluster("metered", replicas=1))

    async def provisioned() -> dict[str, object] | None:
        obj = await scraped.user.get("ray.io/v1", "RayCluster", NS, "metered")
        found = condition(obj.get("status") or {}, "RayClusterProvisioned")
        return obj if found.get("status") == "True" else None

    obj = await wait_for(provisioned, what="RayClusterProvisioned=True")
    meta = obj["metadata"]
    ids = {"name": "metered", "namespace": NS, "uid": meta["uid"]}  # type: ignore[index]

    info = await scraped.named("kuberay_cluster_info", "metered")
    assert [(s.labels, s.value) for s in info] == [({**ids, "owner_kind": "None"}, 1.0)]
    cond = await scraped.named("kuberay_cluster_condition_provisioned", "metered")
    assert [(s.labels, s.value) for s in cond] == [({**ids, "condition": "true"}, 1.0)]
    (duration,) = await scraped.named("kuberay_cluster_provisioned_duration_seconds", "metered")
    assert duration.labels == ids
    # Both timestamps are whole seconds; the observation is exact, so it lies within 1 s after.
    status = obj["status"]  # type: ignore[index]
    turned = _time(condition(status, "RayClusterProvisioned")["lastTransitionTime"])
    floor = (turned - _time(meta["creationTimestamp"])).total_seconds()  # type: ignore[index]
    assert floor <= duration.value < floor + 1

    await scraped.user.delete("ray.io/v1", "RayCluster", NS, "metered")

    async def gone() -> bool:
        names = ("kuberay_cluster_info", "kuberay_cluster_condition_provisioned",
                 "kuberay_cluster_provisioned_duration_seconds")  # fmt: skip
        return not any([await scraped.named(name, "metered") for name in names])

    await wait_for(gone, what="the deleted cluster's series to disappear")


async def test_operator_metrics_carry_the_names_dashboards_query(scraped: Scraped) -> None:
    """controller-runtime, workqueue, rest client and leader election series are all exported."""
    await scraped.user.apply(small_cluster("named", replicas=1))
    await wait_for(lambda: scraped.named("kuberay_cluster_info", "named"), what="the cluster")

    async def reconciled() -> list[Sample]:
        samples = await scraped.named("controller_runtime_reconcile_total")
        return [s for s in samples if s.labels["result"] == "success" and s.value > 0]

    (success,) = await wait_for(reconciled, what="a successful reconcile counted")
    assert success.labels["controller"] == "raycluster"
    names = {s.name for s in await scraped.samples()}
    for expected in (
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "controller_runtime_max_concurrent_reconciles",
        "controller_runtime_active_workers",
        "workqueue_depth",
        "workqueue_adds_total",
        "workqueue_work_duration_seconds_bucket",
        "rest_client_requests_total",
    ):
        assert expected in names, expected
    applies = [s for s in await scraped.named("rest_client_requests_total")
               if s.labels.get("method") == "PATCH" and s.labels.get("code") == "200"]  # fmt: skip
    assert applies
    assert applies[0].value > 0
    # The informers' reads share the client's budget and series: one streaming-list WATCH
    # per informer (9: RayClusters, 7 child kinds, pods), counted as GETs; no LIST needed.
    reads = {s.labels["verb"]: s.value
             for s in await scraped.named("rest_client_request_duration_seconds_count")}  # fmt: skip
    assert reads.get("WATCH", 0) >= 9
    assert reads.get("LIST", 0) == 0
    gets = [s for s in await scraped.named("rest_client_requests_total")
            if s.labels == {"code": "200", "method": "GET"}]  # fmt: skip
    assert gets
    assert gets[0].value >= 9
    (leader,) = await scraped.named("leader_election_master_status")
    assert (leader.labels, leader.value) == ({"name": LEASE}, 1.0)
