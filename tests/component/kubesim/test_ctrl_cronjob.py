"""The CronJob controller over real HTTP, on looptime's fake clock (minutes pass in a moment)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime

eventually = poller(every=1.0, within=600.0)


@pytest.fixture
async def env() -> AsyncIterator[tuple[KubeSim, client.CoreV1Api, client.BatchV1Api]]:
    """kubesim with default delays (a Job pod runs 5 s), fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield sim, client.CoreV1Api(api), client.BatchV1Api(api)
        finally:
            await api.close()


def cronjob(
    schedule: str = "* * * * *", run_seconds: int | None = None, **spec: Any
) -> dict[str, Any]:
    """A CronJob `hello` whose Jobs run one pod (for `run_seconds`, else the default 5 s)."""
    annotations = {"kubesim.io/run-seconds": str(run_seconds)} if run_seconds else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "hello"},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"app": "hello"}},
                "spec": {
                    "template": {
                        "metadata": {"annotations": annotations},
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [{"name": "hello", "image": "busybox:1.36"}],
                        },
                    }
                },
            },
            **spec,
        },
    }


async def jobs_of(batch: client.BatchV1Api) -> list[Any]:
    """The Jobs in default, by name."""
    return sorted((await batch.list_namespaced_job("default")).items, key=lambda j: j.metadata.name)


async def reasons(v1: client.CoreV1Api, name: str = "hello") -> list[str]:
    """Reasons of the Events about object `name`."""
    events = await v1.list_namespaced_event("default", field_selector=f"involvedObject.name={name}")
    return [e.reason for e in events.items]


