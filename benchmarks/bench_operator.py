"""Benchmark rayop against kubesim and against the write floor, in one run.

    .venv/bin/python benchmarks/bench_operator.py                 # 50 clusters, sweep at 30: ~5 min
    .venv/bin/python benchmarks/bench_operator.py --clusters 100 --repeats 3
    .venv/bin/python benchmarks/bench_operator.py --clusters 1000 --no-sweep --out P.json

Three processes per measurement, so each one's CPU and memory are its own: kubesim
(``python -m kubesim serve`` with a JSON-lines audit log and small kubelet delays), the client
under test (``rayop run`` or ``benchmarks/floor_writer.py``), and this driver (creates the
RayClusters, watches for ``Ready``, reads the audit log and ``/proc``). Every measurement starts
from a fresh kubesim.

Phases:

1. **converge**: create N copies of the seed RayCluster (``seed-0000``... over a few
   namespaces) and time until every one has condition ``Ready=True``; writes per cluster by
   kind (audit log, by user agent); the client's CPU seconds and peak RSS. Done for rayop and
   for the floor (same concurrency, same client QPS/burst); the ratio is rayop / floor.
2. **resync** (rayop): restart the operator against the warm cluster (every RayCluster is
   reconciled again from fresh caches) and count its writes until the queue is empty, then
   during an idle window. Goal: 0.
3. **latency** (rayop, N clusters cached): edit ``replicas`` of a sample of RayClusters, one
   every ``--edit-interval`` s; latency = audit time of rayop's apply of the worker
   Deployment − audit time of the edit. p50, p99.
4. **memory** (rayop): (a) RSS after the restart with N clusters and their pods cached;
   then ``--pad-pods`` more Ray-labelled pods (copies of the seed's worker pod, labelled for
   a RayCluster that does not exist, so status and writes are unaffected), another restart,
   and ΔRSS / Δpods (an upper bound: a restart's RSS keeps the list-decoding high-water
   mark). (b) bytes per cached pod: a fresh operator on an empty kubesim, three batches of
   ``--pod-memory`` such pods arriving by watch, ΔRSS / pods per batch.
5. **sweep**: phase 1 at ``--sweep-clusters`` for each ``--sweep`` concurrency.

Prints tables and writes JSON to benchmarks/results/bench_operator.json (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog
import yaml
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    PYTHON,
    REPO,
    KubeletDelays,
    Proc,
    ReadyTracker,
    Sim,
    cluster_watch,
    forget_audit,
    free_port,
    kind_of,
    machine,
    percentile,
    read_audit,
    seed_clusters,
    spawn,
    start_kubesim,
    writes_of,
)
from controller.api import parse_raycluster
from controller.builders import build_children
from controller.kube import KubeClient, load_api_client

RESULTS = Path(__file__).parent / "results" / "bench_operator.json"
SEED = REPO / "manifests" / "samples" / "seed-basic-ray-cluster.yaml"
CRD_DIR = REPO / "manifests" / "crd"
OPERATOR_UA = "rayop/"
FLOOR_UA = "rayop-floor"
DRIVER_UA = "bench-driver"
PAD_CLUSTER = "bench-pad"
CHILD_KINDS = frozenset(
    {"statefulsets", "deployments", "services", "serviceaccounts", "roles", "rolebindings",
     "horizontalpodautoscalers"}
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """What one converge measurement runs."""

    clusters: int
    namespaces: int
    concurrency: int
    qps: float | None
    burst: int | None
    delays: KubeletDelays
    workdir: Path
    timeout: float
    #: Where py-spy writes each rayop process's samples (collapsed stacks); None: no profiling.
    profile: Path | None = None


@dataclass
class Target:
    """The client under test (rayop or the floor) in its own process."""

    kind: str  # "rayop" | "floor"
    proc: Proc
    metrics_port: int | None = None


@dataclass
class Run:
    """A converge measurement's live processes, kept for the later phases."""

    settings: Settings
    sim: Sim
    target: Target
    driver: KubeClient
    api_client: Any
    informer_task: asyncio.Task[None]
    tracker: ReadyTracker
    result: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        """Stop everything this run started."""
        self.informer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.informer_task
        await self.target.proc.stop()
        await self.driver.close()
        await self.sim.proc.stop()
        forget_audit(self.sim.audit)


