"""The write floor: the least a controller must send kubesim to bring seed RayClusters up.

    python benchmarks/floor_writer.py --kubeconfig P --clusters 100 --namespaces 4 \
        --concurrency 8 [--qps 50 --burst 100]

It is `bench_operator.py`'s baseline, run as its own process so its CPU is measured apart.
Before it says ``floor ready`` it precomputes, for every RayCluster the benchmark will
create (``seed-0000``... over ``bench-0``...), exactly the objects rayop applies: the
builders' children stamped with rayop's hash annotation (`controller.builders.build_children`
and `controller.diff.stamp`) and the cluster's shape for status. Then, with ``--concurrency``
workers on the same deduplicating work queue and the same client (`controller.kube.KubeClient`,
same QPS/burst limits), it:

- applies each child once, as soon as the RayCluster appears (the owner uid is filled in);
- applies status only when the status rayop would compute (`controller.status.compute_status`
  from the pods it watches) differs from the last one it wrote: the status applies that
  reflect real transitions;
- writes no Events, reads no children back, deletes nothing.

So it sends the same bodies rayop sends, minus everything that is not strictly needed, with
none of rayop's per-reconcile work (parsing, building, diffing against caches). User agent
``rayop-floor``, field manager ``rayop-floor``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import seed_clusters
from controller.api import parse_raycluster
from controller.builders import build_children
from controller.caches import slim_pod
from controller.cli import build_parser
from controller.diff import stamp
from controller.events import rfc3339
from controller.kube import KubeClient, KubeError, load_api_client
from controller.shape import shape_of
from controller.status import ClusterShape, compute_status, pod_facts
from informers import SharedInformer, wait_for_cache_sync
from workqueue import Queue, ShutDown

USER_AGENT = "rayop-floor"
SEED = (
    Path(__file__).resolve().parent.parent / "manifests" / "samples" / "seed-basic-ray-cluster.yaml"
)
_PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"

log = structlog.get_logger("floor")


@dataclass
class Plan:
    """What the floor sends for one RayCluster, computed before the clock starts."""

    children: list[dict[str, Any]]
    shape: ClusterShape
    head_service: dict[str, Any] | None = None
    applied: bool = False
    status: dict[str, Any] | None = None


def make_plans(manifest: dict[str, Any], count: int, namespaces: int) -> dict[str, Plan]:
    """A :class:`Plan` per RayCluster the benchmark creates, keyed ``namespace/name``."""
    plans: dict[str, Plan] = {}
    for obj in seed_clusters(manifest, count, namespaces):
        obj["metadata"] |= {"uid": _PLACEHOLDER_UID, "generation": 1}
        parsed = parse_raycluster(obj)
        if parsed.cluster is None:
            raise SystemExit(f"floor: seed manifest does not parse: {parsed.problems}")
        meta = obj["metadata"]
        plans[f"{meta['namespace']}/{meta['name']}"] = Plan(
            children=[stamp(c) for c in build_children(parsed.cluster)],
            shape=shape_of(parsed.cluster),
        )
    return plans


def _owned_by(child: dict[str, Any], uid: str) -> dict[str, Any]:
    meta = child["metadata"]
    refs = [{**ref, "uid": uid} for ref in meta.get("ownerReferences") or []]
    return {**child, "metadata": {**meta, "ownerReferences": refs}}


def _is_head_service(child: dict[str, Any]) -> bool:
    selector = (child.get("spec") or {}).get("selector") or {}
    return child["kind"] == "Service" and selector.get("ray.io/node-type") == "head"


def _pod_cluster(obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    cluster = (meta.get("labels") or {}).get("ray.io/cluster")
    return [f"{meta.get('namespace')}/{cluster}"] if cluster else []


class Floor:
    """The minimal controller: informers, a work queue, ``concurrency`` workers."""

    def __init__(self, api_client: Any, plans: dict[str, Plan], *, qps: float, burst: int) -> None:
        api_client.user_agent = USER_AGENT
        self.client = KubeClient(api_client, qps=qps, burst=burst, field_manager=USER_AGENT)
        self.plans = plans
        self.queue: Queue[str] = Queue(name="floor")
        self.clusters = SharedInformer(
            api_client, group="ray.io", version="v1", plural="rayclusters"
        )
        self.pods = SharedInformer(
            api_client,
            group="",
            version="v1",
            plural="pods",
            label_selector="ray.io/cluster",
            transform=slim_pod,
            indexers={"cluster": _pod_cluster},
        )
        self.clusters.add_handler(on_add=self._enqueue, on_update=lambda _o, n: self._enqueue(n))
        self.pods.add_handler(
            on_add=self._enqueue_pod, on_update=lambda _o, n: self._enqueue_pod(n)
        )

    def _enqueue(self, obj: Any) -> None:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if key in self.plans:
            self.queue.add(key)

    def _enqueue_pod(self, obj: Any) -> None:
        for key in _pod_cluster(obj):
            if key in self.plans:
                self.queue.add(key)

    async def run(self, concurrency: int) -> None:
        """Sync the caches, print ``floor ready``, then work until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.clusters.run(), name="floor-clusters")
            group.create_task(self.pods.run(), name="floor-pods")
            if not await wait_for_cache_sync(self.clusters, self.pods, timeout=60):
                raise RuntimeError("floor: caches did not sync")
            print("floor ready", flush=True)
            for index in range(concurrency):
                group.create_task(self._worker(), name=f"floor-worker-{index}")

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._sync(key)
            except KubeError as exc:
                log.warning("floor write failed; retrying", key=key, error=exc.message)
                asyncio.get_running_loop().call_later(0.1, self.queue.add, key)
            finally:
                self.queue.done(key)

    async def _sync(self, key: str) -> None:
        obj = self.clusters.store.get(key)
        plan = self.plans[key]
        if obj is None:
            return
        meta = obj["metadata"]
        if not plan.applied:
            for child in plan.children:
                answer = await self.client.apply(_owned_by(child, meta["uid"]))
                if _is_head_service(child):
                    plan.head_service = answer
            plan.applied = True
        previous = plan.status if plan.status is not None else dict(obj.get("status") or {})
        status = compute_status(
            plan.shape,
            pods=[pod_facts(p) for p in self.pods.store.by_index("cluster", key)],
            head_service=plan.head_service,
            previous=previous,
            now=rfc3339(datetime.datetime.now(datetime.UTC)),
        )
        if status == previous:
            return
        body = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "status": status,
        }
        await self.client.apply(body, subresource="status")
        plan.status = status


async def _main(args: argparse.Namespace, plans: dict[str, Plan]) -> int:
    api_client = await load_api_client(kubeconfig=args.kubeconfig)
    floor = Floor(api_client, plans, qps=args.qps, burst=args.burst)
    try:
        await floor.run(args.concurrency)
    finally:
        await floor.client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the floor until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--clusters", type=int, required=True)
    parser.add_argument("--namespaces", type=int, required=True)
    # Same defaults as `rayop run`, read from its own parser, so "default" means the same thing.
    rayop_run = build_parser().parse_args(["run"])
    parser.add_argument("--concurrency", type=int, default=rayop_run.concurrency)
    parser.add_argument("--qps", type=float, default=rayop_run.qps)
    parser.add_argument("--burst", type=int, default=rayop_run.burst)
    parser.add_argument("--manifest", default=str(SEED))
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    manifest = yaml.safe_load(Path(args.manifest).read_text())
    plans = make_plans(manifest, args.clusters, args.namespaces)
    loop = asyncio.new_event_loop()
    task = loop.create_task(_main(args, plans))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        return 0
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
