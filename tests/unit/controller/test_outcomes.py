"""Unit tests for the controller's one outcome-to-queue mapping, on fake loop time.

No API server is involved: the controller is built on informers that are never started, and
reconcile is replaced by a plain function (the one-method seam) returning each outcome.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry

from controller.caches import Caches
from controller.controller import ClusterKey, RayClusterController, Result, TerminalError
from controller.events import EventRecorder
from controller.kube import Invalid, KubeClient, ServerError, TooManyRequests
from controller.options import OperatorOptions

KEY = ClusterKey("ns", "c")


@pytest.fixture
async def controller() -> AsyncIterator[RayClusterController]:
    api = ApiClient(Configuration())
    client = KubeClient(api)
    ctrl = RayClusterController(
        client=client,
        caches=Caches(api),
        recorder=EventRecorder(client),
        registry=CollectorRegistry(),
        options=OperatorOptions(concurrency=1),
    )
    yield ctrl
    await api.close()


def _total(ctrl: RayClusterController, result: str) -> float:
    value = ctrl.registry.get_sample_value(
        "controller_runtime_reconcile_total", {"controller": "raycluster", "result": result}
    )
    assert value is not None
    return value


async def _process(ctrl: RayClusterController) -> None:
    ctrl.queue.add(KEY)
    assert await ctrl._process_next_item()


@pytest.mark.looptime
async def test_errors_requeue_with_exponential_backoff(controller: RayClusterController) -> None:
    """A failing reconcile comes back after 5 ms, then 10 ms, then 20 ms (client-go's limiter)."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []

    async def failing(key: ClusterKey) -> Result:
        calls.append(loop.time())
        raise ServerError("etcd is sad", code=500)

    controller.reconcile = failing  # type: ignore[method-assign]
    await _process(controller)
    for _ in range(3):
        assert await controller._process_next_item()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(calls)]
    assert gaps == [0.005, 0.01, 0.02]
    assert _total(controller, "error") == 4
    assert controller.queue.num_requeues(KEY) == 4


@pytest.mark.looptime
async def test_success_forgets_the_failure_count(controller: RayClusterController) -> None:
    """After a success, the next failure starts the backoff from 5 ms again."""
    outcomes: list[Exception | None] = [ServerError("x"), ServerError("x"), None]

    async def scripted(key: ClusterKey) -> Result:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return Result()

    controller.reconcile = scripted  # type: ignore[method-assign]
    await _process(controller)
    assert await controller._process_next_item()
    assert await controller._process_next_item()
    assert controller.queue.num_requeues(KEY) == 0
    assert _total(controller, "success") == 1
    assert len(controller.queue) == 0


@pytest.mark.looptime
async def test_requeue_after_adds_after_exactly_that_delay(
    controller: RayClusterController,
) -> None:
    """Result(requeue_after=30) hands the key out again 30 s later, not before."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []

    async def later(key: ClusterKey) -> Result:
        calls.append(loop.time())
        return Result(requeue_after=30.0)

    controller.reconcile = later  # type: ignore[method-assign]
    await _process(controller)
    assert await controller._process_next_item()
    assert round(calls[1] - calls[0], 3) == 30.0
    assert _total(controller, "requeue_after") == 2


@pytest.mark.looptime
async def test_terminal_error_comes_back_after_the_long_delay_only(
    controller: RayClusterController,
) -> None:
    """A TerminalError: no exponential retries; the key returns after terminal_requeue, each time."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []

    async def hopeless(key: ClusterKey) -> Result:
        calls.append(loop.time())
        raise TerminalError("cannot ever work")

    controller.reconcile = hopeless  # type: ignore[method-assign]
    await _process(controller)
    assert controller.queue.waiting == 1
    for _ in range(2):
        assert await controller._process_next_item()
    assert [round(b - a, 3) for a, b in itertools.pairwise(calls)] == [600.0, 600.0]
    assert controller.queue.num_requeues(KEY) == 0
    assert _total(controller, "error") == 3


@pytest.mark.looptime
async def test_a_422_from_the_server_is_terminal(controller: RayClusterController) -> None:
    """An Invalid (422) escaping reconcile is treated as terminal, not retried in 5 ms."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []

    async def refused(key: ClusterKey) -> Result:
        calls.append(loop.time())
        raise Invalid("spec.x: Forbidden", code=422)

    controller.reconcile = refused  # type: ignore[method-assign]
    await _process(controller)
    assert await controller._process_next_item()
    assert round(calls[1] - calls[0], 3) == 600.0


@pytest.mark.looptime
async def test_retry_after_holds_back_even_keys_added_by_events(
    controller: RayClusterController,
) -> None:
    """After a 429 with Retry-After 7, a key re-added at once still waits the 7 s."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []
    outcomes: list[Exception | None] = [TooManyRequests("slow down", retry_after=7.0), None]

    async def throttled(key: ClusterKey) -> Result:
        calls.append(loop.time())
        if outcome := outcomes.pop(0):
            raise outcome
        return Result()

    controller.reconcile = throttled  # type: ignore[method-assign]
    await _process(controller)
    controller.queue.add(KEY)  # an informer event right after the failure
    assert await controller._process_next_item()  # held back, not reconciled
    assert await controller._process_next_item()
    assert [round(c - calls[0], 3) for c in calls] == [0.0, 7.0]


@pytest.mark.looptime
async def test_stop_lets_the_in_flight_reconcile_finish(controller: RayClusterController) -> None:
    """stop() during a reconcile: it completes, queued keys are not started, workers exit."""
    finished: list[ClusterKey] = []
    started = asyncio.Event()

    async def slow(key: ClusterKey) -> Result:
        started.set()
        await asyncio.sleep(5)
        finished.append(key)
        return Result()

    controller.reconcile = slow  # type: ignore[method-assign]
    controller.queue.add(KEY)
    worker = asyncio.create_task(controller._run_worker())
    await started.wait()
    controller.queue.add(ClusterKey("ns", "other"))
    controller.stop()
    await asyncio.wait_for(worker, timeout=10)
    assert finished == [KEY]
