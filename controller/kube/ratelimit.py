"""Client-side QPS/burst limiting, like client-go's ``flowcontrol`` token bucket.

The bucket holds up to ``burst`` tokens and refills at ``qps`` per second. Each request takes
one token; when none is left the request waits for its turn. Turns are *reserved* at call
time (the bucket may go negative), so concurrent callers are served in arrival order and the
long-run rate never exceeds ``qps`` however many workers share the client. ``qps <= 0``
disables limiting, as in client-go.
"""

from __future__ import annotations

import asyncio

__all__ = ["TokenBucket"]


class TokenBucket:
    """A token bucket on the event loop's clock (so tests can run it on fake time)."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last: float | None = None

    def reserve(self, now: float) -> float:
        """Take one token at loop time ``now``; return how long the caller must wait first."""
        if self.qps <= 0:
            return 0.0
        if self._last is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> float:
        """Wait for a token; return the seconds spent waiting."""
        delay = self.reserve(asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)
        return delay
