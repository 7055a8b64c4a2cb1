"""Every list and watch an informer sends waits on the injected rate limiter and is counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from informers import SharedInformer, wait_for_cache_sync
from kubesim import KubeSim

from .conftest import configmap, eventually, running

MakeInformer = Callable[..., SharedInformer]


@dataclass
class Hooks:
    """A RequestHooks that records what it is told and gates requests on an Event."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    throttles: int = 0
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    async def throttle(self) -> float:
        self.throttles += 1
        await self.gate.wait()
        return 0.25

    def observe(
        self, *, method: str, verb: str, code: str, seconds: float, throttled: float
    ) -> None:
        assert throttled == 0.25
        self.seen.append((method, verb, code))


async def test_list_and_watch_wait_for_the_limiter_and_are_counted(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """Nothing is sent until the limiter lets it; then one LIST and one WATCH, both 200."""
    sim.cluster.create(sim.cluster.resource("configmaps"), "default", configmap("a"))
    hooks = Hooks()
    informer = make_informer(request_hooks=hooks)
    async with running(informer):
        await eventually(lambda: hooks.throttles == 1)
        assert not await wait_for_cache_sync(informer, timeout=0.2)
        assert hooks.seen == []
        hooks.gate.set()
        assert await wait_for_cache_sync(informer, timeout=5)
        await eventually(lambda: len(hooks.seen) == 2)
    assert hooks.seen == [("GET", "LIST", "200"), ("GET", "WATCH", "200")]


async def test_failed_reads_are_counted_with_their_code(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """A 500 on the list is counted as such before the retry's 200."""
    sim.faults.add(verb="list", resource="configmaps", error=500, count=1)
    hooks = Hooks()
    hooks.gate.set()
    informer = make_informer(request_hooks=hooks)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
    assert hooks.seen[:2] == [("GET", "LIST", "500"), ("GET", "LIST", "200")]


async def test_a_streaming_list_is_one_watch_and_no_list(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """stream_lists: the initial objects and later changes come on one WATCH; no LIST at all."""
    cms = sim.cluster.resource("configmaps")
    for i in range(3):
        sim.cluster.create(cms, "default", configmap(f"cm-{i}"))
    hooks = Hooks()
    hooks.gate.set()
    informer = make_informer(request_hooks=hooks, stream_lists=True)
    added: list[str] = []
    informer.add_handler(on_add=lambda obj: added.append(obj["metadata"]["name"]))
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        assert sorted(added) == ["cm-0", "cm-1", "cm-2"]
        sim.cluster.create(cms, "default", configmap("later"))
        await eventually(lambda: "later" in added)
    assert hooks.seen == [("GET", "WATCH", "200")]
    assert (informer.reflector.lists, informer.reflector.watches) == (1, 1)
    assert informer.store.get("default/cm-0")["kind"] == "ConfigMap"  # type: ignore[index]


async def test_a_server_refusing_streaming_lists_gets_an_ordinary_list(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """A 422 on the streaming watch: the informer lists instead, and keeps listing."""
    sim.cluster.create(sim.cluster.resource("configmaps"), "default", configmap("a"))
    sim.faults.add(verb="watch", resource="configmaps", error=422, count=1)
    hooks = Hooks()
    hooks.gate.set()
    informer = make_informer(request_hooks=hooks, stream_lists=True)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        await eventually(lambda: len(hooks.seen) == 3)
    assert hooks.seen == [("GET", "WATCH", "422"), ("GET", "LIST", "200"), ("GET", "WATCH", "200")]
    assert not informer.reflector.stream_lists
    assert informer.store.get("default/a") is not None
