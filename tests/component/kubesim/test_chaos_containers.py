"""Container-level chaos, as the pod status and events of a real kubelet report it."""

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
async def env() -> AsyncIterator[tuple[KubeSim, client.CoreV1Api]]:
    """kubesim with the real kubelet delays and back-offs (10 s doubling to 300 s), fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield sim, client.CoreV1Api(api)
        finally:
            await api.close()


eventually = poller(every=0.25, within=300.0)


async def running_pod(v1: client.CoreV1Api, name: str = "web", **spec: Any) -> Any:
    """Create a one-container pod and wait until it is Running and Ready."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}], **spec},
    }
    await v1.create_namespaced_pod("default", manifest)

    async def ready() -> Any:
        p = await v1.read_namespaced_pod(name, "default")
        conds = {c.type: c.status for c in p.status.conditions or ()}
        return p if conds.get("Ready") == "True" else None

    return await eventually(ready)


async def test_crash_restarts_the_container_and_keeps_the_last_state(
    env: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """A crash with exit code 3 is restarted at once; lastState shows the terminated instance."""
    sim, v1 = env
    before = await running_pod(v1)
    old_id = before.status.container_statuses[0].container_id
    sim.workloads.crash_container("web", exit_code=3)

    async def restarted() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        c = p.status.container_statuses[0]
        return p if c.restart_count == 1 and c.state.running is not None else None

    pod = await eventually(restarted)
    container = pod.status.container_statuses[0]
    last = container.last_state.terminated
    assert (last.exit_code, last.reason, last.container_id) == (3, "Error", old_id)
    assert container.container_id != old_id
    assert pod.status.phase == "Running"


async def test_repeated_crashes_back_off_10_20_40_seconds(
    env: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """A crash loop restarts after 0, 10, 20, 40 s and reports CrashLoopBackOff in between."""
    sim, v1 = env
    pod = await running_pod(v1)
    loop = asyncio.get_running_loop()
    restarts: list[tuple[int, float]] = []

    def record(_event: str, obj: dict[str, Any]) -> None:
        count = obj["status"]["containerStatuses"][0]["restartCount"]
        if not restarts or restarts[-1][0] != count:
            restarts.append((count, loop.time()))

    sim.cluster.subscribe("pods", record)
    start = loop.time()
    sim.workloads.crash_container("web", exit_code=1, repeat=True)
    await eventually(lambda: _count_at_least(restarts, 4), within=200)
    times = {count: at - start for count, at in restarts}
    assert times[1] < 1
    assert times[2] - times[1] == pytest.approx(10, abs=1)
    assert times[3] - times[2] == pytest.approx(20, abs=1)
    assert times[4] - times[3] == pytest.approx(40, abs=1)
    current = await v1.read_namespaced_pod("web", "default")
    waiting = current.status.container_statuses[0].state.waiting
    assert waiting.reason == "CrashLoopBackOff"
    assert (
        waiting.message
        == f"back-off 1m20s restarting failed container=app pod=web_default({pod.metadata.uid})"
    )
    assert current.status.phase == "Running"
    ready = next(c for c in current.status.conditions if c.type == "Ready")
    assert ready.status == "False"
    backoffs = [
        e
        for e in (
            await v1.list_namespaced_event("default", field_selector="involvedObject.name=web")
        ).items
        if e.reason == "BackOff"
    ]
    assert backoffs[0].type == "Warning"
    assert (
        backoffs[0].message
        == f"Back-off restarting failed container app in pod web_default({pod.metadata.uid})"
    )
    assert backoffs[0].count >= 3


async def _count_at_least(restarts: list[tuple[int, float]], n: int) -> bool:
    return bool(restarts) and restarts[-1][0] >= n


async def test_restart_policy_never_fails_the_pod(env: tuple[KubeSim, client.CoreV1Api]) -> None:
    """With restartPolicy Never a crash ends the pod: phase Failed, no restart."""
    sim, v1 = env
    await running_pod(v1, restartPolicy="Never")
    sim.workloads.crash_container("web", exit_code=2)

    async def failed() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        return p if p.status.phase == "Failed" else None

    pod = await eventually(failed)
    container = pod.status.container_statuses[0]
    assert container.restart_count == 0
    assert (container.state.terminated.exit_code, container.state.terminated.reason) == (2, "Error")
    ready = next(c for c in pod.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "PodCompleted")


async def test_on_failure_exit_zero_completes_the_pod(
    env: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """With restartPolicy OnFailure an exit code 0 is not restarted: phase Succeeded."""
    sim, v1 = env
    await running_pod(v1, restartPolicy="OnFailure")
    sim.workloads.crash_container("web", exit_code=0)

    async def succeeded() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        return p if p.status.phase == "Succeeded" else None

    pod = await eventually(succeeded)
    assert pod.status.container_statuses[0].state.terminated.reason == "Completed"


async def test_failing_readiness_makes_the_pod_not_ready(
    env: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """A failing readiness probe flips Ready to False with an Unhealthy event, and back."""
    sim, v1 = env
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}
    manifest_spec = {
        "containers": [{"name": "app", "image": "nginx:1.25", "readinessProbe": probe}]
    }
    await running_pod(v1, **manifest_spec)
    sim.workloads.set_not_ready("web")

    async def not_ready() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        conds = {c.type: c for c in p.status.conditions}
        return p if conds["Ready"].status == "False" else None

    pod = await eventually(not_ready)
    ready = next(c for c in pod.status.conditions if c.type == "Ready")
    assert (ready.reason, ready.message) == (
        "ContainersNotReady",
        "containers with unready status: [app]",
    )
    assert pod.status.container_statuses[0].ready is False
    assert pod.status.container_statuses[0].state.running is not None
    events = (
        await v1.list_namespaced_event("default", field_selector="involvedObject.name=web")
    ).items
    unhealthy = [e for e in events if e.reason == "Unhealthy"]
    assert unhealthy[0].type == "Warning"
    assert unhealthy[0].message == "Readiness probe failed: HTTP probe failed with statuscode: 503"
    sim.workloads.set_not_ready("web", ready=True)
    await running_pod_ready(v1)


async def running_pod_ready(v1: client.CoreV1Api) -> None:
    """Wait until pod web is Ready again."""

    async def ready() -> bool:
        p = await v1.read_namespaced_pod("web", "default")
        return any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)

    await eventually(ready)


async def test_image_pull_failure_backs_off(env: tuple[KubeSim, client.CoreV1Api]) -> None:
    """A missing image shows ErrImagePull, then ImagePullBackOff; fixing it lets the pod run."""
    sim, v1 = env
    sim.workloads.fail_image_pull("nginx:9.99")
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "nginx:9.99"}]},
    }
    await v1.create_namespaced_pod("default", manifest)
    seen: list[str] = []

    async def waiting_reason(reason: str) -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        statuses = p.status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting is not None and (not seen or seen[-1] != waiting.reason):
            seen.append(waiting.reason)
        return waiting if waiting is not None and waiting.reason == reason else None

    err = await eventually(lambda: waiting_reason("ErrImagePull"))
    ref = "docker.io/library/nginx:9.99"
    assert err.message == (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
        f'failed to resolve reference "{ref}": {ref}: not found'
    )
    backoff = await eventually(lambda: waiting_reason("ImagePullBackOff"))
    assert backoff.message.startswith(
        'Back-off pulling image "nginx:9.99": ErrImagePull: rpc error'
    )
    pod = await v1.read_namespaced_pod("web", "default")
    assert pod.status.phase == "Pending"
    events = (
        await v1.list_namespaced_event("default", field_selector="involvedObject.name=web")
    ).items
    failed = [e.message for e in events if e.reason == "Failed"]
    assert "Error: ErrImagePull" in failed
    assert "Error: ImagePullBackOff" in failed
    sim.workloads.fail_image_pull("nginx:9.99", failing=False)
    await running_pod_ready(v1)
    assert seen[:2] == ["ContainerCreating", "ErrImagePull"] or seen[0] == "ErrImagePull"


