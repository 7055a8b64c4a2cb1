"""Pod- and node-level chaos, and the admin endpoint that drives it over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime


@pytest.fixture
async def env() -> AsyncIterator[tuple[KubeSim, client.CoreV1Api, client.AppsV1Api]]:
    """kubesim with default delays on fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield sim, client.CoreV1Api(api), client.AppsV1Api(api)
        finally:
            await api.close()


eventually = poller(every=0.25, within=300.0)


def pod_manifest(name: str = "web") -> dict[str, Any]:
    """A one-container pod."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
    }


async def ready(v1: client.CoreV1Api, name: str = "web") -> Any:
    """The pod if Running and Ready."""
    p = await v1.read_namespaced_pod(name, "default")
    conds = {c.type: c.status for c in p.status.conditions or ()}
    return p if p.status.phase == "Running" and conds.get("Ready") == "True" else None


async def test_eviction_is_reported_like_the_kubelet(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """An evicted pod is Failed with reason Evicted, the pressure message and DisruptionTarget."""
    sim, v1, _ = env
    await v1.create_namespaced_pod("default", pod_manifest())
    await eventually(lambda: ready(v1))
    sim.workloads.evict_pod("web", resource="memory")

    async def evicted() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        return p if p.status.phase == "Failed" else None

    pod = await eventually(evicted)
    assert pod.status.reason == "Evicted"
    assert pod.status.message.startswith(
        "The node was low on resource: memory. Threshold quantity: 100Mi"
    )
    conds = {c.type: c for c in pod.status.conditions}
    assert (conds["DisruptionTarget"].status, conds["DisruptionTarget"].reason) == (
        "True",
        "TerminationByKubelet",
    )
    assert conds["Ready"].status == "False"
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 137
    events = (
        await v1.list_namespaced_event("default", field_selector="involvedObject.name=web")
    ).items
    assert ("Warning", "Evicted") in [(e.type, e.reason) for e in events]
    assert pod.metadata.deletion_timestamp is None, "evicted pods stay until someone deletes them"


async def test_failed_pod_in_a_statefulset_is_replaced(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """fail_pod puts the pod in phase Failed; its StatefulSet deletes and recreates it."""
    sim, v1, apps = env
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_manifest()["spec"]},
        },
    }
    phases: list[tuple[str, str]] = []
    sim.cluster.subscribe(
        "pods", lambda e, o: phases.append((o["metadata"]["uid"], o["status"].get("phase", "")))
    )
    await apps.create_namespaced_stateful_set("default", sts)
    first = await eventually(lambda: ready(v1, "web-0"))
    sim.workloads.fail_pod("web-0", exit_code=1)

    async def replaced() -> Any:
        p = await ready(v1, "web-0")
        return p if p is not None and p.metadata.uid != first.metadata.uid else None

    await eventually(replaced)
    assert (first.metadata.uid, "Failed") in phases


async def test_stalled_startup_holds_container_creating(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A stalled pod stays ContainerCreating on its node until released."""
    sim, v1, _ = env
    sim.workloads.stall_startup("web")
    await v1.create_namespaced_pod("default", pod_manifest())
    await asyncio.sleep(120)
    pod = await v1.read_namespaced_pod("web", "default")
    assert pod.spec.node_name == "kubesim-node-0"
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    conds = {c.type: c.status for c in pod.status.conditions}
    assert conds["PodReadyToStartContainers"] == "False"
    assert pod.status.pod_ip is None
    sim.workloads.stall_startup("web", stalled=False)
    await eventually(lambda: ready(v1))


