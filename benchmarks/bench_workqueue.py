"""Benchmark the workqueue: items per second through add → get → done, delays, rate limiting.

Run: ``.venv/bin/python benchmarks/bench_workqueue.py [--items N] [--consumers C]``.
Prints a table and writes ``benchmarks/results/bench_workqueue.json``.

Scenarios (each on the real event loop clock, one process):

- ``add/get/done``: N distinct keys added, C consumers drain them (no metrics, then with a
  Prometheus registry);
- ``handoff``: one key added per loop turn, so every ``get`` suspends and is woken;
- ``dedup``: every key added 10 times before the consumers run (9 of 10 adds are no-ops);
- ``add_after``: N keys with random delays in [0, 10 ms] through the one-timer heap;
- ``add_rate_limited``: N keys through the default controller limiter after its burst
  (measures the limiter + heap path; the bucket would otherwise pace to 10/s, so the
  benchmark uses a per-item exponential limiter with a 1 µs base).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from workqueue import (
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    Queue,
    RateLimitingQueue,
    ShutDown,
)

RESULTS = Path(__file__).parent / "results" / "bench_workqueue.json"


async def _drain(queue: Queue[int], consumers: int, expected: int) -> None:
    done = 0
    finished = asyncio.Event()

    async def consumer() -> None:
        nonlocal done
        while True:
            try:
                item = await queue.get()
            except ShutDown:
                return
            queue.done(item)
            done += 1
            if done == expected:
                finished.set()

    async with asyncio.TaskGroup() as tasks:
        for i in range(consumers):
            tasks.create_task(consumer(), name=f"consumer-{i}")
        await finished.wait()
        queue.shut_down()


async def add_get_done(items: int, consumers: int, *, metrics: bool) -> float:
    registry = CollectorRegistry() if metrics else None
    queue: Queue[int] = Queue(name="bench" if metrics else "", registry=registry)
    start = time.perf_counter()
    for i in range(items):
        queue.add(i)
    await _drain(queue, consumers, items)
    return items / (time.perf_counter() - start)


async def handoff(items: int, consumers: int) -> float:
    queue: Queue[int] = Queue()

    async def producer() -> None:
        for i in range(items):
            queue.add(i)
            await asyncio.sleep(0)  # consumers wait on an empty queue: every get suspends

    start = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(producer(), name="producer")
        await _drain(queue, consumers, items)
    return items / (time.perf_counter() - start)


async def dedup(items: int, consumers: int) -> float:
    queue: Queue[int] = Queue()
    start = time.perf_counter()
    for _ in range(10):
        for i in range(items):
            queue.add(i)
    await _drain(queue, consumers, items)
    return items * 10 / (time.perf_counter() - start)


async def add_after(items: int, consumers: int) -> float:
    queue: DelayingQueue[int] = DelayingQueue()
    rng = random.Random(1)
    start = time.perf_counter()
    for i in range(items):
        queue.add_after(i, rng.random() * 0.01)
    await _drain(queue, consumers, items)
    return items / (time.perf_counter() - start)


async def add_rate_limited(items: int, consumers: int) -> float:
    queue: RateLimitingQueue[int] = RateLimitingQueue(ItemExponentialFailureRateLimiter(1e-6, 0.01))
    start = time.perf_counter()
    for i in range(items):
        queue.add_rate_limited(i)
    await _drain(queue, consumers, items)
    return items / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000, help="keys per scenario")
    parser.add_argument("--consumers", type=int, default=4, help="concurrent consumers")
    args = parser.parse_args()

    scenarios: list[tuple[str, Callable[[], Any]]] = [
        ("add/get/done", lambda: add_get_done(args.items, args.consumers, metrics=False)),
        (
            "add/get/done + metrics",
            lambda: add_get_done(args.items, args.consumers, metrics=True),
        ),
        ("handoff (waiting consumers)", lambda: handoff(args.items, args.consumers)),
        ("dedup (10 adds per key)", lambda: dedup(args.items, args.consumers)),
        ("add_after (0-10 ms)", lambda: add_after(args.items, args.consumers)),
        ("add_rate_limited", lambda: add_rate_limited(args.items, args.consumers)),
    ]
    rows = []
    for label, scenario in scenarios:
        rate = asyncio.run(scenario())
        rows.append({"scenario": label, "ops_per_second": round(rate)})
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    print(f"workqueue, {args.items} items, {args.consumers} consumers, {machine}")
    print(f"{'scenario':<28} {'ops/s':>12}")
    for row in rows:
        print(f"{row['scenario']:<28} {row['ops_per_second']:>12,}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": machine, "args": vars(args), "results": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
