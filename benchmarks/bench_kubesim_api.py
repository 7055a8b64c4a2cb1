"""Benchmark kubesim's API server: write throughput, watch fan-out, memory.

    .venv/bin/python benchmarks/bench_kubesim_api.py            # ~1 minute on 2 cores
    .venv/bin/python benchmarks/bench_kubesim_api.py --full     # longer runs, 50k pods

What it measures (the server always runs in its own process, clients in this one):

* small writes/s: concurrent clients POST small ConfigMaps (and merge-PATCH labels) over HTTP;
  the same client harness against a bare aiohttp handler returning a fixed 201 gives the
  ceiling of the HTTP stack itself, and the ratio of the two;
* authorization cost: writes/s and reads/s (GET of one ConfigMap) of a client authenticated
  with a ServiceAccount token that a Role grants, against a server with RBAC on
  (`authorization="rbac"`) and one with it off (`"always-allow"`), in the same run;
* watch fan-out to one watcher: events/s a single watch receives when it resumes from an old
  resourceVersion and the server streams the retained history (serialisation + framing);
* live fan-out: events/s delivered in total to several watchers while writes happen;
* memory: resident set size growth for N pods created in a fresh process.

Prints a table and writes JSON to benchmarks/results/bench_kubesim_api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson

RESULTS = Path(__file__).parent / "results" / "bench_kubesim_api.json"
CMS = "/api/v1/namespaces/default/configmaps"


# ---------------------------------------------------------------------- servers (child processes)


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _grant_configmaps(sim: Any) -> str:
    """A ServiceAccount whose Role grants every ConfigMap verb in `default`; its token."""
    rbac = "rbac.authorization.k8s.io"
    cluster = sim.cluster
    cluster.create("serviceaccounts", "default", {"metadata": {"name": "bench"}})
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]
    cluster.create(f"roles.{rbac}", "default", {"metadata": {"name": "bench"}, "rules": rules})
    binding = {
        "metadata": {"name": "bench"},
        "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "bench"},
        "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": "default"}],
    }
    cluster.create(f"rolebindings.{rbac}", "default", binding)
    return str(cluster.auth.issue_token("default", "bench"))


def _serve_kubesim(conn: Connection, preload: int, authorization: str = "rbac") -> None:
    from kubesim import KubeSim

    async def main() -> None:
        async with KubeSim(
            controllers=False,
            history_size=max(10_000, preload + 10),
            authorization=authorization,
        ) as sim:
            token = _grant_configmaps(sim)
            start_rv = sim.cluster.resource_version
            for i in range(preload):
                sim.cluster.create(
                    "configmaps",
                    "default",
                    {"metadata": {"name": f"pre-{i}"}, "data": {"k": "v"}},
                    owned=True,
                )
            conn.send((sim.url, start_rv, token))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


def _serve_bare(conn: Connection) -> None:
    from aiohttp import web

    body = orjson.dumps(
        {
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "x", "namespace": "default", "resourceVersion": "1"},
            "data": {"k": "v"},
        }
    )

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, status=201, headers={"Content-Type": "application/json"})

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send((f"http://127.0.0.1:{runner.addresses[0][1]}", 0, ""))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await runner.cleanup()

    asyncio.run(main())


def _memory_child(conn: Connection, pods: int) -> None:
    import gc

    from kubesim.apiserver.cluster import Cluster

    gc.collect()
    cluster = Cluster()
    before = _rss_bytes()
    started = time.perf_counter()
    for i in range(pods):
        pod = {
            "metadata": {
                "name": f"pod-{i}",
                "labels": {"app": "bench", "ray.io/group": f"g{i % 10}"},
            },
            "spec": {
                "nodeName": f"node-{i % 50}",
                "containers": [
                    {
                        "name": "ray",
                        "image": "rayproject/ray:2.40.0",
                        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
                    }
                ],
            },
        }
        cluster.create("pods", "default", pod, owned=True)
    elapsed = time.perf_counter() - started
    gc.collect()
    conn.send(
        {
            "pods": pods,
            "rss_growth_bytes": _rss_bytes() - before,
            "rss_total_bytes": _rss_bytes(),
            "create_seconds": elapsed,
        }
    )


class Server:
    """A server in a child process; `url` once started."""

    def __init__(self, target: Any, *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.url = ""
        self.start_rv = 0
        #: A ServiceAccount token RBAC grants ConfigMaps (kubesim servers only).
        self.token = ""

    def __enter__(self) -> Server:
        self._proc.start()
        self.url, self.start_rv, self.token = self._parent.recv()
        return self

    def cpu_seconds(self) -> float:
        """User+system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


# ---------------------------------------------------------------------- client workloads


