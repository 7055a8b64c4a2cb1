"""A minimal keyed work queue for kubesim's in-process controllers.

The client-go contract, reduced to one event loop: a key added several times before a worker
takes it is processed once (`_dirty`); a key being processed is never handed to a second worker,
and an add during processing re-queues it after `done` (`_processing`). `add_after` keeps only the
earliest pending timer per key. Everything but `get` is a plain `def`.

Invariants: every key in `_queue` is in `_dirty`; no key is in both `_queue` and `_processing`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["KeyQueue", "QueueShutDown"]

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """`get` was called on (or was waiting in) a queue that has been shut down."""


class KeyQueue(Generic[K]):
    """A de-duplicating FIFO of keys with delayed adds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        """Queue `key` unless it is already waiting."""
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` after `delay` seconds of loop time (an earlier pending timer wins)."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._timers[key] = (when, loop.call_at(when, self._fire, key))

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> K:
        """Wait for the next key; the caller must call `done(key)` when finished with it."""
        while not self._queue:
            if self._shut_down:
                raise QueueShutDown(self.name)
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def get_nowait(self) -> K | None:
        """The next key if one is ready, else None (same `done` obligation as `get`)."""
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """Mark `key` processed; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    def forget(self, key: K) -> None:
        """Cancel a pending delayed add of `key`."""
        pending = self._timers.pop(key, None)
        if pending is not None:
            pending[1].cancel()

    def shut_down(self) -> None:
        """Stop handing out keys and cancel every timer."""
        self._shut_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
