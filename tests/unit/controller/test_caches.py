"""Unit tests for controller.caches' pod transform: what it keeps, what it shares, what it costs."""

from __future__ import annotations

import copy
import functools
import gc
import tracemalloc
from typing import Any

import pytest

from controller.caches import (
    CLUSTER_INDEX,
    _cluster_of_pod,
    _SharedValues,
    owner_cluster,
    slim_pod,
)
from controller.observe import dead_pod_reason
from controller.status import pod_facts
from informers import Store, controller_owner_uids, namespace_of, object_key

STAMP = "2026-11-25T17:00:05Z"


def _pod(
    i: int,
    *,
    phase: str = "Running",
    state: str = "running",
    restart: str = "Always",
    **status: Any,
) -> dict[str, Any]:
    """A full Ray worker pod as the API server returns it (cluster ``c{i // 10}``)."""
    cluster = f"c{i // 10}"
    ready = "True" if state == "running" else "False"
    states = {
        "running": {"running": {"startedAt": STAMP}},
        "crashing": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
        "terminated": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": STAMP}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{cluster}-workers-{i}",
            "namespace": "ns",
            "uid": f"uid-{i}",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": STAMP,
            "labels": {"ray.io/cluster": cluster, "ray.io/group": "workers",
                       "ray.io/node-type": "worker", "app.kubernetes.io/name": "kuberay",
                       "statefulset.kubernetes.io/pod-name": f"{cluster}-workers-{i}"},
            "annotations": {"note": "x" * 200},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                 "name": f"{cluster}-workers", "uid": f"sts-{cluster}",
                                 "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {"containers": [{"name": "ray-worker", "image": "ray", "env": [{"name": "A"}]}],
                 "restartPolicy": restart, "nodeName": "node-1"},
        "status": {
            "phase": phase,
            "podIP": f"10.1.0.{i}",
            "startTime": STAMP,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": STAMP},
                {"type": "Ready", "status": ready, "lastTransitionTime": STAMP,
                 **({} if ready == "True" else {"reason": "ContainersNotReady",
                                                "message": "containers with unready status"})},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": STAMP},
            ],
            "containerStatuses": [{"name": "ray-worker", "ready": ready == "True",
                                   "restartCount": 0 if state == "running" else 4,
                                   "containerID": f"containerd://{i}", "imageID": "sha",
                                   "lastState": {}, "state": states[state]}],
            **status,
        },
    }  # fmt: skip


def _variants() -> list[dict[str, Any]]:
    unschedulable = _pod(4, phase="Pending")
    unschedulable["status"]["conditions"][-1] = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient cpu.",
    }
    del unschedulable["status"]["containerStatuses"], unschedulable["status"]["podIP"]
    terminating = _pod(5)
    terminating["metadata"]["deletionTimestamp"] = STAMP
    return [
        _pod(1),
        _pod(2, state="crashing"),
        _pod(3, phase="Failed", state="terminated", reason="Evicted", message="low on memory"),
        unschedulable,
        terminating,
        _pod(6, state="terminated", restart="Never"),
    ]


@pytest.mark.parametrize("full", _variants(), ids=lambda p: p["metadata"]["name"])
def test_slim_pod_reads_the_same_as_the_full_pod(full: dict[str, Any]) -> None:
    """Status, dead-pod detection, scale-down identity and the store's indexes see no difference."""
    slim = slim_pod(copy.deepcopy(full))
    assert pod_facts(slim) == pod_facts(full)
    assert dead_pod_reason(slim) == dead_pod_reason(full)
    assert owner_cluster(slim) == owner_cluster(full)
    assert object_key(slim) == object_key(full)
    assert namespace_of(slim) == namespace_of(full)
    assert controller_owner_uids(slim) == controller_owner_uids(full)
    assert _cluster_of_pod(slim) == _cluster_of_pod(full)
    for field in ("name", "namespace", "uid", "resourceVersion", "deletionTimestamp"):
        assert slim["metadata"].get(field) == full["metadata"].get(field)
    assert slim["metadata"]["labels"] == {
        k: v for k, v in full["metadata"]["labels"].items() if k.startswith("ray.io/")
    }
    assert slim_pod(copy.deepcopy(slim)) == slim  # idempotent, as a transform must be


