"""`rayop run` and `rayop dev` as a user runs them: separate processes, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import yaml

from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from kubesim import KubeSim, WorkloadsConfig
from tests.e2e.harness import fast_probes, operator_kubeconfig, small_cluster, wait_for

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _rayop(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller", *args,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


async def test_run_serves_health_logs_json_and_drains_on_sigterm(tmp_path: Path) -> None:
    """`rayop run --kubeconfig`: ready after sync, JSON logs carry raycluster and reconcile_id,
    SIGTERM exits 0 promptly."""
    async with KubeSim(
        kubeconfig_path=tmp_path / "kc.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        api = await load_api_client(kubeconfig=str(sim.kubeconfig_path))
        user = KubeClient(api, field_manager="kubectl", qps=0)
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        kubeconfig = await operator_kubeconfig(sim, user, tmp_path / "rayop.yaml")
        port = _free_port()
        proc = await _rayop(
            "run", "--kubeconfig", str(kubeconfig), "--health-addr", f"127.0.0.1:{port}",
            "--metrics-addr", "0", "--log-format", "json", "--no-leader-elect",
        )  # fmt: skip
        try:

            async def ready() -> bool:
                url = f"http://127.0.0.1:{port}/readyz"
                try:
                    async with aiohttp.ClientSession() as http, http.get(url) as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(ready, within=20, what="/readyz to answer 200")
            await user.apply(fast_probes(small_cluster("cli", replicas=1)))

            async def up() -> bool:
                cluster = await user.get("ray.io/v1", "RayCluster", "default", "cli")
                return (cluster.get("status") or {}).get("state") == "ready"

            await wait_for(up, what="the cluster to become ready under `rayop run`")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=15)
            await user.close()
    assert proc.returncode == 0, err.decode()[-2000:]
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    reconcile_lines = [line for line in lines if line.get("raycluster") == "default/cli"]
    assert reconcile_lines
    assert all("reconcile_id" in line for line in reconcile_lines)
    assert any(line["event"] == "operator stopped" for line in lines)


async def test_dev_brings_up_a_cluster_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """`rayop dev -f FILE`: prints the KUBECONFIG line and live progress up to ready; SIGINT exits 0."""
    manifest = tmp_path / "cluster.yaml"
    manifest.write_text(yaml.safe_dump(fast_probes(small_cluster("devc", replicas=2))))
    kubeconfig = tmp_path / "kubeconfig.yaml"
    proc = await _rayop(
        "dev", "-f", str(manifest), "--kubeconfig-out", str(kubeconfig), "--runtime", "simulated"
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:

        async def progressed_to_ready() -> bool:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()  # type: ignore[union-attr]
            seen.append(line.strip())
            return "devc" in line and "state=ready" in line and "pods 3/3 ready" in line

        await wait_for(progressed_to_ready, within=30, what="a ready progress line")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=15)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert seen[:2] == [
        "runtime: simulated (pods are timers; no Ray runs)",
        "  why: asked for with --runtime simulated".strip(),
    ]
    assert f"export KUBECONFIG={kubeconfig}" in seen
    assert "applied RayCluster default/devc" in seen
    assert kubeconfig.exists()


async def test_dev_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    """`rayop dev --port P` with P taken says so in one line and exits 2, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await _rayop(
            "dev", "--port", str(port), "--kubeconfig-out", str(tmp_path / "kc"),
            "--runtime", "simulated",
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert err.decode().startswith("rayop dev: cannot serve kubesim or the operator: ")
    assert "Traceback" not in err.decode()
