"""Polling on loop time for the workload tests (which run on looptime's fake clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Check = Callable[[], Awaitable[Any]]


def poller(*, every: float, within: float) -> Callable[..., Awaitable[Any]]:
    """An ``eventually(check, *, within=...)`` that polls ``check`` every ``every`` s of loop
    time until it returns something truthy, and fails after ``within`` s (the default)."""

    async def eventually(check: Check, *, within: float = within) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            result = await check()
            if result:
                return result
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {within}s")
            await asyncio.sleep(every)

    return eventually
