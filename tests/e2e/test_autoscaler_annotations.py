"""controller.scaledown.ScaleDown against kubesim's API: the deletion-cost annotation it writes.

No workload controllers here (pods are created directly), so each step is one ``run`` and its
effect on the stored pods, over real HTTP.
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes_asyncio.client import ApiClient

from controller.api import RayCluster, parse_raycluster
from controller.builders import build_children
from controller.caches import ChildKey
from controller.diff import HASH_ANNOTATION, stamp
from controller.events import EventRecorder
from controller.kube import KubeClient, ServerError
from controller.scaledown import DELETION_COST, DELETION_COST_ANNOTATION, ScaleDown
from kubesim import KubeSim

NS = "default"
WORKLOAD = ChildKey("Deployment", "rc-g0-worker")


def _cluster(names: list[str]) -> RayCluster:
    ray = {"name": "ray", "image": "rayproject/ray:2.9.0", "resources": {"requests": {"cpu": "1"}}}
    template = {"spec": {"containers": [ray]}}
    result = parse_raycluster(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "rc", "namespace": NS, "uid": "rc-uid", "generation": 1},
            "spec": {
                "enableInTreeAutoscaling": True,
                "headGroupSpec": {"template": template},
                "workerGroupSpecs": [
                    {
                        "groupName": "g0",
                        "replicas": 2,
                        "maxReplicas": 5,
                        "template": template,
                        "scaleStrategy": {"workersToDelete": names},
                    }
                ],
            },
        }
    )
    assert result.cluster is not None, result.problems
    return result.cluster


def _pods(sim: KubeSim) -> list[dict[str, Any]]:
    pods, _ = sim.cluster.list(sim.cluster.resource("pods"), NS)
    return [copy.deepcopy(p) for p in pods]


def _annotations(sim: KubeSim, name: str) -> dict[str, str]:
    pod = sim.cluster.get(sim.cluster.resource("pods"), NS, name)
    return dict(pod["metadata"].get("annotations") or {})


async def _run(
    sim: KubeSim, scaledown: ScaleDown, names: list[str]
) -> tuple[dict[ChildKey, dict[str, Any]], list[Any]]:
    cluster = _cluster(names)
    desired = {
        ChildKey(c["kind"], c["metadata"]["name"]): stamp(c) for c in build_children(cluster)
    }
    observed = {WORKLOAD: {"metadata": {"name": WORKLOAD.name}, "spec": {"replicas": 3}}}
    involved = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc", "namespace": NS, "uid": "rc-uid"}}  # fmt: skip
    return await scaledown.run(involved, cluster, desired, observed, _pods(sim))


def _create_pods(sim: KubeSim) -> None:
    for name in ("w-a", "w-b", "w-c"):
        labels = {"ray.io/cluster": "rc", "ray.io/group": "g0", "ray.io/node-type": "worker"}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.9.0"}]},
        }
        sim.cluster.create(sim.cluster.resource("pods"), NS, pod)


async def test_named_pod_gets_the_minimum_cost_as_rayop_and_loses_it_when_unnamed(
    sim: KubeSim, api_client: ApiClient
) -> None:
    """The cost lands on the named pod only, owned by field manager rayop, and goes when unnamed."""
    _create_pods(sim)
    client = KubeClient(api_client, qps=0)
    scaledown = ScaleDown(client, EventRecorder(client))

    desired, errors = await _run(sim, scaledown, ["w-b"])
    assert errors == []
    assert desired[WORKLOAD]["spec"]["replicas"] == 2  # the annotation is in: replicas may drop
    assert (
        _annotations(sim, "w-b")
        == {DELETION_COST_ANNOTATION: "-2147483648"}
        == {DELETION_COST_ANNOTATION: DELETION_COST}
    )
    assert _annotations(sim, "w-a") == _annotations(sim, "w-c") == {}
    pod = sim.cluster.get(sim.cluster.resource("pods"), NS, "w-b")
    managers = {m["manager"]: m for m in pod["metadata"]["managedFields"]}
    assert managers["rayop"]["operation"] == "Apply"
    assert f"f:{DELETION_COST_ANNOTATION}" in str(managers["rayop"]["fieldsV1"])

    writes = len(sim.audit.writes())
    await _run(sim, scaledown, ["w-b"])
    assert len(sim.audit.writes()) == writes  # already annotated: no second write

    await _run(sim, scaledown, [])
    assert _annotations(sim, "w-b") == {}


async def test_replicas_are_held_when_the_cost_cannot_be_written(
    sim: KubeSim, api_client: ApiClient
) -> None:
    """If annotating fails, the workload keeps its current replicas and the error is returned."""
    _create_pods(sim)
    client = KubeClient(api_client, qps=0)
    scaledown = ScaleDown(client, EventRecorder(client))
    sim.faults.add(verb="patch", resource="pods", error=500)

    desired, errors = await _run(sim, scaledown, ["w-b"])
    assert [type(e) for e in errors] == [ServerError]
    held = desired[WORKLOAD]
    assert held["spec"]["replicas"] == 3
    # Re-stamped: its hash is not the one of the object that would lower replicas.
    wanted = stamp(next(c for c in build_children(_cluster(["w-b"])) if c["kind"] == "Deployment"))
    assert (
        held["metadata"]["annotations"][HASH_ANNOTATION]
        != (wanted["metadata"]["annotations"][HASH_ANNOTATION])
    )

    sim.faults.clear()
    desired, errors = await _run(sim, scaledown, ["w-b"])
    assert errors == []
    assert desired[WORKLOAD]["spec"]["replicas"] == 2