async def test_every_minute_starts_a_job_named_by_its_minute(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """A Job `hello-<minutes since epoch>` at the next full minute; tracked until it completes."""
    _, v1, batch = env
    await batch.create_namespaced_cron_job("default", cronjob())

    async def started() -> Any:
        cj = await batch.read_namespaced_cron_job_status("hello", "default")
        import time

        print(
            asyncio.get_running_loop().time(),
            cj.metadata.creation_timestamp.timestamp(),
            env[0].workloads.clock.now(),
            time.time(),
            env[0].cluster.store.clock(),
        )
        return cj if cj.status.active else None

    cj = await eventually(started)
    scheduled = cj.status.last_schedule_time
    assert scheduled.second == 0
    (ref,) = cj.status.active
    (job,) = await jobs_of(batch)
    assert job.metadata.name == f"hello-{int(scheduled.timestamp()) // 60}"
    assert (ref.kind, ref.name, ref.uid) == ("Job", job.metadata.name, job.metadata.uid)
    assert job.metadata.labels["app"] == "hello"
    stamp = job.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert dt.datetime.fromisoformat(stamp) == scheduled
    (owner,) = job.metadata.owner_references
    assert (owner.kind, owner.name, owner.controller) == ("CronJob", "hello", True)

    async def succeeded() -> Any:
        cj = await batch.read_namespaced_cron_job_status("hello", "default")
        return cj if cj.status.last_successful_time else None

    cj = await eventually(succeeded)
    assert not cj.status.active or cj.status.active[0].name != job.metadata.name
    assert {"SuccessfulCreate", "SawCompletedJob"} <= set(await reasons(v1))


async def test_history_limits_keep_the_newest_finished_jobs(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """successfulJobsHistoryLimit 2: after five runs only the two newest Jobs remain."""
    _, v1, batch = env
    await batch.create_namespaced_cron_job("default", cronjob(successfulJobsHistoryLimit=2))
    await asyncio.sleep(5 * 60 + 30)
    jobs = await jobs_of(batch)
    assert len(jobs) == 2
    minutes = [int(j.metadata.name.rsplit("-", 1)[1]) for j in jobs]
    assert minutes[1] - minutes[0] == 1
    assert (await reasons(v1)).count("SuccessfulDelete") == 3


async def test_forbid_skips_runs_while_one_is_active(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """concurrencyPolicy Forbid with 150 s runs: the next minute is skipped (JobAlreadyActive)."""
    _, v1, batch = env
    await batch.create_namespaced_cron_job(
        "default", cronjob(run_seconds=150, concurrencyPolicy="Forbid")
    )
    await eventually(lambda: _count_jobs(batch, 1))
    await asyncio.sleep(120)
    assert len(await jobs_of(batch)) == 1
    cj = await batch.read_namespaced_cron_job_status("hello", "default")
    assert len(cj.status.active) == 1
    assert "JobAlreadyActive" in await reasons(v1)


async def test_allow_runs_jobs_side_by_side(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """concurrencyPolicy Allow (the default) with 150 s runs: three Jobs active at once."""
    _, _, batch = env
    await batch.create_namespaced_cron_job("default", cronjob(run_seconds=150))

    async def three_active() -> Any:
        cj = await batch.read_namespaced_cron_job_status("hello", "default")
        return cj if len(cj.status.active or ()) == 3 else None

    await eventually(three_active)


async def test_replace_deletes_the_running_job(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """concurrencyPolicy Replace: each minute's Job replaces the still running previous one."""
    _, v1, batch = env
    await batch.create_namespaced_cron_job(
        "default", cronjob(run_seconds=150, concurrencyPolicy="Replace")
    )
    first = (await eventually(lambda: _count_jobs(batch, 1)))[0].metadata.name

    async def replaced() -> Any:
        cj = await batch.read_namespaced_cron_job_status("hello", "default")
        active = cj.status.active or []
        return cj if len(active) == 1 and active[0].name != first else None

    await eventually(replaced)
    await eventually(lambda: _named_gone(batch, first))
    assert "SuccessfulDelete" in await reasons(v1)


async def test_suspended_cronjob_starts_nothing(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """suspend: true: no Job in five minutes; resumed, one starts at the next minute."""
    _, _, batch = env
    await batch.create_namespaced_cron_job("default", cronjob(suspend=True))
    await asyncio.sleep(300)
    assert await jobs_of(batch) == []
    await batch.patch_namespaced_cron_job("hello", "default", {"spec": {"suspend": False}})
    loop = asyncio.get_running_loop()
    resumed = loop.time()
    await eventually(lambda: _count_jobs(batch, 1))
    assert loop.time() - resumed <= 61


async def test_hourly_macro_in_a_time_zone(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """@hourly in Asia/Kolkata (+05:30) runs at :00 local, i.e. :30 UTC."""
    _, _, batch = env
    await batch.create_namespaced_cron_job("default", cronjob("@hourly", timeZone="Asia/Kolkata"))
    hourly = poller(every=60.0, within=3700.0)
    (job,) = await hourly(lambda: _count_jobs(batch, 1))
    stamp = job.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    local = dt.datetime.fromisoformat(stamp)
    assert (local.minute, local.second, local.utcoffset()) == (
        0,
        0,
        dt.timedelta(hours=5, minutes=30),
    )
    cj = await batch.read_namespaced_cron_job_status("hello", "default")
    assert cj.status.last_schedule_time.minute == 30


async def test_starting_deadline_skips_a_missed_schedule(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """A schedule time more than startingDeadlineSeconds ago is not started late; the next is."""
    sim, _, batch = env
    controller = sim.workloads.cronjob_controller
    controller.queue.shut_down()  # the controller is "down"; the test syncs it by hand
    await batch.create_namespaced_cron_job("default", cronjob(startingDeadlineSeconds=10))
    await asyncio.sleep(0)
    controller.reconcile(_key())
    await asyncio.sleep(90)  # one schedule time passes unseen
    next_in = controller.reconcile(_key())
    assert await jobs_of(batch) == []
    assert next_in is not None
    await asyncio.sleep(next_in)
    controller.reconcile(_key())
    assert len(await jobs_of(batch)) == 1


async def test_bad_schedule_and_time_zone_are_reported(
    env: tuple[KubeSim, client.CoreV1Api, client.BatchV1Api],
) -> None:
    """An unparseable schedule or unknown time zone gives a Warning event and no Job."""
    _, v1, batch = env
    await batch.create_namespaced_cron_job("default", cronjob("61 * * * *"))
    bad_zone = cronjob(timeZone="Mars/Olympus")
    bad_zone["metadata"]["name"] = "elsewhere"
    await batch.create_namespaced_cron_job("default", bad_zone)
    await asyncio.sleep(120)
    assert await jobs_of(batch) == []
    events = (await v1.list_namespaced_event("default")).items
    messages = {(e.involved_object.name, e.reason): e.message for e in events}
    assert messages[("hello", "UnparseableSchedule")].startswith(
        'unparseable schedule: "61 * * * *"'
    )
    assert messages[("elsewhere", "UnknownTimeZone")] == (
        'invalid timeZone: "Mars/Olympus": unknown time zone Mars/Olympus'
    )


def _key() -> Any:
    from kubesim.common.podutil import ObjectKey

    return ObjectKey("default", "hello")


async def _count_jobs(batch: client.BatchV1Api, n: int) -> list[Any] | None:
    jobs = await jobs_of(batch)
    return jobs if len(jobs) >= n else None


async def _named_gone(batch: client.BatchV1Api, name: str) -> bool:
    return all(j.metadata.name != name for j in await jobs_of(batch))
