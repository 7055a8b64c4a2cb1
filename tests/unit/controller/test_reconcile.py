"""reconcile() itself, driven with filled caches and a recording fake of rayop's client seam.

The one place below e2e where a fake client is allowed (issue 14): ``ApiRecorder`` stands in
for :class:`controller.kube.KubeClient`, records every write as ``(verb, kind, name)`` and keeps
what was applied, the way an API server would, so a test can hand those objects back to the
caches (as a watch would) and reconcile again. Everything else (caches, builders, status,
the event recorder) is the real code. Each test asserts the exact sequence of API calls.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry

from controller.caches import CHILD_KIND_BY_NAME, Caches
from controller.controller import ClusterKey, RayClusterController
from controller.events import EventRecorder
from controller.kube import KubeClient
from controller.kube.errors import Invalid
from controller.options import OperatorOptions
from controller.outcomes import Rejected

Call = tuple[str, str, str]
NS = "ns"
KEY = ClusterKey(NS, "rc")
UID = "rc-uid"


class ApiRecorder:
    """The writes of ``KubeClient`` (apply, delete), recorded and remembered; nothing sent."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.refuse: dict[str, Exception] = {}  # kind -> the error every apply of it raises
        self._rv = itertools.count(100)

    async def apply(self, obj: dict[str, Any], *, subresource: str | None = None) -> dict[str, Any]:
        kind = obj["kind"] + (f"/{subresource}" if subresource else "")
        name = obj["metadata"]["name"]
        label = obj["reason"] if obj["kind"] == "Event" else name
        self.calls.append(("apply", kind, label))
        if obj["kind"] in self.refuse:
            raise self.refuse[obj["kind"]]
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self._rv))
        stored["metadata"].setdefault("uid", f"{name}-uid")
        self.objects[(obj["kind"], name)] = stored
        return stored

    async def delete(
        self, api_version: str, kind: str, namespace: str | None, name: str, **_: Any
    ) -> bool:
        self.calls.append(("delete", kind, name))
        return self.objects.pop((kind, name), None) is not None

    def take(self) -> list[Call]:
        """The calls so far, forgotten."""
        calls, self.calls = self.calls, []
        return calls


class World:
    """A controller on caches that tests fill by hand, writing through an ApiRecorder."""

    def __init__(self, api: ApiClient) -> None:
        self.api = ApiRecorder()
        client = cast(KubeClient, self.api)
        self.caches = Caches(api)
        self.recorder = EventRecorder(client)
        self.controller = RayClusterController(
            client=client,
            caches=self.caches,
            recorder=self.recorder,
            registry=CollectorRegistry(),
            options=OperatorOptions(concurrency=1),
        )
        self.cluster = raycluster()

    async def reconcile(self) -> list[Call]:
        """One reconcile of the cluster, then the events it recorded; the calls it made."""
        clusters = self.caches.clusters[None]
        clusters.replace([clusters.prepare(copy.deepcopy(self.cluster))], "1")
        await self.controller.reconcile(KEY)
        await self.recorder.flush()
        return self.api.take()

    def sync(self) -> None:
        """Hand everything applied back to the caches, as the watches would."""
        by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in CHILD_KIND_BY_NAME}
        for (kind, _), obj in self.api.objects.items():
            if kind == "RayCluster":
                self.cluster["status"] = obj["status"]
                self.cluster["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
            elif kind in by_kind:
                by_kind[kind].append(copy.deepcopy(obj))
        for kind, objects in by_kind.items():
            informer = self.caches.children[CHILD_KIND_BY_NAME[kind]][None]
            informer.replace([informer.prepare(o) for o in objects], "1")

    def pods(self, *pods: dict[str, Any]) -> None:
        """Set the cached Ray pods."""
        informer = self.caches.pods[None]
        informer.replace([informer.prepare(copy.deepcopy(p)) for p in pods], "1")


def raycluster(**spec: Any) -> dict[str, Any]:
    """A small cluster: a head and one worker group of two replicas (a Deployment)."""
    container = {
        "name": "ray",
        "image": "rayproject/ray:2.9.0",
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
    }
    template = {"spec": {"containers": [container]}}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": "rc",
            "namespace": NS,
            "uid": UID,
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": {
            "rayVersion": "2.9.0",
            "headGroupSpec": {"rayStartParams": {}, "template": template},
            "workerGroupSpecs": [
                {
                    "groupName": "g",
                    "replicas": 2,
                    "minReplicas": 0,
                    "maxReplicas": 5,
                    "workloadKind": "Deployment",
                    "rayStartParams": {},
                    "template": template,
                }
            ],
            **spec,
        },
    }


def pod(name: str, node_type: str, *, ready: bool = True) -> dict[str, Any]:
    """A Running Ray pod of the cluster (ready or not), controlled by its workload."""
    group = "headgroup" if node_type == "head" else "g"
    status = "True" if ready else "False"
    owner = (
        {"kind": "StatefulSet", "name": "rc-head", "uid": "rc-head-uid"}
        if node_type == "head"
        else {"kind": "ReplicaSet", "name": "rc-g-worker-5d8f9", "uid": "rs-uid"}
    )
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"{name}-uid",
            "resourceVersion": "5",
            "ownerReferences": [{"apiVersion": "apps/v1", "controller": True, **owner}],
            "labels": {
                "ray.io/cluster": "rc",
                "ray.io/node-type": node_type,
                "ray.io/group": group,
            },
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": status}],
        },
    }


