"""Run-to-completion pods in the simulated runtime, and the Job controller, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime

eventually = poller(every=0.25, within=300.0)


@pytest.fixture
async def env() -> AsyncIterator[tuple[KubeSim, client.CoreV1Api, client.BatchV1Api]]:
    """kubesim with the default delays (containers of Never/OnFailure pods run 5 s), fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield sim, client.CoreV1Api(api), client.BatchV1Api(api)
        finally:
            await api.close()


def bare_pod(name: str, policy: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A one-container pod with `restartPolicy` `policy`."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "restartPolicy": policy,
            "containers": [{"name": "work", "image": "busybox:1.36"}],
        },
    }


async def phase_of(v1: client.CoreV1Api, name: str, phase: str) -> Any:
    """Wait until pod `name` has `phase`; the pod."""

    async def check() -> Any:
        p = await v1.read_namespaced_pod(name, "default")
        return p if p.status.phase == phase else None

    return await eventually(check)


# ---------------------------------------------------------------------- run-to-completion pods


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
async def test_pod_that_may_not_restart_runs_to_completion(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api], policy: str
) -> None:
    """Its container exits 0 after completion_delay: phase Succeeded, terminated Completed."""
    _, v1, _ = env
    await v1.create_namespaced_pod("default", bare_pod("once", policy))
    running = await phase_of(v1, "once", "Running")
    started = running.status.container_statuses[0].state.running.started_at
    pod = await phase_of(v1, "once", "Succeeded")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert (terminated.finished_at - started).total_seconds() == pytest.approx(5, abs=1)
    assert pod.status.container_statuses[0].restart_count == 0


async def test_exit_code_annotation_fails_a_never_pod(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """kubesim.io/exit-code: "3" makes the container exit 3: phase Failed, reason Error."""
    _, v1, _ = env
    await v1.create_namespaced_pod(
        "default", bare_pod("bad", "Never", {"kubesim.io/exit-code": "3"})
    )
    pod = await phase_of(v1, "bad", "Failed")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (3, "Error")


async def test_exit_code_annotation_restarts_an_on_failure_pod(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """Under OnFailure a failing container is restarted (with back-off); the pod stays Running."""
    _, v1, _ = env
    await v1.create_namespaced_pod(
        "default", bare_pod("flaky", "OnFailure", {"kubesim.io/exit-code": "1"})
    )

    async def restarted_twice() -> Any:
        p = await v1.read_namespaced_pod("flaky", "default")
        statuses = p.status.container_statuses or []
        return p if statuses and statuses[0].restart_count >= 2 else None

    pod = await eventually(restarted_twice)
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 1


async def test_run_seconds_annotation_sets_the_run_time(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """kubesim.io/run-seconds: "60" keeps the container running for a minute."""
    _, v1, _ = env
    await v1.create_namespaced_pod(
        "default", bare_pod("long", "Never", {"kubesim.io/run-seconds": "60"})
    )
    running = await phase_of(v1, "long", "Running")
    started = running.status.container_statuses[0].state.running.started_at
    pod = await phase_of(v1, "long", "Succeeded")
    finished = pod.status.container_statuses[0].state.terminated.finished_at
    assert (finished - started).total_seconds() == pytest.approx(60, abs=1)


async def test_bad_annotation_is_reported_and_ignored(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """An exit code that is not 0-255 gives a Warning event naming it; the container exits 0."""
    _, v1, _ = env
    await v1.create_namespaced_pod(
        "default", bare_pod("odd", "Never", {"kubesim.io/exit-code": "many"})
    )
    await phase_of(v1, "odd", "Succeeded")
    events = await v1.list_namespaced_event("default", field_selector="involvedObject.name=odd")
    (warning,) = [e for e in events.items if e.reason == "InvalidAnnotation"]
    assert warning.type == "Warning"
    assert warning.message == (
        "annotation kubesim.io/exit-code: must be an integer 0-255, got 'many'; kubesim uses 0"
    )


async def test_restart_policy_always_runs_until_stopped(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """An Always pod is still Running long after the completion delay."""
    _, v1, _ = env
    await v1.create_namespaced_pod("default", bare_pod("server", "Always"))
    await phase_of(v1, "server", "Running")
    await asyncio.sleep(60)
    pod = await v1.read_namespaced_pod("server", "default")
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].restart_count == 0