# ---------------------------------------------------------------------- processes


def _client_flags(settings: Settings) -> list[str]:
    flags = []
    if settings.qps is not None:
        flags.append(f"--qps={settings.qps}")
    if settings.burst is not None:
        flags.append(f"--burst={settings.burst}")
    return flags


async def start_operator(settings: Settings, sim: Sim, *, tag: str) -> Target:
    """``rayop run`` against ``sim``; returns once ``/readyz`` answers 200 (caches synced)."""
    port = free_port()
    addr = f"127.0.0.1:{port}"
    argv = [PYTHON, "-m", "controller", "run", f"--kubeconfig={sim.kubeconfig}",
            f"--concurrency={settings.concurrency}", f"--metrics-addr={addr}",
            f"--health-addr={addr}", "--no-leader-elect", "--log-level=warning",
            "--log-format=json", *_client_flags(settings)]  # fmt: skip
    proc = spawn(f"rayop-{tag}", argv, workdir=settings.workdir)
    if settings.profile is not None:
        # Samples until the operator exits (py-spy then writes the file); CPU only (no --idle).
        spawn(f"py-spy-{tag}", [str(Path(PYTHON).parent / "py-spy"), "record", "--pid",
                                str(proc.pid), "--rate", "100", "--nonblocking", "--format",
                                "raw", "-o", str(settings.profile / f"rayop-{tag}.txt")],
              workdir=settings.workdir)  # fmt: skip
    target = Target("rayop", proc, port)
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while True:
            if not proc.alive():
                raise RuntimeError(f"rayop exited early:\n{proc.output()[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://{addr}/readyz") as response:
                    if response.status == 200:
                        return target
            if time.monotonic() > deadline:
                raise TimeoutError("rayop: /readyz not 200 within 120 s")
            await asyncio.sleep(0.05)


async def start_floor(settings: Settings, sim: Sim, *, tag: str) -> Target:
    """``benchmarks/floor_writer.py`` against ``sim``; returns once its caches synced."""
    argv = [PYTHON, str(REPO / "benchmarks" / "floor_writer.py"), f"--kubeconfig={sim.kubeconfig}",
            f"--clusters={settings.clusters}", f"--namespaces={settings.namespaces}",
            f"--concurrency={settings.concurrency}", *_client_flags(settings)]  # fmt: skip
    proc = spawn(f"floor-{tag}", argv, workdir=settings.workdir)
    await proc.wait_for_output("floor ready", within=300)
    return Target("floor", proc)


async def scrape(target: Target) -> dict[str, float]:
    """rayop's ``/metrics``: ``name{label=value,...}`` → value (only the families we read)."""
    wanted = ("controller_runtime_reconcile_total", "workqueue_depth",
              "controller_runtime_active_workers")  # fmt: skip
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{target.metrics_port}/metrics") as response,
    ):
        text = await response.text()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


