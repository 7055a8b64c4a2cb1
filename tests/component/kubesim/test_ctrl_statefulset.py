"""The StatefulSet controller through kubernetes-asyncio: the object sequences a real cluster shows."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime


class Env:
    """A running kubesim, API clients, and a recording of pod events (type, name, ready)."""

    def __init__(self, sim: KubeSim, api: client.ApiClient) -> None:
        self.sim = sim
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.pod_events: list[tuple[str, str, bool, bool]] = []
        sim.cluster.subscribe("pods", self._record)

    def _record(self, event: str, obj: dict[str, Any]) -> None:
        conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or ()}
        terminating = bool(obj["metadata"].get("deletionTimestamp"))
        self.pod_events.append(
            (event, obj["metadata"]["name"], conds.get("Ready") == "True", terminating)
        )

    async def sts(self, name: str = "web") -> Any:
        return await self.apps.read_namespaced_stateful_set(name, "default")

    async def pods(self) -> dict[str, Any]:
        return {p.metadata.name: p for p in (await self.core.list_namespaced_pod("default")).items}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """kubesim with default (realistic) delays on fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield Env(sim, api)
        finally:
            await api.close()


eventually = poller(every=0.5, within=300.0)


def statefulset(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    """A StatefulSet manifest named web."""
    body: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]},
        },
        **spec,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": body,
    }


def settled(
    env: Env, replicas: int, *, revision: str | None = None
) -> Callable[[], Awaitable[Any]]:
    """A check: status shows `replicas` ready pods, all updated (and at `revision` if given)."""

    async def check() -> Any:
        sts = await env.sts()
        status = sts.status
        ok = (
            status.observed_generation == sts.metadata.generation
            and status.replicas == replicas
            and (status.ready_replicas or 0) == replicas
            and (status.updated_replicas or 0) == replicas
            and status.current_revision == status.update_revision
        )
        if revision is not None:
            ok = ok and status.update_revision != revision
        return sts if ok else None

    return check


async def test_ordered_ready_creates_pods_one_at_a_time(env: Env) -> None:
    """OrderedReady creates web-0, waits for it to be Ready, then web-1, then web-2."""
    await env.apps.create_namespaced_stateful_set("default", statefulset())
    await eventually(settled(env, 3))
    added = [name for event, name, _, _ in env.pod_events if event == "ADDED"]
    assert added == ["web-0", "web-1", "web-2"]
    for successor, predecessor in (("web-1", "web-0"), ("web-2", "web-1")):
        created_at = next(i for i, e in enumerate(env.pod_events) if e[:2] == ("ADDED", successor))
        ready_at = next(i for i, e in enumerate(env.pod_events) if e[1] == predecessor and e[2])
        assert ready_at < created_at, f"{successor} was created before {predecessor} was Ready"


async def test_pods_carry_the_statefulset_identity(env: Env) -> None:
    """Pods get the pod-name, pod-index and revision labels, hostname, subdomain and owner."""
    await env.apps.create_namespaced_stateful_set("default", statefulset(2))
    sts = await eventually(settled(env, 2))
    pods = await env.pods()
    web1 = pods["web-1"]
    assert web1.metadata.labels == {
        "app": "web",
        "statefulset.kubernetes.io/pod-name": "web-1",
        "apps.kubernetes.io/pod-index": "1",
        "controller-revision-hash": sts.status.update_revision,
    }
    assert web1.metadata.generate_name == "web-"
    assert (web1.spec.hostname, web1.spec.subdomain) == ("web-1", "web")
    (owner,) = web1.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller, owner.block_owner_deletion) == (
        "StatefulSet",
        "web",
        sts.metadata.uid,
        True,
        True,
    )
    revisions = (await env.apps.list_namespaced_controller_revision("default")).items
    assert [r.metadata.name for r in revisions] == [sts.status.update_revision]
    assert revisions[0].revision == 1
    assert (
        revisions[0].metadata.labels["controller.kubernetes.io/hash"]
        == sts.status.update_revision[len("web-") :]
    )


