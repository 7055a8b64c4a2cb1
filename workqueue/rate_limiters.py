"""Rate limiters: how long an item waits before it is retried.

The same family and numbers as client-go's ``default_rate_limiters.go``:

- :class:`ItemExponentialFailureRateLimiter` — per item, ``base * 2**failures``, capped;
- :class:`BucketRateLimiter` — one token bucket for all items (overall retry speed);
- :class:`ItemFastSlowRateLimiter` — ``fast`` for the first attempts, then ``slow``;
- :class:`MaxOfRateLimiter` — the longest wait any of its limiters asks for;
- :func:`default_controller_rate_limiter` — exponential 5 ms → 1000 s, max'd with 10 qps burst 100.

``when`` is plain ``def`` and takes its time from the running event loop, so a test on fake
time (looptime) sees exact delays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]


class RateLimiter(Protocol):
    """Decides retry delays. Callers must :meth:`forget` an item once it succeeds."""

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait before its next attempt; counts one failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item``: its next failure starts over."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many failures of ``item`` are being tracked."""
        ...


def _loop_clock() -> float:
    return asyncio.get_running_loop().time()


def _require_positive(field: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{field}: must be greater than 0, got {value!r}")


class ItemExponentialFailureRateLimiter:
    """Per-item exponential backoff: ``base``, ``2*base``, ``4*base``, … up to ``maximum``."""

    def __init__(self, base: float, maximum: float) -> None:
        """Wait ``base`` seconds after the first failure, doubling per failure, at most ``maximum``."""
        _require_positive("base", base)
        _require_positive("maximum", maximum)
        self.base = base
        self.maximum = maximum
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        """The backoff for this failure of ``item``; counts the failure."""
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        # Past ~1000 doublings a float overflows; the cap was reached long before.
        if exponent > 1000:
            return self.maximum
        return min(self.base * 2.0**exponent, self.maximum)

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s failure count."""
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        """Failures of ``item`` since it was last forgotten."""
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter:
    """Per item: ``fast`` seconds for the first ``max_fast_attempts`` failures, then ``slow``."""

    def __init__(self, fast: float, slow: float, max_fast_attempts: int) -> None:
        """Retry quickly a few times, then slowly."""
        _require_positive("fast", fast)
        _require_positive("slow", slow)
        if max_fast_attempts < 0:
            raise ValueError(f"max_fast_attempts: must be 0 or more, got {max_fast_attempts!r}")
        self.fast = fast
        self.slow = slow
        self.max_fast_attempts = max_fast_attempts
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        """``fast`` or ``slow`` depending on how many times ``item`` failed; counts the failure."""
        failures = self._failures.get(item, 0) + 1
        self._failures[item] = failures
        return self.fast if failures <= self.max_fast_attempts else self.slow

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s failure count."""
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        """Failures of ``item`` since it was last forgotten."""
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """One token bucket shared by every item: ``qps`` tokens a second, at most ``burst`` saved.

    Like golang.org/x/time/rate's ``Reserve().Delay()``: every call takes a token, borrowing
    from the future when the bucket is empty, so the delays of successive calls grow by
    ``1/qps`` each once the burst is spent.
    """

    def __init__(self, qps: float, burst: int, *, clock: Callable[[], float] = _loop_clock) -> None:
        """A full bucket of ``burst`` tokens, refilled at ``qps`` per second of ``clock``."""
        _require_positive("qps", qps)
        if burst < 1:
            raise ValueError(f"burst: must be 1 or more, got {burst!r}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, item: Hashable) -> float:
        """Take a token; return how long until it is actually available (0 if it is now)."""
        now = self._clock()
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        if self._last is None or now > self._last:
            self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        """Nothing to forget: the bucket is not per item."""

    def num_requeues(self, item: Hashable) -> int:
        """Always 0: the bucket does not count per item."""
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters; every limiter sees every call."""

    def __init__(self, *limiters: RateLimiter) -> None:
        """Combine ``limiters`` (at least one)."""
        if not limiters:
            raise ValueError("limiters: MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        """The maximum of the limiters' delays (each counts the failure, each bucket a token)."""
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        """Forget ``item`` in every limiter."""
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """The largest failure count any limiter tracks for ``item``."""
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter() -> MaxOfRateLimiter:
    """client-go's controller default: per-item 5 ms doubling to 1000 s, and 10 qps burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        # Overall retry speed only, across all items, not per item.
        BucketRateLimiter(10.0, 100),
    )
