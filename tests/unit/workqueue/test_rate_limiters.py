"""Rate limiters: exact exponential sequences, token bucket behaviour, max-of, defaults."""

from __future__ import annotations

import asyncio

import pytest

from workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    default_controller_rate_limiter,
)


def test_exponential_delays_double_from_base_to_the_cap() -> None:
    """5 ms, 10 ms, 20 ms, … per failure; the 18th and later failures wait the 1000 s cap."""
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36 s, still under the cap
    assert delays[18:] == [1000.0, 1000.0]
    assert limiter.num_requeues("a") == 20


def test_exponential_backoff_is_per_item_and_forget_resets_it() -> None:
    """Another item starts at the base delay; forget makes the next failure start over."""
    limiter = ItemExponentialFailureRateLimiter(0.1, 10.0)
    assert [limiter.when("a") for _ in range(3)] == [0.1, 0.2, 0.4]
    assert limiter.when("b") == 0.1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.1


def test_exponential_backoff_survives_huge_failure_counts() -> None:
    """Thousands of failures stay at the cap instead of overflowing."""
    limiter = ItemExponentialFailureRateLimiter(1.0, 60.0)
    for _ in range(2000):
        delay = limiter.when("a")
    assert delay == 60.0


def test_fast_slow_limiter_switches_after_the_fast_attempts() -> None:
    """The first max_fast_attempts failures wait `fast`, later ones `slow`."""
    limiter = ItemFastSlowRateLimiter(0.5, 30.0, 2)
    assert [limiter.when("a") for _ in range(4)] == [0.5, 0.5, 30.0, 30.0]


@pytest.mark.looptime
async def test_bucket_allows_a_burst_then_spaces_calls_by_one_over_qps() -> None:
    """With 10 qps burst 100, 100 calls pass at once, then each waits 0.1 s more."""
    limiter = BucketRateLimiter(10.0, 100)
    assert [limiter.when(i) for i in range(100)] == [0.0] * 100
    assert [round(limiter.when(i), 9) for i in range(3)] == [0.1, 0.2, 0.3]
    assert limiter.num_requeues(0) == 0


@pytest.mark.looptime
async def test_bucket_refills_with_time_up_to_the_burst() -> None:
    """Tokens come back at qps per second and never exceed the burst."""
    limiter = BucketRateLimiter(2.0, 3)
    assert [limiter.when("x") for _ in range(3)] == [0.0, 0.0, 0.0]
    await asyncio.sleep(1)  # two tokens back
    assert [limiter.when("x") for _ in range(3)] == [0.0, 0.0, 0.5]
    await asyncio.sleep(100)  # refills to the burst of 3, not 200
    assert [limiter.when("x") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]


def test_bucket_uses_an_injected_clock() -> None:
    """A bucket driven by a caller's clock refills by that clock."""
    now = [0.0]
    limiter = BucketRateLimiter(1.0, 1, clock=lambda: now[0])
    assert limiter.when("x") == 0.0
    assert limiter.when("x") == 1.0
    now[0] = 3.0
    assert limiter.when("x") == 0.0


@pytest.mark.looptime
async def test_default_controller_limiter_is_exponential_until_the_bucket_runs_dry() -> None:
    """Default limiter: 5 ms doubling per item; after 100 quick retries the 10 qps bucket rules."""
    limiter = default_controller_rate_limiter()
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    for i in range(97):
        limiter.when(("other", i))
    # The bucket is now empty: a fresh item waits for the bucket, not its own 5 ms.
    assert round(limiter.when("fresh"), 9) == 0.1
    assert limiter.num_requeues("a") == 3
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


@pytest.mark.looptime
async def test_max_of_returns_the_longest_delay() -> None:
    """MaxOfRateLimiter waits as long as its slowest limiter asks."""
    limiter = MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(1.0, 100.0), ItemFastSlowRateLimiter(3.0, 50.0, 1)
    )
    assert [limiter.when("a") for _ in range(3)] == [3.0, 50.0, 50.0]
    assert limiter.num_requeues("a") == 3


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ItemExponentialFailureRateLimiter(0, 1), "base: must be greater than 0"),
        (lambda: ItemExponentialFailureRateLimiter(1, -1), "maximum: must be greater than 0"),
        (lambda: BucketRateLimiter(0, 1), "qps: must be greater than 0"),
        (lambda: BucketRateLimiter(1, 0), "burst: must be 1 or more"),
        (lambda: MaxOfRateLimiter(), "limiters: MaxOfRateLimiter needs at least one"),
        (lambda: ItemFastSlowRateLimiter(1, 1, -1), "max_fast_attempts: must be 0 or more"),
    ],
)
def test_bad_limiter_settings_are_refused_naming_the_field(factory: object, message: str) -> None:
    """Invalid limiter parameters raise ValueError naming the parameter."""
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


@pytest.mark.looptime
async def test_rate_limiting_queue_backs_off_exponentially_and_forget_resets() -> None:
    """add_rate_limited re-adds after 1 s, 2 s, 4 s; after forget it is 1 s again."""
    queue: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(1, 60))
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(3):
        start = loop.time()
        queue.add_rate_limited("key")
        item = await queue.get()
        waits.append(round(loop.time() - start, 6))
        queue.done(item)
    assert waits == [1.0, 2.0, 4.0]
    assert queue.num_requeues("key") == 3
    queue.forget("key")
    assert queue.num_requeues("key") == 0
    start = loop.time()
    queue.add_rate_limited("key")
    await queue.get()
    assert loop.time() - start == pytest.approx(1.0)


async def test_rate_limiting_queue_defaults_to_the_controller_limiter() -> None:
    """Without a limiter, a queue retries with client-go's default controller limiter."""
    queue: RateLimitingQueue[str] = RateLimitingQueue()
    assert queue.rate_limiter.when("a") == 0.005
