"""When Ray nodes fail: rayop replaces what will not come back and tells the truth meanwhile."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.e2e.harness import Env, condition, fast_probes, small_cluster, wait_for


@contextmanager
def status_history(env: Env, name: str) -> Iterator[list[dict[str, Any]]]:
    """Every status the API server stored for RayCluster ``name`` while the block runs."""
    seen: list[dict[str, Any]] = []

    def record(_: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == name:
            status = copy.deepcopy(obj.get("status") or {})
            if not seen or seen[-1] != status:
                seen.append(status)

    unsubscribe = env.sim.cluster.subscribe(
        env.sim.cluster.resource("rayclusters", "ray.io"), record
    )
    try:
        yield seen
    finally:
        unsubscribe()


async def _ready(env: Env, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status = await env.status(name)
        return status if status.get("state") == "ready" else None

    return await wait_for(check, what=f"{name} to be ready")


async def _pod(env: Env, cluster: str, node_type: str) -> dict[str, Any]:
    """The cluster's first pod of ``node_type`` ({} while there is none, e.g. mid-replacement)."""
    pods = [
        p
        for p in await env.pods(cluster)
        if p["metadata"]["labels"]["ray.io/node-type"] == node_type
    ]
    return pods[0] if pods else {}


def _was_down(history: list[dict[str, Any]]) -> bool:
    return any(condition(s, "HeadPodReady").get("status") == "False" for s in history)


async def test_deleted_head_pod_is_replaced_and_the_outage_is_reported(env: Env) -> None:
    """Deleting the head brings a new head; status showed the outage, then the recovery."""
    await env.apply(small_cluster("headless", replicas=1))
    await _ready(env, "headless")
    old = await _pod(env, "headless", "head")
    with status_history(env, "headless") as history:
        await env.user.delete("v1", "Pod", "default", old["metadata"]["name"])

        async def recovered() -> dict[str, Any] | None:
            status = await env.status("headless")
            head = await _pod(env, "headless", "head")
            fresh = bool(head) and head["metadata"]["uid"] != old["metadata"]["uid"]
            return (
                status if fresh and status.get("state") == "ready" and _was_down(history) else None
            )

        status = await wait_for(recovered, what="a new head and a reported outage")
    down = next(s for s in history if condition(s, "HeadPodReady").get("status") == "False")
    assert condition(down, "Ready")["status"] == "False"
    assert down["state"] == ""
    assert condition(status, "HeadPodReady")["status"] == "True"
    assert condition(status, "Ready")["status"] == "True"

    async def both_events() -> bool:
        reasons = {e["reason"] for e in await env.events()}
        return {"HeadPodNotReady", "HeadPodRecovered"} <= reasons

    await wait_for(both_events, what="HeadPodNotReady and HeadPodRecovered events")


async def test_crashed_head_container_restarts_and_status_follows(env: Env) -> None:
    """A crashing Ray head container shows as not ready, and ready again after its restart."""
    await env.apply(small_cluster("crash", replicas=1))
    await _ready(env, "crash")
    head = await _pod(env, "crash", "head")
    with status_history(env, "crash") as history:
        env.sim.workloads.crash_container(pod=head["metadata"]["name"])

        async def back() -> bool:
            pod = await _pod(env, "crash", "head")
            statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
            restarts = statuses[0].get("restartCount", 0)
            status = await env.status("crash")
            return restarts >= 1 and status.get("state") == "ready" and _was_down(history)

        await wait_for(back, what="the head container to restart and status to recover")


async def test_evicted_worker_is_cleaned_up_and_replaced(env: Env) -> None:
    """An evicted worker of a Deployment-backed group (whose ReplicaSet leaves Failed pods
    behind) is deleted by rayop, and a new one replaces it."""
    manifest = small_cluster("evict", replicas=2)
    manifest["spec"]["workerGroupSpecs"][0]["workloadKind"] = "Deployment"
    await env.apply(manifest)
    await _ready(env, "evict")
    victim = await _pod(env, "evict", "worker")
    env.sim.workloads.evict_pod(pod=victim["metadata"]["name"])

    async def replaced() -> bool:
        pods = await env.pods("evict")
        uids = {p["metadata"]["uid"] for p in pods}
        status = await env.status("evict")
        return victim["metadata"]["uid"] not in uids and status.get("readyWorkerReplicas") == 2

    await wait_for(replaced, what="the evicted pod to be gone and replaced")

    async def reported() -> bool:
        messages = [e["message"] for e in await env.events("DeletedPod")]
        return any(victim["metadata"]["name"] in m and "Evicted" in m for m in messages)

    await wait_for(reported, what="a DeletedPod event naming the evicted pod")


async def test_failed_head_pod_is_replaced(env: Env) -> None:
    """A head pod in phase Failed is deleted and the head comes back."""
    await env.apply(small_cluster("fail", replicas=1))
    await _ready(env, "fail")
    old = await _pod(env, "fail", "head")
    env.sim.workloads.fail_pod(pod=old["metadata"]["name"], reason="Error")

    async def recovered() -> bool:
        head = await _pod(env, "fail", "head")
        status = await env.status("fail")
        fresh = bool(head) and head["metadata"]["uid"] != old["metadata"]["uid"]
        return fresh and status.get("state") == "ready"

    await wait_for(recovered, what="the failed head to be replaced")


async def test_crash_looping_worker_shows_replica_failure_and_an_event(env: Env) -> None:
    """A worker that keeps crashing is named in ReplicaFailure and in a Warning event."""
    await env.apply(small_cluster("loop", replicas=1))
    await _ready(env, "loop")
    worker = await _pod(env, "loop", "worker")
    env.sim.workloads.crash_container(pod=worker["metadata"]["name"], repeat=True)

    async def failing() -> dict[str, Any] | None:
        status = await env.status("loop")
        return status if condition(status, "ReplicaFailure").get("status") == "True" else None

    status = await wait_for(failing, what="ReplicaFailure to become true")
    assert worker["metadata"]["name"] in condition(status, "ReplicaFailure")["message"]
    assert condition(status, "Ready")["status"] == "False"
    # Events are sent by the recorder's own task, a moment after the status write.
    events = await wait_for(lambda: env.events("WorkerPodFailing"), what="the Warning event")
    assert events[0]["type"] == "Warning"


async def test_worker_failing_readiness_lowers_ready_count(env: Env) -> None:
    """A worker whose readiness probe fails is counted as available but not ready."""
    await env.apply(fast_probes(small_cluster("probe", replicas=2)))
    await _ready(env, "probe")
    worker = await _pod(env, "probe", "worker")
    env.sim.workloads.set_not_ready(pod=worker["metadata"]["name"])

    async def degraded() -> dict[str, Any] | None:
        status = await env.status("probe")
        return status if status.get("readyWorkerReplicas") == 1 else None

    status = await wait_for(degraded, what="the ready worker count to drop")
    assert status["availableWorkerReplicas"] == 2
    assert status["reason"] == "1/2 workers ready"
    assert condition(status, "Ready")["status"] == "False"
    env.sim.workloads.set_not_ready(pod=worker["metadata"]["name"], ready=True)
    await _ready(env, "probe")
