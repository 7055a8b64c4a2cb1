"""The scheduler: spreading, resource fit, node selectors, and the FailedScheduling wording."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from kubesim.scheduler.fit import unschedulable_message
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime


@pytest.fixture
async def v1() -> AsyncIterator[client.CoreV1Api]:
    """Two nodes with 2 CPUs and 1 GPU each."""
    cfg = WorkloadsConfig(nodes=2, node_cpu="2", node_memory="4Gi", node_gpus=1)
    async with KubeSim(controllers=True, workloads_config=cfg) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield client.CoreV1Api(api)
        finally:
            await api.close()


eventually = poller(every=0.25, within=60.0)


def pod(name: str, *, cpu: str = "500m", gpu: int = 0, **spec: Any) -> dict[str, Any]:
    """A pod requesting `cpu` (and GPUs as limits)."""
    resources: dict[str, Any] = {"requests": {"cpu": cpu}}
    if gpu:
        resources["limits"] = {"nvidia.com/gpu": str(gpu)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "c", "image": "busybox:1.36", "resources": resources}],
            **spec,
        },
    }


async def scheduled(v1: client.CoreV1Api, name: str) -> Any:
    """The PodScheduled condition once the scheduler decided."""
    p = await v1.read_namespaced_pod(name, "default")
    return next((c for c in p.status.conditions or () if c.type == "PodScheduled"), None)


async def test_pods_spread_over_nodes(v1: client.CoreV1Api) -> None:
    """Pods go to the node with the fewest pods."""
    for i in range(4):
        await v1.create_namespaced_pod("default", pod(f"p{i}"))
    for i in range(4):
        await eventually(lambda i=i: scheduled(v1, f"p{i}"))
    nodes = [p.spec.node_name for p in (await v1.list_namespaced_pod("default")).items]
    assert sorted(nodes) == ["kubesim-node-0", "kubesim-node-0", "kubesim-node-1", "kubesim-node-1"]


async def test_capacity_is_accounted_and_freed(v1: client.CoreV1Api) -> None:
    """A third 1.5-CPU pod does not fit two 2-CPU nodes until another pod is deleted."""
    await v1.create_namespaced_pod("default", pod("a", cpu="1500m"))
    await v1.create_namespaced_pod("default", pod("b", cpu="1500m"))
    await v1.create_namespaced_pod("default", pod("c", cpu="1500m"))
    cond = await eventually(lambda: scheduled(v1, "c"))
    assert (cond.status, cond.reason) == ("False", "Unschedulable")
    assert cond.message == (
        "0/2 nodes are available: 2 Insufficient cpu. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    )
    await v1.delete_namespaced_pod("a", "default")

    async def bound() -> Any:
        p = await v1.read_namespaced_pod("c", "default")
        return p.spec.node_name

    assert await eventually(bound) in ("kubesim-node-0", "kubesim-node-1")


async def test_node_selector_and_gpu_reasons_are_counted(v1: client.CoreV1Api) -> None:
    """Reasons are counted per node and sorted, like the real scheduler's message."""
    await v1.create_namespaced_pod(
        "default", pod("sel", nodeSelector={"kubernetes.io/hostname": "elsewhere"})
    )
    cond = await eventually(lambda: scheduled(v1, "sel"))
    assert cond.message == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    await v1.create_namespaced_pod("default", pod("gpus", gpu=2))
    cond = await eventually(lambda: scheduled(v1, "gpus"))
    assert cond.message.startswith("0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")


def test_message_sorts_reason_counts() -> None:
    """Mixed reasons are listed as sorted 'N reason' parts."""
    message = unschedulable_message(
        3, [["Insufficient memory"], ["Insufficient cpu"], ["Insufficient cpu"]]
    )
    assert message.startswith("0/3 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.")
