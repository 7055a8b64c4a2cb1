"""rayop writes only when something changed: no writes when idle, none on resync, no hot loop."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from tests.e2e.harness import Env, condition, small_cluster, wait_for


async def _all_ready(env: Env, names: list[str]) -> None:
    async def check() -> bool:
        for name in names:
            if (await env.status(name)).get("state") != "ready":
                return False
        return True

    await wait_for(check, within=30, what=f"{len(names)} clusters to be ready")


async def test_forced_resyncs_of_many_clusters_make_no_writes(env: Env) -> None:
    """Twelve ready clusters: after three forced resyncs (36 reconciles), zero writes."""
    names = [f"quiet-{i}" for i in range(12)]
    for name in names:
        await env.apply(small_cluster(name, replicas=1))
    await _all_ready(env, names)
    before = await env.quiet()
    reconciles = env.reconciled()
    await env.reconciles(3)
    assert env.reconciled() - reconciles >= 3 * len(names)  # every cluster, three times
    assert env.rayop_writes()[before:] == []


async def test_invalid_spec_is_reported_once_without_a_hot_loop(env: Env) -> None:
    """A group without containers: status failed, a Warning event, then silence until fixed."""
    manifest = small_cluster("bad", replicas=1)
    good_template = manifest["spec"]["workerGroupSpecs"][0]["template"]
    manifest["spec"]["workerGroupSpecs"][0]["template"] = {"spec": {"containers": []}}
    await env.apply(copy.deepcopy(manifest))

    async def failed() -> dict[str, Any] | None:
        status = await env.status("bad")
        return status if status.get("state") == "failed" else None

    status = await wait_for(failed, what="state failed")
    assert "spec.workerGroupSpecs[0].template.spec.containers" in status["reason"]
    assert condition(status, "Ready")["reason"] == "InvalidSpec"
    events = await wait_for(lambda: env.events("InvalidRayClusterSpec"), what="a Warning event")
    assert events[0]["type"] == "Warning"
    assert "at least one container" in events[0]["message"]
    writes = await env.quiet(period=0.5)
    await env.reconciles(3)
    assert len(env.rayop_writes()) == writes, "rayop kept writing for an invalid spec"
    assert await env.pods("bad") == []

    # Another edit with the same problem: the same Event's count goes up, no second Event.
    manifest["spec"]["rayVersion"] = "2.9.1"
    await env.apply(copy.deepcopy(manifest))

    async def counted_twice() -> list[dict[str, Any]] | None:
        events = await env.events("InvalidRayClusterSpec")
        return events if events and events[0].get("count") == 2 else None

    events = await wait_for(counted_twice, what="the invalid-spec event to aggregate")
    assert len(events) == 1
    assert events[0]["lastTimestamp"] >= events[0]["firstTimestamp"]

    manifest["spec"]["workerGroupSpecs"][0]["template"] = good_template
    await env.apply(copy.deepcopy(manifest))

    async def ready() -> bool:
        return (await env.status("bad")).get("state") == "ready"

    await wait_for(ready, what="the fixed cluster to become ready")


async def test_a_failing_cluster_does_not_delay_the_others(env: Env) -> None:
    """While one RayCluster's writes fail, the others come up; it recovers once the API does."""
    broken = small_cluster("broken", replicas=1)
    broken["spec"]["workerGroupSpecs"][0]["workloadKind"] = "Deployment"
    # The API server refuses every write of a Deployment: only "broken" has one.
    rule = env.sim.faults.add(verb="patch", resource="deployments", error=500, message="disk full")
    await env.apply(broken)

    async def apply_failed() -> dict[str, Any] | None:
        status = await env.status("broken")
        return status if condition(status, "ReplicaFailure").get("status") == "True" else None

    status = await wait_for(apply_failed, what="ReplicaFailure from a refused write")
    assert "disk full" in condition(status, "ReplicaFailure")["message"]
    fine = [f"fine-{i}" for i in range(3)]
    await asyncio.gather(*(env.apply(small_cluster(name, replicas=1)) for name in fine))
    await _all_ready(env, fine)
    errors = env.operator.registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "raycluster"}
    )
    assert errors is not None
    assert errors >= 1

    env.sim.faults.remove(rule)
    await _all_ready(env, ["broken"])
    status = await env.status("broken")
    assert condition(status, "ReplicaFailure")["status"] == "False"
