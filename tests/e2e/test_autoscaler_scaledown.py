"""The in-tree Ray autoscaler against rayop: its exact JSON patches, replayed over HTTP.

The bodies are the ones captured from the real autoscaler (ray-autoscaler.md §2.4), sent with
kubernetes-asyncio as ``application/json-patch+json``. rayop's CRD defaults ``scaleStrategy``;
KubeRay's does not, so one test installs the CRD without that default (as a user who kept
KubeRay's CRD has it) and the first scale-down ``replace``s a ``scaleStrategy`` the RayCluster
does not have, exactly as the autoscaler does there.
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes_asyncio.client import CustomObjectsApi

from controller.api.names import worker_workload_name
from controller.dev import CRD_DIR, load_manifests
from tests.e2e.harness import NS, Env, fast_probes, small_cluster, wait_for

JSON_PATCH = "application/json-patch+json"


async def _patch(env: Env, name: str, ops: list[dict[str, Any]]) -> None:
    """PATCH the RayCluster as the autoscaler does (RFC 6902 body)."""
    api = CustomObjectsApi(env.user.api_client)
    await api.patch_namespaced_custom_object(
        "ray.io", "v1", NS, "rayclusters", name, ops, _content_type=JSON_PATCH
    )


async def _crd_without_scale_strategy_default(env: Env) -> None:
    """Re-apply the RayCluster CRD with no default for scaleStrategy (KubeRay's CRD has none)."""
    for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
        for version in crd["spec"]["versions"]:
            props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            props["workerGroupSpecs"]["items"]["properties"]["scaleStrategy"].pop("default", None)
        await env.user.apply(crd)


def _replicas(index: int, value: int) -> dict[str, Any]:
    return {"op": "replace", "path": f"/spec/workerGroupSpecs/{index}/replicas", "value": value}


def _delete(index: int, pods: list[str]) -> dict[str, Any]:
    return {
        "op": "replace",
        "path": f"/spec/workerGroupSpecs/{index}/scaleStrategy",
        "value": {"workersToDelete": pods},
    }


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def _workers(env: Env, cluster: str, group: str = "g0") -> dict[str, dict[str, Any]]:
    """Live worker pods of a group by name."""
    return {
        p["metadata"]["name"]: p
        for p in await env.pods(cluster)
        if p["metadata"]["labels"].get("ray.io/group") == group
    }


async def _ready_workers(env: Env, cluster: str, count: int, group: str = "g0") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        pods = await _workers(env, cluster, group)
        return pods if len(pods) == count and all(map(_ready, pods.values())) else None

    return await wait_for(check, what=f"{count} ready workers in {cluster}/{group}")


def _pod_deletes(env: Env, since: int) -> set[str]:
    """Names of pods anyone deleted since audit entry ``since``."""
    return {
        str(e["name"])
        for e in env.sim.audit.entries[since:]
        if e["resource"] == "pods" and e["verb"] == "delete"
    }


def _oldest_first(pods: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(pods, key=lambda n: (pods[n]["metadata"]["creationTimestamp"], n))


async def test_scale_down_removes_exactly_the_named_workers_across_cycles(env: Env) -> None:
    """Four scale-up/scale-down cycles (v1 and v2 cleanup): only the named pods are removed."""
    await _crd_without_scale_strategy_default(env)
    await env.apply(small_cluster("auto", replicas=1, enableInTreeAutoscaling=True))
    await _ready_workers(env, "auto", 1)
    assert "scaleStrategy" not in (await env.cluster("auto"))["spec"]["workerGroupSpecs"][0]
    assert await env.get("apps/v1", "Deployment", worker_workload_name("auto", "g0"))

    pending_cleanup = False
    for cycle in range(4):
        # Autoscaler v2 clears the previous list inside its next scale request.
        await _patch(env, "auto", [_replicas(0, 4)] + ([_delete(0, [])] if pending_cleanup else []))
        before = await _ready_workers(env, "auto", 4)
        # The oldest worker is the one a ReplicaSet removes last on its own (it ranks pods
        # ready for longer as more valuable); the newest by uid breaks its ties the other way.
        oldest = _oldest_first(before)
        victims = [oldest[0], max(oldest[1:], key=lambda n: before[n]["metadata"]["uid"])]
        mark = len(env.sim.audit.entries)
        await _patch(env, "auto", [_replicas(0, 2), _delete(0, victims)])

        await _ready_workers(env, "auto", 2)
        await env.settle(0.3)  # anything wrong (an extra delete, a replacement) happens now
        survivors = await _ready_workers(env, "auto", 2)
        assert {p["metadata"]["uid"] for p in survivors.values()} == {
            before[n]["metadata"]["uid"] for n in before if n not in victims
        }
        assert _pod_deletes(env, mark) <= set(victims)
        spec = (await env.cluster("auto"))["spec"]["workerGroupSpecs"][0]
        assert spec["scaleStrategy"]["workersToDelete"] == victims  # rayop leaves it alone
        # Autoscaler v1 clears the list on its own once the named pods are gone; v2 does not.
        pending_cleanup = cycle % 2 == 1
        if not pending_cleanup:
            await _patch(env, "auto", [_delete(0, [])])


async def test_names_outside_the_group_are_ignored(env: Env) -> None:
    """workersToDelete naming the head, another group's pod and a stranger removes none of them."""
    await env.apply(small_cluster("mixed", replicas=2, groups=2, enableInTreeAutoscaling=True))
    g0 = await _ready_workers(env, "mixed", 2, "g0")
    g1 = await _ready_workers(env, "mixed", 2, "g1")
    head = next(
        p for p in await env.pods("mixed") if p["metadata"]["labels"]["ray.io/node-type"] == "head"
    )
    victim = _oldest_first(g0)[0]
    others = [head["metadata"]["name"], next(iter(g1)), "no-such-pod"]
    mark = len(env.sim.audit.entries)
    await _patch(env, "mixed", [_replicas(0, 1), _delete(0, [*others, victim])])

    left = await _ready_workers(env, "mixed", 1, "g0")
    await env.settle(0.3)
    assert list(left) == [n for n in g0 if n != victim]
    assert set(await _workers(env, "mixed", "g1")) == set(g1)
    alive = {p["metadata"]["uid"] for p in await env.pods("mixed")}
    assert head["metadata"]["uid"] in alive
    assert _pod_deletes(env, mark) == {victim}


async def test_named_pod_is_deleted_when_replicas_do_not_drop(env: Env) -> None:
    """A named pod of a group that keeps its size is deleted and replaced by a fresh pod."""
    await env.apply(small_cluster("keep", replicas=2, enableInTreeAutoscaling=True))
    before = await _ready_workers(env, "keep", 2)
    victim = _oldest_first(before)[0]
    mark = len(env.sim.audit.entries)
    await _patch(env, "keep", [_delete(0, [victim])])

    async def replaced() -> dict[str, Any] | None:
        pods = await _ready_workers(env, "keep", 2)
        return pods if victim not in pods else None

    after = await wait_for(replaced, what="the named pod to be replaced")
    assert set(before) - {victim} <= set(after)
    assert _pod_deletes(env, mark) == {victim}
    assert any(victim in e["message"] for e in await env.events("DeletedWorkerPod"))


async def test_statefulset_group_scales_by_count_with_one_warning(env: Env) -> None:
    """A StatefulSet-backed group removes its highest ordinal and warns once per list change."""
    manifest = small_cluster("sts", replicas=3, enableInTreeAutoscaling=True)
    manifest["spec"]["workerGroupSpecs"][0]["workloadKind"] = "StatefulSet"
    await env.apply(copy.deepcopy(manifest))
    await _ready_workers(env, "sts", 3)
    workload = worker_workload_name("sts", "g0")
    # Ordinal 2 goes anyway; ordinal 0 cannot. The warning must not repeat once 2 is gone.
    await _patch(env, "sts", [_replicas(0, 2), _delete(0, [f"{workload}-0", f"{workload}-2"])])

    left = await _ready_workers(env, "sts", 2)
    assert sorted(left) == [f"{workload}-0", f"{workload}-1"]
    for value in ("a", "b", "c"):  # more reconciles of the same list: no more warnings
        await _patch(env, "sts", [{"op": "add", "path": "/metadata/labels", "value": {"v": value}}])
    await env.settle(0.3)
    warnings = await env.events("WorkersToDeleteNotHonoured")
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"
    assert warnings[0].get("count", 1) == 1
    assert f"{workload}-0 named in workersToDelete" in warnings[0]["message"]


async def test_an_unready_worker_goes_first_then_rayop_deletes_the_named_one(env: Env) -> None:
    """A not-ready worker goes before the named one, rayop deletes the named pod, the rest live."""
    await env.apply(fast_probes(small_cluster("sick", replicas=3, enableInTreeAutoscaling=True)))
    before = await _ready_workers(env, "sick", 3)
    victim, sick, healthy = _oldest_first(before)
    assert env.sim.workloads is not None
    env.sim.workloads.set_not_ready(sick, NS)

    async def unready() -> bool:
        return not _ready((await _workers(env, "sick"))[sick])

    await wait_for(unready, what=f"{sick} to report not ready")
    mark = len(env.sim.audit.entries)
    await _patch(env, "sick", [_replicas(0, 2), _delete(0, [victim])])

    async def settled() -> dict[str, Any] | None:
        pods = await _workers(env, "sick")
        done = victim not in pods and sick not in pods and len(pods) == 2
        return pods if done and all(map(_ready, pods.values())) else None

    after = await wait_for(settled, what="the named and the unready worker to be replaced")
    assert after[healthy]["metadata"]["uid"] == before[healthy]["metadata"]["uid"]
    assert _pod_deletes(env, mark) == {victim, sick}
    assert any(victim in e["message"] for e in await env.events("DeletedWorkerPod"))