async def wait_idle_queue(target: Target, reconciles: int, *, within: float) -> float:
    """Wait until rayop finished ``reconciles`` reconciles and its queue is empty; seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        values = await scrape(target)
        done = sum(
            v for k, v in values.items() if k.startswith("controller_runtime_reconcile_total")
        )
        depth = sum(v for k, v in values.items() if k.startswith("workqueue_depth"))
        active = sum(v for k, v in values.items() if k.startswith("controller_runtime_active"))
        if done >= reconciles and depth == 0 and active == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"rayop did not finish {reconciles} reconciles in {within} s")


# ---------------------------------------------------------------------- converge


async def _prepare_cluster(settings: Settings, *, tag: str) -> tuple[Sim, KubeClient, Any]:
    sim = await start_kubesim(settings.workdir, settings.delays, tag=tag)
    api_client = await load_api_client(kubeconfig=str(sim.kubeconfig))
    api_client.user_agent = DRIVER_UA
    driver = KubeClient(api_client, qps=0, field_manager="bench")
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                await driver.apply(doc)
    for index in range(settings.namespaces):
        await driver.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{index}"}}
        )
    return sim, driver, api_client


async def converge(
    settings: Settings, kind: str, *, tag: str, keep: bool = False
) -> Run | dict[str, Any]:
    """Phase 1 for ``kind`` ("rayop" or "floor"); the live :class:`Run` when ``keep``."""
    sim, driver, api_client = await _prepare_cluster(settings, tag=tag)
    start = start_operator if kind == "rayop" else start_floor
    target = await start(settings, sim, tag=tag)
    tracker = ReadyTracker(target=settings.clusters)
    informer = cluster_watch(api_client, tracker)
    run = Run(settings, sim, target, driver, api_client,
              asyncio.create_task(informer.run(), name="bench-rayclusters"), tracker)  # fmt: skip
    try:
        await informer.wait_for_sync()
        manifest = yaml.safe_load(SEED.read_text())
        clusters = seed_clusters(manifest, settings.clusters, settings.namespaces)
        before = target.proc.usage()
        sim_before = sim.proc.usage().cpu
        t0 = time.time()
        gate = asyncio.Semaphore(16)

        async def create(obj: dict[str, Any]) -> None:
            async with gate:
                await driver.apply(obj)

        async with asyncio.TaskGroup() as group:
            for obj in clusters:
                group.create_task(create(obj))
        created = time.time() - t0
        await asyncio.wait_for(tracker.reached.wait(), timeout=settings.timeout)
        t1 = time.time()
        after = target.proc.usage()
        sim_cpu = sim.proc.usage().cpu - sim_before
        settled = await _wait_quiet(sim.audit, FLOOR_UA if kind == "floor" else OPERATOR_UA)
        extra: dict[str, Any] = {"kubesim_cpu_s": round(sim_cpu, 2)}
        if target.metrics_port is not None:
            # CPU per reconcile separates "each reconcile got cheaper" from "fewer wake-ups".
            metrics = await scrape(target)
            reconciles = sum(v for k, v in metrics.items()
                             if k.startswith("controller_runtime_reconcile_total"))  # fmt: skip
            extra["reconciles"] = int(reconciles)
            extra["cpu_ms_per_reconcile"] = round(
                1000 * (target.proc.usage().cpu - before.cpu) / max(1.0, reconciles), 3
            )
        run.result = extra | _converge_result(
            kind, settings, sim.audit, t0=t0, t1=t1, settled=settled, created=created,
            before=before.cpu, after=after,
        )  # fmt: skip
    except BaseException:
        await run.close()
        raise
    if keep:
        return run
    await run.close()
    return run.result


async def _wait_quiet(audit: Path, user_agent: str, *, quiet: float = 1.5) -> float:
    """Wait until ``user_agent`` wrote nothing for ``quiet`` s (at most 30 s); the last write time."""
    deadline = time.time() + 30
    last = 0.0
    while time.time() < deadline:
        entries = writes_of(read_audit(audit), user_agent, since=0, until=float("inf"))
        last = max((e["t"] for e in entries), default=0.0)
        if time.time() - last >= quiet:
            break
        await asyncio.sleep(0.5)
    return last


def _converge_result(
    kind: str,
    settings: Settings,
    audit: Path,
    *,
    t0: float,
    t1: float,
    settled: float,
    created: float,
    before: float,
    after: Any,
) -> dict[str, Any]:
    ua = FLOOR_UA if kind == "floor" else OPERATOR_UA
    entries = read_audit(audit)
    to_ready = writes_of(entries, ua, since=t0, until=t1)
    total = writes_of(entries, ua, since=t0, until=max(t1, settled))
    n = settings.clusters
    by_kind = Counter(kind_of(e) for e in total)
    children = [e for e in total if e["resource"] in CHILD_KINDS]
    per_cluster = Counter(str(e["name"])[:9] for e in total if str(e["name"]).startswith("seed-"))
    return {
        "client": kind,
        "clusters": n,
        "concurrency": settings.concurrency,
        "wall_to_ready_s": round(t1 - t0, 3),
        "create_all_s": round(created, 3),
        "last_child_write_s": round(max((e["t"] for e in children), default=t0) - t0, 3),
        "cpu_s": round(after.cpu - before, 2),
        "peak_rss_bytes": after.peak_rss,
        "rss_bytes": after.rss,
        "writes_to_ready": len(to_ready),
        "writes_total": len(total),
        "writes_per_cluster": round(len(total) / n, 2),
        "writes_per_cluster_by_kind": {k: round(v / n, 2) for k, v in sorted(by_kind.items())},
        "writes_per_cluster_max": max(per_cluster.values(), default=0),
        "failed_writes": sum(1 for e in total if int(e.get("code") or 0) >= 400),
    }


# ---------------------------------------------------------------------- rayop-only phases


async def restart(run: Run, *, tag: str) -> dict[str, Any]:
    """Phase 2: restart rayop against the warm cluster; its writes while it resyncs and idles."""
    await run.target.proc.stop()
    t_restart = time.time()
    run.target = await start_operator(run.settings, run.sim, tag=tag)
    ready = time.time() - t_restart
    seconds = await wait_idle_queue(run.target, run.settings.clusters, within=run.settings.timeout)
    t_done = time.time()
    usage = run.target.proc.usage()
    await asyncio.sleep(5.0)
    t_idle = time.time()
    entries = read_audit(run.sim.audit)
    during = writes_of(entries, OPERATOR_UA, since=t_restart, until=t_done + 0.5)
    idle = writes_of(entries, OPERATOR_UA, since=t_done + 0.5, until=t_idle)
    return {
        "start_to_ready_s": round(ready, 2),
        "resync_s": round(seconds, 2),
        "resync_writes": len(during),
        "resync_writes_by_kind": dict(Counter(kind_of(e) for e in during)),
        "idle_window_s": round(t_idle - t_done - 0.5, 1),
        "idle_writes": len(idle),
        "cpu_s_start_and_resync": round(usage.cpu, 2),
        "rss_bytes": usage.rss,
        "peak_rss_bytes": usage.peak_rss,
    }


async def latency(run: Run, *, samples: int, interval: float) -> dict[str, Any]:
    """Phase 3: replicas edits on ``samples`` RayClusters → rayop's worker workload apply."""
    n = run.settings.clusters
    step = max(1, n // samples)
    picked = [f"seed-{i:04d}" for i in range(0, n, step)][:samples]
    t_start = time.time()
    for name in picked:
        index = int(name.split("-")[1])
        namespace = f"bench-{index % run.settings.namespaces}"
        path = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{name}"
        patch = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 3}]
        await run.driver.request(
            "PATCH", path, body=patch, content_type="application/json-patch+json"
        )
        await asyncio.sleep(interval)
    found: dict[str, float] = {}
    deadline = time.time() + 60
    while time.time() < deadline:
        entries = read_audit(run.sim.audit)
        edits = {
            str(e["name"]): e["t"]
            for e in writes_of(entries, DRIVER_UA, since=t_start, until=float("inf"))
            if e["resource"] == "rayclusters"
        }
        for e in writes_of(entries, OPERATOR_UA, since=t_start, until=float("inf")):
            cluster = str(e["name"])[:9]
            if e["resource"] in ("deployments", "statefulsets") and cluster in edits:
                found.setdefault(cluster, e["t"] - edits[cluster])
        if len(found) >= len(picked):
            break
        await asyncio.sleep(0.5)
    values = [v * 1000 for v in found.values()]
    return {
        "clusters_cached": n,
        "edits": len(picked),
        "edit_interval_s": interval,
        "applied": len(values),
        "p50_ms": round(percentile(values, 0.5), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values, default=float("nan")), 1),
    }


