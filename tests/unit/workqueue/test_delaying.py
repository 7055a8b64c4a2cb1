"""The delaying queue: exact delays, earliest ready time wins, one timer, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from workqueue import DelayingQueue

pytestmark = pytest.mark.looptime


async def _get_with_time(queue: DelayingQueue[str]) -> tuple[str, float]:
    item = await queue.get()
    return item, asyncio.get_running_loop().time()


async def test_add_after_hands_the_item_out_exactly_after_the_delay() -> None:
    """An item added with a delay of 2.5 s becomes available 2.5 s later, not before."""
    queue: DelayingQueue[str] = DelayingQueue()
    start = asyncio.get_running_loop().time()
    queue.add_after("a", 2.5)
    assert len(queue) == 0
    assert queue.waiting == 1
    item, at = await _get_with_time(queue)
    assert item == "a"
    assert at - start == pytest.approx(2.5)
    assert queue.waiting == 0


async def test_items_come_out_in_ready_time_order() -> None:
    """Items added with different delays come out ordered by their ready times."""
    queue: DelayingQueue[str] = DelayingQueue()
    start = asyncio.get_running_loop().time()
    for item, delay in [("c", 3.0), ("a", 1.0), ("b", 2.0)]:
        queue.add_after(item, delay)
    results = [await _get_with_time(queue) for _ in range(3)]
    assert [(item, round(at - start, 6)) for item, at in results] == [
        ("a", 1.0),
        ("b", 2.0),
        ("c", 3.0),
    ]


async def test_a_shorter_delay_moves_a_waiting_item_earlier() -> None:
    """add_after(x, 10) then add_after(x, 4): x is ready after 4 s, and only once."""
    queue: DelayingQueue[str] = DelayingQueue()
    start = asyncio.get_running_loop().time()
    queue.add_after("x", 10)
    queue.add_after("x", 4)
    item, at = await _get_with_time(queue)
    assert (item, at - start) == ("x", pytest.approx(4))
    queue.done(item)
    await asyncio.sleep(20)
    assert len(queue) == 0, "the superseded 10 s entry must not add the item again"


async def test_a_longer_delay_never_postpones_a_waiting_item() -> None:
    """add_after(x, 4) then add_after(x, 10): the earlier ready time wins."""
    queue: DelayingQueue[str] = DelayingQueue()
    start = asyncio.get_running_loop().time()
    queue.add_after("x", 4)
    queue.add_after("x", 10)
    item, at = await _get_with_time(queue)
    assert (item, at - start) == ("x", pytest.approx(4))
    assert queue.waiting == 0


async def test_zero_or_negative_delay_adds_at_once() -> None:
    """A delay of 0 or less is a plain add."""
    queue: DelayingQueue[str] = DelayingQueue()
    queue.add_after("a", 0)
    queue.add_after("b", -1)
    assert len(queue) == 2
    assert queue.waiting == 0


async def test_many_delayed_items_use_no_tasks() -> None:
    """A thousand pending add_after calls create no task (one loop timer serves them all)."""
    queue: DelayingQueue[int] = DelayingQueue()
    before = len(asyncio.all_tasks())
    for i in range(1000):
        queue.add_after(i, 1 + i % 7)
    assert len(asyncio.all_tasks()) == before
    assert queue.waiting == 1000
    await asyncio.sleep(8)
    assert len(queue) == 1000


async def test_a_waiting_item_that_is_added_directly_is_not_handed_out_twice() -> None:
    """An item both waiting and added is deduplicated when its timer fires."""
    queue: DelayingQueue[str] = DelayingQueue()
    queue.add_after("a", 1)
    queue.add("a")
    await asyncio.sleep(2)
    assert len(queue) == 1


async def test_shut_down_drops_waiting_items_and_ignores_new_ones() -> None:
    """After shut_down, waiting items never arrive and add_after does nothing."""
    queue: DelayingQueue[str] = DelayingQueue()
    queue.add_after("a", 1)
    queue.shut_down()
    queue.add_after("b", 1)
    await asyncio.sleep(5)
    assert len(queue) == 0
    assert queue.waiting == 0
