"""Unit tests for controller.memo: rayop's in-flight writes are not repeated, and no longer."""

from __future__ import annotations

from controller.memo import WriteMemo

KEY = ("ns", "StatefulSet", "c-head")


def test_write_is_in_flight_until_the_cache_shows_it() -> None:
    """Absent or older in the cache: in flight. Same or newer resourceVersion: not any more."""
    memo = WriteMemo()
    memo.remember(KEY, fingerprint="h1", resource_version="100", now=0.0)
    assert memo.wrote(KEY, "h1", observed_rv=None, now=1.0)
    assert memo.wrote(KEY, "h1", observed_rv="99", now=1.0)
    assert not memo.wrote(KEY, "h1", observed_rv="100", now=1.0)
    assert not memo.wrote(KEY, "h1", observed_rv="150", now=1.0)  # someone changed it since


def test_a_different_intent_is_not_covered() -> None:
    """A new desired object (another fingerprint) is written even while the old one is in flight."""
    memo = WriteMemo()
    memo.remember(KEY, fingerprint="h1", resource_version="100", now=0.0)
    assert not memo.wrote(KEY, "h2", observed_rv="99", now=1.0)


def test_entries_expire_and_can_be_forgotten() -> None:
    """After the ttl, or after forget(), rayop trusts the cache again."""
    memo = WriteMemo(ttl=30.0)
    memo.remember(KEY, fingerprint="h1", resource_version="100", now=0.0)
    assert not memo.wrote(KEY, "h1", observed_rv=None, now=31.0)
    memo.remember(KEY, fingerprint="h1", resource_version="100", now=40.0)
    memo.forget(KEY)
    assert not memo.wrote(KEY, "h1", observed_rv=None, now=41.0)


def test_old_entries_are_pruned_as_new_ones_arrive() -> None:
    """The memo does not grow without bound: expired entries go when others are added."""
    memo = WriteMemo(ttl=10.0)
    for index in range(100):
        memo.remember(("ns", "Service", str(index)), fingerprint="h", resource_version="1", now=0.0)
    memo.remember(KEY, fingerprint="h", resource_version="2", now=60.0)
    assert len(memo) == 1


def test_non_numeric_resource_versions_never_suppress_a_write() -> None:
    """When versions cannot be ordered, rayop writes (always correct, merely redundant)."""
    memo = WriteMemo()
    memo.remember(KEY, fingerprint="h1", resource_version="abc", now=0.0)
    assert not memo.wrote(KEY, "h1", observed_rv="abd", now=1.0)
    assert memo.in_flight(KEY, observed_rv=None, now=1.0) is not None
