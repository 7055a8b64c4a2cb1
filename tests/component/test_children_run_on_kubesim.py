"""The seed's children, applied to kubesim with its controllers and kubelet, run a Ray cluster.

This is what the builders promise the operator: the StatefulSets and Deployments they produce
are accepted by the workload controllers, which create pods the kubelet starts and reports
Ready; the head pod has its stable name, and every pod carries the labels the Ray autoscaler
selects by. Runs on fake loop time (looptime), so the probes' delays cost nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import config

from controller.api import parse_raycluster
from controller.builders import build_children
from controller.kube import KubeClient
from kubesim import KubeSim
from kubesim.controllers import WorkloadsConfig

pytestmark = pytest.mark.looptime

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "golden" / "samples" / "seed-basic-ray-cluster.yaml"


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 300.0) -> Any:
    """Poll `check` every second of loop time until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + within
    while not (result := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s of loop time")
        await asyncio.sleep(1)
    return result


def ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return pod.get("status", {}).get("phase") == "Running" and conditions.get("Ready") == "True"


async def test_seed_children_bring_up_head_and_workers() -> None:
    """The head pod <cluster>-head-0 and two workers come up Running and Ready, Ray-labelled."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig(node_gpus=0)) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        kube = KubeClient(api, qps=0)
        try:
            await kube.apply(
                yaml.safe_load((ROOT / "manifests/crd/ray.io_rayclusters.yaml").read_text())
            )
            manifest = yaml.safe_load(SEED.read_text())
            manifest["metadata"]["namespace"] = "default"
            await kube.apply(manifest)
            stored = await kube.get("ray.io/v1", "RayCluster", "default", "basic-ray-cluster")
            cluster = parse_raycluster(stored).cluster
            assert cluster is not None
            for child in build_children(cluster):
                await kube.apply(child)

            async def all_ready() -> list[dict[str, Any]] | None:
                pods = await kube.list(
                    "v1", "Pod", "default", label_selector="ray.io/cluster=basic-ray-cluster"
                )
                return pods if len(pods) == 3 and all(ready(p) for p in pods) else None

            pods = await eventually(all_ready)
        finally:
            await api.close()
    by_type: dict[str, list[str]] = {}
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["ray.io/is-ray-node"] == "yes"
        by_type.setdefault(labels["ray.io/node-type"], []).append(pod["metadata"]["name"])
    assert by_type["head"] == ["basic-ray-cluster-head-0"]
    assert len(by_type["worker"]) == 2
    assert all(
        name.startswith("basic-ray-cluster-small-worker-worker-") for name in by_type["worker"]
    )