async def test_status_is_complete_and_observed(env: Env) -> None:
    """The settled status has every field a real controller writes."""
    await env.apps.create_namespaced_stateful_set("default", statefulset(2))
    sts = await eventually(settled(env, 2))
    response = await env.apps.read_namespaced_stateful_set("web", "default", _preload_content=False)
    raw = (await response.json())["status"]
    assert raw == {
        "observedGeneration": 1,
        "replicas": 2,
        "readyReplicas": 2,
        "currentReplicas": 2,
        "updatedReplicas": 2,
        "currentRevision": sts.status.update_revision,
        "updateRevision": sts.status.update_revision,
        "collisionCount": 0,
        "availableReplicas": 2,
    }


async def test_parallel_creates_every_pod_at_once(env: Env) -> None:
    """Parallel creates all pods before any of them is Ready."""
    await env.apps.create_namespaced_stateful_set(
        "default", statefulset(3, podManagementPolicy="Parallel")
    )
    await eventually(settled(env, 3))
    first_ready = next(i for i, e in enumerate(env.pod_events) if e[2])
    added = [i for i, e in enumerate(env.pod_events) if e[0] == "ADDED"]
    assert len(added) == 3
    assert max(added) < first_ready


async def test_scale_down_removes_the_highest_ordinal_first(env: Env) -> None:
    """Scaling 3 → 1 deletes web-2, waits until it is gone, then deletes web-1."""
    await env.apps.create_namespaced_stateful_set("default", statefulset())
    await eventually(settled(env, 3))
    env.pod_events.clear()
    await env.apps.patch_namespaced_stateful_set_scale("web", "default", {"spec": {"replicas": 1}})
    await eventually(settled(env, 1))
    terminating = [name for event, name, _, term in env.pod_events if term and event == "MODIFIED"]
    deleted = [name for event, name, _, _ in env.pod_events if event == "DELETED"]
    assert deleted == ["web-2", "web-1"]
    web1_terminating = next(i for i, e in enumerate(env.pod_events) if e[1] == "web-1" and e[3])
    web2_deleted = next(i for i, e in enumerate(env.pod_events) if e[:2] == ("DELETED", "web-2"))
    assert web2_deleted < web1_terminating
    assert terminating[0] == "web-2"
    assert set(await env.pods()) == {"web-0"}


async def test_rolling_update_honours_the_partition(env: Env) -> None:
    """With partition 1 only web-2 and web-1 move to the new revision, highest first."""
    manifest = statefulset(
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    )
    await env.apps.create_namespaced_stateful_set("default", manifest)
    first = await eventually(settled(env, 3))
    old = first.status.current_revision
    env.pod_events.clear()
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
    }
    await env.apps.patch_namespaced_stateful_set("web", "default", patch)

    async def partitioned() -> Any:
        sts = await env.sts()
        return (
            sts
            if (sts.status.updated_replicas or 0) == 2 and (sts.status.ready_replicas or 0) == 3
            else None
        )

    sts = await eventually(partitioned)
    assert sts.status.current_revision == old
    assert sts.status.update_revision != old
    pods = await env.pods()
    revisions = {n: p.metadata.labels["controller-revision-hash"] for n, p in pods.items()}
    assert revisions == {
        "web-0": old,
        "web-1": sts.status.update_revision,
        "web-2": sts.status.update_revision,
    }
    deleted = [name for event, name, _, _ in env.pod_events if event == "DELETED"]
    assert deleted == ["web-2", "web-1"]
    await env.apps.patch_namespaced_stateful_set(
        "web", "default", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}
    )
    done = await eventually(settled(env, 3, revision=old))
    assert done.status.current_revision == sts.status.update_revision