class _Conn:
    """A minimal keep-alive HTTP/1.1 client connection: cheap enough that the server, not the
    client, is what a write benchmark measures (aiohttp's client costs more than its server)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, token: str
    ) -> None:
        self.reader, self.writer, self.host = reader, writer, host
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""

    @classmethod
    async def open(cls, url: str, token: str = "") -> _Conn:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, f"{host}:{port}", token)

    async def request(self, method: str, path: str, body: bytes, content_type: str) -> int:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readuntil(b"\r\n")
        length = 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


def _measured(
    server: Server, clients: int, seconds: float, verb: str, *, token: str = ""
) -> tuple[float, float]:
    """(requests/s, server CPU microseconds per request) of one run against `server`.

    A short unmeasured run first warms the server up (kubesim loads a type's schemas on its
    first write, which is not what a steady-state throughput figure should include)."""
    asyncio.run(_write_load(server.url, clients, min(1.0, seconds), verb, token=token))
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    rate = asyncio.run(_write_load(server.url, clients, seconds, verb, token=token))
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    return rate, cpu / max(rate * elapsed, 1) * 1e6


async def _write_load(
    url: str, clients: int, seconds: float, verb: str, *, token: str = ""
) -> float:
    """Requests/s (create, patch or get) of `clients` concurrent keep-alive connections."""
    conns = [await _Conn.open(url, token) for _ in range(clients)]
    count = 0
    run = os.urandom(3).hex()  # names unique across runs against the same server
    if verb in ("patch", "get"):
        for c, conn in enumerate(conns):
            await conn.request(
                "POST",
                CMS,
                orjson.dumps({"metadata": {"name": f"patch-{run}-{c}"}, "data": {"k": "v"}}),
                "application/json",
            )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker(c: int, conn: _Conn) -> None:
        nonlocal count
        i = 0
        while loop.time() < deadline:
            i += 1
            if verb == "create":
                body = orjson.dumps({"metadata": {"name": f"w-{run}-{c}-{i}"}, "data": {"k": "v"}})
                status = await conn.request("POST", CMS, body, "application/json")
            elif verb == "get":
                status = await conn.request(
                    "GET", f"{CMS}/patch-{run}-{c}", b"", "application/json"
                )
            else:
                body = orjson.dumps({"metadata": {"labels": {"i": str(i)}}})
                status = await conn.request(
                    "PATCH", f"{CMS}/patch-{run}-{c}", body, "application/merge-patch+json"
                )
            if status < 300:
                count += 1

    started = loop.time()
    await asyncio.gather(*(worker(c, conn) for c, conn in enumerate(conns)))
    elapsed = loop.time() - started
    for conn in conns:
        conn.close()
    return count / elapsed


async def _watch_replay(url: str, from_rv: int, expected: int) -> float:
    """Events/s one watcher receives while the server replays `expected` events of history."""
    async with aiohttp.ClientSession(base_url=url, read_bufsize=1 << 20) as session:
        started = time.perf_counter()
        received = 0
        async with session.get(
            f"{CMS}?watch=1&resourceVersion={from_rv}&timeoutSeconds=120"
        ) as resp:
            while received < expected:
                line = await resp.content.readline()
                if not line:
                    break
                received += 1
        return received / (time.perf_counter() - started)


async def _live_fanout(
    url: str, watchers: int, clients: int, seconds: float
) -> tuple[float, float]:
    """(events/s delivered in total to `watchers`, writes/s) while clients write."""
    counts = [0] * watchers
    stop = asyncio.Event()

    async def watcher(i: int, session: aiohttp.ClientSession, rv: str) -> None:
        async with session.get(f"{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=300") as resp:
            while not stop.is_set():
                line = await resp.content.readline()
                if not line:
                    return
                counts[i] += 1

    async with aiohttp.ClientSession(base_url=url, read_bufsize=1 << 20) as session:
        async with session.get(f"{CMS}?limit=1") as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        tasks = [asyncio.create_task(watcher(i, session, rv)) for i in range(watchers)]
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        writes = await _write_load(url, clients, seconds, "create")
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.5)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return sum(counts) / elapsed, writes


_AUTH_VERBS = ("create", "patch", "get")


def _authorization_cost(clients: int, seconds: float) -> dict[str, dict[str, float]]:
    """Requests/s and server CPU per request of a ServiceAccount client (same token, same
    Role) against a server with RBAC on and one with it off.

    The two servers alternate, three times each, and the best run of each counts (highest
    rate, lowest CPU per request), so a noisy neighbour on a shared machine does not decide the
    comparison; CPU per request is the steadier of the two figures."""
    out: dict[str, dict[str, float]] = {}
    for _round in range(3):
        for mode in ("always-allow", "rbac"):
            with Server(_serve_kubesim, 0, mode) as sim:
                best = out.setdefault(mode, {})
                for verb in _AUTH_VERBS:
                    rate, cpu = _measured(sim, clients, seconds / 2, verb, token=sim.token)
                    best[verb] = max(best.get(verb, 0.0), rate)
                    best[f"{verb}_cpu_us"] = min(best.get(f"{verb}_cpu_us", 1e9), cpu)
    return out


def _memory(pods: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_memory_child, args=(child, pods))
    proc.start()
    result: dict[str, Any] = parent.recv()
    proc.join()
    return result


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="longer runs and more events")
    parser.add_argument("--clients", type=int, default=32, help="concurrent writing clients")
    parser.add_argument("--seconds", type=float, default=None, help="duration of each write run")
    parser.add_argument(
        "--replay-events", type=int, default=None, help="events replayed to the watcher"
    )
    parser.add_argument("--watchers", type=int, default=10, help="watchers in the live fan-out run")
    parser.add_argument("--pods", type=int, default=50_000, help="pods for the memory measurement")
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.full else 5.0)
    replay = args.replay_events or (200_000 if args.full else 50_000)

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    }
    with Server(_serve_bare) as bare:
        rate, cpu = _measured(bare, args.clients, seconds, "create")
        results["bare_aiohttp_writes_per_s"], results["bare_cpu_us_per_request"] = rate, cpu
    with Server(_serve_kubesim, 0) as sim:
        rate, cpu = _measured(sim, args.clients, seconds, "create")
        results["create_writes_per_s"], results["create_cpu_us_per_write"] = rate, cpu
        rate, cpu = _measured(sim, args.clients, seconds, "patch")
        results["patch_writes_per_s"], results["patch_cpu_us_per_write"] = rate, cpu
    results["write_ratio_to_bare"] = (
        results["create_writes_per_s"] / results["bare_aiohttp_writes_per_s"]
    )
    results["authorization"] = _authorization_cost(args.clients, seconds)
    with Server(_serve_kubesim, replay) as sim:
        results["watch_replay_events_per_s"] = asyncio.run(
            _watch_replay(sim.url, sim.start_rv, replay)
        )
    with Server(_serve_kubesim, 0) as sim:
        events, writes = asyncio.run(_live_fanout(sim.url, args.watchers, args.clients, seconds))
        results["live_fanout_events_per_s"] = events
        results["live_fanout_writes_per_s"] = writes
        results["live_fanout_watchers"] = args.watchers
    results["memory"] = _memory(args.pods)

    mem = results["memory"]
    auth = results["authorization"]
    rows = [
        (
            f"small writes/s (POST ConfigMap, {args.clients} clients)",
            f"{results['create_writes_per_s']:,.0f}",
            ">= 2,000",
        ),
        ("small writes/s (merge PATCH)", f"{results['patch_writes_per_s']:,.0f}", ">= 2,000"),
        (
            "bare aiohttp handler req/s (same clients)",
            f"{results['bare_aiohttp_writes_per_s']:,.0f}",
            "ceiling",
        ),
        ("kubesim / bare aiohttp", f"{results['write_ratio_to_bare']:.2f}", ""),
        (
            "server CPU per POST (kubesim / bare)",
            f"{results['create_cpu_us_per_write']:,.0f} / {results['bare_cpu_us_per_request']:,.0f} us",
            "load-independent",
        ),
        ("server CPU per merge PATCH", f"{results['patch_cpu_us_per_write']:,.0f} us", ""),
        *(
            row
            for verb in _AUTH_VERBS
            for row in (
                (
                    f"ServiceAccount {verb}/s, RBAC on / off",
                    f"{auth['rbac'][verb]:,.0f} / {auth['always-allow'][verb]:,.0f}",
                    f"{auth['rbac'][verb] / auth['always-allow'][verb] - 1:+.1%}",
                ),
                (
                    f"  server CPU per {verb}, RBAC on / off",
                    f"{auth['rbac'][verb + '_cpu_us']:,.0f} / {auth['always-allow'][verb + '_cpu_us']:,.0f} us",
                    f"{auth['rbac'][verb + '_cpu_us'] / auth['always-allow'][verb + '_cpu_us'] - 1:+.1%} (goal: within 10 %)",
                ),
            )
        ),
        (
            f"watch fan-out to 1 watcher (replay of {replay:,})",
            f"{results['watch_replay_events_per_s']:,.0f} ev/s",
            ">= 20,000",
        ),
        (
            f"live fan-out to {args.watchers} watchers",
            f"{events:,.0f} ev/s",
            f"at {writes:,.0f} writes/s",
        ),
        (
            f"memory for {mem['pods']:,} pods (RSS growth)",
            f"{mem['rss_growth_bytes'] / 2**20:,.0f} MiB",
            "< 2,048 MiB",
        ),
        ("  in-process pod creates/s", f"{mem['pods'] / mem['create_seconds']:,.0f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>16}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>16}  {goal}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
