"""The HorizontalPodAutoscaler controller: decisions from simulated usage, via /scale."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime


class Env:
    """kubesim plus the clients these tests use."""

    def __init__(self, sim: KubeSim, api: client.ApiClient) -> None:
        self.sim = sim
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.hpa = client.AutoscalingV2Api(api)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """kubesim with the default HPA sync period (15 s) and stabilization (300 s), fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield Env(sim, api)
        finally:
            await api.close()


eventually = poller(every=1.0, within=600.0)


def workers(replicas: int) -> dict[str, Any]:
    """A Parallel StatefulSet whose pods request 1 CPU."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "workers"},
        "spec": {
            "replicas": replicas,
            "serviceName": "workers",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "workers"}},
            "template": {
                "metadata": {"labels": {"app": "workers"}},
                "spec": {
                    "containers": [
                        {
                            "name": "w",
                            "image": "busybox:1.36",
                            "resources": {"requests": {"cpu": "1"}},
                        }
                    ]
                },
            },
        },
    }


def autoscaler(**spec: Any) -> dict[str, Any]:
    """An HPA on the workers StatefulSet with a 70 % CPU target, 1..10 replicas."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "workers"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "workers"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
            **spec,
        },
    }


async def ready_replicas(env: Env, want: int) -> Any:
    """The StatefulSet once it has `want` ready replicas."""
    sts = await env.apps.read_namespaced_stateful_set("workers", "default")
    return sts if (sts.status.ready_replicas or 0) == want and sts.spec.replicas == want else None


async def test_hot_pods_scale_up_by_the_real_formula(env: Env) -> None:
    """Two pods at 90 % of a 70 % target become ceil(2 × 90/70) = 3 replicas via /scale."""
    statuses: list[dict[str, Any]] = []
    env.sim.cluster.subscribe(
        "horizontalpodautoscalers.autoscaling",
        lambda _e, obj: statuses.append(obj.get("status") or {}),
    )
    await env.apps.create_namespaced_stateful_set("default", workers(2))
    await eventually(lambda: ready_replicas(env, 2))
    env.sim.workloads.set_pod_usage(selector={"app": "workers"}, cpu="900m")
    await env.hpa.create_namespaced_horizontal_pod_autoscaler("default", autoscaler())

    async def rescaled() -> bool:
        return any(s.get("desiredReplicas") == 3 for s in statuses)

    await eventually(rescaled)
    first = next(s for s in statuses if s.get("desiredReplicas") == 3)
    assert first["currentReplicas"] == 2
    assert first["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "current": {"averageValue": "900m", "averageUtilization": 90},
            },
        }
    ]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in first["conditions"]}
    assert conditions == {
        "AbleToScale": ("True", "SucceededRescale"),
        "ScalingActive": ("True", "ValidMetricFound"),
        "ScalingLimited": ("False", "DesiredWithinRange"),
    }
    assert "lastScaleTime" in first
    sts = await env.apps.read_namespaced_stateful_set("workers", "default")
    assert sts.spec.replicas >= 3
    events = (
        await env.core.list_namespaced_event(
            "default", field_selector="involvedObject.kind=HorizontalPodAutoscaler"
        )
    ).items
    rescales = [e.message for e in events if e.reason == "SuccessfulRescale"]
    assert (
        rescales[0]
        == "New size: 3; reason: cpu resource utilization (percentage of request) above target"
    )
    # Until the new pods' CPU samples are trusted (30 s after Ready) the controller says so.
    assert {e.reason for e in events} <= {"SuccessfulRescale", "FailedGetResourceMetric"}
    scale_writes = [
        e
        for e in env.sim.audit.entries
        if e.get("subresource") == "scale" and e["verb"] == "update"
    ]
    assert scale_writes
    assert scale_writes[0]["user"] == "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


async def test_scale_down_waits_for_the_stabilization_window(env: Env) -> None:
    """Idle pods scale down only after 300 s of lower recommendations."""
    await env.apps.create_namespaced_stateful_set("default", workers(4))
    await eventually(lambda: ready_replicas(env, 4))
    env.sim.workloads.set_pod_usage(selector={"app": "workers"}, cpu_percent=35)
    loop = asyncio.get_running_loop()
    await env.hpa.create_namespaced_horizontal_pod_autoscaler("default", autoscaler())
    created = loop.time()

    async def stabilized() -> Any:
        h = await env.hpa.read_namespaced_horizontal_pod_autoscaler("workers", "default")
        conds = {c.type: c.reason for c in h.status.conditions or ()}
        return h if conds.get("AbleToScale") == "ScaleDownStabilized" else None

    # The first recommendation (2) is not held back: there is no history yet, so it applies.
    await eventually(lambda: ready_replicas(env, 2))
    env.sim.workloads.set_pod_usage(selector={"app": "workers"}, cpu_percent=70)
    await asyncio.sleep(60)
    env.sim.workloads.set_pod_usage(selector={"app": "workers"}, cpu_percent=10)
    await eventually(stabilized)
    held_at = loop.time()
    sts = await env.apps.read_namespaced_stateful_set("workers", "default")
    assert sts.spec.replicas == 2
    await eventually(lambda: ready_replicas(env, 1))
    assert loop.time() - held_at >= 200
    assert loop.time() - created >= 300


