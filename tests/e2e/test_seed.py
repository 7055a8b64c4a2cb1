"""The seed RayCluster, applied exactly as written, comes up and is reported truthfully."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.harness import Env, condition, running_env, seed_manifest, wait_for

NAME = "basic-ray-cluster"


async def test_seed_manifest_becomes_ready_with_probes(tmp_path: Path) -> None:
    """The v1alpha1 seed, with Ray's real probes, reaches Ready with every child in place."""
    async with running_env(tmp_path, probes=True) as env:
        await env.apply(seed_manifest())

        async def ready() -> dict | None:
            status = await env.status(NAME)
            return status if status.get("state") == "ready" else None

        status = await wait_for(ready, within=30, what="the seed cluster to become ready")
        assert condition(status, "Ready")["status"] == "True"
        assert condition(status, "HeadPodReady")["status"] == "True"
        assert condition(status, "RayClusterProvisioned")["status"] == "True"
        assert status["desiredWorkerReplicas"] == 2
        assert status["readyWorkerReplicas"] == 2
        assert (status["minWorkerReplicas"], status["maxWorkerReplicas"]) == (1, 3)
        assert status["head"]["podName"] == f"{NAME}-head-0"
        assert status["head"]["serviceName"] == f"{NAME}-head-svc"
        assert status["endpoints"]["gcs-server"] == "6379"
        assert status["observedGeneration"] == 1

        children = {
            ("apps/v1", "StatefulSet", f"{NAME}-head"),
            ("v1", "Service", f"{NAME}-head-svc"),
            ("v1", "Service", f"{NAME}-workers"),
            ("v1", "ServiceAccount", NAME),
            ("rbac.authorization.k8s.io/v1", "Role", NAME),
            ("rbac.authorization.k8s.io/v1", "RoleBinding", NAME),
        }
        for api_version, kind, name in children:
            assert await env.get(api_version, kind, name) is not None, f"{kind} {name} missing"
        pods = await env.pods(NAME)
        assert len(pods) == 3
        (created,) = [e["message"] for e in await env.events("Created")]
        assert f"StatefulSet {NAME}-head" in created
        assert f"Service {NAME}-head-svc" in created


async def test_metrics_health_and_readiness_endpoints(env: Env) -> None:
    """/readyz is ready after sync, /healthz answers, /metrics counts rayop's requests."""
    await env.apply(seed_manifest())
    await wait_for(lambda: env.rayop_writes(), what="the operator to write")
    port = env.operator.servers.ports["health"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
            assert response.status == 200
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    assert re.search(r'rest_client_requests_total\{code="20[01]",method="PATCH"\} [1-9]', text)
    assert 'controller_runtime_reconcile_total{controller="raycluster",result="success"}' in text
    assert 'controller_runtime_max_concurrent_reconciles{controller="raycluster"} 4.0' in text
    assert "workqueue_adds_total" in text


@pytest.mark.kubectl
async def test_kubectl_wait_for_ready_condition(env: Env) -> None:
    """`kubectl wait --for=condition=Ready raycluster/NAME` returns once the cluster is up."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    await env.apply(seed_manifest())
    kubeconfig = str(env.sim.kubeconfig_path)
    cache = str(Path(kubeconfig).parent / "kube-cache")
    proc = await asyncio.create_subprocess_exec(
        kubectl, "--kubeconfig", kubeconfig, f"--cache-dir={cache}", "wait",
        "--for=condition=Ready", f"raycluster/{NAME}", "--timeout=20s",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert b"condition met" in out
