"""kubectl against kubesim with its controllers and kubelet: rollouts and graceful deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubesim import KubeSim

pytestmark = pytest.mark.kubectl

Kubectl = Callable[..., Awaitable[tuple[int, str, str]]]

STS_YAML = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 2
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: c
        image: nginx:1.27
"""


@pytest.fixture
def kubectl(sim_with_workloads: KubeSim, kubectl_for: Callable[[KubeSim], Kubectl]) -> Kubectl:
    """kubectl against a kubesim with controllers and kubelet."""
    return kubectl_for(sim_with_workloads)


async def test_rollout_status_statefulset(kubectl: Kubectl) -> None:
    """rollout status waits for the StatefulSet's pods to be Ready and reports success."""
    code, _, err = await kubectl("apply", "--server-side", "-f", "-", stdin=STS_YAML)
    assert code == 0, err
    code, out, err = await kubectl("rollout", "status", "statefulset/web", "--timeout=20s")
    assert code == 0, err
    assert "partitioned roll out complete" in out or "roll out complete" in out
    code, out, _ = await kubectl("get", "pods", "-l", "app=web")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("web-0", "1/1", "Running"),
        ("web-1", "1/1", "Running"),
    ]


async def test_graceful_pod_delete_is_finished_by_the_kubelet(
    kubectl: Kubectl, sim_with_workloads: KubeSim, make: Any
) -> None:
    """Deleting a running pod marks it Terminating; the kubelet removes it; kubectl delete waits for that."""
    cluster = sim_with_workloads.cluster
    cluster.create("pods", "default", make.pod("p", terminationGracePeriodSeconds=5))
    for _ in range(200):
        if cluster.get("pods", "default", "p")["status"].get("phase") == "Running":
            break
        await asyncio.sleep(0.02)
    code, out, err = await kubectl("delete", "pod", "p", "--timeout=20s")
    assert code == 0, err
    assert out.strip() == 'pod "p" deleted'
    assert cluster.list("pods", "default", field_selector="metadata.name=p")[0] == []
    kubelet_deletes = [
        e for e in sim_with_workloads.audit.writes() if e["verb"] == "delete" and e["name"] == "p"
    ]
    assert [e["user"].startswith("system:node:") for e in kubelet_deletes] == [False, True]


async def test_describe_node_shows_the_kubelets_lease(kubectl: Kubectl) -> None:
    """`kubectl describe node` finds the node Lease (a real cluster's heartbeat), not
    "Failed to get lease"."""
    code, out, err = await kubectl("describe", "node", "kubesim-node-0")
    assert code == 0, err
    assert "Failed to get lease" not in out + err
    assert "HolderIdentity:  kubesim-node-0" in out
