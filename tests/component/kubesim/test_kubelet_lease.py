"""Node Leases: each kubelet's heartbeat in `kube-node-lease`, renewed on loop time."""

from __future__ import annotations

import asyncio

import pytest

from kubesim import KubeSim, WorkloadsConfig

pytestmark = pytest.mark.looptime

NODE = "kubesim-node-0"


def lease(sim: KubeSim) -> dict:
    return sim.cluster.get(
        sim.cluster.resource("leases", "coordination.k8s.io"), "kube-node-lease", NODE
    )


async def test_each_node_has_a_lease_renewed_every_quarter_of_its_duration() -> None:
    """The kubelet creates its Lease (owned by the Node, held by it) and renews it every 10 s;
    a partitioned kubelet stops renewing, and renews again once healed."""
    async with KubeSim(workloads_config=WorkloadsConfig(nodes=1)) as sim:
        await sim.workloads.started.wait()
        await asyncio.sleep(0.1)
        first = lease(sim)
        assert first["spec"]["holderIdentity"] == NODE
        assert first["spec"]["leaseDurationSeconds"] == 40
        assert first["metadata"]["ownerReferences"][0]["kind"] == "Node"
        await asyncio.sleep(10)
        renewed = lease(sim)["spec"]["renewTime"]
        assert renewed > first["spec"]["renewTime"]
        sim.workloads.partition_node(NODE)
        await asyncio.sleep(30)
        assert lease(sim)["spec"]["renewTime"] == renewed
        sim.workloads.partition_node(NODE, partitioned=False)
        await asyncio.sleep(10)
        assert lease(sim)["spec"]["renewTime"] > renewed


async def test_leases_can_be_turned_off() -> None:
    """`node_lease_seconds=0` runs kubelets without leases (for write-counting benchmarks)."""
    async with KubeSim(workloads_config=WorkloadsConfig(nodes=1, node_lease_seconds=0)) as sim:
        await sim.workloads.started.wait()
        await asyncio.sleep(15)
        items, _ = sim.cluster.list(
            sim.cluster.resource("leases", "coordination.k8s.io"), "kube-node-lease"
        )
        assert items == []