def test_slim_pod_drops_what_nobody_reads() -> None:
    """Annotations, managedFields, timestamps, ids, images and non-Ray labels are not cached."""
    slim = slim_pod(_pod(1))
    assert set(slim["metadata"]) == {"name", "namespace", "uid", "resourceVersion", "labels",
                                     "ownerReferences"}  # fmt: skip
    assert slim["status"]["containerStatuses"] == [
        {"name": "ray-worker", "ready": True, "restartCount": 0, "state": {"running": {}}}
    ]
    assert [c["type"] for c in slim["status"]["conditions"]] == ["Ready", "PodScheduled"]
    assert STAMP not in repr(slim)


def test_pods_of_a_group_share_their_common_parts_and_cannot_change_them() -> None:
    """Equal labels, owners, conditions and container states are one object, and read-only."""
    a, b = slim_pod(_pod(11)), slim_pod(_pod(12))
    assert a["metadata"]["name"] != b["metadata"]["name"]
    for path in (("metadata", "labels"), ("metadata", "ownerReferences"),
                 ("status", "conditions"), ("status", "containerStatuses"), ("spec",)):  # fmt: skip
        x, y = a, b
        for field in path:
            x, y = x[field], y[field]
        assert x is y, path
    with pytest.raises(TypeError, match="read-only"):
        a["metadata"]["labels"]["ray.io/cluster"] = "other"
    assert copy.deepcopy(a) == a  # a reader that copies first gets a mutable equal copy


def test_sharing_table_stays_bounded() -> None:
    """The table of shared values never holds more than its limit (it restarts when full)."""
    shared = _SharedValues(limit=2)
    values = [shared.get(("k", i), functools.partial(dict, v=i)) for i in range(5)]
    assert values == [{"v": i} for i in range(5)]
    assert len(shared) <= 2
    assert shared.get(("k", 4), dict) is values[4]


def test_a_cached_pod_costs_under_two_kib() -> None:
    """1,000 slim pods in an indexed store retain less than 2 KiB each (issue 4's goal)."""
    pods = [_pod(i) for i in range(1000)]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        store = Store({CLUSTER_INDEX: _cluster_of_pod})
        for pod in pods:
            store.upsert(slim_pod(copy.deepcopy(pod)))
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert len(store.by_index(CLUSTER_INDEX, "ns/c7")) == 10
    assert used / len(pods) < 2048, used / len(pods)


async def test_only_rayclusters_resync_and_unchanged_updates_wake_nobody() -> None:
    """Pods and children: no resync timer, and a same-resourceVersion update is ignored.
    RayClusters: resync_period applies and such an update (the resync) is delivered."""
    from kubernetes_asyncio.client import ApiClient, Configuration

    from controller.caches import CHILD_KINDS, Caches

    api = ApiClient(Configuration())
    try:
        caches = Caches(api, resync_period=300.0)
        woken: list[str] = []
        caches.watch(
            on_cluster=lambda obj: woken.append("cluster"),
            on_child=lambda kind, obj, deleted: woken.append(kind),
            on_pod=lambda obj: woken.append("pod"),
        )
        assert caches.clusters[None]._resync_period == 300.0
        assert caches.pods[None]._resync_period is None
        assert all(by_ns[None]._resync_period is None for by_ns in caches.children.values())
        meta = {"name": "x", "namespace": "ns", "resourceVersion": "7",
                "labels": {"ray.io/cluster": "c"},
                "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCluster",
                                     "name": "c", "uid": "u", "controller": True}]}  # fmt: skip
        informers = [
            caches.clusters[None],
            caches.pods[None],
            caches.children[CHILD_KINDS[0]][None],
        ]
        for informer in informers:
            informer.replace([{"metadata": dict(meta)}], "7")
        for informer in informers:  # what a resync delivers: every object, unchanged
            for obj in informer.store.list():
                informer._dispatch_update(obj, obj)
        assert woken == ["cluster", "pod", "StatefulSet", "cluster", "cluster"]
        woken.clear()
        # A child's status moved (slim_child drops status): a new version, nothing new kept.
        sts = caches.children[CHILD_KINDS[0]][None]
        moved = {"metadata": {**meta, "resourceVersion": "8"}, "status": {"readyReplicas": 1}}
        sts.apply([{"type": "MODIFIED", "object": moved}])
        assert woken == []
        relabelled = {"metadata": {**meta, "resourceVersion": "9", "labels": {"a": "b"}}}
        sts.apply([{"type": "MODIFIED", "object": relabelled}])
        assert woken == ["StatefulSet", "StatefulSet"]
    finally:
        await api.close()
