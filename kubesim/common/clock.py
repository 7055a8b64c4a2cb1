"""Wall-clock timestamps derived from the event loop's clock.

Everything in kubesim's workloads takes time from `loop.time()` so that tests on looptime's fake
clock see consistent timestamps: `Clock.now()` is the wall time at construction plus the loop time
elapsed since, and timestamps in objects move exactly as far as the fake clock does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

__all__ = ["Clock", "format_time", "parse_time"]


class Clock:
    """Maps event-loop time to wall-clock time (seconds since the epoch)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._wall0 = time.time()
        self._mono0: float | None = None

    def monotonic(self) -> float:
        """The event loop's clock (what delays and timers use)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.time()

    def now(self) -> float:
        """Seconds since the epoch, advancing with the event loop's clock."""
        mono = self.monotonic()
        if self._mono0 is None:
            self._mono0 = mono
        return self._wall0 + (mono - self._mono0)

    def rfc3339(self) -> str:
        """The current time as the API server writes it (second precision, `Z`)."""
        return format_time(self.now())


def format_time(epoch: float) -> str:
    """RFC 3339 at second precision, like metav1.Time."""
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch for an RFC 3339 timestamp; None for a missing or bad value."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
