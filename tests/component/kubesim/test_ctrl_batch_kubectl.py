"""kubectl against kubesim's Job controller: wait for completion, get, describe (real time)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable

import pytest

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.conftest import KubectlRunner

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34
"""


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    """kubesim with fast (real-time) delays: a Job pod runs 50 ms."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig.fast()) as sim:
        yield sim


async def test_kubectl_waits_for_a_job_and_lists_it_complete(
    sim: KubeSim, kubectl_for: Callable[[KubeSim], KubectlRunner]
) -> None:
    """`kubectl wait --for=condition=complete` returns; `kubectl get jobs` says Complete 2/2."""
    kubectl = kubectl_for(sim)
    code, _, err = await kubectl("apply", "-f", "-", stdin=JOB)
    assert code == 0, err
    code, out, err = await kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=30s")
    assert code == 0, err
    assert out.strip() == "job.batch/pi condition met"
    code, out, err = await kubectl("get", "jobs", "--no-headers")
    assert code == 0, err
    name, status, completions, *_ = out.split()
    assert (name, status, completions) == ("pi", "Complete", "2/2")
    code, out, err = await kubectl("describe", "job", "pi")
    assert code == 0, err
    assert "Pods Statuses:    0 Active (0 Ready) / 2 Succeeded / 0 Failed" in out
    assert "Completed" in out
    assert "SuccessfulCreate" in out
