"""The CRD, every sample at both served versions, and every rendered child, on kubesim over HTTP.

What a user does with rayop's manifests, against an API server that validates like the real
one: install the CRD, apply their RayCluster, and (what the operator does next) server-side
apply every child object the builders make from the stored cluster. All must be accepted, and
reading the children back must show every field rayop set, exactly as it set it (the canonical
form the operator's no-write steady state depends on). Last, with kubesim's controllers and
kubelet, the seed's children must become a running head and workers.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config

from controller.api import parse_raycluster
from controller.builders import build_children
from controller.diff import contains
from controller.kube import KubeClient
from kubesim import KubeSim, WorkloadsConfig

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "manifests" / "crd" / "ray.io_rayclusters.yaml"
SAMPLES_DIR = ROOT / "tests" / "golden" / "samples"
SAMPLES = sorted(SAMPLES_DIR.glob("*.yaml"))


def ray_clusters(sample: Path) -> list[dict[str, Any]]:
    """The RayCluster documents of a sample file."""
    documents = yaml.safe_load_all(sample.read_text())
    return [d for d in documents if isinstance(d, dict) and d.get("kind") == "RayCluster"]


@pytest.fixture
async def kube(api_client: client.ApiClient) -> KubeClient:
    """rayop's own client on kubesim, with the RayCluster CRD installed."""
    kube = KubeClient(api_client, qps=0)
    await kube.apply(yaml.safe_load(CRD.read_text()))
    return kube


@pytest.mark.parametrize("version", ["v1", "v1alpha1"])
@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
async def test_sample_and_children_are_accepted(
    kube: KubeClient, sample: Path, version: str
) -> None:
    """The sample is stored at either version, and every child applies and reads back as built."""
    for manifest in ray_clusters(sample):
        manifest = copy.deepcopy(manifest)
        manifest["apiVersion"] = f"ray.io/{version}"
        manifest["metadata"].setdefault("namespace", "default")
        await kube.apply(manifest)
        stored = await kube.get("ray.io/v1", "RayCluster", "default", manifest["metadata"]["name"])
        result = parse_raycluster(stored)
        assert result.cluster is not None, result.problems
        for child in build_children(result.cluster):
            observed = await kube.apply(child)
            assert observed["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"]
            assert contains(observed, child), (
                f"{child['kind']}/{child['metadata']['name']} changed on write"
            )


async def test_children_reapplied_unchanged_are_no_ops(kube: KubeClient) -> None:
    """Applying the same children twice changes nothing on the server (same resourceVersion)."""
    (manifest,) = ray_clusters(
        ROOT / "tests" / "golden" / "samples" / "seed-basic-ray-cluster.yaml"
    )
    manifest["metadata"]["namespace"] = "default"
    await kube.apply(manifest)
    stored = await kube.get("ray.io/v1", "RayCluster", "default", "basic-ray-cluster")
    cluster = parse_raycluster(stored).cluster
    assert cluster is not None
    first = [await kube.apply(child) for child in build_children(cluster)]
    second = [await kube.apply(child) for child in build_children(cluster)]
    assert [o["metadata"]["resourceVersion"] for o in first] == [
        o["metadata"]["resourceVersion"] for o in second
    ]


@pytest.mark.kubectl
async def test_kubectl_shows_printer_columns(
    kube: KubeClient, sim: KubeSim, tmp_path: Path
) -> None:
    """`kubectl get rayclusters` prints the CRD's columns for a stored RayCluster."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    (manifest,) = ray_clusters(ROOT / "tests" / "golden" / "samples" / "ray-cluster.sample.yaml")
    manifest["metadata"]["namespace"] = "default"
    await kube.apply(manifest)
    # kubesim serves from this event loop: run kubectl without blocking it.
    proc = await asyncio.create_subprocess_exec(
        kubectl,
        "--kubeconfig",
        str(sim.kubeconfig_path),
        f"--cache-dir={tmp_path}",
        "get",
        "rayclusters",
        "-n",
        "default",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    header, row = out.decode().splitlines()
    assert header.split() == [
        "NAME",
        "DESIRED",
        "WORKERS",
        "AVAILABLE",
        "WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "STATUS",
        "AGE",
    ]
    assert row.split()[0] == "raycluster-kuberay"


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


@pytest.mark.looptime
async def test_seed_children_bring_up_head_and_workers() -> None:
    """The head pod <cluster>-head-0 and two workers come up Running and Ready, Ray-labelled.

    With kubesim's workload controllers and kubelet, on fake loop time (the probes' delays
    cost nothing): the StatefulSet and Deployment the builders make are ones the controllers
    turn into pods that start and pass their probes.
    """
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig(node_gpus=0)) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        kube = KubeClient(api, qps=0)
        try:
            await kube.apply(
                yaml.safe_load((ROOT / "manifests/crd/ray.io_rayclusters.yaml").read_text())
            )
            manifest = yaml.safe_load((SAMPLES_DIR / "seed-basic-ray-cluster.yaml").read_text())
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