async def _count_pods(driver: KubeClient, selector: str) -> tuple[int, int]:
    pods = await driver.list("v1", "Pod", label_selector=selector)
    ready = sum(
        1
        for p in pods
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    )
    return len(pods), ready


def _worker_pod_template() -> dict[str, Any]:
    """A Ray worker pod as rayop's builders make it (the seed's worker Deployment template)."""
    obj = yaml.safe_load(SEED.read_text())
    obj["metadata"] |= {"namespace": "bench-0", "uid": "pad", "generation": 1}
    parsed = parse_raycluster(obj)
    assert parsed.cluster is not None, parsed.problems
    workload = next(c for c in build_children(parsed.cluster) if c["kind"] == "Deployment")
    template = workload["spec"]["template"]
    meta = template.get("metadata") or {}
    return {
        "metadata": {
            "labels": {**(meta.get("labels") or {}), "ray.io/cluster": PAD_CLUSTER},
            "annotations": meta.get("annotations") or {},
        },
        "spec": template["spec"],
    }


async def create_pads(
    driver: KubeClient, template: Mapping[str, Any], *, first: int, count: int
) -> None:
    """Create ``count`` copies of ``template`` named ``bench-pad-<index>`` in ``bench-0``."""
    gate = asyncio.Semaphore(16)

    async def create(index: int) -> None:
        meta = {**template["metadata"], "name": f"{PAD_CLUSTER}-{index:05d}",
                "namespace": "bench-0"}  # fmt: skip
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}
        async with gate:
            await driver.request("POST", "/api/v1/namespaces/bench-0/pods", body=body)

    async with asyncio.TaskGroup() as group:
        for index in range(first, first + count):
            group.create_task(create(index))


