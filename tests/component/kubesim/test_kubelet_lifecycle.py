"""The kubelet, scheduler and nodes as a client sees them: pod status, events, deletion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime


@pytest.fixture
async def core() -> AsyncIterator[tuple[KubeSim, client.CoreV1Api]]:
    """kubesim with realistic default delays (on fake loop time) and a CoreV1Api client."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig(node_gpus=0)) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield sim, client.CoreV1Api(api)
        finally:
            await api.close()


eventually = poller(every=0.25, within=120.0)


def pod(name: str, **spec: Any) -> dict[str, Any]:
    """A one-container pod manifest."""
    body: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.25"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


async def ready(v1: client.CoreV1Api, name: str) -> Any:
    """The pod once it is Running and Ready, else None."""
    current = await v1.read_namespaced_pod(name, "default")
    conditions = {c.type: c.status for c in current.status.conditions or ()}
    return (
        current if current.status.phase == "Running" and conditions.get("Ready") == "True" else None
    )


async def test_pod_comes_up_with_the_status_a_kubelet_writes(
    core: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """A pod is scheduled, pulled, started and Ready, with every status field a kubelet sets."""
    _, v1 = core
    await v1.create_namespaced_pod("default", pod("web"))
    first = await v1.read_namespaced_pod("web", "default")
    assert first.status.phase == "Pending"
    running = await eventually(lambda: ready(v1, "web"))
    status = running.status
    assert running.spec.node_name == "kubesim-node-0"
    assert [c.type for c in status.conditions] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert status.host_ip == "10.0.0.2"
    assert status.pod_ip.startswith("10.244.0.")
    assert [ip.ip for ip in status.pod_ips] == [status.pod_ip]
    assert status.qos_class == "BestEffort"
    assert status.start_time is not None
    (container,) = status.container_statuses
    assert container.name == "app"
    assert container.image == "docker.io/library/nginx:1.25"
    assert container.image_id.startswith("docker.io/library/nginx@sha256:")
    assert container.container_id.startswith("containerd://")
    assert (container.ready, container.started, container.restart_count) == (True, True, 0)
    assert container.state.running.started_at is not None


async def test_kubelet_events_read_like_describe(core: tuple[KubeSim, client.CoreV1Api]) -> None:
    """Scheduled, Pulling, Pulled, Created, Started are recorded in order with their sources."""
    _, v1 = core
    await v1.create_namespaced_pod("default", pod("web"))
    await eventually(lambda: ready(v1, "web"))
    events = (
        await v1.list_namespaced_event("default", field_selector="involvedObject.name=web")
    ).items
    seen = [(e.reason, e.source.component, e.message) for e in events]
    assert [r for r, _, _ in seen] == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
    assert seen[0] == (
        "Scheduled",
        "default-scheduler",
        "Successfully assigned default/web to kubesim-node-0",
    )
    assert seen[1][1:] == ("kubelet", 'Pulling image "nginx:1.25"')
    assert seen[3][2] == "Created container app"
    assert events[3].involved_object.field_path == "spec.containers{app}"


async def test_waiting_states_before_running(core: tuple[KubeSim, client.CoreV1Api]) -> None:
    """While the sandbox is created the container waits in ContainerCreating, not ready."""
    _, v1 = core
    await v1.create_namespaced_pod("default", pod("web"))
    await asyncio.sleep(0.2)
    current = await v1.read_namespaced_pod("web", "default")
    assert current.status.phase == "Pending"
    (container,) = current.status.container_statuses
    assert container.state.waiting.reason == "ContainerCreating"
    ready_cond = next(c for c in current.status.conditions if c.type == "Ready")
    assert (ready_cond.status, ready_cond.reason) == ("False", "ContainersNotReady")
    assert ready_cond.message == "containers with unready status: [app]"


async def test_init_containers_run_first(core: tuple[KubeSim, client.CoreV1Api]) -> None:
    """Init containers run to completion before main containers; Initialized turns True."""
    _, v1 = core
    manifest = pod("web", initContainers=[{"name": "setup", "image": "busybox:1.36"}])
    await v1.create_namespaced_pod("default", manifest)

    async def initializing() -> Any:
        current = await v1.read_namespaced_pod("web", "default")
        conds = {c.type: c for c in current.status.conditions or ()}
        init = conds.get("Initialized")
        return (
            current
            if init is not None and init.status == "False" and current.spec.node_name
            else None
        )

    pending = await eventually(initializing)
    init_cond = next(c for c in pending.status.conditions if c.type == "Initialized")
    assert (init_cond.reason, init_cond.message) == (
        "ContainersNotInitialized",
        "containers with incomplete status: [setup]",
    )
    running = await eventually(lambda: ready(v1, "web"))
    (init,) = running.status.init_container_statuses
    assert (init.state.terminated.exit_code, init.state.terminated.reason) == (0, "Completed")


async def test_graceful_deletion_ends_with_the_kubelet_delete(
    core: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """DELETE marks the pod Terminating; the kubelet stops it and removes it with grace 0."""
    sim, v1 = core
    await v1.create_namespaced_pod("default", pod("web"))
    await eventually(lambda: ready(v1, "web"))
    deleted = await v1.delete_namespaced_pod("web", "default")
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 30

    async def gone() -> bool:
        pods = (await v1.list_namespaced_pod("default")).items
        return not pods

    await eventually(gone)
    reasons = [e.reason for e in (await v1.list_namespaced_event("default")).items]
    assert "Killing" in reasons
    writes = [
        e
        for e in sim.audit.entries
        if e["verb"] == "delete" and e["user"] == "system:node:kubesim-node-0"
    ]
    assert writes, "the kubelet finishes the deletion itself"


async def test_gpu_pod_stays_pending_unschedulable(core: tuple[KubeSim, client.CoreV1Api]) -> None:
    """A pod asking for a GPU the node lacks stays Pending with the scheduler's message."""
    _, v1 = core
    manifest = pod("gpu")
    manifest["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    await v1.create_namespaced_pod("default", manifest)

    async def unschedulable() -> Any:
        current = await v1.read_namespaced_pod("gpu", "default")
        return next((c for c in current.status.conditions or () if c.type == "PodScheduled"), None)

    cond = await eventually(unschedulable)
    assert (cond.status, cond.reason) == ("False", "Unschedulable")
    assert cond.message.startswith("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")
    current = await v1.read_namespaced_pod("gpu", "default")
    assert current.status.phase == "Pending"
    assert not current.spec.node_name
    events = (
        await v1.list_namespaced_event("default", field_selector="involvedObject.name=gpu")
    ).items
    assert [(e.reason, e.type) for e in events] == [("FailedScheduling", "Warning")]


async def test_nodes_are_registered_ready_with_capacity() -> None:
    """Each configured node exists, Ready, with the configured capacity and a GPU count."""
    cfg = WorkloadsConfig(nodes=2, node_cpu="8", node_memory="32Gi", node_gpus=4)
    async with KubeSim(controllers=True, workloads_config=cfg) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            nodes = (await client.CoreV1Api(api).list_node()).items
        finally:
            await api.close()
    assert [n.metadata.name for n in nodes] == ["kubesim-node-0", "kubesim-node-1"]
    for node in nodes:
        assert node.status.allocatable["cpu"] == "8"
        assert node.status.capacity["nvidia.com/gpu"] == "4"
        ready_cond = next(c for c in node.status.conditions if c.type == "Ready")
        assert (ready_cond.status, ready_cond.reason) == ("True", "KubeletReady")
    assert nodes[1].spec.pod_cidr == "10.244.1.0/24"


async def test_grace_period_caps_a_slow_shutdown() -> None:
    """A container slower to stop than its grace period is killed at the deadline (exit 137)."""
    cfg = WorkloadsConfig(termination_delay=20.0)
    async with KubeSim(controllers=True, workloads_config=cfg) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            v1 = client.CoreV1Api(api)
            await v1.create_namespaced_pod("default", pod("web", terminationGracePeriodSeconds=3))
            await eventually(lambda: ready(v1, "web"))
            exits: list[int] = []

            def record(_event: str, obj: dict[str, Any]) -> None:
                state = obj["status"]["containerStatuses"][0]["state"]
                if "terminated" in state:
                    exits.append(state["terminated"]["exitCode"])

            sim.cluster.subscribe("pods", record)
            loop = asyncio.get_running_loop()
            start = loop.time()
            await v1.delete_namespaced_pod("web", "default")

            async def gone() -> bool:
                return not (await v1.list_namespaced_pod("default")).items

            await eventually(gone)
            assert loop.time() - start == pytest.approx(3, abs=0.5)
            assert exits[-1] == 137
        finally:
            await api.close()


async def test_startup_probe_gates_started_and_readiness(
    core: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """With a startup probe the container runs with started=false until it passes, then Ready."""
    _, v1 = core
    startup = {"exec": {"command": ["true"]}, "initialDelaySeconds": 20}
    manifest = pod("web")
    manifest["spec"]["containers"][0]["startupProbe"] = startup
    await v1.create_namespaced_pod("default", manifest)

    async def running_not_started() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        statuses = p.status.container_statuses or []
        return p if statuses and statuses[0].state.running is not None else None

    early = await eventually(running_not_started)
    assert early.status.container_statuses[0].started is False
    assert early.status.container_statuses[0].ready is False
    later = await eventually(lambda: ready(v1, "web"))
    assert later.status.container_statuses[0].started is True


async def test_active_deadline_fails_the_pod(core: tuple[KubeSim, client.CoreV1Api]) -> None:
    """A pod past activeDeadlineSeconds is killed and Failed with reason DeadlineExceeded."""
    _, v1 = core
    await v1.create_namespaced_pod("default", pod("job", activeDeadlineSeconds=60))
    await eventually(lambda: ready(v1, "job"))
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def failed() -> Any:
        p = await v1.read_namespaced_pod("job", "default")
        return p if p.status.phase == "Failed" else None

    done = await eventually(failed)
    assert loop.time() - start < 60
    assert (done.status.reason, done.status.message) == (
        "DeadlineExceeded",
        "Pod was active on the node longer than the specified deadline",
    )
    events = (
        await v1.list_namespaced_event("default", field_selector="involvedObject.name=job")
    ).items
    assert ("Warning", "DeadlineExceeded") in [(e.type, e.reason) for e in events]
