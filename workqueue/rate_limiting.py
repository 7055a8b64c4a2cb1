"""A delaying queue that asks a rate limiter how long to wait: ``add_rate_limited(item)``.

The usual worker protocol (controller-runtime's) on top of it::

    key = await queue.get()
    try:
        result = await reconcile(key)
    except Exception:
        queue.add_rate_limited(key)       # failure: back off, longer each time
    else:
        queue.forget(key)                 # success: the next failure starts from the base delay
        if result.requeue_after:
            queue.add_after(key, result.requeue_after)
    finally:
        queue.done(key)

Remember to :meth:`~RateLimitingQueue.forget`: a limiter tracks an item's failures until then.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from workqueue.delaying import DelayingQueue
from workqueue.queue import T
from workqueue.rate_limiters import RateLimiter, default_controller_rate_limiter

__all__ = ["RateLimitingQueue"]


class RateLimitingQueue(DelayingQueue[T]):
    """A :class:`DelayingQueue` whose retries are spaced by a :class:`RateLimiter`."""

    def __init__(
        self,
        rate_limiter: RateLimiter | None = None,
        *,
        name: str = "",
        registry: CollectorRegistry | None = None,
    ) -> None:
        """Use ``rate_limiter`` (default: :func:`default_controller_rate_limiter`)."""
        super().__init__(name=name, registry=registry)
        self.rate_limiter: RateLimiter = (
            default_controller_rate_limiter() if rate_limiter is None else rate_limiter
        )

    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the delay the rate limiter gives for this failure."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Tell the rate limiter ``item`` succeeded: its backoff starts over."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How many rate-limited retries of ``item`` the limiter is tracking."""
        return self.rate_limiter.num_requeues(item)
