"""The DaemonSet controller over real HTTP, on looptime's fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime

eventually = poller(every=0.5, within=300.0)


@pytest.fixture
async def env() -> AsyncIterator[tuple[KubeSim, client.CoreV1Api, client.AppsV1Api]]:
    """Three simulated nodes with the default delays, fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig(nodes=3)) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield sim, client.CoreV1Api(api), client.AppsV1Api(api)
        finally:
            await api.close()


def daemonset(image: str = "fluentd:1.16", **pod_spec: Any) -> dict[str, Any]:
    """A DaemonSet `agent`."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "agent", "image": image}], **pod_spec},
            },
        },
    }


async def settled(apps: client.AppsV1Api, desired: int) -> Any:
    """Wait until the DaemonSet has `desired` nodes, each with an available, updated pod."""

    async def check() -> Any:
        ds = await apps.read_namespaced_daemon_set_status("agent", "default")
        s = ds.status
        ok = (
            s.observed_generation == ds.metadata.generation
            and s.desired_number_scheduled == desired
            and s.current_number_scheduled == desired
            and (s.number_available or 0) == desired
            and (s.updated_number_scheduled or 0) == desired
            and s.number_misscheduled == 0
        )
        return ds if ok else None

    return await eventually(check)


async def nodes_with_pods(v1: client.CoreV1Api) -> list[str]:
    """The nodes the live pods run on, sorted."""
    pods = (await v1.list_namespaced_pod("default")).items
    return sorted(p.spec.node_name for p in pods if p.metadata.deletion_timestamp is None)


async def test_one_pod_per_node_pinned_by_node_affinity(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """Three nodes, three pods `agent-<5>`, each pinned to its node and tolerating node trouble."""
    _, v1, apps = env
    await apps.create_namespaced_daemon_set("default", daemonset())
    ds = await settled(apps, 3)
    assert ds.status.number_ready == 3
    assert ds.status.number_unavailable is None
    pods = (await v1.list_namespaced_pod("default")).items
    assert await nodes_with_pods(v1) == ["kubesim-node-0", "kubesim-node-1", "kubesim-node-2"]
    for pod in pods:
        assert pod.metadata.name.startswith("agent-")
        assert len(pod.metadata.name) == len("agent-") + 5
        assert pod.metadata.labels["app"] == "agent"
        assert pod.metadata.labels["pod-template-generation"] == "1"
        assert "controller-revision-hash" in pod.metadata.labels
        (ref,) = pod.metadata.owner_references
        assert (ref.kind, ref.name, ref.controller) == ("DaemonSet", "agent", True)
        (term,) = (
            pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        )
        (field,) = term.match_fields
        assert (field.key, field.operator, field.values) == (
            "metadata.name",
            "In",
            [pod.spec.node_name],
        )
        tolerated = {(t.key, t.effect) for t in pod.spec.tolerations}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerated
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerated
        assert pod.status.phase == "Running"


async def test_node_selector_follows_node_labels(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """nodeSelector disk=ssd: a pod only where the label is; removing the label removes it."""
    _, v1, apps = env
    await v1.patch_node("kubesim-node-1", {"metadata": {"labels": {"disk": "ssd"}}})
    await apps.create_namespaced_daemon_set("default", daemonset(nodeSelector={"disk": "ssd"}))
    await settled(apps, 1)
    assert await nodes_with_pods(v1) == ["kubesim-node-1"]
    await v1.patch_node("kubesim-node-2", {"metadata": {"labels": {"disk": "ssd"}}})
    await settled(apps, 2)
    assert await nodes_with_pods(v1) == ["kubesim-node-1", "kubesim-node-2"]
    await v1.patch_node("kubesim-node-1", {"metadata": {"labels": {"disk": None}}})

    async def one_left() -> bool:
        return await nodes_with_pods(v1) == ["kubesim-node-2"]

    await eventually(one_left)
    await settled(apps, 1)


async def test_untolerated_taint_keeps_the_pod_off_and_new_nodes_get_one(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A NoSchedule taint the template does not tolerate: no pod there; a new node gets one."""
    sim, v1, apps = env
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    await v1.patch_node("kubesim-node-0", {"spec": {"taints": [taint]}})
    await apps.create_namespaced_daemon_set("default", daemonset())
    await settled(apps, 2)
    assert await nodes_with_pods(v1) == ["kubesim-node-1", "kubesim-node-2"]
    sim.workloads.add_node("extra")
    await settled(apps, 3)
    assert "extra" in await nodes_with_pods(v1)


