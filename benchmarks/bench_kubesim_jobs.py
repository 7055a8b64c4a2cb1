"""Benchmark kubesim's Job controller: run many Jobs to completion, in process, with zero delays.

    .venv/bin/python benchmarks/bench_kubesim_jobs.py            # 100 Jobs x 10 completions
    .venv/bin/python benchmarks/bench_kubesim_jobs.py --full     # 500 Jobs x 20 completions

Everything runs in this process against `kubesim.apiserver.cluster.Cluster` (no HTTP), with
the kubelet's delays at zero and a tiny `completion_delay`, so the time is CPU: how fast kubesim
moves Job pods through create, run, succeed, finalizer removal and counting. Reports wall and
CPU time to all Jobs Complete, pods per second, and the API writes per pod (every committed
change to pods and Jobs, counted by a subscription). Writes JSON to
benchmarks/results/bench_kubesim_jobs.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import machine
from kubesim.apiserver.cluster import Cluster
from kubesim.common.config import WorkloadsConfig
from kubesim.controllers.job import job_finished
from kubesim.workloads import Workloads

RESULTS = Path(__file__).parent / "results" / "bench_kubesim_jobs.json"


def job(index: int, completions: int, parallelism: int) -> dict[str, Any]:
    """Job `job-<index>`."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"job-{index}", "namespace": "default"},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": "busybox:1.36"}],
                }
            },
        },
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pods = args.jobs * args.completions
    nodes = max(1, math.ceil(args.jobs * args.parallelism * 1.25 / 110))
    config = WorkloadsConfig(
        nodes=nodes,
        image_pull_delay=0.0,
        container_create_delay=0.0,
        start_to_ready_delay=0.0,
        termination_delay=0.0,
        completion_delay=0.001,
        record_events=not args.no_events,
    )
    cluster = Cluster(graceful_pod_deletion=True)
    workloads = Workloads(cluster, config)
    task = asyncio.create_task(workloads.run())
    await asyncio.sleep(0.1)
    writes = {"pods": 0, "jobs": 0}
    jobs_res = cluster.resource("jobs", "batch")
    for kind, res in (("pods", cluster.resource("pods")), ("jobs", jobs_res)):
        cluster.subscribe(res, lambda _e, _o, k=kind: writes.__setitem__(k, writes[k] + 1))
    t0, cpu0 = time.perf_counter(), time.process_time()
    for index in range(args.jobs):
        cluster.create(jobs_res, "default", job(index, args.completions, args.parallelism))
        if index % 20 == 0:
            await asyncio.sleep(0)
    while True:
        items, _ = cluster.list(jobs_res)
        if all(job_finished(j) == "Complete" for j in items):
            break
        if time.perf_counter() - t0 > args.deadline:
            raise SystemExit(f"not all Jobs complete after {args.deadline} s")
        await asyncio.sleep(0.05)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return {
        "jobs": args.jobs,
        "completions": args.completions,
        "parallelism": args.parallelism,
        "pods": pods,
        "nodes": nodes,
        "events": not args.no_events,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "pods_per_s": round(pods / wall, 1),
        "pod_writes_per_pod": round(writes["pods"] / pods, 2),
        "job_writes_per_pod": round(writes["jobs"] / pods, 2),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100, help="number of Jobs (default 100)")
    parser.add_argument("--completions", type=int, default=10, help="completions per Job")
    parser.add_argument("--parallelism", type=int, default=5, help="parallelism per Job")
    parser.add_argument("--full", action="store_true", help="500 Jobs x 20 completions")
    parser.add_argument("--no-events", action="store_true", help="do not record Events")
    parser.add_argument("--deadline", type=float, default=1800.0, help="give up after (s)")
    args = parser.parse_args()
    if args.full:
        args.jobs, args.completions = 500, 20
    result = asyncio.run(run(args))
    print(
        f"kubesim Jobs: {result['jobs']} Jobs x {result['completions']} completions "
        f"(parallelism {result['parallelism']}, {result['pods']} pods, {result['nodes']} nodes, "
        f"events={result['events']})"
    )
    print(f"  create to all Complete: {result['wall_s']:.2f} s wall  {result['cpu_s']:.2f} s CPU")
    print(f"  {result['pods_per_s']} pods/s; API writes per pod: {result['pod_writes_per_pod']} "
          f"to pods, {result['job_writes_per_pod']} to Jobs")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
