"""The reflector's retry delay: client-go's 0.8 s doubling to 30 s, jittered, reset when healthy.

client-go uses ``wait.Backoff{Duration: 800ms, Factor: 2, Jitter: 1.0, Cap: 30s}`` wrapped in a
``DelayWithReset(2m)``: each delay is the current step plus up to 100 % random jitter, so the
delays fall in [0.8, 1.6), [1.6, 3.2), … and settle in [30, 60) seconds; once no backoff was
needed for ``reset_after`` seconds, the next failure starts from 0.8 s again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

__all__ = ["Backoff"]


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class Backoff:
    """Jittered exponential delays; time is whatever ``clock`` says (the loop's, in practice)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        initial: float = 0.8,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """Delays start at ``initial`` and multiply by ``factor`` up to ``maximum``.

        ``clock`` defaults to the running event loop's.
        """
        if not 0 < initial <= maximum:
            raise ValueError(f"initial: must be in (0, maximum], got {initial!r}")
        self._clock = clock or _loop_time
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        self._rand = rand
        self._step = initial
        self._last: float | None = None

    def next(self) -> float:
        """The delay before the next attempt; grows the following one."""
        now = self._clock()
        if self._last is not None and now - self._last >= self.reset_after:
            self._step = self.initial
        self._last = now
        step = self._step
        self._step = min(step * self.factor, self.maximum)
        return step + self._rand() * self.jitter * step

    def reset(self) -> None:
        """Start the next delay from ``initial`` again."""
        self._step = self.initial
        self._last = None
