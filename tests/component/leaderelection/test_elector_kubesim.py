"""Leader election against kubesim over real HTTP, through rayop's own API client."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client

from controller.kube import KubeClient
from controller.kube.lease import KubeLeaseClient
from controller.leaderelection import LeaderElectionConfig, LeaderElector
from kubesim import KubeSim

NS, NAME = "kube-system", "rayop-test"


@pytest.fixture
async def leases(api_client: client.ApiClient) -> KubeLeaseClient:
    """A Lease client over rayop's KubeClient, without a client-side rate limit."""
    return KubeLeaseClient(KubeClient(api_client, qps=0))


def _config(identity: str) -> LeaderElectionConfig:
    # Short real durations: this test exercises the wire protocol, the timing tests use fake time.
    return LeaderElectionConfig(
        name=NAME,
        namespace=NS,
        identity=identity,
        lease_duration=1.5,
        renew_deadline=1.0,
        retry_period=0.2,
    )


async def test_one_of_two_candidates_leads_and_a_clean_stop_hands_over(
    sim: KubeSim, leases: KubeLeaseClient
) -> None:
    """Two candidates: exactly one leads; stopping it releases the Lease and the other takes it."""
    leading: list[str] = []
    stop = {"a": asyncio.Event(), "b": asyncio.Event()}
    b_leads = asyncio.Event()

    async def lead(identity: str) -> None:
        leading.append(identity)
        if identity == "b":
            b_leads.set()
        await stop[identity].wait()

    a = asyncio.create_task(LeaderElector(leases, _config("a")).run(lambda: lead("a")))
    await asyncio.sleep(0.3)
    b = asyncio.create_task(LeaderElector(leases, _config("b")).run(lambda: lead("b")))
    await asyncio.sleep(1.0)
    assert leading == ["a"]
    lease = sim.cluster.get(sim.cluster.resource("leases", "coordination.k8s.io"), NS, NAME)
    assert lease["spec"]["holderIdentity"] == "a"
    assert lease["spec"]["leaseTransitions"] == 0

    stop["a"].set()
    await asyncio.wait_for(a, timeout=5)
    await asyncio.wait_for(b_leads.wait(), timeout=5)
    assert leading == ["a", "b"]
    lease = sim.cluster.get(sim.cluster.resource("leases", "coordination.k8s.io"), NS, NAME)
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    stop["b"].set()
    await asyncio.wait_for(b, timeout=5)
