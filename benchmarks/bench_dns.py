"""Benchmark kubesim's endpoint controllers and cluster DNS.

    .venv/bin/python benchmarks/bench_dns.py                 # 100 Services x 4 pods, ~20 s
    .venv/bin/python benchmarks/bench_dns.py --services 500

In one process, as in `KubeSim`: N headless Services, each over a StatefulSet of R pods
(Parallel, zero kubelet delays). Measured:

1. settle: from the first create until every Service's Endpoints lists its R ready pods, and
   the Endpoints and EndpointSlice writes that took (from the audit log), per Service;
2. DNS: Q queries over UDP on loopback (a random Service name or pod hostname each, `window`
   in flight), answered by `DnsServer` in the same event loop as everything else: queries per
   second and the latency percentiles a client sees.

Prints a table and writes JSON to benchmarks/results/bench_dns.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import dns.message

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import machine, percentile
from kubesim import KubeSim, WorkloadsConfig
from kubesim.dns import DnsServer

RESULTS = Path(__file__).parent / "results" / "bench_dns.json"
DOMAIN = "cluster.local"


def manifests(index: int, replicas: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A headless Service and its StatefulSet, both `s<index>`."""
    name = f"s{index}"
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 6379}]},
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
            },
        },
    }
    return svc, sts


def watch_settled(sim: KubeSim, services: int, replicas: int) -> asyncio.Event:
    """An event set once every Service's Endpoints lists `replicas` ready addresses."""
    done = asyncio.Event()
    full: set[str] = set()

    def on_endpoints(event: str, ep: dict[str, Any]) -> None:
        addresses = [a for s in ep.get("subsets") or () for a in s.get("addresses") or ()]
        if event != "DELETED" and len(addresses) == replicas:
            full.add(ep["metadata"]["name"])
        else:
            full.discard(ep["metadata"]["name"])
        if len(full) >= services:
            done.set()

    sim.cluster.subscribe(sim.cluster.resource("endpoints"), on_endpoints)
    return done


class Client(asyncio.DatagramProtocol):
    """Sends queries over one UDP socket and matches replies by id."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[bytes]] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        future = self.waiting.pop(int.from_bytes(data[:2], "big"), None)
        if future is not None and not future.done():
            future.set_result(data)


async def query_load(address: tuple[str, int], names: list[str], window: int) -> list[float]:
    """Send every name as an A query, `window` at a time; the latency of each, in seconds."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(Client, remote_addr=address)
    latencies: list[float] = []
    ids = iter(range(1, 65536))

    async def one(name: str) -> None:
        query = dns.message.make_query(name, "A")
        query.id = next(ids)
        future: asyncio.Future[bytes] = loop.create_future()
        client.waiting[query.id] = future
        started = time.perf_counter()
        transport.sendto(query.to_wire())
        reply = dns.message.from_wire(await asyncio.wait_for(future, 5))
        latencies.append(time.perf_counter() - started)
        assert reply.answer, name

    for start in range(0, len(names), window):
        await asyncio.gather(*(one(n) for n in names[start : start + window]))
    transport.close()
    return latencies


async def run(services: int, replicas: int, queries: int, window: int) -> dict[str, Any]:
    config = WorkloadsConfig.fast(
        # Up to 110 pods fit on a node (node_pods).
        nodes=math.ceil(services * replicas / 100),
        image_pull_delay=0,
        container_create_delay=0,
        start_to_ready_delay=0,
        record_events=False,
    )
    async with KubeSim(workloads_config=config) as sim:
        cluster = sim.cluster
        done = watch_settled(sim, services, replicas)
        started = time.perf_counter()
        for index in range(services):
            svc, sts = manifests(index, replicas)
            cluster.create(cluster.resource("services"), "default", svc)
            cluster.create(cluster.resource("statefulsets", "apps"), "default", sts)
        await done.wait()
        settle = time.perf_counter() - started
        writes = [w for w in sim.audit.writes() if w["resource"] in ("endpoints", "endpointslices")]
        server = DnsServer(cluster, domain=DOMAIN)
        address = await server.start("127.0.0.1", 0)
        rng = random.Random(1)
        names = [
            f"s{rng.randrange(services)}.default.svc.{DOMAIN}"
            if i % 2
            else f"s{(n := rng.randrange(services))}-{rng.randrange(replicas)}.s{n}.default.svc.{DOMAIN}"
            for i in range(queries)
        ]
        begun = time.perf_counter()
        latencies = await query_load(address, names, window)
        elapsed = time.perf_counter() - begun
        await server.stop()
    return {
        "services": services,
        "replicas": replicas,
        "settle_s": round(settle, 2),
        "endpoints_writes_per_service": round(
            sum(w["resource"] == "endpoints" for w in writes) / services, 2
        ),
        "slice_writes_per_service": round(
            sum(w["resource"] == "endpointslices" for w in writes) / services, 2
        ),
        "queries": queries,
        "window": window,
        "qps": round(queries / elapsed),
        "latency_ms": {
            p: round(percentile(latencies, q) * 1000, 2)
            for p, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
        },
    }


def main() -> None:
    """Measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--window", type=int, default=32)
    args = parser.parse_args()
    result = asyncio.run(run(args.services, args.replicas, args.queries, args.window))
    for key, value in result.items():
        print(f"{key:<32} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), **result}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
