"""The class of an API failure decides what rayop does next, on kubesim with injected faults.

Terminal (422, 400): one Warning, the status says why, the same object is not sent again until
a long delay has passed (no exponential retry storm). Transient (5xx, 429, timeouts): retried
with the rate limiter, never sooner than the server's Retry-After. Timing is on fake loop time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Env, condition, running_env, small_cluster, wait_for

pytestmark = pytest.mark.looptime


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    """kubesim + operator on fake loop time (the operator's terminal requeue is 600 s)."""
    async with running_env(tmp_path) as running:
        yield running


def deployment_cluster(name: str, *, replicas: int = 1) -> dict[str, Any]:
    """A small cluster whose one worker group is a Deployment (the head is a StatefulSet)."""
    manifest = small_cluster(name, replicas=replicas)
    manifest["spec"]["workerGroupSpecs"][0]["workloadKind"] = "Deployment"
    return manifest


@contextmanager
def attempts(env: Env, verb: str, resource: str) -> Iterator[list[float]]:
    """Loop times at which a request of ``verb`` on ``resource`` reached kubesim."""
    seen: list[float] = []
    decide = env.sim.faults.decide
    loop = asyncio.get_running_loop()

    def spy(v: str, r: str, sub: str | None) -> tuple[float, object]:
        if (v, r) == (verb, resource):
            seen.append(loop.time())
        return decide(v, r, sub)

    env.sim.faults.decide = spy  # type: ignore[method-assign,assignment]
    try:
        yield seen
    finally:
        env.sim.faults.decide = decide  # type: ignore[method-assign]


async def test_a_422_is_reported_once_and_not_retried_in_a_storm(env: Env) -> None:
    """A Deployment the server refuses (422): one Warning, status says why, one retry at 60 s."""
    env.operator.controller.terminal_requeue = 60.0
    env.sim.faults.add(verb="patch", resource="deployments", error=422,
                       message='Deployment "c-g0" is invalid: spec.x: Forbidden')  # fmt: skip
    with attempts(env, "patch", "deployments") as tries:
        await env.apply(deployment_cluster("c", replicas=1))

        async def says_why() -> bool:
            failure = condition(await env.status("c"), "ReplicaFailure")
            return "spec.x: Forbidden" in failure.get("message", "")

        await wait_for(says_why, what="ReplicaFailure naming the refusal")
        started = asyncio.get_running_loop().time()
        await asyncio.sleep(130)  # pods come and go meanwhile, waking the cluster many times
    assert [round(t - started) for t in tries] == [0, 60, 120], "one try per 60 s, no storm"
    events = await env.events("FailedToApplyDeployment")
    assert len(events) == 1
    assert events[0]["type"] == "Warning"
    assert events[0].get("count", 1) == 1
    assert "spec.x: Forbidden" in events[0]["message"]
    metric = env.operator.registry.get_sample_value(
        "controller_runtime_terminal_reconcile_errors_total", {"controller": "raycluster"}
    )
    assert metric is not None
    assert metric >= 1


async def test_a_refused_object_is_sent_again_once_the_spec_changes(env: Env) -> None:
    """After a 422, editing the spec sends the new object at once; the fix clears the failure."""
    rule = env.sim.faults.add(verb="patch", resource="deployments", error=422, message="nope")
    with attempts(env, "patch", "deployments") as tries:
        await env.apply(deployment_cluster("c", replicas=1))
        await wait_for(lambda: len(tries) >= 1, what="the first apply")
        await asyncio.sleep(5)
        assert len(tries) == 1
        env.sim.faults.remove(rule)
        await env.apply(deployment_cluster("c", replicas=2))

        async def ready() -> bool:
            status = await env.status("c")
            return status.get("state") == "ready" and status.get("readyWorkerReplicas") == 2

        await wait_for(ready, what="the cluster ready with 2 workers", within=60)
    assert len(tries) >= 2
    assert condition(await env.status("c"), "ReplicaFailure")["status"] == "False"


async def test_a_500_is_retried_with_growing_backoff_until_it_succeeds(env: Env) -> None:
    """500s for a minute: retries back off exponentially (a dozen tries, not thousands)."""
    rule = env.sim.faults.add(verb="patch", resource="deployments", error=500)
    with attempts(env, "patch", "deployments") as tries:
        await env.apply(deployment_cluster("c", replicas=1))
        await wait_for(lambda: tries, what="the first attempt")
        await asyncio.sleep(60)
        failed = tries[:]
        env.sim.faults.remove(rule)

        async def ready() -> bool:
            return (await env.status("c")).get("state") == "ready"

        await wait_for(ready, what="the cluster ready once the server recovers", within=120)
    # Each failure doubles the delay from 5 ms (pod events in between retry at once, and count).
    assert 8 <= len(failed) <= 20
    assert failed[-1] - failed[-2] >= 10.0
    assert await env.events("FailedToApplyDeployment")


async def test_a_429_waits_for_retry_after(env: Env) -> None:
    """429 with Retry-After: 7 — the next attempt comes 7 s later, not 5 ms later."""
    env.sim.faults.add(verb="patch", resource="deployments", error=429, retry_after=7, count=1)
    with attempts(env, "patch", "deployments") as tries:
        await env.apply(deployment_cluster("c", replicas=1))
        await wait_for(lambda: len(tries) >= 2, what="a retry", within=30)
    assert 7.0 <= round(tries[1] - tries[0], 3) < 7.5  # (the retry itself takes a moment)


async def test_a_timeout_is_retried(env: Env) -> None:
    """A write that hangs past the reconcile timeout is abandoned and tried again."""
    env.operator.controller.reconcile_timeout = 2.0
    env.sim.faults.add(verb="patch", resource="deployments", latency=60, count=1)
    with attempts(env, "patch", "deployments") as tries:
        await env.apply(deployment_cluster("c", replicas=1))

        async def ready() -> bool:
            return (await env.status("c")).get("state") == "ready"

        await wait_for(ready, what="the cluster ready after the timeout", within=60)
    assert 2.0 <= round(tries[1] - tries[0], 3) < 3.0
