"""A label is not ownership: pods rayop's workloads do not control are never deleted, counted
or reported, however they are labelled (issue 16)."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Env, small_cluster, wait_for


def impostor(name: str, cluster: str, node_type: str, *, restart: str = "Never") -> dict[str, Any]:
    """A user's own pod that carries the cluster's Ray labels but no workload controls."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {
                "ray.io/cluster": cluster,
                "ray.io/node-type": node_type,
                "ray.io/group": "headgroup" if node_type == "head" else "g0",
            },
        },
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "batch", "image": "busybox"}],
        },
    }


async def _ready(env: Env, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status = await env.status(name)
        return status if status.get("state") == "ready" else None

    return await wait_for(check, what=f"{name} to be ready")


async def test_a_failed_batch_pod_labelled_with_the_cluster_is_not_deleted(env: Env) -> None:
    """A user's batch pod labelled ray.io/cluster=<name> that Failed stays (its logs with it),
    and the cluster's counts ignore it."""
    await env.apply(small_cluster("own", replicas=1))
    await _ready(env, "own")
    await env.apply(impostor("users-batch", "own", "worker"))
    await wait_for(lambda: env.get("v1", "Pod", "users-batch"), what="the batch pod to exist")
    env.sim.workloads.fail_pod(pod="users-batch", reason="Error")
    await env.reconciles(rounds=2)
    pod = await env.get("v1", "Pod", "users-batch")
    assert pod is not None, "rayop deleted a pod it does not control"
    assert not pod["metadata"].get("deletionTimestamp")
    status = await env.status("own")
    assert status["availableWorkerReplicas"] == 1
    assert status["desiredWorkerReplicas"] == 1


async def test_a_pod_labelled_as_a_head_by_someone_else_is_not_the_head(env: Env) -> None:
    """While the real head is gone, a ready impostor labelled node-type=head does not become
    status.head and the cluster is not reported ready on its strength."""
    await env.apply(small_cluster("real", replicas=0))
    status = await _ready(env, "real")
    real_head = status["head"]["podName"]
    await env.apply(impostor("fake-head", "real", "head", restart="Always"))

    async def impostor_running() -> bool:
        pod = await env.get("v1", "Pod", "fake-head")
        return bool(pod) and (pod.get("status") or {}).get("phase") == "Running"

    await wait_for(impostor_running, what="the impostor to run")
    await env.reconciles(rounds=2)
    status = await env.status("real")
    assert status["head"]["podName"] == real_head
