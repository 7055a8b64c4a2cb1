"""The v1 ReplicationController, run by the ReplicaSet controller's logic, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime

eventually = poller(every=0.5, within=300.0)


@pytest.fixture
async def v1() -> AsyncIterator[client.CoreV1Api]:
    """kubesim with default delays on fake time, and a core client."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield client.CoreV1Api(api)
        finally:
            await api.close()


def controller(replicas: int) -> dict[str, Any]:
    """A ReplicationController `web`."""
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"app": "web"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }


async def ready_replicas(v1: client.CoreV1Api, n: int) -> Any:
    """Wait until the RC reports `n` ready and available replicas; the RC."""

    async def check() -> Any:
        rc = await v1.read_namespaced_replication_controller_status("web", "default")
        s = rc.status
        ok = s.replicas == n and (s.ready_replicas or 0) == n and (s.available_replicas or 0) == n
        return rc if ok else None

    return await eventually(check)


async def test_replication_controller_keeps_its_replicas(v1: client.CoreV1Api) -> None:
    """3 pods `web-<5>` owned by the RC; scaling to 1 deletes two."""
    await v1.create_namespaced_replication_controller("default", controller(3))
    rc = await ready_replicas(v1, 3)
    assert rc.status.observed_generation == rc.metadata.generation
    pods = (await v1.list_namespaced_pod("default")).items
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata.name.startswith("web-")
        (ref,) = pod.metadata.owner_references
        assert (ref.api_version, ref.kind, ref.name) == ("v1", "ReplicationController", "web")
    await v1.patch_namespaced_replication_controller("web", "default", {"spec": {"replicas": 1}})
    await ready_replicas(v1, 1)

    async def one_pod() -> bool:
        pods = (await v1.list_namespaced_pod("default")).items
        return len(pods) == 1

    await eventually(one_pod)