async def wait_pads_ready(driver: KubeClient, total: int, *, within: float) -> None:
    """Wait until ``total`` pad pods are Ready."""
    deadline = time.time() + within
    while time.time() < deadline:
        _, ready = await _count_pods(driver, f"ray.io/cluster={PAD_CLUSTER}")
        if ready >= total:
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{total} pad pods not Ready within {within} s")


async def memory(run: Run, first: Mapping[str, Any], *, pads: int, tag: str) -> dict[str, Any]:
    """Phase 4a: RSS after a restart, before and after ``pads`` extra pods (initial list).

    This includes the high-water mark of decoding the whole list at start, which the
    allocator keeps, so it is an upper bound per pod; :func:`pod_memory` is the clean figure.
    """
    pods_a = first["pods_cached"]
    await create_pads(run.driver, _worker_pod_template(), first=0, count=pads)
    await wait_pads_ready(run.driver, pads, within=run.settings.timeout)
    second = await restart(run, tag=tag)
    pods_b, _ = await _count_pods(run.driver, "ray.io/cluster")
    delta_pods = pods_b - pods_a
    delta_rss = second["rss_bytes"] - first["rss_bytes"]
    return {
        "pods_cached_before": pods_a,
        "pods_cached_after": pods_b,
        "rss_before_bytes": first["rss_bytes"],
        "rss_after_bytes": second["rss_bytes"],
        "bytes_per_cached_pod_restart": round(delta_rss / delta_pods) if delta_pods else None,
        "restart_after_pads": second,
    }