async def test_on_delete_replaces_only_pods_users_delete(env: Env) -> None:
    """OnDelete leaves old pods alone until deleted; the replacement has the new revision."""
    await env.apps.create_namespaced_stateful_set(
        "default", statefulset(2, updateStrategy={"type": "OnDelete"})
    )
    first = await eventually(settled(env, 2))
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
    }
    await env.apps.patch_namespaced_stateful_set("web", "default", patch)
    await asyncio.sleep(30)
    pods = await env.pods()
    assert {p.metadata.labels["controller-revision-hash"] for p in pods.values()} == {
        first.status.current_revision
    }
    sts = await env.sts()
    new = sts.status.update_revision
    assert new != first.status.current_revision
    await env.core.delete_namespaced_pod("web-1", "default")

    async def replaced() -> Any:
        pods = await env.pods()
        web1 = pods.get("web-1")
        return (
            web1
            if web1 is not None and web1.metadata.labels["controller-revision-hash"] == new
            else None
        )

    web1 = await eventually(replaced)
    assert web1.spec.containers[0].image == "nginx:1.27"


async def test_deleted_and_failed_pods_are_recreated(env: Env) -> None:
    """A deleted pod comes back under the same name; a failed one is deleted and recreated."""
    await env.apps.create_namespaced_stateful_set("default", statefulset(2))
    await eventually(settled(env, 2))
    before = {n: p.metadata.uid for n, p in (await env.pods()).items()}
    await env.core.delete_namespaced_pod("web-1", "default")
    env.sim.workloads.fail_pod("web-0")

    async def both_new() -> Any:
        pods = await env.pods()
        fresh = all(n in pods and pods[n].metadata.uid != before[n] for n in before)
        sts = await env.sts()
        return fresh and (sts.status.ready_replicas or 0) == 2

    await eventually(both_new)
    events = (
        await env.core.list_namespaced_event(
            "default", field_selector="involvedObject.kind=StatefulSet"
        )
    ).items
    recreate = [e for e in events if e.reason == "RecreatingFailedPod"]
    assert recreate[0].type == "Warning"
    assert recreate[0].message == "StatefulSet default/web is recreating failed Pod web-0"
    messages = [e.message for e in events if e.reason == "SuccessfulCreate"]
    assert "create Pod web-1 in StatefulSet web successful" in messages


