"""Benchmark the informers against kubesim: watch throughput, memory per pod, initial sync.

Run: ``.venv/bin/python benchmarks/bench_informers.py [--pods N] [--typed-events M]``
(``--pods 50000`` for the full size). Prints a table and writes
``benchmarks/results/bench_informers.json``.

kubesim runs in a child process (this file with ``--serve``), as an API server would on
another machine, so the client's numbers are not eaten by the server's CPU on a 2-core box.
The child creates N Pods (realistic ~4.5 KB Ray worker pods, managedFields included) and
writes each one's status once, so its watch history holds 2N events (N ADDED, N MODIFIED).

Measured in this process:

1. raw list download: ``GET /api/v1/pods`` bytes only, then ``orjson.loads`` of them;
2. initial sync: a SharedInformer from start to ``has_synced`` (default transform; slim);
3. watch throughput: an informer synced with the N pods (as in steady state) resumes a watch
   from before the first pod, so the 2N events of history arrive as updates of cached pods
   into the store and one handler: end to end over HTTP, per CPU-second of this process, and
   on the same captured bytes without the network ("informer code alone"). The ceiling is
   ``orjson.loads`` of those bytes line by line; the baseline is kubernetes-asyncio's
   ``Watch().stream`` with typed ``V1Pod`` models, what a user would write;
4. memory: marginal bytes per cached pod (tracemalloc) after the default transform, the slim
   transform and read-only freezing, against ``json.loads`` dicts of the same pods.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import structlog

RESULTS = Path(__file__).parent / "results" / "bench_informers.json"

# rayop's slim_pod (controller/caches.py) as an allow-list: what the operator reads of a Pod.
SLIM_POD = {
    "metadata": dict.fromkeys(
        (
            "name",
            "namespace",
            "uid",
            "labels",
            "ownerReferences",
            "deletionTimestamp",
            "resourceVersion",
            "creationTimestamp",
        ),
        True,
    ),
    "spec": {"restartPolicy": True, "nodeName": True, "containers": {"name": True}},
    "status": {
        "phase": True,
        "reason": True,
        "message": True,
        "podIP": True,
        "conditions": True,
        "containerStatuses": dict.fromkeys(
            ("name", "ready", "restartCount", "state", "lastState"), True
        ),
    },
}


def pod_summary(obj: dict[str, Any]) -> dict[str, Any]:
    """A derived summary, not a Pod: about the least a status computation needs (the floor)."""
    metadata = obj["metadata"]
    status = obj.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    owners = [r["uid"] for r in metadata.get("ownerReferences") or () if r.get("controller")]
    return {
        "metadata": {
            "name": metadata["name"],
            "namespace": sys.intern(metadata["namespace"]),
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "labels": {k: sys.intern(v) for k, v in (metadata.get("labels") or {}).items()},
            "ownerReferences": [{"uid": sys.intern(uid), "controller": True} for uid in owners],
        },
        "status": {
            "phase": sys.intern(status.get("phase", "")),
            "ready": ready,
            "restarts": sum(
                c.get("restartCount", 0) for c in status.get("containerStatuses") or ()
            ),
        },
    }


# ---------------------------------------------------------------------- the server (child)


def worker_statefulset(cluster: str) -> dict[str, Any]:
    """The owner of a Ray cluster's worker pods (kubesim's garbage collector deletes orphans)."""
    labels = {"ray.io/cluster": cluster, "ray.io/group": "small-group"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": f"{cluster}-worker"},
        "spec": {
            "replicas": 0,
            "serviceName": f"{cluster}-worker",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.41.0"}]},
            },
        },
    }


def ray_worker_pod(i: int, owner_uid: str) -> dict[str, Any]:
    """A Ray worker pod as a StatefulSet would create it."""
    cluster = f"raycluster-{i // 10}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{cluster}-worker-{i}",
            "labels": {
                "ray.io/cluster": cluster,
                "ray.io/node-type": "worker",
                "ray.io/group": "small-group",
                "app.kubernetes.io/created-by": "rayop",
                "app.kubernetes.io/name": "kuberay",
            },
            "annotations": {"ray.io/ft-enabled": "false"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": f"{cluster}-worker",
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "ray-worker",
                    "image": "rayproject/ray:2.41.0",
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/bash", "-lc", "--"],
                    "args": [
                        "ulimit -n 65536; ray start --address=raycluster-head-svc:6379 "
                        "--block --num-cpus=1 --memory=2000000000"
                    ],
                    "env": [
                        {"name": "RAY_IP", "value": f"{cluster}-head-svc"},
                        {
                            "name": "FQ_RAY_IP",
                            "value": f"{cluster}-head-svc.default.svc.cluster.local",
                        },
                        {"name": "RAY_PORT", "value": "6379"},
                        {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"},
                    ],
                    "ports": [{"containerPort": 8080, "name": "metrics", "protocol": "TCP"}],
                    "resources": {
                        "limits": {"cpu": "1", "memory": "2Gi"},
                        "requests": {"cpu": "1", "memory": "2Gi"},
                    },
                    "volumeMounts": [{"mountPath": "/dev/shm", "name": "shared-mem"}],
                }
            ],
            "nodeName": f"node-{i % 50}",
            "volumes": [{"emptyDir": {"medium": "Memory"}, "name": "shared-mem"}],
        },
    }


def pod_status(i: int) -> dict[str, Any]:
    """A running pod's status."""
    stamp = "2026-11-25T17:00:05Z"
    return {
        "phase": "Running",
        "hostIP": f"10.0.0.{i % 50}",
        "podIP": f"10.1.{i // 250 % 250}.{i % 250}",
        "podIPs": [{"ip": f"10.1.{i // 250 % 250}.{i % 250}"}],
        "qosClass": "Guaranteed",
        "startTime": stamp,
        "conditions": [
            {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
            for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": [
            {
                "name": "ray-worker",
                "image": "rayproject/ray:2.41.0",
                "imageID": "docker.io/rayproject/ray@sha256:0123456789abcdef",
                "containerID": f"containerd://{i:064x}",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "lastState": {},
                "state": {"running": {"startedAt": stamp}},
            }
        ],
    }


def serve(pods: int) -> None:
    """Child: run kubesim with `pods` pods, print its coordinates, serve until stdin closes."""
    from kubesim import KubeSim

    async def main() -> None:
        async with KubeSim(controllers=False, history_size=2 * pods + 100) as sim:
            cluster = sim.cluster
            resource = cluster.resource("pods")
            statefulsets = cluster.resource("statefulsets", "apps")
            owners = [
                cluster.create(statefulsets, "default", worker_statefulset(f"raycluster-{c}"))
                for c in range((pods + 9) // 10)
            ]
            before = cluster.resource_version
            for i in range(pods):
                pod = ray_worker_pod(i, owners[i // 10]["metadata"]["uid"])
                cluster.create(resource, "default", pod)
                cluster.patch(
                    resource,
                    "default",
                    pod["metadata"]["name"],
                    {"status": pod_status(i)},
                    patch_type="merge",
                    subresource="status",
                )
            info = {
                "kubeconfig": str(sim.kubeconfig_path),
                "rv_before": str(before),
                "rv_after": str(cluster.resource_version),
            }
            print(json.dumps(info), flush=True)
            # Nobody reads this pipe any more: a full one would block the server's logging.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


# ---------------------------------------------------------------------- the client (parent)


async def raw_get(api: Any, query: list[tuple[str, str]]) -> Any:
    """A raw GET of /api/v1/pods (response not yet read)."""
    return await api.call_api(
        "/api/v1/pods",
        "GET",
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )


async def download_list(api: Any) -> tuple[float, bytes]:
    start = time.perf_counter()
    response = await raw_get(api, [("resourceVersion", "0")])
    body: bytes = await response.read()
    return time.perf_counter() - start, body


async def capture_watch(api: Any, rv: str, events: int) -> bytes:
    """The raw bytes of a watch replaying `events` events from `rv`."""
    response = await raw_get(
        api, [("watch", "true"), ("resourceVersion", rv), ("timeoutSeconds", "600")]
    )
    chunks: list[bytes] = []
    lines = 0
    async for chunk in response.content.iter_any():
        chunks.append(chunk)
        lines += chunk.count(b"\n")
        if lines >= events:
            break
    response.close()
    data = b"".join(chunks)
    return b"\n".join(data.split(b"\n")[:events]) + b"\n"


def orjson_ceiling(stream: bytes) -> float:
    """``orjson.loads`` of each line of the captured stream: events per CPU-second."""
    import orjson

    lines = [line for line in stream.split(b"\n") if line]
    loads = orjson.loads
    start = time.process_time()
    for line in lines:
        loads(line)
    return len(lines) / (time.process_time() - start)


def informer_pipeline(stream: bytes, listed: bytes) -> float:
    """The informer's own code on the captured stream, no network: events per CPU-second.

    The informer first stores the list (as after its initial sync), then 64 KiB chunks of
    the stream, split into lines as the client does, go through the reflector's delivery
    (decode, transform, store, one handler) exactly as a watch's would.
    """
    import orjson

    from informers import SharedInformer
    from informers._gc import paused

    informer = SharedInformer(None, group="", version="v1", plural="pods")
    informer.add_handler(on_add=lambda obj: None, on_update=lambda old, new: None)
    with paused():
        informer.replace(orjson.loads(listed)["items"], "0")
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    deliver = informer.reflector._deliver
    start = time.process_time()
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        with paused():
            deliver(lines)
    return stream.count(b"\n") / (time.process_time() - start)


async def informer_sync(
    api: Any, transform: Any = None, read_only: bool = False
) -> tuple[float, Any]:
    from informers import SharedInformer

    informer = SharedInformer(
        api, group="", version="v1", plural="pods", transform=transform, read_only=read_only
    )
    informer.add_handler(on_add=lambda obj: None)
    start = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(informer.run(), name="bench-informer")
        await informer.wait_for_sync()
        elapsed = time.perf_counter() - start
        run.cancel()
    return elapsed, informer


async def informer_watch(api: Any, rv: str, events: int) -> tuple[float, float]:
    """Replay `events` watch events into a synced informer with one handler.

    Returns (events/s, events per CPU-second of this process).
    """
    from informers import SharedInformer

    informer = SharedInformer(api, group="", version="v1", plural="pods")
    received = 0
    done = asyncio.Event()

    def handler(*_args: Any) -> None:
        nonlocal received
        received += 1
        if received == events:
            done.set()

    informer.add_handler(on_update=handler)
    # Synced first, as in steady state: the replayed history then updates cached pods.
    await informer.reflector._list()
    informer.reflector.last_resource_version = rv
    cpu = time.process_time()
    start = time.perf_counter()
    # The watch half of the reflector alone: no list first, so the history replay is all it reads.
    watch = asyncio.create_task(_rewatch(informer), name="bench-watch")
    await done.wait()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    watch.cancel()
    await asyncio.gather(watch, return_exceptions=True)
    return events / elapsed, events / cpu


async def _rewatch(informer: Any) -> None:
    # The reflector's watch loop without its list: resume wherever a stream ends.
    while True:
        try:
            await informer.reflector._watch()
        except Exception as exc:  # reported, then resumed like the reflector would
            print(f"watch interrupted ({exc}); resuming", file=sys.stderr)


async def typed_watch(api: Any, rv: str, events: int) -> float:
    """kubernetes-asyncio's Watch().stream with V1Pod models."""
    from kubernetes_asyncio import client, watch

    core = client.CoreV1Api(api)
    received = 0
    start = time.perf_counter()
    async with watch.Watch() as stream:
        async for _event in stream.stream(
            core.list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=600
        ):
            received += 1
            if received == events:
                break
    return received / (time.perf_counter() - start)


def traced(fn: Any) -> tuple[int, Any]:
    """Bytes still allocated after `fn()` (its result kept alive), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used, result


async def client_main(args: argparse.Namespace) -> dict[str, Any]:
    from kubernetes_asyncio import config

    from informers import keep_fields

    child = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
        [sys.executable, __file__, "--serve", "--pods", str(args.pods)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        started = time.perf_counter()
        info = json.loads(child.stdout.readline())
        print(f"kubesim child ready with {args.pods} pods in {time.perf_counter() - started:.1f} s")
        api = await config.new_client_from_config(config_file=info["kubeconfig"])
        try:
            return await measure(api, args, info, keep_fields(SLIM_POD))
        finally:
            await api.close()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


async def measure(
    api: Any, args: argparse.Namespace, info: dict[str, str], slim: Any
) -> dict[str, Any]:
    import orjson

    from informers._gc import paused

    pods = args.pods
    events = 2 * pods
    results: dict[str, Any] = {"pods": pods, "watch_events": events}

    download, body = await download_list(api)
    with paused():
        start = time.perf_counter()
        decoded = orjson.loads(body)
        results["list_orjson_s"] = round(time.perf_counter() - start, 3)
    assert len(decoded["items"]) == pods, len(decoded["items"])
    del decoded
    results["list_bytes"] = len(body)
    results["list_download_s"] = round(download, 3)

    for label, transform, read_only in (
        ("default", None, False),
        ("slim", slim, False),
        ("default_read_only", None, True),
    ):
        sync, informer = await informer_sync(api, transform, read_only)
        results[f"sync_{label}_s"] = round(sync, 3)
        del informer
        gc.unfreeze()
        gc.collect()

    stream = await capture_watch(api, info["rv_before"], events)
    results["watch_bytes"] = len(stream)
    results["orjson_ceiling_events_cpu_s"] = round(orjson_ceiling(stream))
    results["informer_pipeline_events_cpu_s"] = round(informer_pipeline(stream, body))
    del stream
    gc.collect()
    rate, per_cpu = await informer_watch(api, info["rv_before"], events)
    results["informer_events_s"] = round(rate)
    results["informer_events_cpu_s"] = round(per_cpu)
    gc.collect()
    typed = min(args.typed_events, events)
    results["typed_events"] = typed
    results["typed_watch_events_s"] = round(await typed_watch(api, info["rv_before"], typed))

    used, _ = traced(lambda: json.loads(body))
    results["bytes_per_pod_json_loads"] = used // pods
    for label, transform, read_only in (
        ("default", None, False),
        ("slim", slim, False),
        ("slim_read_only", slim, True),
        ("summary", pod_summary, False),
    ):
        gc.unfreeze()
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        _, informer = await informer_sync(api, transform, read_only)
        gc.collect()
        results[f"bytes_per_pod_{label}"] = (tracemalloc.get_traced_memory()[0] - base) // pods
        tracemalloc.stop()
        assert len(informer.store) == pods
        del informer
    return results


def _sync(r: dict[str, Any], label: str) -> str:
    seconds = r[f"sync_{label}_s"]
    return f"{seconds:.2f} s ({seconds / r['list_download_s']:.1f}x the download)"


def report(results: dict[str, Any]) -> None:
    machine = {
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": os.getloadavg()[0],
    }
    r = results
    ceiling = r["orjson_ceiling_events_cpu_s"]
    rows = [
        ("pods cached", f"{r['pods']:,}"),
        (
            "list size",
            f"{r['list_bytes'] / 2**20:.1f} MiB ({r['list_bytes'] // r['pods']:,} B/pod)",
        ),
        ("raw list download (bytes only)", f"{r['list_download_s']:.2f} s"),
        ("orjson.loads of that list", f"{r['list_orjson_s']:.2f} s"),
        ("initial sync, default transform", _sync(r, "default")),
        ("initial sync, slim transform", _sync(r, "slim")),
        ("initial sync, default, read_only", _sync(r, "default_read_only")),
        (
            "watch events replayed",
            f"{r['watch_events']:,} ({r['watch_bytes'] // r['watch_events']:,} B/event)",
        ),
        ("watch → store + 1 handler, end to end", f"{r['informer_events_s']:,} events/s"),
        ("  per CPU-second of this process", f"{r['informer_events_cpu_s']:,} events/s"),
        (
            "informer code alone, same bytes",
            f"{r['informer_pipeline_events_cpu_s']:,} events/CPU-s",
        ),
        (
            "orjson.loads alone, same bytes (ceiling)",
            f"{ceiling:,} events/CPU-s (informer: {r['informer_pipeline_events_cpu_s'] / ceiling:.0%})",
        ),
        (
            "kubernetes-asyncio Watch().stream, V1Pod",
            f"{r['typed_watch_events_s']:,} events/s (informer: {r['informer_events_s'] / r['typed_watch_events_s']:.1f}x)",
        ),
        ("memory/pod, json.loads dict (baseline)", f"{r['bytes_per_pod_json_loads']:,} B"),
        ("memory/pod, default transform", f"{r['bytes_per_pod_default']:,} B"),
        ("memory/pod, slim transform", f"{r['bytes_per_pod_slim']:,} B"),
        ("memory/pod, slim, read_only", f"{r['bytes_per_pod_slim_read_only']:,} B"),
        ("memory/pod, summary transform", f"{r['bytes_per_pod_summary']:,} B"),
    ]
    print(f"informers on kubesim — {machine}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pods", type=int, default=10_000, help="pods in the cluster (full: 50000)"
    )
    parser.add_argument(
        "--typed-events", type=int, default=3_000, help="events for the slow typed-model watch"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Only warnings from kubesim and the informers: the table is the output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.serve:
        serve(args.pods)
        return
    report(asyncio.run(client_main(args)))


if __name__ == "__main__":
    main()
