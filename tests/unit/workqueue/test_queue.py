"""The base queue: deduplication, deferred re-adds, FIFO order, shutdown and drain."""

from __future__ import annotations

import asyncio

import pytest

import workqueue
from workqueue import Queue, ShutDown


async def test_an_item_added_twice_is_handed_out_once() -> None:
    """Adding an item that is already queued does not queue it again."""
    queue: Queue[str] = Queue()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    assert len(queue) == 0


async def test_items_are_handed_out_first_in_first_out() -> None:
    """Distinct items come out in the order they were first added."""
    queue: Queue[str] = Queue()
    for item in ["c", "a", "b", "a"]:
        queue.add(item)
    assert [await queue.get() for _ in range(3)] == ["c", "a", "b"]


async def test_an_item_added_while_processing_waits_for_done() -> None:
    """A re-add during processing is held back until done, then handed out again."""
    queue: Queue[str] = Queue()
    queue.add("a")
    held = await queue.get()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "the item must not be queued while a consumer holds it"
    queue.add("b")
    assert await queue.get() == "b"
    queue.done(held)
    assert len(queue) == 1
    assert await queue.get() == "a"


async def test_an_item_is_never_held_by_two_consumers() -> None:
    """A second consumer blocks instead of receiving an item the first one holds."""
    queue: Queue[str] = Queue()
    queue.add("a")
    first = await queue.get()
    queue.add("a")
    second = asyncio.create_task(queue.get(), name="second-consumer")
    await asyncio.sleep(0)
    assert not second.done()
    queue.done(first)
    assert await second == "a"


async def test_done_on_an_item_not_held_is_refused_with_a_clear_message() -> None:
    """Calling done for an item nobody got is a programming error that names the item."""
    queue: Queue[str] = Queue()
    queue.add("a")
    with pytest.raises(ValueError, match="'a' is not being processed"):
        queue.done("a")
    assert len(queue) == 1


@pytest.mark.looptime
async def test_get_waits_for_an_add() -> None:
    """A consumer blocked on an empty queue receives the next item added."""
    queue: Queue[str] = Queue()
    loop = asyncio.get_running_loop()
    loop.call_later(5, queue.add, "late")
    start = loop.time()
    assert await queue.get() == "late"
    assert loop.time() - start == pytest.approx(5)


async def test_len_method_matches_len() -> None:
    """queue.len() (client-go's Len) counts the items waiting to be handed out."""
    queue: Queue[int] = Queue()
    queue.add(1)
    queue.add(2)
    await queue.get()
    assert queue.len() == len(queue) == 1


async def test_after_shut_down_get_drains_then_raises_shutdown() -> None:
    """Queued items are still handed out after shut_down; then get raises ShutDown."""
    queue: Queue[str] = Queue()
    queue.add("a")
    queue.add("b")
    queue.shut_down()
    assert queue.shutting_down
    queue.add("c")
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shut_down_wakes_every_blocked_consumer() -> None:
    """Consumers waiting on an empty queue all get ShutDown when it shuts down."""
    queue: Queue[str] = Queue()
    consumers = [asyncio.create_task(queue.get(), name=f"consumer-{i}") for i in range(3)]
    await asyncio.sleep(0)
    queue.shut_down()
    results = await asyncio.gather(*consumers, return_exceptions=True)
    assert all(isinstance(result, ShutDown) for result in results)


async def test_re_add_during_processing_is_delivered_even_after_shut_down() -> None:
    """An item re-added before shut_down while it was processed is still handed out."""
    queue: Queue[str] = Queue()
    queue.add("a")
    held = await queue.get()
    queue.add("a")
    queue.shut_down()
    queue.done(held)
    assert await queue.get() == "a"


@pytest.mark.looptime
async def test_shut_down_with_drain_waits_for_in_flight_items() -> None:
    """shut_down_with_drain returns only once every handed-out item is done."""
    queue: Queue[str] = Queue()
    queue.add("a")
    held = await queue.get()
    loop = asyncio.get_running_loop()
    loop.call_later(7, queue.done, held)
    start = loop.time()
    await queue.shut_down_with_drain()
    assert loop.time() - start == pytest.approx(7)
    with pytest.raises(ShutDown):
        await queue.get()


@pytest.mark.looptime
async def test_shut_down_with_drain_waits_for_queued_items_to_be_processed() -> None:
    """Items still queued at drain time are handed out and finished before drain returns."""
    queue: Queue[str] = Queue()
    processed: list[str] = []

    async def worker() -> None:
        while True:
            try:
                item = await queue.get()
            except ShutDown:
                return
            await asyncio.sleep(1)
            processed.append(item)
            queue.done(item)

    for item in "abc":
        queue.add(item)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(worker(), name="worker")
        await queue.shut_down_with_drain()
        assert processed == ["a", "b", "c"]


async def test_shut_down_with_drain_returns_at_once_when_idle() -> None:
    """Draining an idle queue does not wait."""
    queue: Queue[str] = Queue()
    await asyncio.wait_for(queue.shut_down_with_drain(), timeout=1)
    assert queue.shutting_down


@pytest.mark.looptime
async def test_shut_down_ends_a_drain_wait() -> None:
    """A later shut_down aborts a drain that would wait forever."""
    queue: Queue[str] = Queue()
    queue.add("a")
    await queue.get()
    asyncio.get_running_loop().call_later(3, queue.shut_down)
    await asyncio.wait_for(queue.shut_down_with_drain(), timeout=10)


async def test_a_cancelled_consumer_passes_its_wake_up_on() -> None:
    """If a woken consumer is cancelled before taking the item, another consumer gets it."""
    queue: Queue[str] = Queue()
    first = asyncio.create_task(queue.get(), name="first")
    second = asyncio.create_task(queue.get(), name="second")
    await asyncio.sleep(0)
    queue.add("a")  # wakes `first`
    first.cancel()
    assert await asyncio.wait_for(second, timeout=1) == "a"
    assert first.cancelled()


def test_shutdown_is_exported() -> None:
    """ShutDown is part of the package's public names."""
    assert "ShutDown" in workqueue.__all__
    assert workqueue.ShutDown is ShutDown