async def test_deleting_the_node_takes_its_pods(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """Deleting the only node removes its pods; new pods wait with 'no nodes available'."""
    sim, v1, _ = env
    await v1.create_namespaced_pod("default", pod_manifest())
    await eventually(lambda: ready(v1))
    result = sim.workloads.delete_node("kubesim-node-0")
    assert result["pods"] == ["default/web"]

    async def gone() -> bool:
        return not (await v1.list_namespaced_pod("default")).items

    await eventually(gone)
    assert not (await v1.list_node()).items
    await v1.create_namespaced_pod("default", pod_manifest("late"))

    async def unschedulable() -> Any:
        p = await v1.read_namespaced_pod("late", "default")
        return next((c for c in p.status.conditions or () if c.type == "PodScheduled"), None)

    cond = await eventually(unschedulable)
    assert (cond.status, cond.reason, cond.message) == (
        "False",
        "Unschedulable",
        "no nodes available to schedule pods",
    )


async def test_admin_endpoint_runs_chaos_and_rejects_bad_input(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """POST /kubesim/v1/chaos crashes a container; unknown actions and parameters get a 400."""
    sim, v1, _ = env
    await v1.create_namespaced_pod("default", pod_manifest())
    await eventually(lambda: ready(v1))
    async with aiohttp.ClientSession() as http:
        url = f"{sim.url}/kubesim/v1/chaos"
        async with http.post(
            url, json={"action": "crash_container", "pod": "web", "exit_code": 7}
        ) as response:
            assert response.status == 200
            assert await response.json() == {
                "action": "crash_container",
                "pod": "default/web",
                "container": "app",
                "exitCode": 7,
                "repeat": False,
            }
        async with http.post(url, json={"action": "explode"}) as response:
            assert response.status == 400
            assert "unknown action 'explode'" in (await response.json())["message"]
        async with http.post(
            url, json={"action": "crash_container", "pod": "web", "bogus": 1}
        ) as response:
            assert response.status == 400
            assert "unknown parameter(s) bogus" in (await response.json())["message"]
        async with http.post(url, json={"action": "crash_container", "pod": "nope"}) as response:
            assert response.status == 400
            assert (await response.json())["message"] == "chaos: pod default/nope not found"

    async def restarted() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        last = p.status.container_statuses[0].last_state.terminated
        return last if last is not None else None

    last = await eventually(restarted)
    assert last.exit_code == 7


async def test_a_gpu_node_added_later_takes_the_pending_pod(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A GPU pod waits Unschedulable until add_node brings a GPU node with its own kubelet."""
    sim, v1, _ = env
    manifest = pod_manifest("gpu")
    manifest["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    await v1.create_namespaced_pod("default", manifest)

    async def unschedulable() -> Any:
        p = await v1.read_namespaced_pod("gpu", "default")
        return next((c for c in p.status.conditions or () if c.type == "PodScheduled"), None)

    assert (await eventually(unschedulable)).reason == "Unschedulable"
    added = sim.workloads.add_node(gpus=2, labels={"accelerator": "a100"})
    assert added["node"] == "kubesim-node-1"
    pod = await eventually(lambda: ready(v1, "gpu"))
    assert pod.spec.node_name == "kubesim-node-1"
    assert pod.status.host_ip == "10.0.0.3"
    assert pod.status.pod_ip.startswith("10.244.1.")


async def test_partitioned_node_strands_terminating_pods_until_healed(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A partitioned node goes Unknown and tainted; its pods turn NotReady, are evicted after
    300 s but stay Terminating until the node heals, and only then are they replaced."""
    sim, v1, apps = env
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_manifest()["spec"]},
        },
    }
    await apps.create_namespaced_stateful_set("default", sts)
    first = await eventually(lambda: ready(v1, "web-0"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = sim.workloads.partition_node("kubesim-node-0")
    assert result["evicting"] == ["default/web-0"]
    node = await v1.read_node("kubesim-node-0")
    ready_cond = next(c for c in node.status.conditions if c.type == "Ready")
    assert (ready_cond.status, ready_cond.reason) == ("Unknown", "NodeStatusUnknown")
    assert sorted((t.key, t.effect) for t in node.spec.taints) == [
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoSchedule"),
    ]
    pod = await v1.read_namespaced_pod("web-0", "default")
    assert next(c for c in pod.status.conditions if c.type == "Ready").status == "False"

    async def terminating() -> Any:
        p = await v1.read_namespaced_pod("web-0", "default")
        return p if p.metadata.deletion_timestamp is not None else None

    await eventually(terminating, within=400)
    assert loop.time() - start == pytest.approx(300, abs=2)
    await asyncio.sleep(120)
    stranded = await v1.read_namespaced_pod("web-0", "default")
    assert stranded.metadata.uid == first.metadata.uid, "nothing can finish the deletion"
    sim.workloads.partition_node("kubesim-node-0", partitioned=False)

    async def replaced() -> Any:
        p = await ready(v1, "web-0")
        return p if p is not None and p.metadata.uid != first.metadata.uid else None

    await eventually(replaced)
    node = await v1.read_node("kubesim-node-0")
    assert not node.spec.taints


async def test_stall_by_selector_holds_every_matching_pod(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A selector stall holds all of a StatefulSet's pods in ContainerCreating until released."""
    sim, v1, apps = env
    sim.workloads.stall_startup(selector={"app": "web"})
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "serviceName": "web",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_manifest()["spec"]},
        },
    }
    await apps.create_namespaced_stateful_set("default", sts)
    await asyncio.sleep(60)
    pods = (await v1.list_namespaced_pod("default")).items
    assert sorted(p.metadata.name for p in pods) == ["web-0", "web-1"]
    assert {p.status.container_statuses[0].state.waiting.reason for p in pods} == {
        "ContainerCreating"
    }
    sim.workloads.stall_startup(selector={"app": "web"}, stalled=False)
    await eventually(lambda: ready(v1, "web-0"))
    await eventually(lambda: ready(v1, "web-1"))
    with pytest.raises(ValueError, match="exactly one of pod= or selector="):
        sim.workloads.stall_startup()