async def test_failing_liveness_kills_and_restarts_the_container(
    env: tuple[KubeSim, client.CoreV1Api],
) -> None:
    """Three liveness failures 10 s apart, then Killing, exit 137 and a restart."""
    sim, v1 = env
    probe = {
        "httpGet": {"path": "/healthz", "port": 8080},
        "periodSeconds": 10,
        "failureThreshold": 3,
    }
    await running_pod(
        v1, containers=[{"name": "app", "image": "nginx:1.25", "livenessProbe": probe}]
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    sim.workloads.fail_liveness("web")

    async def restarted() -> Any:
        p = await v1.read_namespaced_pod("web", "default")
        c = p.status.container_statuses[0]
        return c if c.restart_count == 1 else None

    container = await eventually(restarted)
    assert loop.time() - start == pytest.approx(20, abs=1)
    assert container.last_state.terminated.exit_code == 137
    events = (
        await v1.list_namespaced_event("default", field_selector="involvedObject.name=web")
    ).items
    unhealthy = next(e for e in events if e.reason == "Unhealthy")
    assert unhealthy.message == "Liveness probe failed: HTTP probe failed with statuscode: 500"
    assert unhealthy.count == 3
    assert "Container app failed liveness probe, will be restarted" in [
        e.message for e in events if e.reason == "Killing"
    ]
