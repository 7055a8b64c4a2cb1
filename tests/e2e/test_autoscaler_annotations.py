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
from controller.scaledown import (
    DELETION_COST,
    DELETION_COST_ANNOTATION,
    HANDOVER_MANAGER,
    ScaleDown,
)
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

    writes = len(sim.audit.writes(field_manager="rayop"))
    await _run(sim, scaledown, ["w-b"])
    # Already annotated: no second write.
    assert len(sim.audit.writes(field_manager="rayop")) == writes

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


async def test_hand_over_to_an_hpa_keeps_replicas_and_waits_for_it_to_succeed(
    sim: KubeSim, api_client: ApiClient
) -> None:
    """A failed hand-over keeps replicas applied and the HPA away; a good one leaves an owner."""
    template = {"spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.9.0",
                                         "resources": {"requests": {"cpu": "1"}}}]}}  # fmt: skip
    result = parse_raycluster({
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": "rc", "namespace": NS, "uid": "rc-uid", "generation": 1},
        "spec": {"headGroupSpec": {"template": template}, "workerGroupSpecs": [
            {"groupName": "g0", "minReplicas": 1, "maxReplicas": 5, "template": template,
             "horizontalPodAutoscaler": {}}]},
    })  # fmt: skip
    cluster = result.cluster
    assert cluster is not None, result.problems
    children = {ChildKey(c["kind"], c["metadata"]["name"]): c for c in build_children(cluster)}
    workload, hpa = (
        ChildKey("StatefulSet", "rc-g0-worker"),
        ChildKey("HorizontalPodAutoscaler", "rc-g0-worker"),
    )
    client = KubeClient(api_client, qps=0)
    # The group as it ran with fixed replicas (no owner: there is no RayCluster for the
    # garbage collector to find here).
    meta = {k: v for k, v in children[workload]["metadata"].items() if k != "ownerReferences"}
    running = {**children[workload], "metadata": meta,
               "spec": {**children[workload]["spec"], "replicas": 3}}  # fmt: skip
    await client.apply(running)
    desired = {key: stamp(child) for key, child in children.items()}
    observed = {workload: running}
    involved = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "rc", "namespace": NS, "uid": "rc-uid"}}  # fmt: skip
    scaledown = ScaleDown(client, EventRecorder(client))

    rule = sim.faults.add(verb="patch", resource="statefulsets", error=500)
    result_desired, errors = await scaledown.run(involved, cluster, desired, observed, [])
    assert [type(e) for e in errors] == [ServerError]
    assert result_desired[workload]["spec"]["replicas"] == 3
    assert hpa not in result_desired
    sim.faults.remove(rule)

    result_desired, errors = await scaledown.run(involved, cluster, desired, observed, [])
    assert errors == []
    assert "replicas" not in result_desired[workload]["spec"]
    assert hpa in result_desired
    stored = sim.cluster.get(sim.cluster.resource("statefulsets", "apps"), NS, workload.name)
    owners = [m["manager"] for m in stored["metadata"]["managedFields"]
              if "f:replicas" in str(m.get("fieldsV1"))]  # fmt: skip
    assert HANDOVER_MANAGER in owners
