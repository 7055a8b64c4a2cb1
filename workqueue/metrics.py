"""Workqueue metrics with client-go's names, on a Prometheus registry the caller owns.

The names and meanings are those of client-go's ``defaultQueueMetrics`` (and of
controller-runtime's dashboards), each labelled with the queue's ``name``:

===============================================  =========  ===========================================
metric                                           type       meaning
===============================================  =========  ===========================================
``workqueue_depth``                              gauge      items added and not yet handed out
``workqueue_adds_total``                         counter    adds of items not already queued
``workqueue_queue_duration_seconds``             histogram  first add → ``get``
``workqueue_work_duration_seconds``              histogram  ``get`` → ``done``
``workqueue_unfinished_work_seconds``            gauge      sum of the ages of in-flight items
``workqueue_longest_running_processor_seconds``  gauge      age of the oldest in-flight item
``workqueue_retries_total``                      counter    every ``add_after``, even with delay ≤ 0
===============================================  =========  ===========================================

The two "unfinished" gauges are computed when Prometheus scrapes (client-go refreshes them every
500 ms instead), from the event loop's clock, so they are never stale.

A queue without a registry gets :class:`NoopQueueMetrics` and pays nothing.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["NoopQueueMetrics", "PrometheusQueueMetrics", "QueueMetrics"]

# client-go's prometheus.ExponentialBuckets(10e-9, 10, 12): 10 ns to 1000 s.
DURATION_BUCKETS = tuple(1e-8 * 10**i for i in range(12))


class QueueMetrics(Protocol):
    """What a queue reports. Every hook is plain ``def`` and is called synchronously."""

    def add(self, item: Hashable) -> None:
        """An item that was not queued became queued."""

    def get(self, item: Hashable) -> None:
        """An item was handed to a consumer."""

    def done(self, item: Hashable) -> None:
        """A consumer finished an item."""

    def retry(self) -> None:
        """An item was scheduled with ``add_after``."""


class NoopQueueMetrics:
    """Metrics that record nothing: the default when no registry is given."""

    def add(self, item: Hashable) -> None:
        """Record nothing."""

    def get(self, item: Hashable) -> None:
        """Record nothing."""

    def done(self, item: Hashable) -> None:
        """Record nothing."""

    def retry(self) -> None:
        """Record nothing."""


@dataclass(frozen=True, slots=True)
class _Families:
    """The seven metric families, registered once per registry."""

    depth: Gauge
    adds: Counter
    queue_duration: Histogram
    work_duration: Histogram
    unfinished: Gauge
    longest: Gauge
    retries: Counter


_families_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Families] = (
    weakref.WeakKeyDictionary()
)


def _families(registry: CollectorRegistry) -> _Families:
    # A registry refuses a second family of the same name, and several queues share one registry.
    families = _families_by_registry.get(registry)
    if families is None:
        labels = ["name"]
        families = _Families(
            depth=Gauge("workqueue_depth", "Current depth of workqueue", labels, registry=registry),
            adds=Counter(
                "workqueue_adds",
                "Total number of adds handled by workqueue",
                labels,
                registry=registry,
            ),
            queue_duration=Histogram(
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested",
                labels,
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
            work_duration=Histogram(
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from workqueue takes",
                labels,
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
            unfinished=Gauge(
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has been done that is in progress and hasn't been "
                "observed by work_duration. Large values indicate stuck threads.",
                labels,
                registry=registry,
            ),
            longest=Gauge(
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running.",
                labels,
                registry=registry,
            ),
            retries=Counter(
                "workqueue_retries",
                "Total number of retries handled by workqueue",
                labels,
                registry=registry,
            ),
        )
        _families_by_registry[registry] = families
    return families


class PrometheusQueueMetrics:
    """Record one named queue's metrics on ``registry``.

    Must be used from the event loop that runs the queue: times are that loop's clock.
    """

    def __init__(self, name: str, registry: CollectorRegistry) -> None:
        families = _families(registry)
        self._depth = families.depth.labels(name)
        self._adds = families.adds.labels(name)
        self._queue_duration = families.queue_duration.labels(name)
        self._work_duration = families.work_duration.labels(name)
        self._retries = families.retries.labels(name)
        # Scrapes run on another thread; they read these dicts without a lock, which is safe
        # because list(dict.values()) over floats never releases the GIL.
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        self._clock: Callable[[], float] | None = None
        families.unfinished.labels(name).set_function(self._unfinished_seconds)
        families.longest.labels(name).set_function(self._longest_seconds)

    def _now(self) -> float:
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time
        return self._clock()

    def add(self, item: Hashable) -> None:
        """Count the add and start the item's queue-duration clock."""
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(item, self._now())

    def get(self, item: Hashable) -> None:
        """Observe the time queued and start the item's work-duration clock."""
        now = self._now()
        self._depth.dec()
        added_at = self._added_at.pop(item, None)
        if added_at is not None:
            self._queue_duration.observe(now - added_at)
        self._started_at[item] = now

    def done(self, item: Hashable) -> None:
        """Observe the time the item was worked on."""
        started_at = self._started_at.pop(item, None)
        if started_at is not None:
            self._work_duration.observe(self._now() - started_at)

    def retry(self) -> None:
        """Count an ``add_after``."""
        self._retries.inc()

    def _ages(self) -> list[float]:
        if self._clock is None:
            return []
        now = self._clock()
        return [now - start for start in list(self._started_at.values())]

    def _unfinished_seconds(self) -> float:
        return sum(self._ages())

    def _longest_seconds(self) -> float:
        return max(self._ages(), default=0.0)
