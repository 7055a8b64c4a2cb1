"""A deduplicating, delaying, rate-limited work queue with client-go's semantics, on asyncio.

Three layers, one module each, each adding a few methods to the one below:

- :class:`Queue` (``queue.py``): ``add``, ``await get()``, ``done``, ``len``, ``shut_down``,
  ``await shut_down_with_drain()``, ``shutting_down``. An item added many times before it is
  handed out is processed once; an item added while a consumer holds it is handed out again
  only after ``done``; no item is ever held by two consumers; otherwise first in, first out.
- :class:`DelayingQueue` (``delaying.py``): ``add_after(item, seconds)``; the earliest ready
  time wins; one loop timer for the whole queue.
- :class:`RateLimitingQueue` (``rate_limiting.py``): ``add_rate_limited``, ``forget``,
  ``num_requeues``, backed by a :class:`RateLimiter` (``rate_limiters.py``).

Shutdown is signalled by an exception: after :meth:`Queue.shut_down`, ``get()`` keeps handing
out what is still queued, then raises :class:`ShutDown`. A worker therefore reads::

    while True:
        try:
            key = await queue.get()
        except workqueue.ShutDown:
            return
        try:
            ...
        finally:
            queue.done(key)

Mutators are plain ``def`` (they never await) and all time comes from the running event loop,
so tests on fake time assert exact delays. Pass ``registry=`` (a prometheus_client
``CollectorRegistry``) and ``name=`` to record client-go's ``workqueue_*`` metrics
(``metrics.py``).

This package imports nothing of rayop's.
"""

from workqueue.delaying import DelayingQueue
from workqueue.metrics import NoopQueueMetrics, PrometheusQueueMetrics, QueueMetrics
from workqueue.queue import Queue, ShutDown
from workqueue.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from workqueue.rate_limiting import RateLimitingQueue

__all__ = [
    "BucketRateLimiter",
    "DelayingQueue",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "NoopQueueMetrics",
    "PrometheusQueueMetrics",
    "Queue",
    "QueueMetrics",
    "RateLimiter",
    "RateLimitingQueue",
    "ShutDown",
    "default_controller_rate_limiter",
]
