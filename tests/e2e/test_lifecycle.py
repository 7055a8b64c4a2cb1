"""A RayCluster's life on kubesim: scaling, rollouts, suspension, groups, deletion, drift."""

from __future__ import annotations

import copy
from typing import Any

from controller.api.names import head_statefulset_name, worker_service_name, worker_workload_name
from controller.kube import KubeClient
from tests.e2e.harness import Env, condition, small_cluster, wait_for


async def _ready(env: Env, name: str, workers: int | None = None) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status = await env.status(name)
        if (
            status.get("state") != "ready"
            or status.get("observedGeneration")
            != ((await env.cluster(name))["metadata"]["generation"])
        ):
            return None
        if workers is not None and status.get("readyWorkerReplicas") != workers:
            return None
        return status

    return await wait_for(check, what=f"{name} to be ready with {workers} workers")


async def _replicas(env: Env, kind: str, name: str) -> int | None:
    obj = await env.get("apps/v1", kind, name)
    return None if obj is None else obj["spec"].get("replicas")


async def test_replicas_edit_scales_the_workload_clamped_to_min_max(env: Env) -> None:
    """replicas 2 → 4 scales the group's workload to 4; 9 is clamped to maxReplicas 5."""
    manifest = small_cluster("scale", replicas=2)
    await env.apply(copy.deepcopy(manifest))
    await _ready(env, "scale", workers=2)
    workload = worker_workload_name("scale", "g0")

    manifest["spec"]["workerGroupSpecs"][0]["replicas"] = 4
    await env.apply(copy.deepcopy(manifest))
    status = await _ready(env, "scale", workers=4)
    assert await _replicas(env, "StatefulSet", workload) == 4
    assert status["desiredWorkerReplicas"] == 4
    assert len(await env.pods("scale")) == 5

    manifest["spec"]["workerGroupSpecs"][0]["replicas"] = 9
    await env.apply(copy.deepcopy(manifest))
    status = await _ready(env, "scale", workers=5)
    assert await _replicas(env, "StatefulSet", workload) == 5
    assert status["desiredWorkerReplicas"] == 5


async def test_adding_and_removing_a_worker_group(env: Env) -> None:
    """A new group gets its workload and pods; a removed group's workload is deleted."""
    manifest = small_cluster("groups", replicas=1)
    await env.apply(copy.deepcopy(manifest))
    await _ready(env, "groups", workers=1)

    two = small_cluster("groups", replicas=1, groups=2)
    await env.apply(copy.deepcopy(two))
    await _ready(env, "groups", workers=2)
    assert await env.get("apps/v1", "StatefulSet", worker_workload_name("groups", "g1"))

    await env.apply(copy.deepcopy(manifest))
    await _ready(env, "groups", workers=1)
    await wait_for(
        lambda: _gone(env, "StatefulSet", worker_workload_name("groups", "g1")),
        what="the removed group's StatefulSet to be deleted",
    )
    deleted = {e["message"] for e in await env.events("DeletedStatefulSet")}
    assert any(worker_workload_name("groups", "g1") in m for m in deleted)


async def _gone(env: Env, kind: str, name: str) -> bool:
    return await env.get("apps/v1", kind, name) is None


async def test_suspend_and_resume(env: Env) -> None:
    """suspend: true removes every pod and reports suspended; false brings the cluster back."""
    manifest = small_cluster("nap", replicas=2)
    await env.apply(copy.deepcopy(manifest))
    await _ready(env, "nap", workers=2)

    manifest["spec"]["suspend"] = True
    await env.apply(copy.deepcopy(manifest))

    async def suspended() -> dict[str, Any] | None:
        status = await env.status("nap")
        return status if status.get("state") == "suspended" else None

    status = await wait_for(suspended, what="the cluster to be suspended")
    assert condition(status, "RayClusterSuspended")["status"] == "True"
    assert condition(status, "Ready")["status"] == "False"
    assert await env.pods("nap") == []
    assert await env.get("v1", "Service", "nap-head-svc") is not None  # services are kept

    manifest["spec"]["suspend"] = False
    await env.apply(copy.deepcopy(manifest))
    status = await _ready(env, "nap", workers=2)
    assert condition(status, "RayClusterSuspended")["status"] == "False"


