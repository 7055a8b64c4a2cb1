"""Memory per cached Ray pod in the operator's pod store, by transform.

Builds N realistic Ray pods shaped as kubesim serves them (uid, resourceVersion, managedFields,
a StatefulSet- or Deployment-backed worker group per cluster, one head per ten pods; 90 %
running and ready, 5 % unschedulable, 5 % in CrashLoopBackOff), encodes each to JSON, then for
each transform decodes every pod with orjson (as the reflector does), transforms it and upserts
it into an :class:`informers.Store` carrying the operator's ``raycluster`` index. The figure is
tracemalloc's retained bytes after the last upsert divided by N: the store, its indexes and
the objects, everything a cached pod costs. The CPU cost of a transform is reported as the
time to decode and transform one pod (untraced).

    .venv/bin/python benchmarks/bench_pod_cache.py [--pods 20000]

Prints a table and writes ``benchmarks/results/bench_pod_cache.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import machine
from controller.caches import CLUSTER_INDEX, _cluster_of_pod, slim_pod
from informers import Store, strip_managed_fields

RESULTS = Path(__file__).parent / "results" / "bench_pod_cache.json"
GOAL = 2048
STAMP = "2026-11-25T17:00:05Z"


def _managed_fields() -> list[dict[str, Any]]:
    entry = {"apiVersion": "v1", "fieldsType": "FieldsV1", "operation": "Update", "time": STAMP}
    return [
        {**entry, "manager": "kube-controller-manager",
         "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:ray.io/cluster": {}}},
                      "f:spec": {"f:containers": {'k:{"name":"ray-worker"}': {".": {}}}}}},
        {**entry, "manager": "kubelet", "subresource": "status",
         "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {},
                                   "f:phase": {}, "f:podIP": {}, "f:startTime": {}}}},
    ]  # fmt: skip


def ray_pod(i: int, owners: dict[str, str]) -> dict[str, Any]:
    """Pod ``i``: cluster ``i // 10``; pod 0 of each cluster is its head."""
    cluster, index = f"raycluster-{i // 10}", i % 10
    head = index == 0
    group = "headgroup" if head else "workers"
    statefulset = (i // 10) % 2 == 0  # rayop backs groups by both kinds
    owner = f"{cluster}-{'head' if head else 'workers'}"
    owners.setdefault(owner, str(uuid.uuid4()))
    labels = {
        "ray.io/cluster": cluster,
        "ray.io/node-type": "head" if head else "worker",
        "ray.io/group": group,
        "ray.io/is-ray-node": "yes",
        "app.kubernetes.io/created-by": "rayop",
        "app.kubernetes.io/name": "kuberay",
    }
    if statefulset:
        name = f"{owner}-{index}"
        labels["statefulset.kubernetes.io/pod-name"] = name
        labels["apps.kubernetes.io/pod-index"] = str(index)
        labels["controller-revision-hash"] = f"{owner}-6d9f8b7c4"
        kind = "StatefulSet"
    else:
        name = f"{owner}-7c9d8f6b5-{i:05x}"
        labels["pod-template-hash"] = "7c9d8f6b5"
        kind = "ReplicaSet"
    container = "ray-head" if head else "ray-worker"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": f"team-{i // 2000}",
            "uid": str(uuid.uuid4()),
            "resourceVersion": str(100000 + i),
            "creationTimestamp": STAMP,
            "labels": labels,
            "annotations": {"ray.io/ft-enabled": "false"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": kind,
                    "name": owner,
                    "uid": owners[owner],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": _managed_fields(),
        },
        "spec": {
            "containers": [
                {
                    "name": container,
                    "image": "rayproject/ray:2.41.0",
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/bash", "-lc", "--"],
                    "args": [
                        f"ulimit -n 65536; ray start --address={cluster}-head-svc:6379 --block"
                    ],
                    "env": [
                        {"name": "RAY_IP", "value": f"{cluster}-head-svc"},
                        {"name": "RAY_PORT", "value": "6379"},
                        {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"},
                    ],
                    "ports": [{"containerPort": 8080, "name": "metrics", "protocol": "TCP"}],
                    "resources": {
                        "limits": {"cpu": "1", "memory": "2Gi"},
                        "requests": {"cpu": "1", "memory": "2Gi"},
                    },
                    "volumeMounts": [{"mountPath": "/dev/shm", "name": "shared-mem"}],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
            ],
            "nodeName": f"node-{i % 50}",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
            "dnsPolicy": "ClusterFirst",
            "terminationGracePeriodSeconds": 30,
            "volumes": [{"emptyDir": {"medium": "Memory"}, "name": "shared-mem"}],
        },
        "status": _status(i, container),
    }


def _status(i: int, container: str) -> dict[str, Any]:
    ip = f"10.1.{i // 250 % 250}.{i % 250}"
    if i % 20 == 7:  # unschedulable
        return {
            "phase": "Pending",
            "qosClass": "Guaranteed",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/50 nodes are available: 50 Insufficient cpu.",
                 "lastProbeTime": None, "lastTransitionTime": STAMP}
            ],
        }  # fmt: skip
    crashing = i % 20 == 13
    ready = "False" if crashing else "True"
    state: dict[str, Any] = (
        {"waiting": {"reason": "CrashLoopBackOff",
                     "message": f"back-off 5m0s restarting failed container={container}"}}
        if crashing
        else {"running": {"startedAt": STAMP}}
    )  # fmt: skip
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": STAMP}
        for kind in ("PodReadyToStartContainers", "Initialized", "PodScheduled")
    ]
    for kind in ("ContainersReady", "Ready"):
        condition = {"type": kind, "status": ready, "lastProbeTime": None,
                     "lastTransitionTime": STAMP}  # fmt: skip
        if crashing:
            condition["reason"] = "ContainersNotReady"
            condition["message"] = f"containers with unready status: [{container}]"
        conditions.append(condition)
    return {
        "phase": "Running",
        "hostIP": f"10.0.0.{i % 50}",
        "hostIPs": [{"ip": f"10.0.0.{i % 50}"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "qosClass": "Guaranteed",
        "startTime": STAMP,
        "conditions": conditions,
        "containerStatuses": [
            {
                "name": container,
                "image": "docker.io/rayproject/ray:2.41.0",
                "imageID": "docker.io/rayproject/ray@sha256:0123456789abcdef",
                "containerID": f"containerd://{i:064x}",
                "ready": not crashing,
                "started": not crashing,
                "restartCount": 6 if crashing else 0,
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}} if crashing else {},
                "state": state,
            }
        ],
    }