async def test_rolling_update_replaces_one_node_at_a_time(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A new image rolls out with maxUnavailable 1: never two nodes without an available pod."""
    sim, v1, apps = env
    await apps.create_namespaced_daemon_set("default", daemonset())
    await settled(apps, 3)
    worst = 0

    def watch(_event: str, obj: dict[str, Any]) -> None:
        nonlocal worst
        worst = max(worst, int((obj.get("status") or {}).get("numberUnavailable", 0)))

    sim.cluster.subscribe(sim.cluster.resource("daemonsets", "apps"), watch)
    await apps.patch_namespaced_daemon_set(
        "agent",
        "default",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "agent", "image": "fluentd:1.17"}]}}
            }
        },
    )
    await settled(apps, 3)
    pods = (await v1.list_namespaced_pod("default")).items
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    assert sorted(p.spec.containers[0].image for p in live) == ["fluentd:1.17"] * 3
    assert {p.metadata.labels["pod-template-generation"] for p in live} == {"2"}
    assert worst == 1


async def test_failed_pod_is_replaced(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """A daemon pod forced to Failed is deleted (FailedDaemonPod) and a new one takes its node."""
    sim, v1, apps = env
    await apps.create_namespaced_daemon_set("default", daemonset())
    await settled(apps, 3)
    victim = next(
        p
        for p in (await v1.list_namespaced_pod("default")).items
        if p.spec.node_name == "kubesim-node-0"
    )
    sim.workloads.fail_pod(victim.metadata.name)

    async def replaced() -> bool:
        pods = (await v1.list_namespaced_pod("default")).items
        names = {p.metadata.name for p in pods if p.spec.node_name == "kubesim-node-0"}
        return bool(names) and victim.metadata.name not in names

    await eventually(replaced)
    await settled(apps, 3)
    events = await v1.list_namespaced_event("default", field_selector="involvedObject.name=agent")
    assert "FailedDaemonPod" in {e.reason for e in events.items}


# ---------------------------------------------------------------------- PodDisruptionBudget status


def budget(**spec: Any) -> dict[str, Any]:
    """A PodDisruptionBudget `web` selecting app=web."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }


def deployment(replicas: int) -> dict[str, Any]:
    """A Deployment `web` of `replicas` pods."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }


async def pdb_status(policy: client.PolicyV1Api, healthy: int) -> Any:
    """Wait until PDB `web` counts `healthy` healthy pods; its status."""

    async def check() -> Any:
        pdb = await policy.read_namespaced_pod_disruption_budget_status("web", "default")
        return pdb.status if pdb.status and pdb.status.current_healthy == healthy else None

    return await eventually(check)


@pytest.mark.parametrize(
    ("spec", "expected", "desired", "allowed"),
    [
        ({"minAvailable": 2}, 3, 2, 1),
        ({"maxUnavailable": 1}, 3, 2, 1),
        ({"minAvailable": "50%"}, 3, 2, 1),
        ({"maxUnavailable": "10%"}, 3, 2, 1),
        ({"minAvailable": 3}, 3, 3, 0),
    ],
)
async def test_pdb_status_counts_healthy_pods(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
    spec: dict[str, Any],
    expected: int,
    desired: int,
    allowed: int,
) -> None:
    """Over a 3-replica Deployment: expectedPods, desiredHealthy and disruptionsAllowed."""
    sim, _, apps = env
    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        policy = client.PolicyV1Api(api)
        await apps.create_namespaced_deployment("default", deployment(3))
        await policy.create_namespaced_pod_disruption_budget("default", budget(**spec))
        status = await pdb_status(policy, 3)
        assert (status.expected_pods, status.desired_healthy) == (expected, desired)
        assert status.disruptions_allowed == allowed
        (cond,) = status.conditions
        assert cond.type == "DisruptionAllowed"
        assert (cond.status, cond.reason) == (
            ("True", "SufficientPods") if allowed else ("False", "InsufficientPods")
        )
    finally:
        await api.close()


async def test_pdb_follows_a_pod_going_unready(
    env: tuple[KubeSim, client.CoreV1Api, client.AppsV1Api],
) -> None:
    """minAvailable 2 of 3: one pod not ready leaves no disruption allowed."""
    sim, v1, apps = env
    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        policy = client.PolicyV1Api(api)
        await apps.create_namespaced_deployment("default", deployment(3))
        await policy.create_namespaced_pod_disruption_budget("default", budget(minAvailable=2))
        await pdb_status(policy, 3)
        pod = (await v1.list_namespaced_pod("default")).items[0]
        sim.workloads.set_not_ready(pod.metadata.name)
        status = await pdb_status(policy, 2)
        assert status.disruptions_allowed == 0
        assert status.conditions[0].reason == "InsufficientPods"
    finally:
        await api.close()
