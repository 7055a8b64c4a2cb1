"""Deployment and ReplicaSet controllers through kubernetes-asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime


@pytest.fixture
async def apis() -> AsyncIterator[tuple[KubeSim, client.CoreV1Api, client.AppsV1Api]]:
    """kubesim with default delays on fake time, and core/apps clients."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield sim, client.CoreV1Api(api), client.AppsV1Api(api)
        finally:
            await api.close()


eventually = poller(every=0.5, within=300.0)


def deployment(replicas: int = 3, image: str = "nginx:1.25", **spec: Any) -> dict[str, Any]:
    """A Deployment manifest named web."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]},
            },
            **spec,
        },
    }


def rolled_out(apps: client.AppsV1Api, replicas: int) -> Callable[[], Awaitable[Any]]:
    """What `kubectl rollout status deploy/web` waits for."""

    async def check() -> Any:
        d = await apps.read_namespaced_deployment("web", "default")
        s = d.status
        ok = (
            s.observed_generation == d.metadata.generation
            and (s.updated_replicas or 0) == replicas
            and (s.replicas or 0) == replicas
            and (s.available_replicas or 0) == replicas
        )
        return d if ok else None

    return check


async def test_deployment_creates_a_hashed_replicaset_and_pods(
    apis: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """The ReplicaSet is web-<hash>, pods web-<hash>-<5>, all labelled pod-template-hash."""
    _, core, apps = apis
    await apps.create_namespaced_deployment("default", deployment())
    d = await eventually(rolled_out(apps, 3))
    (rs,) = (await apps.list_namespaced_replica_set("default")).items
    hash_ = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{hash_}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": hash_}
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "3"
    assert rs.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "4"
    pods = (await core.list_namespaced_pod("default")).items
    assert len(pods) == 3
    for p in pods:
        assert p.metadata.name.startswith(f"web-{hash_}-")
        assert len(p.metadata.name) == len(f"web-{hash_}-") + 5
        assert p.metadata.labels == {"app": "web", "pod-template-hash": hash_}
    conditions = {c.type: (c.status, c.reason) for c in d.status.conditions}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }


async def test_rolling_update_surges_and_scales_the_old_set_down(
    apis: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A new image creates revision 2 and moves pods over within maxSurge/maxUnavailable."""
    _, core, apps = apis
    await apps.create_namespaced_deployment("default", deployment(4))
    await eventually(rolled_out(apps, 4))
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
    }
    await apps.patch_namespaced_deployment("web", "default", patch)
    await eventually(rolled_out(apps, 4))
    sets = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
        for rs in (await apps.list_namespaced_replica_set("default")).items
    }
    assert sets["1"].spec.replicas == 0
    assert sets["2"].spec.replicas == 4
    events = (
        await core.list_namespaced_event("default", field_selector="involvedObject.kind=Deployment")
    ).items
    messages = [e.message for e in events if e.reason == "ScalingReplicaSet"]
    new, old = sets["2"].metadata.name, sets["1"].metadata.name
    assert messages[0] == f"Scaled up replica set {old} from 0 to 4"
    # 25 % of 4: surge 1, unavailable 1.
    assert messages[1] == f"Scaled up replica set {new} from 0 to 1"
    assert messages[-1] in (
        f"Scaled down replica set {old} from 1 to 0",
        f"Scaled up replica set {new} from 3 to 4",
    )


async def test_recreate_stops_old_pods_before_starting_new(
    apis: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """Recreate scales the old set to 0 and waits for its pods to go before scaling up."""
    sim, _, apps = apis
    seen: list[tuple[str, str]] = []
    sim.cluster.subscribe(
        "pods",
        lambda event, obj: seen.append((event, obj["metadata"]["labels"]["pod-template-hash"])),
    )
    await apps.create_namespaced_deployment("default", deployment(2, strategy={"type": "Recreate"}))
    await eventually(rolled_out(apps, 2))
    seen.clear()
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
    }
    await apps.patch_namespaced_deployment("web", "default", patch)
    await eventually(rolled_out(apps, 2))
    old_hash = seen[0][1]
    last_old_delete = max(
        i for i, (event, h) in enumerate(seen) if h == old_hash and event == "DELETED"
    )
    first_new = min(i for i, (event, h) in enumerate(seen) if h != old_hash and event == "ADDED")
    assert last_old_delete < first_new


async def test_scale_down_deletes_the_cheapest_pod_first(
    apis: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """Scaling down deletes the pod with the lowest pod-deletion-cost, not the newest."""
    _, core, apps = apis
    await apps.create_namespaced_deployment("default", deployment(3))
    await eventually(rolled_out(apps, 3))
    pods = sorted((await core.list_namespaced_pod("default")).items, key=lambda p: p.metadata.name)
    costs = {
        pods[0].metadata.name: "100",
        pods[1].metadata.name: "-10",
        pods[2].metadata.name: "50",
    }
    for name, cost in costs.items():
        patch = {"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": cost}}}
        await core.patch_namespaced_pod(name, "default", patch)
    await apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 2}})
    await eventually(rolled_out(apps, 2))

    async def remaining() -> Any:
        names = {p.metadata.name for p in (await core.list_namespaced_pod("default")).items}
        return names if len(names) == 2 else None

    names = await remaining() or await eventually(remaining)
    assert names == {pods[0].metadata.name, pods[2].metadata.name}
    rs_events = (
        await core.list_namespaced_event("default", field_selector="involvedObject.kind=ReplicaSet")
    ).items
    assert f"Deleted pod: {pods[1].metadata.name}" in [
        e.message for e in rs_events if e.reason == "SuccessfulDelete"
    ]


async def test_a_stuck_rollout_exceeds_its_progress_deadline(
    apis: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """Pods that never start make Progressing False/ProgressDeadlineExceeded after the deadline."""
    sim, _, apps = apis
    sim.workloads.fail_image_pull("nginx:0.0.0")
    await apps.create_namespaced_deployment(
        "default", deployment(2, "nginx:0.0.0", progressDeadlineSeconds=60)
    )
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def timed_out() -> Any:
        d = await apps.read_namespaced_deployment("web", "default")
        conds = {c.type: c for c in (d.status.conditions or ())}
        progressing = conds.get("Progressing")
        return d if progressing is not None and progressing.status == "False" else None

    d = await eventually(timed_out)
    # lastUpdateTime has second precision, as in a real cluster.
    assert 59 <= loop.time() - start <= 65
    conds = {c.type: (c.status, c.reason, c.message) for c in d.status.conditions}
    (rs,) = (await apps.list_namespaced_replica_set("default")).items
    assert conds["Progressing"] == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{rs.metadata.name}" has timed out progressing.',
    )
    assert conds["Available"][:2] == ("False", "MinimumReplicasUnavailable")