def measure(raw: list[bytes], transform: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Retained bytes of a store holding every pod after ``transform``; decode+transform time.

    Memory first: values the transform shares between pods are built during this pass, so
    they are counted. The timed pass runs after it (a warm table, as in steady state).
    """
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    store = Store({CLUSTER_INDEX: _cluster_of_pod})
    for data in raw:
        store.upsert(transform(orjson.loads(data)))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert len(store) == len(raw)
    del store
    started = time.perf_counter()
    for data in raw:
        transform(orjson.loads(data))
    decode_us = (time.perf_counter() - started) / len(raw) * 1e6
    return {"bytes_per_pod": round(used / len(raw)), "decode_transform_us": round(decode_us, 1)}


def main() -> None:
    """Measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20_000)
    args = parser.parse_args()
    owners: dict[str, str] = {}
    raw = [orjson.dumps(ray_pod(i, owners)) for i in range(args.pods)]
    transforms: dict[str, Callable[[dict[str, Any]], Any]] = {
        "json (no transform)": lambda obj: obj,
        "strip managedFields": strip_managed_fields,
        "slim_pod (rayop)": slim_pod,
    }
    rows = []
    for name, transform in transforms.items():
        rows.append({"transform": name, **measure(raw, transform)})
    print(f"{args.pods} Ray pods, mean JSON size {sum(map(len, raw)) // len(raw)} B")
    print(f"{'transform':<24} {'bytes/pod':>10} {'decode+transform µs/pod':>24}")
    for row in rows:
        print(f"{row['transform']:<24} {row['bytes_per_pod']:>10} {row['decode_transform_us']:>24}")
    slim = rows[-1]["bytes_per_pod"]
    print(f"goal <= {GOAL} B per slim pod: {'met' if slim <= GOAL else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": machine(), "pods": args.pods, "goal_bytes": GOAL, "results": rows},
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
