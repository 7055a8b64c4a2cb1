"""A queue that can add an item later: ``add_after(item, seconds)``.

Like client-go's delaying queue, items waiting for their time sit in one min-heap ordered by
ready time, with a map from item to its ready time: an item is waiting at most once, and a
second ``add_after`` only ever moves it *earlier* (the earliest ready time wins).

One event-loop timer (``loop.call_at``) is armed for the head of the heap; there is never a
task or a timer per call, so a million pending retries cost a million heap entries and nothing
else. When the timer fires, every item whose time has come is :meth:`~Queue.add`-ed.
Superseded heap entries are left in place and skipped when they surface (lazy deletion).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from prometheus_client import CollectorRegistry

from workqueue.queue import Queue, T

__all__ = ["DelayingQueue"]


class DelayingQueue(Queue[T]):
    """A :class:`Queue` with :meth:`add_after`. Must be used from one running event loop."""

    def __init__(self, *, name: str = "", registry: CollectorRegistry | None = None) -> None:
        """Create an empty queue; with a ``registry``, record metrics labelled ``name``."""
        super().__init__(name=name, registry=registry)
        # Heap of (ready_at, sequence, item); the sequence breaks ties FIFO and means items
        # themselves are never compared.
        self._heap: list[tuple[float, int, T]] = []
        # item -> (ready_at, sequence) of its one live heap entry.
        self._waiting: dict[T, tuple[float, int]] = {}
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def add_after(self, item: T, seconds: float) -> None:
        """Add ``item`` once ``seconds`` have passed (at once if ``seconds <= 0``).

        If ``item`` is already waiting, it keeps the earlier of the two ready times.
        Ignored after shut down.
        """
        if self.shutting_down:
            return
        self._metrics.retry()
        if seconds <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + seconds
        current = self._waiting.get(item)
        if current is not None and current[0] <= ready_at:
            return
        entry = (ready_at, next(self._sequence))
        self._waiting[item] = entry
        heapq.heappush(self._heap, (*entry, item))
        if self._timer is None or ready_at < self._timer.when():
            self._arm(loop, ready_at)

    @property
    def waiting(self) -> int:
        """How many distinct items are waiting for their time to add."""
        return len(self._waiting)

    def shut_down(self) -> None:
        """Shut down and drop every item still waiting for its time."""
        self._drop_waiting()
        super().shut_down()

    async def shut_down_with_drain(self) -> None:
        """Drop the waiting items, then shut down and drain like :class:`Queue`."""
        self._drop_waiting()
        await super().shut_down_with_drain()

    def _drop_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._waiting.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        assert self._timer is not None
        # The loop may run a timer up to its clock resolution early: trust the armed time.
        deadline = max(self._timer.when(), asyncio.get_running_loop().time())
        self._timer = None
        heap = self._heap
        while heap and heap[0][0] <= deadline:
            ready_at, sequence, item = heapq.heappop(heap)
            if self._waiting.get(item) == (ready_at, sequence):
                del self._waiting[item]
                self.add(item)
        # Skip superseded entries so the timer is armed for a live one.
        while heap and self._waiting.get(heap[0][2]) != heap[0][:2]:
            heapq.heappop(heap)
        if heap:
            self._arm(asyncio.get_running_loop(), heap[0][0])