READY_PODS = (
    pod("rc-head-0", "head"),
    pod("rc-g-worker-a", "worker"),
    pod("rc-g-worker-b", "worker"),
)
CHILDREN: list[Call] = [
    ("apply", "Service", "rc-head-svc"),
    ("apply", "Service", "rc-workers"),
    ("apply", "StatefulSet", "rc-head"),
    ("apply", "Deployment", "rc-g-worker"),
]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    api = ApiClient(Configuration())
    yield World(api)
    await api.close()


async def converged(world: World) -> None:
    """Create the cluster, hand the children back, pods ready; the status applied too."""
    await world.reconcile()
    world.sync()
    world.pods(*READY_PODS)
    await world.reconcile()
    world.sync()


async def test_create_applies_every_child_then_status_then_one_event(world: World) -> None:
    """A new cluster: each child applied once, in build order, then status and one Created."""
    assert await world.reconcile() == [
        *CHILDREN,
        ("apply", "RayCluster/status", "rc"),
        ("apply", "Event", "Created"),
    ]


async def test_converged_cluster_makes_no_write_however_often_reconciled(world: World) -> None:
    """Converged: after 5 reconciles (the resync's, say), zero writes."""
    await converged(world)
    for _ in range(5):
        assert await world.reconcile() == []


async def test_scale_applies_the_workload_and_the_status_only(world: World) -> None:
    """replicas 2 → 3: the Deployment, the status (desired 3), one Updated event."""
    await converged(world)
    world.cluster["spec"]["workerGroupSpecs"][0]["replicas"] = 3
    world.cluster["metadata"]["generation"] = 2
    assert await world.reconcile() == [
        ("apply", "Deployment", "rc-g-worker"),
        ("apply", "RayCluster/status", "rc"),
        ("apply", "Event", "Updated"),
    ]
    deployment = world.api.objects[("Deployment", "rc-g-worker")]
    assert deployment["spec"]["replicas"] == 3


async def test_head_loss_writes_status_and_warns_once(world: World) -> None:
    """The head pod gone: status (HeadPodReady false) and one HeadPodNotReady; then quiet."""
    await converged(world)
    world.pods(*READY_PODS[1:])
    assert await world.reconcile() == [
        ("apply", "RayCluster/status", "rc"),
        ("apply", "Event", "HeadPodNotReady"),
    ]
    world.sync()
    assert await world.reconcile() == []


async def test_invalid_spec_writes_status_and_one_warning_and_no_child(world: World) -> None:
    """A group without containers: failed status, InvalidRayClusterSpec; again: nothing."""
    world.cluster["spec"]["workerGroupSpecs"][0]["template"] = {"spec": {"containers": []}}
    assert await world.reconcile() == [
        ("apply", "RayCluster/status", "rc"),
        ("apply", "Event", "InvalidRayClusterSpec"),
    ]
    world.sync()
    assert await world.reconcile() == []


async def test_suspend_scales_workloads_to_zero(world: World) -> None:
    """suspend: the head StatefulSet and the Deployment go to 0 replicas, status says so."""
    await converged(world)
    world.cluster["spec"]["suspend"] = True
    world.cluster["metadata"]["generation"] = 2
    assert await world.reconcile() == [
        ("apply", "StatefulSet", "rc-head"),
        ("apply", "Deployment", "rc-g-worker"),
        ("apply", "RayCluster/status", "rc"),
        ("apply", "Event", "Updated"),
    ]
    assert world.api.objects[("StatefulSet", "rc-head")]["spec"]["replicas"] == 0
    assert world.api.objects[("Deployment", "rc-g-worker")]["spec"]["replicas"] == 0


async def test_removed_group_deletes_its_children(world: World) -> None:
    """A worker group removed from the spec: its Deployment deleted, with an event."""
    await converged(world)
    world.cluster["spec"]["workerGroupSpecs"] = []
    world.cluster["metadata"]["generation"] = 2
    calls = await world.reconcile()
    assert ("delete", "Deployment", "rc-g-worker") in calls
    assert ("apply", "Event", "DeletedDeployment") in calls
    assert [c for c in calls if c[0] == "apply" and c[1] != "Event"] == [
        ("apply", "RayCluster/status", "rc")
    ]


async def test_deleted_cluster_makes_no_write(world: World) -> None:
    """A cluster being deleted (or gone): the garbage collector's job, zero writes."""
    await converged(world)
    world.cluster["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert await world.reconcile() == []
    world.caches.clusters[None].replace([], "2")
    await world.controller.reconcile(KEY)
    assert world.api.take() == []


async def test_a_refused_child_is_not_sent_again_until_the_spec_changes(world: World) -> None:
    """A 422 on the Deployment: one try and one warning; the next reconciles do not resend."""
    world.api.refuse["Deployment"] = Invalid("spec.x: Forbidden", code=422)
    with pytest.raises(Rejected, match=r"spec\.x: Forbidden"):
        await world.reconcile()
    calls = world.api.take()
    assert calls.count(("apply", "Deployment", "rc-g-worker")) == 1
    world.sync()
    for _ in range(3):
        with pytest.raises(Rejected, match=r"spec\.x: Forbidden"):
            await world.reconcile()
        assert ("apply", "Deployment", "rc-g-worker") not in world.api.take()
