"""kubesim's controllers under the faults a chaos run found: a name still taken by another
object, a workload asking for 2^31 pods, failing creates — retried with back-off, bounded,
never fatal to the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller
from tests.component.kubesim.test_ctrl_statefulset import statefulset

pytestmark = pytest.mark.looptime

eventually = poller(every=0.5, within=600.0)
STS_USER = "system:serviceaccount:kube-system:statefulset-controller"


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    async with KubeSim(workloads_config=WorkloadsConfig(max_pods_per_workload=5)) as running:
        yield running


def pod_owner(sim: KubeSim, name: str) -> str | None:
    try:
        pod = sim.cluster.get("pods", "default", name)
    except Exception:
        return None
    refs = pod["metadata"].get("ownerReferences") or []
    return refs[0]["uid"] if refs else "none"


def creates_by_sts(sim: KubeSim) -> int:
    return sum(
        1
        for e in sim.audit.entries
        if e["verb"] == "create" and e["resource"] == "pods" and e["user"] == STS_USER
    )


async def test_a_recreated_statefulset_gets_its_pod_once_the_old_one_is_gone(sim: KubeSim) -> None:
    """Deleting a StatefulSet and creating it again at once: web-0 of the old set is still
    terminating (409 on create); the new set retries until the name is free."""
    old = sim.cluster.create("statefulsets.apps", "default", statefulset(replicas=1))
    await eventually(lambda: asyncio.sleep(0, pod_owner(sim, "web-0") == old["metadata"]["uid"]))
    await eventually(
        lambda: asyncio.sleep(
            0,
            (sim.cluster.get("pods", "default", "web-0").get("status") or {}).get("phase")
            == "Running",
        )
    )
    sim.cluster.delete("statefulsets.apps", "default", "web", propagation_policy="Background")
    new = sim.cluster.create("statefulsets.apps", "default", statefulset(replicas=1))
    uid = new["metadata"]["uid"]
    await eventually(lambda: asyncio.sleep(0, pod_owner(sim, "web-0") == uid))


async def test_a_taken_pod_name_is_retried_with_exponential_back_off(sim: KubeSim) -> None:
    """A user's own pod named web-0 blocks the set: creates are retried with client-go's
    back-off (5 ms doubling), not every second and not never; once it goes, the set's pod comes."""
    squatter = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
    sim.cluster.create("pods", "default", squatter)
    sts = sim.cluster.create("statefulsets.apps", "default", statefulset(replicas=1))
    await asyncio.sleep(100)
    attempts = creates_by_sts(sim)
    assert 10 <= attempts <= 20, attempts  # 1 s fixed retries would be ~100
    sim.cluster.delete("pods", "default", "web-0", grace_period_seconds=0)
    await eventually(lambda: asyncio.sleep(0, pod_owner(sim, "web-0") == sts["metadata"]["uid"]))


async def test_a_workload_asking_for_two_billion_pods_gets_its_budget(sim: KubeSim) -> None:
    """replicas 2147483647 creates the per-workload budget (here 5) and says why in an event;
    the simulator keeps serving."""
    body: dict[str, Any] = statefulset(replicas=2147483647, podManagementPolicy="Parallel")
    sim.cluster.create("statefulsets.apps", "default", body)

    async def five() -> bool:
        pods, _ = sim.cluster.list("pods", "default")
        return len(pods) == 5

    await eventually(five)
    await asyncio.sleep(30)
    pods, _ = sim.cluster.list("pods", "default")
    assert len(pods) == 5
    events, _ = sim.cluster.list("events", "default")
    assert any("at most 5 per workload" in e.get("message", "") for e in events)
