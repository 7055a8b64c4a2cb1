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


# ---------------------------------------------------------------------- the Job controller


def job(name: str = "pi", annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A Job whose pods run one container under restartPolicy Never (unless `spec` says)."""
    pod_spec = {
        "restartPolicy": spec.pop("restartPolicy", "Never"),
        "containers": [{"name": "pi", "image": "perl:5.34"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                "spec": pod_spec,
            },
            **spec,
        },
    }


async def finished(batch: client.BatchV1Api, name: str = "pi") -> Any:
    """Wait until Job `name` has a True Complete or Failed condition; the Job."""

    async def check() -> Any:
        j = await batch.read_namespaced_job_status(name, "default")
        done = {c.type for c in j.status.conditions or () if c.status == "True"}
        return j if done & {"Complete", "Failed"} else None

    return await eventually(check)


def conditions(j: Any) -> dict[str, tuple[str, str, str]]:
    """type → (status, reason, message) of a Job's conditions."""
    return {c.type: (c.status, c.reason, c.message) for c in j.status.conditions or ()}


async def reasons(v1: client.CoreV1Api, name: str) -> list[str]:
    """Reasons of the Events about object `name` (in no particular order)."""
    events = await v1.list_namespaced_event("default", field_selector=f"involvedObject.name={name}")
    return [e.reason for e in events.items]


async def test_job_runs_one_pod_to_completion(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """A default Job: one pod `pi-<5>`, then SuccessCriteriaMet and Complete, counted and released."""
    _, v1, batch = env
    created = await batch.create_namespaced_job("default", job())
    j = await finished(batch)
    assert conditions(j) == {
        "SuccessCriteriaMet": (
            "True",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ),
        "Complete": ("True", "CompletionsReached", "Reached expected number of succeeded pods"),
    }
    assert (j.status.succeeded, j.status.failed, j.status.active) == (1, None, None)
    assert j.status.ready == 0
    assert j.status.uncounted_terminated_pods.succeeded is None
    assert (j.status.completion_time - j.status.start_time).total_seconds() == pytest.approx(
        7, abs=2
    )
    (pod,) = (await v1.list_namespaced_pod("default")).items
    assert pod.metadata.name.startswith("pi-")
    assert len(pod.metadata.name) == len("pi-") + 5
    assert pod.metadata.labels["app"] == "pi"
    assert pod.metadata.labels["batch.kubernetes.io/job-name"] == "pi"
    assert pod.metadata.labels["batch.kubernetes.io/controller-uid"] == created.metadata.uid
    (ref,) = pod.metadata.owner_references
    assert (ref.kind, ref.name, ref.uid, ref.controller) == (
        "Job",
        "pi",
        created.metadata.uid,
        True,
    )
    assert not pod.metadata.finalizers  # batch.kubernetes.io/job-tracking removed once counted
    assert pod.status.phase == "Succeeded"
    assert sorted(await reasons(v1, "pi")) == ["Completed", "SuccessfulCreate"]


async def test_pods_carry_the_tracking_finalizer_while_running(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """A running Job pod has the job-tracking finalizer; the Job reports it active and ready."""
    _, v1, batch = env
    await batch.create_namespaced_job("default", job(annotations={"kubesim.io/run-seconds": "60"}))

    async def ready() -> Any:
        j = await batch.read_namespaced_job_status("pi", "default")
        return j if j.status.ready == 1 else None

    j = await eventually(ready)
    assert j.status.active == 1
    (pod,) = (await v1.list_namespaced_pod("default")).items
    assert pod.metadata.finalizers == ["batch.kubernetes.io/job-tracking"]


async def test_completions_and_parallelism(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """completions 5, parallelism 2: never more than 2 at once, 5 pods in all, then Complete."""
    sim, v1, batch = env
    most = 0

    def watch(_event: str, obj: dict[str, Any]) -> None:
        nonlocal most
        most = max(most, int((obj.get("status") or {}).get("active", 0)))

    sim.cluster.subscribe(sim.cluster.resource("jobs", "batch"), watch)
    await batch.create_namespaced_job("default", job(completions=5, parallelism=2))
    j = await finished(batch)
    assert "Complete" in conditions(j)
    assert j.status.succeeded == 5
    assert most == 2
    assert len((await v1.list_namespaced_pod("default")).items) == 5


async def test_work_queue_job_completes_when_one_pod_succeeds(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """parallelism 3 without completions: 3 pods; complete once they have all succeeded."""
    _, v1, batch = env
    manifest = job(parallelism=3)
    await batch.create_namespaced_job("default", manifest)
    j = await finished(batch)
    assert "Complete" in conditions(j)
    assert j.status.succeeded == 3
    assert len((await v1.list_namespaced_pod("default")).items) == 3


async def test_failures_reach_the_backoff_limit(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """backoffLimit 2 with failing pods: 3 pods, the replacements wait 10 s then 20 s, Failed."""
    _, v1, batch = env
    await batch.create_namespaced_job(
        "default", job(annotations={"kubesim.io/exit-code": "1"}, backoffLimit=2)
    )
    j = await finished(batch)
    assert conditions(j) == {
        "FailureTarget": (
            "True",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ),
        "Failed": ("True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    }
    assert (j.status.failed, j.status.succeeded) == (3, None)
    assert j.status.completion_time is None
    pods = sorted(
        (await v1.list_namespaced_pod("default")).items, key=lambda p: p.status.start_time
    )
    assert [p.status.phase for p in pods] == ["Failed"] * 3
    finished_at = [p.status.container_statuses[0].state.terminated.finished_at for p in pods]
    created = [p.status.start_time for p in pods]  # the kubelet admits a pod as it is created
    assert (created[1] - finished_at[0]).total_seconds() == pytest.approx(10, abs=1)
    assert (created[2] - finished_at[1]).total_seconds() == pytest.approx(20, abs=1)
    events = await reasons(v1, "pi")
    assert events.count("SuccessfulCreate") == 3
    assert "BackoffLimitExceeded" in events


async def test_on_failure_restarts_count_against_the_backoff_limit(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """restartPolicy OnFailure: container restarts reaching backoffLimit fail the Job."""
    _, v1, batch = env
    await batch.create_namespaced_job(
        "default",
        job(annotations={"kubesim.io/exit-code": "1"}, backoffLimit=2, restartPolicy="OnFailure"),
    )
    j = await finished(batch)
    assert conditions(j)["Failed"][1] == "BackoffLimitExceeded"
    assert j.status.failed == 1
    assert len((await v1.list_namespaced_pod("default")).items) == 0


async def test_active_deadline_fails_the_job_and_stops_its_pods(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """activeDeadlineSeconds 30 with 60 s pods: DeadlineExceeded at 30 s, the pod deleted."""
    _, v1, batch = env
    await batch.create_namespaced_job(
        "default", job(annotations={"kubesim.io/run-seconds": "60"}, activeDeadlineSeconds=30)
    )
    j = await finished(batch)
    message = "Job was active longer than specified deadline"
    assert conditions(j)["Failed"] == ("True", "DeadlineExceeded", message)
    failed_at = next(c for c in j.status.conditions if c.type == "FailureTarget")
    elapsed = (failed_at.last_transition_time - j.status.start_time).total_seconds()
    assert elapsed == pytest.approx(30, abs=1)
    assert j.status.failed == 1
    assert (await v1.list_namespaced_pod("default")).items == []
    assert "DeadlineExceeded" in await reasons(v1, "pi")


async def test_suspend_deletes_pods_and_resume_recreates_them(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """suspend: pods deleted, Suspended=True; resume: Suspended=False, pods again, Complete."""
    _, v1, batch = env
    await batch.create_namespaced_job("default", job(annotations={"kubesim.io/run-seconds": "30"}))

    async def active() -> Any:
        j = await batch.read_namespaced_job_status("pi", "default")
        return j if j.status.active == 1 else None

    await eventually(active)
    await batch.patch_namespaced_job("pi", "default", {"spec": {"suspend": True}})

    async def suspended() -> Any:
        j = await batch.read_namespaced_job_status("pi", "default")
        pods = (await v1.list_namespaced_pod("default")).items
        return j if not pods and not j.status.active else None

    j = await eventually(suspended)
    assert conditions(j)["Suspended"] == ("True", "JobSuspended", "Job suspended")
    await batch.patch_namespaced_job("pi", "default", {"spec": {"suspend": False}})
    j = await finished(batch)
    assert conditions(j)["Suspended"] == ("False", "JobResumed", "Job resumed")
    assert "Complete" in conditions(j)
    assert j.status.succeeded == 1
    events = await reasons(v1, "pi")
    assert sorted(e for e in events if e in ("Suspended", "Resumed")) == ["Resumed", "Suspended"]


async def test_ttl_after_finished_deletes_the_job_and_its_pods(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """ttlSecondsAfterFinished 100: the Job and its pod are gone 100 s after completion."""
    _, v1, batch = env
    await batch.create_namespaced_job("default", job(ttlSecondsAfterFinished=100))
    j = await finished(batch)
    loop = asyncio.get_running_loop()
    done_at = loop.time()

    async def gone() -> bool:
        jobs = (await batch.list_namespaced_job("default")).items
        pods = (await v1.list_namespaced_pod("default")).items
        return not jobs and not pods

    await eventually(gone)
    assert loop.time() - done_at == pytest.approx(100, abs=2)
    assert j.spec.ttl_seconds_after_finished == 100


async def test_deleting_a_running_job_removes_its_pods(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """A Job deleted while its pod runs: the pod loses its finalizer and goes too."""
    _, v1, batch = env
    await batch.create_namespaced_job("default", job(annotations={"kubesim.io/run-seconds": "600"}))
    await phase_of_any(v1, "Running")
    await batch.delete_namespaced_job("pi", "default", propagation_policy="Background")

    async def gone() -> bool:
        return not (await v1.list_namespaced_pod("default")).items

    await eventually(gone, within=30)


async def phase_of_any(v1: client.CoreV1Api, phase: str) -> Any:
    """Wait until some pod has `phase`."""

    async def check() -> Any:
        pods = (await v1.list_namespaced_pod("default")).items
        return next((p for p in pods if p.status.phase == phase), None)

    return await eventually(check)


async def test_indexed_job_runs_each_index_once(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """completionMode Indexed, completions 3, parallelism 2: pods `pi-<i>-<5>`, indexes 0-2."""
    _, v1, batch = env
    await batch.create_namespaced_job(
        "default", job(completions=3, parallelism=2, completionMode="Indexed")
    )
    j = await finished(batch)
    assert "Complete" in conditions(j)
    assert (j.status.succeeded, j.status.completed_indexes) == (3, "0-2")
    pods = sorted((await v1.list_namespaced_pod("default")).items, key=lambda p: p.metadata.name)
    indexes = [p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in pods]
    assert indexes == ["0", "1", "2"]
    for index, pod in enumerate(pods):
        assert pod.metadata.name.startswith(f"pi-{index}-")
        assert pod.metadata.labels["batch.kubernetes.io/job-completion-index"] == str(index)
        assert pod.spec.hostname == f"pi-{index}"
        (env_var,) = pod.spec.containers[0].env
        assert env_var.name == "JOB_COMPLETION_INDEX"
        assert env_var.value_from.field_ref.field_path == (
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        )


async def test_indexed_job_retries_a_failed_index(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """An index whose pod failed gets a new pod for the same index; completedIndexes as it goes."""
    sim, v1, batch = env
    await batch.create_namespaced_job(
        "default",
        job(
            annotations={"kubesim.io/run-seconds": "30"},
            completions=2,
            parallelism=2,
            completionMode="Indexed",
        ),
    )

    async def running() -> Any:
        pods = (await v1.list_namespaced_pod("default")).items
        ok = len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
        return pods if ok else None

    pods = await eventually(running)
    victim = next(p for p in pods if p.metadata.name.startswith("pi-1-"))
    sim.workloads.crash_container(victim.metadata.name, exit_code=2)
    j = await finished(batch)
    assert (j.status.succeeded, j.status.failed, j.status.completed_indexes) == (2, 1, "0-1")
    names = sorted(p.metadata.name for p in (await v1.list_namespaced_pod("default")).items)
    assert [n.rsplit("-", 1)[0] for n in names] == ["pi-0", "pi-1", "pi-1"]
