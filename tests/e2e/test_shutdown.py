"""Graceful stop: in-flight reconciles finish within the drain bound, and not beyond it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.harness import Env, running_env, small_cluster, wait_for


def _active(env: Env) -> float:
    value = env.operator.registry.get_sample_value(
        "controller_runtime_active_workers", {"controller": "raycluster"}
    )
    return value or 0.0


async def test_stop_waits_for_the_in_flight_reconcile(tmp_path: Path) -> None:
    """A reconcile stuck behind a slow API call completes before the operator exits."""
    async with running_env(tmp_path, drain_timeout=10.0) as env:
        env.sim.faults.add(verb="patch", resource="statefulsets", latency=0.5)
        await env.apply(small_cluster("slow", replicas=1))
        await wait_for(lambda: _active(env) >= 1, what="a reconcile in flight")
        env.operator.stop()
        await asyncio.wait_for(env.task, timeout=10)
        head = await env.get("apps/v1", "StatefulSet", "slow-head")
        assert head is not None, "the in-flight reconcile was abandoned"


async def test_stop_is_bounded_by_the_drain_timeout(tmp_path: Path) -> None:
    """A reconcile that cannot finish is cancelled once the drain timeout passes."""
    async with running_env(tmp_path, drain_timeout=0.3) as env:
        env.sim.faults.add(verb="patch", resource="statefulsets", latency=30.0)
        await env.apply(small_cluster("stuck", replicas=1))
        await wait_for(lambda: _active(env) >= 1, what="a reconcile in flight")
        loop = asyncio.get_running_loop()
        started = loop.time()
        env.operator.stop()
        await asyncio.wait_for(env.task, timeout=5)
        assert loop.time() - started < 2.0
        env.sim.faults.clear()