async def test_min_and_max_bound_the_decision(env: Env) -> None:
    """Desired replicas above maxReplicas are capped and ScalingLimited says TooManyReplicas."""
    await env.apps.create_namespaced_stateful_set("default", workers(2))
    await eventually(lambda: ready_replicas(env, 2))
    env.sim.workloads.set_pod_usage(selector={"app": "workers"}, cpu="3")
    await env.hpa.create_namespaced_horizontal_pod_autoscaler("default", autoscaler(maxReplicas=4))

    async def capped() -> Any:
        h = await env.hpa.read_namespaced_horizontal_pod_autoscaler("workers", "default")
        conds = {c.type: (c.status, c.reason) for c in h.status.conditions or ()}
        return h if conds.get("ScalingLimited") == ("True", "TooManyReplicas") else None

    hpa = await eventually(capped)
    assert hpa.status.desired_replicas == 4
    assert (await env.apps.read_namespaced_stateful_set("workers", "default")).spec.replicas == 4


async def test_missing_requests_are_reported_not_guessed(env: Env) -> None:
    """Without CPU requests the HPA reports FailedGetResourceMetric and leaves replicas alone."""
    manifest = workers(2)
    del manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
    await env.apps.create_namespaced_stateful_set("default", manifest)
    await eventually(lambda: ready_replicas(env, 2))
    env.sim.workloads.set_pod_usage(selector={"app": "workers"}, cpu="900m")
    await env.hpa.create_namespaced_horizontal_pod_autoscaler("default", autoscaler())

    async def failing() -> Any:
        h = await env.hpa.read_namespaced_horizontal_pod_autoscaler("workers", "default")
        conds = {c.type: c for c in h.status.conditions or ()}
        active = conds.get("ScalingActive")
        failed = (
            active is not None and active.status == "False" and "missing request" in active.message
        )
        return active if failed else None

    active = await eventually(failing)
    assert active.reason == "FailedGetResourceMetric"
    assert "missing request for cpu" in active.message
    assert (await env.apps.read_namespaced_stateful_set("workers", "default")).spec.replicas == 2


async def test_missing_target_is_reported(env: Env) -> None:
    """An HPA whose target does not exist says so in AbleToScale and a FailedGetScale event."""
    await env.hpa.create_namespaced_horizontal_pod_autoscaler("default", autoscaler())

    async def failing() -> Any:
        h = await env.hpa.read_namespaced_horizontal_pod_autoscaler("workers", "default")
        conds = {c.type: c for c in (h.status.conditions or ()) if h.status}
        able = conds.get("AbleToScale")
        return able if able is not None and able.status == "False" else None

    able = await eventually(failing)
    assert able.reason == "FailedGetScale"
    assert able.message.startswith(
        "the HPA controller was unable to get the target's current scale:"
    )
    assert 'statefulsets.apps "workers" not found' in able.message
    events = (await env.core.list_namespaced_event("default")).items
    assert [(e.type, e.reason) for e in events] == [("Warning", "FailedGetScale")]


async def test_deployment_targets_scale_too(env: Env) -> None:
    """An HPA on a Deployment reads its ReplicaSets' pods and scales it through /scale."""
    deploy = workers(2)
    deploy["kind"] = "Deployment"
    for key in ("serviceName", "podManagementPolicy"):
        del deploy["spec"][key]
    await env.apps.create_namespaced_deployment("default", deploy)

    async def available() -> Any:
        d = await env.apps.read_namespaced_deployment("workers", "default")
        return d if (d.status.available_replicas or 0) == 2 else None

    await eventually(available)
    env.sim.workloads.set_pod_usage(selector={"app": "workers"}, cpu="900m")
    hpa = autoscaler()
    hpa["spec"]["scaleTargetRef"]["kind"] = "Deployment"
    await env.hpa.create_namespaced_horizontal_pod_autoscaler("default", hpa)

    async def scaled() -> Any:
        d = await env.apps.read_namespaced_deployment("workers", "default")
        return d if d.spec.replicas >= 3 else None

    await eventually(scaled)
