"""HorizontalPodAutoscaler mode, and switching a group between HPA, in-tree autoscaler and fixed.

kubesim's HPA controller reads the pod usage a test sets (``sim.workloads.set_pod_usage``) and
writes the workload's ``/scale``; the audit log shows who wrote what.
"""

from __future__ import annotations

import copy
from typing import Any

from controller.api.names import worker_workload_name
from controller.caches import CHILD_KINDS
from controller.operator import USER_AGENT
from kubesim.apiserver.audit import WRITE_VERBS
from tests.e2e.harness import NS, Env, small_cluster, wait_for

WORKLOAD = worker_workload_name("hpa", "g0")
HPA_USER = "horizontal-pod-autoscaler"


def _hpa_cluster() -> dict[str, Any]:
    manifest = small_cluster("hpa")
    group = manifest["spec"]["workerGroupSpecs"][0]
    del group["replicas"]  # the HPA owns the group's size
    group.update(minReplicas=1, maxReplicas=4, horizontalPodAutoscaler={})
    return manifest


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def _workers(env: Env) -> list[dict[str, Any]]:
    return [p for p in await env.pods("hpa") if p["metadata"]["labels"].get("ray.io/group") == "g0"]


async def _ready_workers(env: Env, count: int, owner_kind: str) -> list[dict[str, Any]]:
    """Wait for exactly ``count`` live ready workers, every one owned by a ``owner_kind``."""

    async def check() -> list[dict[str, Any]] | None:
        pods = await _workers(env)
        owners = {ref["kind"] for p in pods for ref in p["metadata"].get("ownerReferences", [])}
        ok = len(pods) == count and all(map(_ready, pods)) and owners <= {owner_kind}
        return pods if ok else None

    return await wait_for(check, what=f"{count} ready workers owned by a {owner_kind}")


async def _children(env: Env) -> set[tuple[str, str]]:
    """Every object rayop manages in the namespace, as (kind, name)."""
    found = set()
    for kind in CHILD_KINDS:
        items = await env.user.list(
            kind.api_version, kind.kind, NS, label_selector="app.kubernetes.io/managed-by=rayop"
        )
        found |= {(kind.kind, i["metadata"]["name"]) for i in items}
    return found


async def _children_become(env: Env, expected: set[tuple[str, str]]) -> None:
    async def check() -> bool:
        return await _children(env) == expected

    await wait_for(check, what=f"rayop's children to be exactly {sorted(expected)}")


def _rescales(env: Env, since: int) -> list[dict[str, Any]]:
    return [
        e
        for e in env.sim.audit.entries[since:]
        if HPA_USER in str(e["user"]) and e["subresource"] == "scale" and e["verb"] != "get"
    ]


async def _replicas(env: Env) -> int | None:
    obj = await env.get("apps/v1", "StatefulSet", WORKLOAD)
    return None if obj is None else obj["spec"].get("replicas")


async def test_hpa_scales_the_group_and_rayop_never_writes_its_replicas(env: Env) -> None:
    """Under load the HPA scales 1 → 3 → 4, then back to 1; rayop never writes the workload."""
    await env.apply(_hpa_cluster())
    await _ready_workers(env, 1, "StatefulSet")
    hpa = await wait_for(
        lambda: env.get("autoscaling/v2", "HorizontalPodAutoscaler", WORKLOAD), what="the HPA"
    )
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": WORKLOAD,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    mark = len(env.sim.audit.entries)

    workloads = env.sim.workloads
    assert workloads is not None
    # 200% of the request against an 80% target: the HPA grows the group in steps to its max.
    workloads.set_pod_usage(NS, selector={"ray.io/group": "g0"}, cpu_percent=200)
    await _ready_workers(env, 4, "StatefulSet")
    assert await _replicas(env) == 4
    workloads.set_pod_usage(NS, selector={"ray.io/group": "g0"}, cpu_percent=10)
    await _ready_workers(env, 1, "StatefulSet")
    await env.settle(0.3)  # a fight would show as a write right after a rescale

    assert len(_rescales(env, mark)) >= 3
    assert await _replicas(env) == 1
    rayop_workload_writes = [
        e
        for e in env.sim.audit.entries[mark:]
        if str(e["user_agent"]).startswith(USER_AGENT)
        and e["verb"] in WRITE_VERBS
        and (e["resource"], e["name"]) == ("statefulsets", WORKLOAD)
    ]
    assert rayop_workload_writes == []
    status = await env.status("hpa")
    assert status["desiredWorkerReplicas"] == 1


async def test_switching_between_hpa_autoscaler_and_fixed_leaves_no_orphans(env: Env) -> None:
    """HPA → fixed → in-tree autoscaler → HPA: each step leaves exactly the objects it needs."""
    common = {("StatefulSet", "hpa-head"), ("Service", "hpa-head-svc"), ("Service", "hpa-workers")}
    hpa_mode = _hpa_cluster()
    await env.apply(copy.deepcopy(hpa_mode))
    await _children_become(
        env, common | {("StatefulSet", WORKLOAD), ("HorizontalPodAutoscaler", WORKLOAD)}
    )
    await _ready_workers(env, 1, "StatefulSet")

    fixed = small_cluster("hpa", replicas=2)
    await env.apply(copy.deepcopy(fixed))
    await _children_become(env, common | {("StatefulSet", WORKLOAD)})
    await _ready_workers(env, 2, "StatefulSet")
    assert await _replicas(env) == 2

    autoscaled = small_cluster("hpa", replicas=2, enableInTreeAutoscaling=True)
    await env.apply(copy.deepcopy(autoscaled))
    rbac = {("ServiceAccount", "hpa"), ("Role", "hpa"), ("RoleBinding", "hpa")}
    await _children_become(env, common | rbac | {("Deployment", WORKLOAD)})
    await _ready_workers(env, 2, "ReplicaSet")

    await env.apply(copy.deepcopy(hpa_mode))
    await _children_become(
        env, common | {("StatefulSet", WORKLOAD), ("HorizontalPodAutoscaler", WORKLOAD)}
    )
    await _ready_workers(env, 1, "StatefulSet")
    replica_sets = await env.user.list("apps/v1", "ReplicaSet", NS)
    assert [r["metadata"]["name"] for r in replica_sets] == []


async def test_switching_a_running_group_to_hpa_keeps_its_workers(env: Env) -> None:
    """Fixed 3 → HPA: replicas never fall to the default 1 while the HPA takes the field over."""
    fixed = small_cluster("hpa", replicas=3)
    await env.apply(copy.deepcopy(fixed))
    before = await _ready_workers(env, 3, "StatefulSet")
    seen: list[int] = []
    statefulsets = env.sim.cluster.resource("statefulsets", "apps")

    def record(_: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == WORKLOAD:
            seen.append(obj["spec"].get("replicas", 1))

    unsubscribe = env.sim.cluster.subscribe(statefulsets, record)
    try:
        hpa_mode = _hpa_cluster()
        hpa_mode["spec"]["workerGroupSpecs"][0]["minReplicas"] = 2
        await env.apply(hpa_mode)
        await wait_for(
            lambda: env.get("autoscaling/v2", "HorizontalPodAutoscaler", WORKLOAD), what="the HPA"
        )
        await env.settle(0.5)  # several HPA syncs (no usage data: it keeps the current size)
    finally:
        unsubscribe()
    assert seen
    assert min(seen) == 3
    after = await _ready_workers(env, 3, "StatefulSet")
    assert {p["metadata"]["uid"] for p in after} == {p["metadata"]["uid"] for p in before}