async def pod_memory(settings: Settings, *, per_step: int, steps: int) -> dict[str, Any]:
    """Phase 4b: a fresh operator with empty caches; ``steps`` batches of ``per_step`` Ray pods
    (for no RayCluster) arrive by watch; RSS after each batch is Ready and seen.

    Nothing is listed after the start, so no list decoding inflates RSS; the increments are
    what the operator retains per cached pod (slim pod, store and index entries, informer).
    """
    sim, driver, _ = await _prepare_cluster(settings, tag="pod-memory")
    target: Target | None = None
    try:
        target = await start_operator(settings, sim, tag="pod-memory")
        await asyncio.sleep(3.0)
        rss = [target.proc.usage().rss]
        template = _worker_pod_template()
        for step in range(steps):
            await create_pads(driver, template, first=step * per_step, count=per_step)
            await wait_pads_ready(driver, (step + 1) * per_step, within=settings.timeout)
            await asyncio.sleep(3.0)  # the watch delivers the last Ready updates
            rss.append(target.proc.usage().rss)
        increments = [round((b - a) / per_step) for a, b in itertools.pairwise(rss)]
        return {
            "pods_per_step": per_step,
            "rss_bytes": rss,
            "bytes_per_pod_by_step": increments,
            "bytes_per_cached_pod": round((rss[-1] - rss[0]) / (per_step * steps)),
            "peak_rss_bytes": target.proc.usage().peak_rss,
        }
    finally:
        if target is not None:
            await target.proc.stop()
        await driver.close()
        await sim.proc.stop()
        forget_audit(sim.audit)


# ---------------------------------------------------------------------- driver


