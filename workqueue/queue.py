"""The base work queue: deduplicating, never hands one item to two consumers, FIFO otherwise.

This is client-go's ``workqueue.Typed`` on asyncio. Three collections hold the state:

- ``_queue``: the order items are handed out in;
- ``_dirty``: items that need processing (queued, or re-added while being processed);
- ``_processing``: items a consumer holds between ``get`` and ``done``.

Invariants (checked by the tests after every step of random schedules):

- every element of ``_queue`` is in ``_dirty`` and not in ``_processing``, and appears once;
- an item in ``_dirty`` and in ``_processing`` is re-queued by ``done``, not before;
- so no item is ever held by two consumers, and an item added N times before a consumer
  gets it is processed once.

Every mutator is plain ``def``: NOTHING here may ``await`` between reading and changing the
state, which is what makes the invariants hold without a lock. Only ``get`` and
``shut_down_with_drain`` wait, on futures that the mutators resolve.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

from workqueue.metrics import NoopQueueMetrics, PrometheusQueueMetrics, QueueMetrics

__all__ = ["Queue", "ShutDown"]

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`Queue.get` once the queue is shut down and has nothing left to hand out."""


class Queue(Generic[T]):
    """A work queue of hashable items (usually ``"namespace/name"`` keys).

    Consumers must call :meth:`done` for every item :meth:`get` returned, whatever happened
    while processing it (use ``try``/``finally``): until then the item is never handed out again.
    """

    def __init__(self, *, name: str = "", registry: CollectorRegistry | None = None) -> None:
        """Create an empty queue; with a ``registry``, record metrics labelled ``name``."""
        if registry is not None and not name:
            raise ValueError("name: a queue that records metrics needs a non-empty name")
        self.name = name
        self._metrics: QueueMetrics = (
            NoopQueueMetrics() if registry is None else PrometheusQueueMetrics(name, registry)
        )
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._shutting_down = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        # Consumers blocked in get(), oldest first; add() wakes one, shut_down() wakes all.
        self._getters: deque[asyncio.Future[None]] = deque()

    # ------------------------------------------------------------------ producers

    def add(self, item: T) -> None:
        """Mark ``item`` as needing processing. Ignored after shut down or if already pending."""
        if self._shutting_down or item in self._dirty:
            return
        self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            # Deferred: done() re-queues it, so it is never held by two consumers.
            return
        self._queue.append(item)
        self._wake_one_getter()

    # ------------------------------------------------------------------ consumers

    async def get(self) -> T:
        """Wait for an item and mark it as being processed; the caller must call :meth:`done`.

        After :meth:`shut_down`, items still queued are handed out; then ``get`` raises
        :class:`ShutDown`.
        """
        while not self._queue:
            if self._shutting_down:
                raise ShutDown
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # We were woken for an item we will not take: pass the wake-up on.
                    self._wake_one_getter()
                elif waiter in self._getters:
                    self._getters.remove(waiter)
                raise
        item = self._queue.popleft()
        self._metrics.get(item)
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        """Mark ``item`` as processed; if it was added meanwhile, queue it again."""
        if item not in self._processing:
            raise ValueError(f"done(): {item!r} is not being processed (get() it first)")
        self._metrics.done(item)
        self._processing.remove(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one_getter()
        if self._drained():
            self._resolve_drain_waiters()

    # ------------------------------------------------------------------ state

    def __len__(self) -> int:
        """The number of items waiting to be handed out (not those being processed)."""
        return len(self._queue)

    def len(self) -> int:
        """Same as ``len(queue)``; spelled like client-go's ``Len()``."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """True once :meth:`shut_down` or :meth:`shut_down_with_drain` was called."""
        return self._shutting_down

    # ------------------------------------------------------------------ shutdown

    def shut_down(self) -> None:
        """Stop accepting adds; consumers drain what is queued, then ``get`` raises ShutDown.

        Also ends any :meth:`shut_down_with_drain` wait at once.
        """
        self._shutting_down = True
        self._wake_all_getters()
        self._resolve_drain_waiters()

    async def shut_down_with_drain(self) -> None:
        """Shut down, then wait until every queued item was handed out and marked done.

        Stricter than client-go, which waits only for the items already handed out: consumers
        must keep calling :meth:`get` and :meth:`done`, or this waits forever (bound it with
        ``asyncio.timeout`` or end it with :meth:`shut_down`).
        """
        self._shutting_down = True
        self._wake_all_getters()
        if self._drained():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._drain_waiters:
                self._drain_waiters.remove(waiter)

    # ------------------------------------------------------------------ helpers

    def _wake_one_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all_getters(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _drained(self) -> bool:
        return not self._queue and not self._processing

    def _resolve_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