async def test_spec_change_rolls_out_to_running_pods(env: Env) -> None:
    """Changing a group's rayStartParams replaces its pods with the new template."""
    manifest = small_cluster("roll", replicas=1)
    await env.apply(copy.deepcopy(manifest))
    await _ready(env, "roll", workers=1)
    manifest["spec"]["workerGroupSpecs"][0]["rayStartParams"] = {"num-cpus": "3"}
    await env.apply(copy.deepcopy(manifest))

    async def rolled() -> bool:
        pods = [
            p for p in await env.pods("roll") if p["metadata"]["labels"]["ray.io/group"] == "g0"
        ]
        return bool(pods) and all("num-cpus" in str(p["spec"]["containers"][0]) for p in pods)

    await wait_for(rolled, what="worker pods to run the new ray start command")
    await _ready(env, "roll", workers=1)


async def test_upgrade_strategy_none_keeps_running_pods(env: Env) -> None:
    """Under upgradeStrategy None the workload changes but running pods are left alone."""
    manifest = small_cluster("keep", replicas=1, upgradeStrategy={"type": "None"})
    await env.apply(copy.deepcopy(manifest))
    await _ready(env, "keep", workers=1)
    before = {p["metadata"]["uid"] for p in await env.pods("keep")}
    manifest["spec"]["workerGroupSpecs"][0]["rayStartParams"] = {"num-cpus": "3"}
    await env.apply(copy.deepcopy(manifest))

    async def template_updated() -> bool:
        sts = await env.get("apps/v1", "StatefulSet", worker_workload_name("keep", "g0"))
        return sts is not None and "num-cpus" in str(sts["spec"]["template"])

    await wait_for(template_updated, what="the StatefulSet template to change")
    await env.settle(0.5)
    assert {p["metadata"]["uid"] for p in await env.pods("keep")} == before


async def test_deleting_the_raycluster_garbage_collects_everything(env: Env) -> None:
    """Every child and pod goes away with the RayCluster."""
    await env.apply(small_cluster("bye", replicas=2))
    await _ready(env, "bye", workers=2)
    await env.user.delete("ray.io/v1", "RayCluster", "default", "bye")

    async def all_gone() -> bool:
        left = []
        for api_version, kind in (("apps/v1", "StatefulSet"), ("v1", "Service"), ("v1", "Pod")):
            items = await env.user.list(
                api_version, kind, "default", label_selector="ray.io/cluster=bye"
            )
            left += items
        return not left

    await wait_for(all_gone, what="children and pods of the deleted RayCluster to be collected")


async def test_deleted_or_edited_child_is_restored_and_foreign_label_kept(env: Env) -> None:
    """A deleted Service comes back, an edited image is reverted, a user's label survives."""
    await env.apply(small_cluster("drift", replicas=1))
    await _ready(env, "drift", workers=1)
    service = worker_service_name("drift")
    head = head_statefulset_name("drift")

    await env.user.delete("v1", "Service", "default", service)
    await wait_for(lambda: env.get("v1", "Service", service), what="the Service to be recreated")

    labeler = KubeClient(env.user.api_client, field_manager="labeler", qps=0)
    writes = await env.quiet()
    await labeler.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": head, "namespace": "default", "labels": {"team": "ml"}},
        }
    )
    await env.reconciles(2)
    assert len(env.rayop_writes()) == writes, "a foreign label made rayop write"

    sts = await env.get("apps/v1", "StatefulSet", head)
    assert sts is not None
    original = sts["spec"]["template"]["spec"]["containers"][0]["image"]
    edited = copy.deepcopy(sts["spec"]["template"]["spec"]["containers"][0])
    await env.user.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": head, "namespace": "default"},
            "spec": {
                "template": {"spec": {"containers": [{"name": edited["name"], "image": "evil:1"}]}}
            },
        }
    )

    async def restored() -> dict[str, Any] | None:
        now = await env.get("apps/v1", "StatefulSet", head)
        image = now["spec"]["template"]["spec"]["containers"][0]["image"] if now else None
        return now if image == original else None

    restored_sts = await wait_for(restored, what="rayop to restore the image")
    assert restored_sts["metadata"]["labels"]["team"] == "ml"
