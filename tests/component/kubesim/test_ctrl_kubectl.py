"""kubectl against kubesim's controllers: rollout status, scale, describe and get."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubesim import KubeSim, WorkloadsConfig

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

STS = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 3
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
"""

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: nginx:1.25
"""


class Kubectl:
    """Runs kubectl against one kubesim with a private cache directory."""

    def __init__(self, sim: KubeSim, tmp_path: Path) -> None:
        self.base = [
            "kubectl",
            f"--kubeconfig={sim.kubeconfig_path}",
            f"--cache-dir={tmp_path / 'cache'}",
        ]
        self.tmp_path = tmp_path

    async def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *self.base,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def kubectl(tmp_path: Path) -> AsyncIterator[Kubectl]:
    """kubesim with fast (real-time) delays, and a kubectl bound to it."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig.fast()) as sim:
        yield Kubectl(sim, tmp_path)


async def test_rollout_status_waits_for_the_statefulset(kubectl: Kubectl) -> None:
    """`kubectl rollout status sts` returns once every pod is ready at the update revision."""
    code, _, err = await kubectl("apply", "-f", "-", stdin=STS)
    assert code == 0, err
    code, out, err = await kubectl("rollout", "status", "statefulset/web", "--timeout=30s")
    assert code == 0, err
    # The API server defaults rollingUpdate.partition to 0, so kubectl takes its partitioned branch.
    assert out.strip().endswith("partitioned roll out complete: 3 new pods have been updated...")
    code, out, _ = await kubectl(
        "get",
        "pods",
        "-o",
        "custom-columns=NAME:.metadata.name,PHASE:.status.phase",
        "--no-headers",
    )
    assert code == 0
    assert out.split() == ["web-0", "Running", "web-1", "Running", "web-2", "Running"]


async def test_scale_and_rollout_of_an_image_change(kubectl: Kubectl) -> None:
    """`kubectl scale` shrinks from the top; `kubectl set image` rolls out a new revision."""
    assert (await kubectl("apply", "-f", "-", stdin=STS))[0] == 0
    assert (await kubectl("rollout", "status", "statefulset/web", "--timeout=30s"))[0] == 0
    code, out, err = await kubectl("scale", "statefulset", "web", "--replicas=1")
    assert code == 0, err
    assert out.strip() == "statefulset.apps/web scaled"
    code, _, err = await kubectl("set", "image", "statefulset/web", "nginx=nginx:1.27")
    assert code == 0, err
    code, out, err = await kubectl("rollout", "status", "statefulset/web", "--timeout=30s")
    assert code == 0, err
    assert "partitioned roll out complete: 1 new pods have been updated..." in out
    code, out, _ = await kubectl(
        "get", "pods", "-o", "jsonpath={.items[*].spec.containers[0].image}"
    )
    assert out.split() == ["nginx:1.27"]


async def test_describe_shows_controller_events(kubectl: Kubectl) -> None:
    """`kubectl describe sts` lists the controller's SuccessfulCreate events."""
    assert (await kubectl("apply", "-f", "-", stdin=STS))[0] == 0
    assert (await kubectl("rollout", "status", "statefulset/web", "--timeout=30s"))[0] == 0
    code, out, err = await kubectl("describe", "statefulset", "web")
    assert code == 0, err
    assert "Pods Status:        3 Running / 0 Waiting / 0 Succeeded / 0 Failed" in out
    assert "SuccessfulCreate" in out
    assert "create Pod web-2 in StatefulSet web successful" in out
    code, out, err = await kubectl("describe", "pod", "web-0")
    assert code == 0, err
    for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert reason in out


async def test_deployment_rollout_status(kubectl: Kubectl) -> None:
    """`kubectl rollout status deploy` reports success once the ReplicaSet is available."""
    assert (await kubectl("apply", "-f", "-", stdin=DEPLOY))[0] == 0
    code, out, err = await kubectl("rollout", "status", "deployment/api", "--timeout=30s")
    assert code == 0, err
    assert 'deployment "api" successfully rolled out' in out


async def test_logs_show_the_simulated_container_lifecycle(kubectl: Kubectl) -> None:
    """`kubectl logs` shows a line per container start (the process itself is simulated)."""
    assert (await kubectl("apply", "-f", "-", stdin=STS))[0] == 0
    assert (await kubectl("rollout", "status", "statefulset/web", "--timeout=30s"))[0] == 0
    code, out, err = await kubectl("logs", "web-0")
    assert code == 0, err
    assert "kubesim: container nginx started (image docker.io/library/nginx:1.25)" in out


async def test_rollout_undo_renumbers_the_old_revision(kubectl: Kubectl) -> None:
    """`rollout undo` goes back to revision 1's template, which becomes revision 3."""
    assert (await kubectl("apply", "-f", "-", stdin=STS))[0] == 0
    assert (await kubectl("rollout", "status", "statefulset/web", "--timeout=30s"))[0] == 0
    assert (await kubectl("set", "image", "statefulset/web", "nginx=nginx:1.27"))[0] == 0
    assert (await kubectl("rollout", "status", "statefulset/web", "--timeout=30s"))[0] == 0
    code, out, err = await kubectl("rollout", "undo", "statefulset/web")
    assert code == 0, err
    assert out.strip() == "statefulset.apps/web rolled back"
    assert (await kubectl("rollout", "status", "statefulset/web", "--timeout=30s"))[0] == 0
    code, out, _ = await kubectl(
        "get", "pods", "-o", "jsonpath={.items[*].spec.containers[0].image}"
    )
    assert out.split() == ["nginx:1.25"] * 3
    code, out, _ = await kubectl(
        "get",
        "controllerrevisions",
        "-o",
        "custom-columns=REV:.revision",
        "--no-headers",
        "--sort-by=.revision",
    )
    assert out.split() == ["2", "3"]


async def test_deployment_undo_reuses_the_old_replicaset(kubectl: Kubectl) -> None:
    """`rollout undo deploy` scales the first ReplicaSet back up and gives it revision 3."""
    assert (await kubectl("apply", "-f", "-", stdin=DEPLOY))[0] == 0
    assert (await kubectl("rollout", "status", "deployment/api", "--timeout=30s"))[0] == 0
    assert (await kubectl("set", "image", "deployment/api", "api=nginx:1.27"))[0] == 0
    assert (await kubectl("rollout", "status", "deployment/api", "--timeout=30s"))[0] == 0
    code, out, err = await kubectl("rollout", "undo", "deployment/api")
    assert code == 0, err
    code, out, err = await kubectl("rollout", "status", "deployment/api", "--timeout=30s")
    assert code == 0, err
    columns = "custom-columns=R:.spec.replicas,REV:.metadata.annotations.deployment\\.kubernetes\\.io/revision,IMG:.spec.template.spec.containers[0].image"
    code, out, _ = await kubectl(
        "get", "rs", "-o", columns, "--no-headers", "--sort-by=.metadata.creationTimestamp"
    )
    rows = sorted(line.split() for line in out.splitlines())
    assert rows == [["0", "2", "nginx:1.27"], ["2", "3", "nginx:1.25"]]
