"""The reflector's backoff: 0.8 s doubling to 30 s, up to 100 % jitter, reset after health."""

from __future__ import annotations

import pytest

from informers import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_from_0_8_to_a_30_second_cap_without_jitter() -> None:
    """With no jitter drawn the steps are 0.8, 1.6, 3.2, … 25.6, then 30 forever."""
    backoff = Backoff(clock=Clock(), rand=lambda: 0.0)
    assert [round(backoff.next(), 6) for _ in range(8)] == [
        0.8,
        1.6,
        3.2,
        6.4,
        12.8,
        25.6,
        30.0,
        30.0,
    ]


def test_jitter_adds_up_to_one_more_step() -> None:
    """Each delay lies in [step, 2*step): client-go's jitter factor of 1.0."""
    backoff = Backoff(clock=Clock(), rand=lambda: 0.999)
    delays = [backoff.next() for _ in range(8)]
    steps = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    assert all(step <= delay < 2 * step for delay, step in zip(delays, steps, strict=True))


def test_backoff_resets_after_two_healthy_minutes() -> None:
    """If no backoff was needed for 120 s, the next one starts from 0.8 s again."""
    clock = Clock()
    backoff = Backoff(clock=clock, rand=lambda: 0.0)
    for _ in range(5):
        backoff.next()
    clock.now = 119.0
    assert backoff.next() == pytest.approx(25.6), "not yet healthy long enough"
    clock.now = 119.0 + 120.0
    assert backoff.next() == pytest.approx(0.8)


def test_invalid_initial_delay_is_refused() -> None:
    """An initial delay that is not positive or exceeds the cap names the field."""
    with pytest.raises(ValueError, match="initial: must be in"):
        Backoff(clock=Clock(), initial=0)
