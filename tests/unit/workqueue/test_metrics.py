"""Workqueue metrics: client-go's names, the name label, and what each one counts."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from workqueue import DelayingQueue, Queue


def _sample(registry: CollectorRegistry, metric: str, name: str = "q") -> float | None:
    return registry.get_sample_value(metric, {"name": name})


@pytest.mark.looptime
async def test_depth_and_adds_count_only_new_items() -> None:
    """A deduplicated add is not counted; depth falls when an item is handed out."""
    registry = CollectorRegistry()
    queue: Queue[str] = Queue(name="q", registry=registry)
    for item in ["a", "a", "b"]:
        queue.add(item)
    assert _sample(registry, "workqueue_adds_total") == 2
    assert _sample(registry, "workqueue_depth") == 2
    await queue.get()
    assert _sample(registry, "workqueue_depth") == 1


@pytest.mark.looptime
async def test_queue_and_work_durations_are_measured_on_the_loop_clock() -> None:
    """Time queued (add → get) and time worked (get → done) are observed exactly."""
    registry = CollectorRegistry()
    queue: Queue[str] = Queue(name="q", registry=registry)
    queue.add("a")
    await asyncio.sleep(3)
    item = await queue.get()
    await asyncio.sleep(2)
    queue.done(item)
    assert _sample(registry, "workqueue_queue_duration_seconds_sum") == pytest.approx(3)
    assert _sample(registry, "workqueue_queue_duration_seconds_count") == 1
    assert _sample(registry, "workqueue_work_duration_seconds_sum") == pytest.approx(2)


@pytest.mark.looptime
async def test_unfinished_work_and_longest_processor_report_in_flight_ages() -> None:
    """Two items held for 5 s and 2 s report 7 s of unfinished work, the longest 5 s."""
    registry = CollectorRegistry()
    queue: Queue[str] = Queue(name="q", registry=registry)
    queue.add("a")
    queue.add("b")
    first = await queue.get()
    await asyncio.sleep(3)
    await queue.get()
    await asyncio.sleep(2)
    assert _sample(registry, "workqueue_unfinished_work_seconds") == pytest.approx(7)
    assert _sample(registry, "workqueue_longest_running_processor_seconds") == pytest.approx(5)
    queue.done(first)
    assert _sample(registry, "workqueue_unfinished_work_seconds") == pytest.approx(2)


@pytest.mark.looptime
async def test_retries_count_every_add_after_even_without_delay() -> None:
    """workqueue_retries_total counts each add_after call, like client-go."""
    registry = CollectorRegistry()
    queue: DelayingQueue[str] = DelayingQueue(name="q", registry=registry)
    queue.add_after("a", 0)
    queue.add_after("b", 1)
    queue.add_after("b", 2)
    assert _sample(registry, "workqueue_retries_total") == 3


async def test_queues_sharing_a_registry_are_told_apart_by_name() -> None:
    """Two queues on one registry record under their own name label."""
    registry = CollectorRegistry()
    one: Queue[str] = Queue(name="one", registry=registry)
    two: Queue[str] = Queue(name="two", registry=registry)
    one.add("a")
    two.add("a")
    two.add("b")
    assert _sample(registry, "workqueue_adds_total", "one") == 1
    assert _sample(registry, "workqueue_adds_total", "two") == 2


def test_a_metered_queue_needs_a_name() -> None:
    """A registry without a queue name is refused with a message naming the field."""
    with pytest.raises(ValueError, match="name: a queue that records metrics needs a non-empty"):
        Queue(registry=CollectorRegistry())


async def test_a_queue_without_registry_records_nothing() -> None:
    """Without a registry nothing lands on the global default registry either."""
    queue: Queue[str] = Queue(name="unmetered")
    queue.add("a")
    assert _sample(REGISTRY, "workqueue_adds_total", "unmetered") is None
