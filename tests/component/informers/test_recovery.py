"""The reflector against a misbehaving kubesim: 410s, dropped and silent streams, 5xx and 429."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kubernetes_asyncio import config

from informers import DeletedFinalStateUnknown, SharedInformer, wait_for_cache_sync
from kubesim import KubeSim

from .conftest import ROOT_CA, Recorder, configmap, eventually, running

MakeInformer = Callable[..., SharedInformer]
KIND = {"ADDED": "add", "MODIFIED": "update", "DELETED": "delete"}


def _watch_versions(informer: SharedInformer) -> list[str]:
    """Record the resourceVersion each watch request of `informer` resumes from."""
    versions: list[str] = []
    client = informer.reflector._client
    watch = client.watch

    def observed_watch(**kwargs: Any) -> Any:
        versions.append(kwargs["resource_version"])
        return watch(**kwargs)

    client.watch = observed_watch  # type: ignore[method-assign]
    return versions


async def _start_with(sim: KubeSim, informer: SharedInformer, names: list[str]) -> Recorder:
    cms = sim.cluster.resource("configmaps")
    for name in names:
        sim.cluster.create(cms, "default", configmap(name))
    return Recorder().register(informer)


@pytest.mark.parametrize("how", ["http-status", "error-event"])
async def test_relist_after_410_delivers_deletes_made_in_the_gap(
    sim: KubeSim, make_informer: MakeInformer, how: str
) -> None:
    """After a 410 the informer relists: gap deletes arrive as tombstones, gap changes too."""
    cms = sim.cluster.resource("configmaps")
    informer = make_informer()
    recorder = await _start_with(sim, informer, ["a", "b", "c"])
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        if how == "http-status":
            sim.faults.add(verb="watch", resource="configmaps", error=410, count=1)
        sim.faults.close_watches()
        # The gap: nothing below reaches the closed stream.
        sim.cluster.delete(cms, "default", "a")
        sim.cluster.patch(cms, "default", "b", {"data": {"k": "gap"}}, patch_type="merge")
        sim.cluster.create(cms, "default", configmap("d"))
        if how == "error-event":
            sim.faults.shrink_history("configmaps")  # the resume now answers ERROR 410
        await eventually(lambda: informer.reflector.lists == 2)
    gap = recorder.events[3:]
    assert sorted((kind, name) for kind, name, _ in gap) == [
        ("add", "d"),
        ("delete", "a"),
        ("update", "b"),
    ]
    tombstone = next(o for o in recorder.objects if isinstance(o, DeletedFinalStateUnknown))
    assert tombstone.key == "default/a"
    assert tombstone.obj["metadata"]["name"] == "a"
    assert sorted(informer.store.keys()) == ["default/b", "default/c", "default/d"]
    assert informer.store.get("default/b")["data"] == {"k": "gap"}  # type: ignore[index]


async def test_dropped_watches_resume_without_duplicates_or_gaps(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """Streams cut every few ms while objects change: every resourceVersion arrives once, in order."""
    cms = sim.cluster.resource("configmaps")
    committed: list[tuple[str, str, str]] = []
    unsubscribe = sim.cluster.subscribe(
        cms,
        lambda kind, obj: committed.append(
            (KIND[kind], obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
        ),
    )
    informer = make_informer()
    recorder = Recorder().register(informer)

    async def churn() -> None:
        for i in range(150):
            name = f"cm-{i % 10}"
            if i % 10 == i // 10 % 10 and i >= 10:
                sim.cluster.delete(cms, "default", name)
            elif sim.cluster.list(cms, "default", field_selector=f"metadata.name={name}")[0]:
                sim.cluster.patch(cms, "default", name, {"data": {"i": str(i)}}, patch_type="merge")
            else:
                sim.cluster.create(cms, "default", configmap(name))
            await asyncio.sleep(0.002)

    async def cut_streams() -> None:
        while True:
            await asyncio.sleep(0.03)
            sim.faults.close_watches()

    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        cutter = asyncio.create_task(cut_streams(), name="cut-streams")
        await churn()
        cutter.cancel()
        await eventually(lambda: len(recorder.events) == len(committed), within=10)
    unsubscribe()
    assert informer.reflector.watches >= 3, "the streams were really cut"
    assert informer.reflector.lists == 1, "no relist was needed"
    assert recorder.events == committed
    versions = [int(rv) for _, _, rv in recorder.events]
    assert versions == sorted(set(versions))


@pytest.fixture
async def bookmarking_sim() -> AsyncIterator[KubeSim]:
    """A kubesim that sends a watch bookmark every 100 ms."""
    async with KubeSim(controllers=False, bookmark_interval=0.1) as running_sim:
        yield running_sim


async def test_bookmarks_advance_the_resume_version(bookmarking_sim: KubeSim) -> None:
    """Bookmarks move the last version past other resources' changes; re-watches resume there."""
    sim = bookmarking_sim
    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        informer = SharedInformer(
            api, group="", version="v1", plural="configmaps", freeze_gc=False,
            field_selector=f"metadata.name!={ROOT_CA}",
        )  # fmt: skip
        resumed_from = _watch_versions(informer)
        secrets = sim.cluster.resource("secrets")
        async with running(informer):
            assert await wait_for_cache_sync(informer, timeout=5)
            listed_at = int(informer.reflector.last_resource_version)
            for i in range(5):  # changes of another resource move the global version only
                sim.cluster.create(
                    secrets,
                    "default",
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}"}},
                )
            target = str(sim.cluster.resource_version)
            await eventually(lambda: informer.reflector.last_resource_version == target)
            sim.faults.close_watches()
            await eventually(lambda: len(resumed_from) == 2)
        assert int(target) > listed_at
        assert resumed_from == [str(listed_at), target]
        assert len(informer.store) == 0
    finally:
        await api.close()


