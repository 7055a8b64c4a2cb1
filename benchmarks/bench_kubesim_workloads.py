"""Benchmark kubesim's controllers and kubelet: settle a scale-up of every StatefulSet by one.

    .venv/bin/python benchmarks/bench_kubesim_workloads.py           # 250 sets x 4 pods, ~1 min
    .venv/bin/python benchmarks/bench_kubesim_workloads.py --full    # 2,500 sets x 4 = 10,000 pods

Everything runs in this process against `kubesim.apiserver.cluster.Cluster` (no HTTP: the controllers
and kubelet are in-process in kubesim too, so this is exactly their cost). Delays are zero, so
the times are CPU-bound: how fast kubesim can move pods, not how long a real kubelet waits.

Phases:

1. create N StatefulSets of R replicas (Parallel by default) and wait until every pod is Ready;
2. scale every StatefulSet to R+1 through /scale and wait until each reports R+1 ready replicas.

CPU is attributed (exclusive thread CPU time) to the component on top of a call stack:
`api` (Cluster verbs: validation, defaults, managedFields, commit, watch fan-out to the
broadcaster), `caches` (the workloads' in-process informers and their handlers), `controllers`
(StatefulSet reconcile, scheduler), `kubelet` (pod sync, runtime timers, status build), and
`other` (event loop, everything unattributed). Prints a table and writes JSON to
benchmarks/results/bench_kubesim_workloads.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubesim.apiserver.cluster import Cluster
from kubesim.common.config import WorkloadsConfig
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller
from kubesim.kubelet.agent import Kubelet
from kubesim.kubelet.simulated import SimulatedRuntime
from kubesim.scheduler.scheduler import Scheduler
from kubesim.workloads import Workloads

RESULTS = Path(__file__).parent / "results" / "bench_kubesim_workloads.json"


class Profiler:
    """Exclusive CPU time per component, by a stack of wrapped calls."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._mark = time.thread_time()
        self.enabled = False

    def _switch(self) -> None:
        now = time.thread_time()
        top = self._stack[-1] if self._stack else "other"
        if self.enabled:
            self.totals[top] += now - self._mark
        self._mark = now

    def wrap(self, component: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._switch()
            self._stack.append(component)
            try:
                return fn(*args, **kwargs)
            finally:
                self._switch()
                self._stack.pop()

        return wrapper

    def reset(self) -> None:
        self._switch()
        self.totals.clear()
        self.enabled = True

    def stop(self) -> dict[str, float]:
        self._switch()
        self.enabled = False
        return dict(self.totals)


def instrument(profiler: Profiler) -> None:
    """Wrap the entry points of each component at class level."""
    for name in ("create", "update", "patch", "delete", "get", "list", "get_scale"):
        setattr(Cluster, name, profiler.wrap("api", getattr(Cluster, name)))
    Cache._on_event = profiler.wrap("caches", Cache._on_event)  # type: ignore[method-assign]
    for cls in Controller.__subclasses__():
        cls.reconcile = profiler.wrap("controllers", cls.reconcile)  # type: ignore[method-assign]
    Scheduler.schedule = profiler.wrap("controllers", Scheduler.schedule)  # type: ignore[method-assign]
    Kubelet.sync = profiler.wrap("kubelet", Kubelet.sync)  # type: ignore[method-assign]
    original_later = SimulatedRuntime._later

    def timed_later(
        self: SimulatedRuntime, uid: str, key: str, delay: float, fn: Callable[[str], None]
    ) -> None:
        original_later(self, uid, key, delay, profiler.wrap("kubelet", fn))

    SimulatedRuntime._later = timed_later  # type: ignore[method-assign]


def statefulset(index: int, replicas: int, policy: str) -> dict[str, Any]:
    name = f"set-{index}"
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "ray.io/group": "workers"}},
                "spec": {
                    "containers": [
                        {
                            "name": "ray-worker",
                            "image": "rayproject/ray:2.9.0",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }


async def wait_ready(cluster: Cluster, sets: int, replicas: int, *, deadline: float) -> float:
    """Seconds until every StatefulSet reports `replicas` ready replicas."""
    start = time.perf_counter()
    res = cluster.resource("statefulsets", "apps")
    while True:
        items, _ = cluster.list(res, "default")
        done = sum(
            1
            for s in items
            if (s.get("status") or {}).get("readyReplicas") == replicas
            and s["spec"]["replicas"] == replicas
        )
        if done == sets:
            return time.perf_counter() - start
        if time.perf_counter() - start > deadline:
            raise SystemExit(f"not settled after {deadline}s: {done}/{sets} StatefulSets ready")
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    profiler = Profiler()
    instrument(profiler)
    pods = args.sets * (args.replicas + 1)
    nodes = max(1, math.ceil(pods * 1.25 / 110))
    config = WorkloadsConfig(
        nodes=nodes,
        node_cpu="64",
        node_memory="256Gi",
        image_pull_delay=0.0,
        container_create_delay=0.0,
        start_to_ready_delay=0.0,
        termination_delay=0.0,
        record_events=not args.no_events,
    )
    cluster = Cluster(graceful_pod_deletion=True)
    workloads = Workloads(cluster, config)
    task = asyncio.create_task(workloads.run())
    await asyncio.sleep(0.1)
    res = cluster.resource("statefulsets", "apps")
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for index in range(args.sets):
        cluster.create(res, "default", statefulset(index, args.replicas, args.policy))
        if index % 50 == 0:
            await asyncio.sleep(0)
    created = await wait_ready(cluster, args.sets, args.replicas, deadline=args.deadline)
    create_wall = time.perf_counter() - t0
    create_cpu = time.process_time() - cpu0
    profiler.reset()
    t1 = time.perf_counter()
    cpu1 = time.process_time()
    for index in range(args.sets):
        name = f"set-{index}"
        cluster.update(
            res,
            "default",
            name,
            {
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"replicas": args.replicas + 1},
            },
            subresource="scale",
        )
    settled = await wait_ready(cluster, args.sets, args.replicas + 1, deadline=args.deadline)
    scale_wall = time.perf_counter() - t1
    scale_cpu = time.process_time() - cpu1
    split = profiler.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    del created, settled
    return {
        "sets": args.sets,
        "replicas_before": args.replicas,
        "pods_after": pods,
        "nodes": nodes,
        "policy": args.policy,
        "events": not args.no_events,
        "create_wall_s": round(create_wall, 2),
        "create_cpu_s": round(create_cpu, 2),
        "scale_up_wall_s": round(scale_wall, 2),
        "scale_up_cpu_s": round(scale_cpu, 2),
        "scale_up_cpu_split_s": {k: round(v, 3) for k, v in sorted(split.items())},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sets", type=int, default=250, help="number of StatefulSets (default 250)"
    )
    parser.add_argument(
        "--replicas", type=int, default=4, help="replicas per set before the scale-up"
    )
    parser.add_argument("--full", action="store_true", help="2,500 sets x 4 replicas = 10,000 pods")
    parser.add_argument("--policy", choices=["Parallel", "OrderedReady"], default="Parallel")
    parser.add_argument("--no-events", action="store_true", help="do not record Events")
    parser.add_argument(
        "--deadline", type=float, default=1800.0, help="give up after this many seconds"
    )
    args = parser.parse_args()
    if args.full:
        args.sets = 2500
    result = asyncio.run(run(args))
    split = result["scale_up_cpu_split_s"]
    total = sum(split.values()) or 1.0
    print(
        f"kubesim workloads: {result['sets']} StatefulSets x {result['replicas_before']} -> +1 "
        f"({result['pods_after']} pods, {result['nodes']} nodes, {result['policy']}, events={result['events']})"
    )
    print(
        f"  initial create to all Ready: {result['create_wall_s']:8.2f} s wall  {result['create_cpu_s']:8.2f} s CPU"
    )
    print(
        f"  scale-up by one to settled : {result['scale_up_wall_s']:8.2f} s wall  {result['scale_up_cpu_s']:8.2f} s CPU"
    )
    print("  scale-up CPU by component:")
    for component, seconds in sorted(split.items(), key=lambda kv: -kv[1]):
        print(f"    {component:<12} {seconds:8.3f} s  {100 * seconds / total:5.1f} %")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  wrote {RESULTS}")


if __name__ == "__main__":
    main()