def _median_row(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    keys = ("wall_to_ready_s", "last_child_write_s", "cpu_s", "peak_rss_bytes",
            "writes_per_cluster", "kubesim_cpu_s")  # fmt: skip
    return {k: statistics.median(float(r[k]) for r in rows) for k in keys} | {"runs": len(rows)}


async def compare(
    settings: Settings, repeats: int, *, label: str, keep_last: bool
) -> tuple[dict[str, Any], Run | None]:
    """Floor and rayop converges, alternating, ``repeats`` times; medians and the ratio."""
    floors: list[dict[str, Any]] = []
    ops: list[dict[str, Any]] = []
    kept: Run | None = None
    for index in range(repeats):
        floor = await converge(settings, "floor", tag=f"{label}-floor-{index}")
        assert isinstance(floor, dict)
        floors.append(floor)
        print(f"  {label} floor   run {index + 1}: {_brief(floor)}", flush=True)
        keep = keep_last and index == repeats - 1
        outcome = await converge(settings, "rayop", tag=f"{label}-rayop-{index}", keep=keep)
        if isinstance(outcome, Run):
            kept, op = outcome, outcome.result
        else:
            op = outcome
        ops.append(op)
        print(f"  {label} rayop   run {index + 1}: {_brief(op)}", flush=True)
    floor_m, op_m = _median_row(floors), _median_row(ops)
    summary = {
        "clusters": settings.clusters,
        "concurrency": settings.concurrency,
        "floor": floor_m,
        "rayop": op_m,
        "ratio_wall_to_ready": round(op_m["wall_to_ready_s"] / floor_m["wall_to_ready_s"], 3),
        "ratio_last_child_write": round(
            op_m["last_child_write_s"] / max(floor_m["last_child_write_s"], 1e-9), 3
        ),
        "floor_runs": floors,
        "rayop_runs": ops,
    }
    return summary, kept


def _brief(row: Mapping[str, Any]) -> str:
    return (f"ready {row['wall_to_ready_s']:.1f} s, children done {row['last_child_write_s']:.1f} s, "
            f"cpu {row['cpu_s']:.1f} s, peak rss {row['peak_rss_bytes'] / 2**20:.0f} MiB, "
            f"writes/cluster {row['writes_per_cluster']}")  # fmt: skip


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def print_tables(result: Mapping[str, Any]) -> None:
    """The human-readable summary."""
    main = result["main"]
    f, o = main["floor"], main["rayop"]
    print(f"\nconverge {main['clusters']} seed RayClusters, concurrency {main['concurrency']} "
          f"(medians of {o['runs']}):")  # fmt: skip
    print(f"{'':28}{'floor':>12}{'rayop':>12}{'ratio':>8}")
    rows = [
        ("wall to all Ready (s)", f["wall_to_ready_s"], o["wall_to_ready_s"]),
        ("last child write (s)", f["last_child_write_s"], o["last_child_write_s"]),
        ("client CPU (s)", f["cpu_s"], o["cpu_s"]),
        ("client peak RSS (MiB)", f["peak_rss_bytes"] / 2**20, o["peak_rss_bytes"] / 2**20),
        ("kubesim CPU (s)", f["kubesim_cpu_s"], o["kubesim_cpu_s"]),
        ("writes per RayCluster", f["writes_per_cluster"], o["writes_per_cluster"]),
    ]
    for name, a, b in rows:
        print(f"{name:28}{a:>12.2f}{b:>12.2f}{b / a if a else float('nan'):>8.2f}")
    last_op = main["rayop_runs"][-1]
    last_floor = main["floor_runs"][-1]
    print(f"writes per RayCluster by kind, rayop: {last_op['writes_per_cluster_by_kind']}")
    print(f"writes per RayCluster by kind, floor: {last_floor['writes_per_cluster_by_kind']}")
    if "resync" in result:
        r = result["resync"]
        print(f"\nresync after restart: {r['resync_writes']} writes while reconciling "
              f"{main['clusters']} clusters in {r['resync_s']} s; {r['idle_writes']} writes in "
              f"{r['idle_window_s']} s idle")  # fmt: skip
    if "latency" in result:
        lat = result["latency"]
        print(f"replicas edit → workload apply ({lat['clusters_cached']} clusters cached, "
              f"{lat['applied']}/{lat['edits']} edits): p50 {lat['p50_ms']} ms, "
              f"p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms")  # fmt: skip
    if "memory" in result:
        m = result["memory"]
        print(f"memory after restart: RSS {_mib(m['rss_before_bytes'])} MiB with "
              f"{main['clusters']} clusters, {m['pods_cached_before']} pods; "
              f"{_mib(m['rss_after_bytes'])} MiB with {m['pods_cached_after']} pods → "
              f"{m['bytes_per_cached_pod_restart']} bytes per cached pod")  # fmt: skip
    if "pod_memory" in result:
        pm = result["pod_memory"]
        print(f"memory per cached pod (fresh operator, pods by watch, {pm['pods_per_step']} per "
              f"step): RSS {[_mib(v) for v in pm['rss_bytes']]} MiB → "
              f"{pm['bytes_per_pod_by_step']} bytes per pod per step, "
              f"{pm['bytes_per_cached_pod']} overall")  # fmt: skip
    if result.get("sweep"):
        print(f"\nconcurrency sweep ({result['sweep'][0]['clusters']} clusters, medians):")
        print(f"{'concurrency':>12}{'floor s':>10}{'rayop s':>10}{'ratio':>8}"
              f"{'children s':>12}{'ratio':>8}{'rayop cpu s':>13}{'writes/cl':>11}")  # fmt: skip
        for row in result["sweep"]:
            print(f"{row['concurrency']:>12}{row['floor']['wall_to_ready_s']:>10.2f}"
                  f"{row['rayop']['wall_to_ready_s']:>10.2f}{row['ratio_wall_to_ready']:>8.2f}"
                  f"{row['rayop']['last_child_write_s']:>12.2f}{row['ratio_last_child_write']:>8.2f}"
                  f"{row['rayop']['cpu_s']:>13.2f}{row['rayop']['writes_per_cluster']:>11.2f}")  # fmt: skip


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Every phase; the JSON-ready result."""
    workdir = Path(tempfile.mkdtemp(prefix="bench_operator-"))
    delays = KubeletDelays()
    settings = Settings(
        clusters=args.clusters, namespaces=args.namespaces, concurrency=args.concurrency,
        qps=args.qps, burst=args.burst, delays=delays, workdir=workdir, timeout=args.timeout,
        profile=args.profile,
    )  # fmt: skip
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "clusters": args.clusters,
            "namespaces": args.namespaces,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
            "qps": args.qps if args.qps is not None else "rayop default",
            "burst": args.burst if args.burst is not None else "rayop default",
            "kubesim_flags": delays.flags(),
        },
    }
    print(f"workdir {workdir}", flush=True)
    started = time.time()
    main, run = await compare(settings, args.repeats, label=f"N={args.clusters}", keep_last=True)
    result["main"] = main
    if run is not None:
        try:
            first = await restart(run, tag="restart-1")
            first["pods_cached"], _ = await _count_pods(run.driver, "ray.io/cluster")
            result["resync"] = first
            print(f"  resync: {first}", flush=True)
            result["latency"] = await latency(
                run, samples=args.latency_samples, interval=args.edit_interval
            )
            print(f"  latency: {result['latency']}", flush=True)
            if args.pad_pods:
                result["memory"] = await memory(run, first, pads=args.pad_pods, tag="restart-2")
                print(f"  memory: {result['memory']}", flush=True)
        finally:
            await run.close()
    if args.pod_memory:
        result["pod_memory"] = await pod_memory(settings, per_step=args.pod_memory, steps=3)
        print(f"  pod memory: {result['pod_memory']}", flush=True)
    result["sweep"] = []
    for concurrency in args.sweep:
        swept = Settings(**{**settings.__dict__, "clusters": args.sweep_clusters,
                            "concurrency": concurrency})  # fmt: skip
        summary, _ = await compare(
            swept, args.sweep_repeats, label=f"c={concurrency}", keep_last=False
        )
        result["sweep"].append(summary)
    if args.profile is not None:
        await asyncio.sleep(2.0)  # py-spy writes its file once the operator has exited
        result["profile"] = {f.stem: profile_top(f) for f in sorted(args.profile.glob("*.txt"))}
    result["elapsed_s"] = round(time.time() - started, 1)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def profile_top(path: Path, *, top: int = 15) -> dict[str, Any]:
    """The functions most samples were in: ``self`` (on top of the stack) and ``total`` (anywhere
    in it), as percentages of all samples, from py-spy's collapsed-stack (``raw``) output."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / max(1, samples), 1)) for name, n in counter.most_common(top)]

    return {"samples": samples, "self_pct": share(own), "total_pct": share(anywhere)}


def _frame(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``: lines merged, paths shortened."""
    name, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{name} ({module})" if module else name


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,4,8, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"every concurrency must be at least 1, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables, write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=50, help="N for phases 1-4 (default 50)")
    parser.add_argument("--namespaces", type=int, default=4, help="spread over (default 4)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="rayop and floor workers (default 16, rayop's)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="converge runs per client")
    parser.add_argument("--qps", type=float, default=None,
                        help="client QPS for rayop and floor (default: rayop's default)")  # fmt: skip
    parser.add_argument("--burst", type=int, default=None, help="client burst (default: rayop's)")
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--edit-interval", type=float, default=0.25)
    parser.add_argument("--pad-pods", type=int, default=300,
                        help="pods added for the restart memory figure; 0 skips it")  # fmt: skip
    parser.add_argument("--pod-memory", type=int, default=500,
                        help="pods per step (3 steps) for bytes per cached pod; 0 skips it")  # fmt: skip
    parser.add_argument("--sweep", type=_concurrencies, default=[1, 4, 8, 16, 32],
                        help="concurrencies for phase 5 (default 1,4,8,16,32)")  # fmt: skip
    parser.add_argument("--no-sweep", dest="sweep", action="store_const", const=[])
    parser.add_argument("--sweep-clusters", type=int, default=30)
    parser.add_argument("--sweep-repeats", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="per wait, seconds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep logs and audit files")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="sample every rayop process with py-spy (pip install py-spy, or "
                        "the bench extra) into DIR; the top functions go into the JSON")  # fmt: skip
    args = parser.parse_args(argv)
    for name in ("clusters", "namespaces", "concurrency", "repeats", "sweep_clusters"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    # The driver's own informer logs at debug by default; only its problems matter here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    result = asyncio.run(bench(args))
    print_tables(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