async def test_a_silent_stream_is_detected_by_the_read_timeout(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """A watch that sends nothing for longer than the read timeout is dropped and re-opened."""
    cms = sim.cluster.resource("configmaps")
    informer = make_informer(read_timeout=0.3)
    resumed_from = _watch_versions(informer)
    recorder = Recorder().register(informer)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        await eventually(lambda: len(resumed_from) >= 3, within=3)
        sim.cluster.create(cms, "default", configmap("after"))
        await eventually(lambda: len(recorder.events) == 1)
    assert informer.reflector.lists == 1
    assert len(set(resumed_from)) == 1, "each re-watch resumes from the same version"


async def test_a_response_that_never_starts_is_detected_by_the_read_timeout(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """A watch whose response hangs (a half-open connection) is abandoned and retried."""
    cms = sim.cluster.resource("configmaps")
    informer = make_informer(read_timeout=0.3)
    resumed_from = _watch_versions(informer)
    recorder = Recorder().register(informer)
    sim.faults.add(verb="watch", resource="configmaps", latency=30, count=1)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        sim.cluster.create(cms, "default", configmap("during"))
        await eventually(lambda: len(recorder.events) == 1, within=3)
    assert len(resumed_from) == 2, "the hung watch was abandoned and opened again"
    assert resumed_from[0] == resumed_from[1]


async def test_server_errors_on_list_back_off_then_sync(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """Two 500s on the list are retried after 50 ms and 100 ms; then the cache syncs."""
    sim.faults.add(verb="list", resource="configmaps", error=500, count=2)
    informer = make_informer()
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
    assert loop.time() - start >= 0.15
    assert informer.reflector.lists == 1


async def test_a_list_that_keeps_failing_never_syncs(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """wait_for_cache_sync returns False when the list fails until the timeout."""
    sim.faults.add(verb="list", resource="configmaps", error=503)
    informer = make_informer()
    async with running(informer):
        assert not await wait_for_cache_sync(informer, timeout=0.5)
    assert not informer.has_synced


@pytest.mark.parametrize(("code", "at_least"), [(500, 0.05 + 0.1 + 0.2), (429, 1.0)])
async def test_watch_errors_back_off_and_resume_without_relisting(
    sim: KubeSim, make_informer: MakeInformer, code: int, at_least: float
) -> None:
    """5xx and 429 on the watch back off (429 honours Retry-After) and resume from the last version."""
    cms = sim.cluster.resource("configmaps")
    informer = make_informer()
    resumed_from = _watch_versions(informer)
    recorder = Recorder().register(informer)
    loop = asyncio.get_running_loop()
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        sim.faults.add(
            verb="watch",
            resource="configmaps",
            error=code,
            count=3 if code == 500 else 1,
            retry_after=1,
        )
        sim.faults.close_watches()
        start = loop.time()
        sim.cluster.create(cms, "default", configmap("during-outage"))
        await eventually(lambda: len(recorder.events) == 1, within=5)
        elapsed = loop.time() - start
    assert elapsed >= at_least
    assert informer.reflector.lists == 1
    assert len(set(resumed_from)) == 1
