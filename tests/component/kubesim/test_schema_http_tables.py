"""Built-in tables and server defaults as the real kubectl sees them."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

STS: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}
                ]
            },
        },
    },
}
SVC: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}


async def kubectl(sim: KubeSim, cache: Path, *args: str) -> tuple[int, str, str]:
    """Run the real kubectl against `sim` without blocking the event loop that serves it."""
    process = await asyncio.create_subprocess_exec(
        "kubectl",
        f"--kubeconfig={sim.kubeconfig_path}",
        f"--cache-dir={cache}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


def table(text: str) -> list[list[str]]:
    """kubectl's human output split into rows of cells (cells contain no double spaces)."""
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()] for line in text.splitlines()
    ]


async def test_rollout_status_and_get_tables(sim_with_workloads: KubeSim, tmp_path: Path) -> None:
    """Defaults let `rollout status sts` finish; get pods/sts/svc print kubectl's built-in columns."""
    sim = sim_with_workloads
    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        await client.AppsV1Api(api).create_namespaced_stateful_set("default", STS)
        await client.CoreV1Api(api).create_namespaced_service("default", SVC)
    finally:
        await api.close()
    code, out, err = await kubectl(sim, tmp_path, "rollout", "status", "sts/web", "--timeout=30s")
    assert code == 0, err
    assert out.strip() == "partitioned roll out complete: 2 new pods have been updated..."

    code, out, err = await kubectl(sim, tmp_path, "get", "pods", "-o", "wide")
    assert code == 0, err
    rows = table(out)
    assert rows[0] == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    assert [r[:4] for r in rows[1:]] == [
        ["web-0", "1/1", "Running", "0"],
        ["web-1", "1/1", "Running", "0"],
    ]
    assert all(r[7:] == ["<none>", "<none>"] for r in rows[1:])

    code, out, err = await kubectl(sim, tmp_path, "get", "sts", "-o", "wide")
    assert code == 0, err
    rows = table(out)
    assert rows[0] == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert [rows[1][i] for i in (0, 1, 3, 4)] == ["web", "2/2", "c", "nginx:1.25"]

    code, out, err = await kubectl(sim, tmp_path, "get", "svc", "web", "-o", "wide")
    assert code == 0, err
    rows = table(out)
    assert rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert [rows[1][i] for i in (0, 1, 3, 4, 6)] == [
        "web",
        "ClusterIP",
        "<none>",
        "80/TCP",
        "app=web",
    ]


async def test_server_defaults_show_in_yaml(sim: KubeSim, tmp_path: Path) -> None:
    """`kubectl get -o jsonpath` reads the defaults a real server fills into a StatefulSet."""
    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        await client.AppsV1Api(api).create_namespaced_stateful_set("default", STS)
    finally:
        await api.close()
    path = (
        "{.spec.updateStrategy.type} {.spec.podManagementPolicy} {.spec.revisionHistoryLimit} "
        "{.spec.template.spec.restartPolicy} {.spec.template.spec.containers[0].imagePullPolicy} "
        "{.spec.template.spec.containers[0].ports[0].protocol}"
    )
    code, out, err = await kubectl(sim, tmp_path, "get", "sts", "web", "-o", f"jsonpath={path}")
    assert code == 0, err
    assert out.split() == ["RollingUpdate", "OrderedReady", "10", "Always", "IfNotPresent", "TCP"]
