"""Pods run as real processes: their network, files, environment and lifecycle."""

from __future__ import annotations

from typing import Any

from tests.component.kubesim.process.conftest import Cluster


def shell_pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    """A one-container pod running `sh -c script`."""
    container = {"name": "main", "command": ["sh", "-c", script]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


async def test_pod_sees_its_own_ip_and_hostname(cluster: Cluster) -> None:
    """The container runs in the pod's namespaces: eth0 has the pod IP, the hostname is the pod's."""
    await cluster.create(shell_pod("who", "hostname; ip -4 -o addr show eth0; cat /etc/hosts"))

    async def done() -> Any:
        return (await cluster.status_of("who", "main")).get("state", {}).get("terminated")

    terminated = await cluster.eventually(done)
    pod = await cluster.pod("who")
    log = await cluster.log("who", "main")
    assert terminated["exitCode"] == 0, log
    assert terminated["reason"] == "Completed"
    assert log.splitlines()[0] == "who"
    assert f"inet {pod['status']['podIP']}/16" in log
    assert f"{pod['status']['podIP']}\twho" in log
    assert pod["status"]["phase"] == "Succeeded"
