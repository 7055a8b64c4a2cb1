"""The controllers' keyed work queue: de-duplication, re-queue during processing, delays."""

from __future__ import annotations

import asyncio

import pytest

from kubesim.common.queue import KeyQueue, QueueShutDown

pytestmark = pytest.mark.looptime


async def test_a_key_added_twice_is_processed_once() -> None:
    """Adds before a worker takes the key collapse into one item."""
    queue: KeyQueue[str] = KeyQueue("t")
    queue.add("a")
    queue.add("b")
    queue.add("a")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_an_add_during_processing_requeues_after_done() -> None:
    """A key added while being processed comes back only after done(), never twice at once."""
    queue: KeyQueue[str] = KeyQueue("t")
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert queue.get_nowait() is None
    queue.done(key)
    assert queue.get_nowait() == "a"


async def test_add_after_keeps_the_earliest_timer() -> None:
    """Of two delayed adds the earlier wins, and the key appears exactly then."""
    queue: KeyQueue[str] = KeyQueue("t")
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue.add_after("a", 30)
    queue.add_after("a", 10)
    queue.add_after("a", 20)
    assert await queue.get() == "a"
    assert loop.time() - start == pytest.approx(10)
    queue.done("a")
    await asyncio.sleep(30)
    assert queue.get_nowait() is None


async def test_shut_down_wakes_a_waiting_worker() -> None:
    """A worker blocked in get() gets QueueShutDown when the queue shuts down."""
    queue: KeyQueue[str] = KeyQueue("t")
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(1)
    queue.shut_down()
    with pytest.raises(QueueShutDown):
        await waiter
