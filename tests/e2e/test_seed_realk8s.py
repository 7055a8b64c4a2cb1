"""The seed story on real Kubernetes machinery: kube-apiserver, kube-controller-manager's
StatefulSet and garbage collector, kube-scheduler, and a minimal node agent
(``tests/nodeagent.py``) standing in for the kubelet. kubesim runs the same story in
``test_seed.py`` and ``test_lifecycle.py``; here nothing of kubesim is involved."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.kube import KubeClient, load_api_client
from tests.controlplane import ControlPlane
from tests.e2e.backends import ApiEnv, api_env
from tests.e2e.harness import seed_manifest, wait_for
from tests.nodeagent import NodeAgent

NAME = "basic-ray-cluster"
RAY = "ray.io/v1"
pytestmark = pytest.mark.timeout(240)


@contextlib.asynccontextmanager
async def node(plane: ControlPlane) -> AsyncIterator[None]:
    """A node agent, named after the plane's port so a session never registers one twice."""
    client = KubeClient(await load_api_client(kubeconfig=str(plane.kubeconfig)), qps=0)
    agent = NodeAgent(client, f"realk8s-node-{plane.url.rsplit(':', 1)[1]}")
    task = asyncio.create_task(agent.run(), name="node-agent")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


async def ready_status(env: ApiEnv, *, workers: int) -> dict[str, Any] | None:
    """The seed's status once rayop reports it ready with ``workers`` ready workers."""
    cluster = await env.get(RAY, "RayCluster", NAME)
    status = (cluster or {}).get("status") or {}
    ok = status.get("state") == "ready" and status.get("readyWorkerReplicas") == workers
    return status if ok else None


async def test_seed_story_on_real_kubernetes(realk8s: ControlPlane, tmp_path: Path) -> None:
    """apply → Ready → scale → head loss → delete, with upstream's controllers doing the work."""
    async with api_env(tmp_path, realk8s) as env, node(realk8s):
        await env.run(await env.operator())
        await env.apply(seed_manifest())
        await wait_for(lambda: ready_status(env, workers=2), within=90, what="the seed to be ready")

        scaled = seed_manifest()
        scaled["spec"]["workerGroupSpecs"][0]["replicas"] = 3
        await env.apply(scaled)
        await wait_for(lambda: ready_status(env, workers=3), within=60, what="3 ready workers")

        head = await env.get("v1", "Pod", f"{NAME}-head-0")
        assert head is not None
        await env.user.delete("v1", "Pod", env.namespace, f"{NAME}-head-0")

        async def new_head_ready() -> bool:
            pod = await env.get("v1", "Pod", f"{NAME}-head-0")
            fresh = pod is not None and pod["metadata"]["uid"] != head["metadata"]["uid"]
            return fresh and await ready_status(env, workers=3) is not None

        await wait_for(new_head_ready, within=60, what="a new head pod and the cluster ready again")

        await env.user.delete(RAY, "RayCluster", env.namespace, NAME)

        async def children_gone() -> bool:
            for kind in ("StatefulSet", "Deployment"):
                if await env.user.list("apps/v1", kind, env.namespace):
                    return False
            return await env.get("v1", "Service", f"{NAME}-head-svc") is None

        await wait_for(
            children_gone, within=60, what="the garbage collector to remove the children"
        )
