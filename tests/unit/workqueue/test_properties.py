"""Random schedules of add/get/done/add_after/time from several consumers keep every promise.

A hypothesis state machine drives a RateLimitingQueue on a fake-time event loop and checks,
after every step, what a controller relies on:

- no item is ever held by two consumers;
- an item is handed out only if it was added since it was last handed out (stingy);
- items come out in the order they became ready (FIFO), delayed items at their ready time;
- nothing added is ever lost: at the end, draining hands out every owed item;
- the internal sets keep client-go's invariant (queued ⊆ dirty, queued ∩ processing = ∅).
"""

from __future__ import annotations

import asyncio
import itertools

import looptime
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from workqueue import ItemExponentialFailureRateLimiter, RateLimitingQueue, ShutDown

ITEMS = st.sampled_from(["a", "b", "c", "d", "e"])
CONSUMERS = st.integers(min_value=0, max_value=2)


class QueueMachine(RuleBasedStateMachine):
    """Three consumers and a producer share one queue; the model tracks what is owed."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = looptime.new_event_loop(start=0)
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(
            ItemExponentialFailureRateLimiter(1.0, 8.0)
        )
        self.held: dict[int, str] = {}
        self.getters: dict[int, asyncio.Task[None]] = {}
        # What consumers received, in the order the queue handed it out.
        self.handouts: list[tuple[int, str]] = []
        self.shut_down_seen: set[int] = set()
        # Items added since they were last handed out (the queue owes them one hand-out).
        self.owed: set[str] = set()
        # Owed items not held by anyone, with the order in which they became ready.
        self.ready: dict[str, int] = {}
        # Items waiting for a delay: item -> (ready_at, tie-break), earliest wins.
        self.delayed: dict[str, tuple[float, int]] = {}
        self.counter = itertools.count()

    # ------------------------------------------------------------------ model

    def _model_add(self, item: str) -> None:
        if item in self.owed:
            return
        self.owed.add(item)
        if item not in self.held.values():
            self.ready[item] = next(self.counter)

    def _run(self) -> None:
        """Let woken consumers run, and record what each received."""
        for _ in range(3):
            self.loop.run_until_complete(asyncio.sleep(0))
        handouts, self.handouts = self.handouts, []
        for consumer, item in handouts:
            del self.getters[consumer]
            assert item not in self.held.values(), f"{item} held by two consumers"
            assert item in self.owed, f"{item} handed out without a new add"
            assert self.ready[item] == min(self.ready.values()), "not first in, first out"
            del self.ready[item]
            self.owed.discard(item)
            self.held[consumer] = item

    # ------------------------------------------------------------------ rules

    @rule(item=ITEMS)
    def add(self, item: str) -> None:
        self.queue.add(item)
        self._model_add(item)
        self._run()

    @rule(consumer=CONSUMERS)
    def get(self, consumer: int) -> None:
        if consumer in self.held or consumer in self.getters:
            return
        self.getters[consumer] = self.loop.create_task(self._get(consumer), name=f"c{consumer}")
        self._run()

    @rule(consumer=CONSUMERS)
    def done(self, consumer: int) -> None:
        item = self.held.pop(consumer, None)
        if item is None:
            return
        self.queue.done(item)
        if item in self.owed:
            self.ready[item] = next(self.counter)
        self._run()

    @rule(item=ITEMS, delay=st.integers(min_value=0, max_value=5))
    def add_after(self, item: str, delay: int) -> None:
        self.loop.run_until_complete(self._call(self.queue.add_after, item, delay))
        self._delay(item, delay)

    @rule(consumer=CONSUMERS)
    def add_rate_limited(self, consumer: int) -> None:
        item = self.held.get(consumer)
        if item is None:
            return
        delay = min(1.0 * 2 ** self.queue.num_requeues(item), 8.0)
        self.loop.run_until_complete(self._call(self.queue.add_rate_limited, item))
        self._delay(item, delay)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
    def advance(self, seconds: float) -> None:
        self._advance(seconds)

    def _advance(self, seconds: float) -> None:
        deadline = self.loop.time() + seconds
        due = sorted((entry, item) for item, entry in self.delayed.items() if entry[0] <= deadline)
        self.loop.run_until_complete(asyncio.sleep(seconds))
        for _, item in due:
            del self.delayed[item]
            self._model_add(item)
        self._run()

    @rule(item=ITEMS)
    def forget(self, item: str) -> None:
        self.queue.forget(item)
        assert self.queue.num_requeues(item) == 0

    # ------------------------------------------------------------------ helpers

    async def _get(self, consumer: int) -> None:
        try:
            item = await self.queue.get()
        except ShutDown:
            self.shut_down_seen.add(consumer)
        else:
            self.handouts.append((consumer, item))

    async def _call(self, fn: object, *args: object) -> None:
        fn(*args)  # type: ignore[operator]

    def _delay(self, item: str, delay: float) -> None:
        if delay <= 0:
            self._model_add(item)
        else:
            ready_at = self.loop.time() + delay
            current = self.delayed.get(item)
            if current is None or ready_at < current[0]:
                self.delayed[item] = (ready_at, next(self.counter))
        self._run()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def internal_sets_keep_client_go_invariants(self) -> None:
        queued = list(self.queue._queue)
        assert len(queued) == len(set(queued))
        assert set(queued) <= self.queue._dirty
        assert not set(queued) & self.queue._processing
        assert self.queue._processing == set(self.held.values())
        assert self.queue._dirty == self.owed

    def teardown(self) -> None:
        """Drain: every owed item, including delayed ones, is eventually handed out."""
        try:
            for consumer in list(self.held):
                self.done(consumer)
            self._advance(100)
            assert not self.delayed
            self.queue.shut_down()
            self._run()
            for consumer, task in self.getters.items():
                assert task.done(), "a consumer blocked on an empty queue missed the shut down"
                assert consumer in self.shut_down_seen or consumer in self.held
            for consumer in list(self.held):
                self.done(consumer)
            self.getters.clear()
            handed_out: list[str] = []

            async def drain() -> None:
                while True:
                    try:
                        item = await self.queue.get()
                    except ShutDown:
                        return
                    handed_out.append(item)
                    self.queue.done(item)

            self.loop.run_until_complete(drain())
            assert sorted(handed_out) == sorted(self.owed), "an added item was lost"
        finally:
            self.loop.close()


QueueMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueProperties = QueueMachine.TestCase
