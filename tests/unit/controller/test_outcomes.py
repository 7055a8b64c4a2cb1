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
from controller.kube import KubeClient, ServerError

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
        concurrency=1,
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
async def test_terminal_error_is_not_retried(controller: RayClusterController) -> None:
    """A TerminalError drops the key: nothing is queued or waiting afterwards."""

    async def hopeless(key: ClusterKey) -> Result:
        raise TerminalError("cannot ever work")

    controller.reconcile = hopeless  # type: ignore[method-assign]
    await _process(controller)
    await asyncio.sleep(3600)
    assert len(controller.queue) == 0
    assert controller.queue.waiting == 0
    assert _total(controller, "error") == 1


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