async def test_claims_follow_the_retention_policy(env: Env) -> None:
    """Claims www-web-N are created Bound; whenScaled Delete removes those of removed pods."""
    manifest = statefulset(
        3,
        volumeClaimTemplates=[
            {
                "metadata": {"name": "www", "labels": {"tier": "data"}},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        ],
        persistentVolumeClaimRetentionPolicy={"whenScaled": "Delete", "whenDeleted": "Retain"},
    )
    await env.apps.create_namespaced_stateful_set("default", manifest)
    await eventually(settled(env, 3))
    claims = {
        c.metadata.name: c
        for c in (await env.core.list_namespaced_persistent_volume_claim("default")).items
    }
    assert sorted(claims) == ["www-web-0", "www-web-1", "www-web-2"]
    assert claims["www-web-0"].metadata.labels == {"tier": "data", "app": "web"}
    assert claims["www-web-0"].status.phase == "Bound"
    pods = await env.pods()
    volumes = {
        v.name: v.persistent_volume_claim.claim_name
        for v in pods["web-2"].spec.volumes
        if v.persistent_volume_claim
    }
    assert volumes == {"www": "www-web-2"}
    await env.apps.patch_namespaced_stateful_set_scale("web", "default", {"spec": {"replicas": 1}})
    await eventually(settled(env, 1))

    async def claims_left() -> Any:
        names = sorted(
            c.metadata.name
            for c in (await env.core.list_namespaced_persistent_volume_claim("default")).items
        )
        return names if names == ["www-web-0"] else None

    await eventually(claims_left)
    events = (
        await env.core.list_namespaced_event(
            "default", field_selector="involvedObject.kind=StatefulSet"
        )
    ).items
    assert "create Claim www-web-0 Pod web-0 in StatefulSet web success" in [
        e.message for e in events
    ]


def test_manifest_helper_is_independent() -> None:
    """Each call builds a fresh manifest (tests may mutate theirs)."""
    one, two = statefulset(), statefulset()
    one["spec"]["replicas"] = 9
    assert copy.deepcopy(two)["spec"]["replicas"] == 3


async def test_revision_hash_matches_a_real_cluster(env: Env) -> None:
    """The manifest a real cluster stored as nginx-sts-6798d68dcd gets the same revision here."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "nginx-sts"},
        "spec": {
            "replicas": 1,
            "serviceName": "nginx-sts",
            "selector": {"matchLabels": {"app": "nginx-sts"}},
            "template": {
                "metadata": {"labels": {"app": "nginx-sts"}},
                "spec": {"containers": [{"image": "nginx", "name": "nginx"}]},
            },
        },
    }
    await env.apps.create_namespaced_stateful_set("default", manifest)

    async def revision() -> Any:
        sts = await env.sts("nginx-sts")
        return sts.status.update_revision if sts.status and sts.status.update_revision else None

    assert await eventually(revision) == "nginx-sts-6798d68dcd"
    pod = await eventually(lambda: env.core.read_namespaced_pod("nginx-sts-0", "default"))
    assert pod.metadata.labels["controller-revision-hash"] == "nginx-sts-6798d68dcd"


async def test_claims_go_with_the_set_when_deleted_is_delete(env: Env) -> None:
    """whenDeleted Delete makes the set own its claims, so deleting the set removes them."""
    manifest = statefulset(
        2,
        volumeClaimTemplates=[
            {
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "2Gi"}},
                },
            }
        ],
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"},
    )
    await env.apps.create_namespaced_stateful_set("default", manifest)
    sts = await eventually(settled(env, 2))
    claims = (await env.core.list_namespaced_persistent_volume_claim("default")).items
    assert sorted(c.metadata.name for c in claims) == ["data-web-0", "data-web-1"]
    for claim in claims:
        (owner,) = claim.metadata.owner_references
        assert (owner.kind, owner.uid) == ("StatefulSet", sts.metadata.uid)
        assert claim.status.capacity == {"storage": "2Gi"}
    await env.apps.delete_namespaced_stateful_set("web", "default")

    async def all_gone() -> bool:
        claims = (await env.core.list_namespaced_persistent_volume_claim("default")).items
        pods = (await env.core.list_namespaced_pod("default")).items
        return not claims and not pods

    await eventually(all_gone)


async def test_min_ready_seconds_delays_availability(env: Env) -> None:
    """Ready pods count as available only minReadySeconds after they turned Ready."""
    await env.apps.create_namespaced_stateful_set(
        "default", statefulset(2, podManagementPolicy="Parallel", minReadySeconds=30)
    )
    loop = asyncio.get_running_loop()

    async def ready_not_available() -> Any:
        sts = await env.sts()
        return sts if (sts.status.ready_replicas or 0) == 2 else None

    sts = await eventually(ready_not_available)
    assert sts.status.available_replicas == 0
    ready_at = loop.time()

    async def available() -> Any:
        sts = await env.sts()
        return sts if sts.status.available_replicas == 2 else None

    await eventually(available)
    assert loop.time() - ready_at == pytest.approx(30, abs=2)


async def test_revision_history_is_truncated(env: Env) -> None:
    """Beyond revisionHistoryLimit the oldest unused ControllerRevisions are deleted."""
    await env.apps.create_namespaced_stateful_set("default", statefulset(1, revisionHistoryLimit=1))
    await eventually(settled(env, 1))
    for image in ("nginx:1.26", "nginx:1.27", "nginx:1.28"):
        patch = {
            "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}
        }
        before = (await env.sts()).status.update_revision
        await env.apps.patch_namespaced_stateful_set("web", "default", patch)
        await eventually(settled(env, 1, revision=before))
    current = (await env.sts()).status.update_revision
    revisions = (await env.apps.list_namespaced_controller_revision("default")).items
    names = sorted(r.metadata.name for r in revisions)
    assert len(names) == 2
    assert current in names
    assert sorted(r.revision for r in revisions) == [3, 4]
