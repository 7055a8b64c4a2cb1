"""Unit tests for the client-side token bucket, on fake loop time."""

from __future__ import annotations

import asyncio

import pytest

from controller.kube import TokenBucket


@pytest.mark.looptime
async def test_token_bucket_allows_burst_then_paces_at_qps() -> None:
    """With qps=10, burst=3: three requests go at once, the next ones 0.1 s apart."""
    bucket = TokenBucket(qps=10, burst=3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    times = []
    for _ in range(6):
        await bucket.acquire()
        times.append(round(loop.time() - start, 3))
    assert times == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]


@pytest.mark.looptime
async def test_token_bucket_serves_concurrent_callers_at_the_rate() -> None:
    """Twenty concurrent callers sharing qps=10/burst=10 finish after one second."""
    bucket = TokenBucket(qps=10, burst=10)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(bucket.acquire() for _ in range(20)))
    assert round(loop.time() - start, 3) == 1.0
