"""Unit tests for controller.events: repeated events aggregate and floods are cut off."""

from __future__ import annotations

from controller.events import EventCorrelator

CLUSTER = {"uid": "u-1", "name": "c", "namespace": "ns"}


def test_repeats_aggregate_into_one_event_with_a_count() -> None:
    """The same event three times is one Event object with count 3 and moving lastTimestamp."""
    correlator = EventCorrelator()
    first = correlator.observe(CLUSTER, "Warning", "InvalidSpec", "bad", now=0.0, timestamp="t0")
    correlator.observe(CLUSTER, "Warning", "InvalidSpec", "bad", now=1.0, timestamp="t1")
    third = correlator.observe(CLUSTER, "Warning", "InvalidSpec", "bad", now=2.0, timestamp="t2")
    assert first is not None
    assert third is not None
    assert third.name == first.name
    assert (third.count, third.first_timestamp, third.last_timestamp) == (3, "t0", "t2")


def test_different_messages_are_different_events() -> None:
    """Events differing in message get their own Event objects."""
    correlator = EventCorrelator()
    a = correlator.observe(CLUSTER, "Normal", "Created", "created a", now=0.0, timestamp="t")
    b = correlator.observe(CLUSTER, "Normal", "Created", "created b", now=0.0, timestamp="t")
    assert a is not None
    assert b is not None
    assert a.name != b.name
    assert a.name.startswith("c.")


def test_spam_filter_caps_events_per_object_and_refills_slowly() -> None:
    """After the burst, an object's events are dropped until the bucket refills (1 per 5 min)."""
    correlator = EventCorrelator(burst=3, refill_seconds=300)
    accepted = [
        correlator.observe(CLUSTER, "Warning", "X", str(i), now=0.0, timestamp="t")
        for i in range(5)
    ]
    assert [a is not None for a in accepted] == [True, True, True, False, False]
    assert correlator.observe(CLUSTER, "Warning", "X", "y", now=299.0, timestamp="t") is None
    assert correlator.observe(CLUSTER, "Warning", "X", "y", now=301.0, timestamp="t") is not None


def test_spam_filter_is_per_object() -> None:
    """One noisy RayCluster does not silence another."""
    correlator = EventCorrelator(burst=1)
    assert correlator.observe(CLUSTER, "Warning", "X", "m", now=0.0, timestamp="t")
    assert correlator.observe(CLUSTER, "Warning", "X", "m", now=0.0, timestamp="t") is None
    other = {"uid": "u-2", "name": "d", "namespace": "ns"}
    assert correlator.observe(other, "Warning", "X", "m", now=0.0, timestamp="t") is not None


def test_state_is_bounded_however_many_objects_come_and_go() -> None:
    """10,000 objects through a cache of 100: at most 100 buckets and 100 Events remembered."""
    correlator = EventCorrelator(cache_size=100)
    for i in range(10_000):
        obj = {"uid": f"u-{i}", "name": f"c{i}", "namespace": "ns"}
        correlator.observe(obj, "Normal", "Created", "m", now=float(i), timestamp="t")
    assert len(correlator._buckets) == 100
    assert len(correlator._seen) == 100


def test_repeats_held_back_by_the_spam_filter_are_counted_and_posted_later() -> None:
    """17 head outages with a burst of 4: the four posted at once, the rest counted; when a
    token is back, the Event goes out with count 17 and the last timestamp (issue 16)."""
    correlator = EventCorrelator(burst=4, refill_seconds=300)
    posted = [
        correlator.observe(CLUSTER, "Warning", "HeadPodNotReady", "down", now=i, timestamp=f"t{i}")
        for i in range(17)
    ]
    assert [p.count for p in posted if p is not None] == [1, 2, 3, 4]
    assert correlator.due(now=100.0) == [], "no token yet"
    ((involved, type_, reason, _, later),) = correlator.due(now=400.0)
    assert (involved, type_, reason) == (CLUSTER, "Warning", "HeadPodNotReady")
    assert (later.name, later.count, later.last_timestamp) == (posted[0].name, 17, "t16")  # type: ignore[union-attr]
    assert correlator.due(now=10_000.0) == [], "posted once"


def test_event_names_fit_253_characters_and_stay_distinct() -> None:
    """A 253-character RayCluster name still gives valid, distinct Event names (issue 16)."""
    long = {"uid": "u-9", "name": "a" * 250 + "-bc", "namespace": "ns"}
    correlator = EventCorrelator()
    a = correlator.observe(long, "Normal", "Created", "one", now=0.0, timestamp="t")
    b = correlator.observe(long, "Normal", "Created", "two", now=0.0, timestamp="t")
    assert a is not None
    assert b is not None
    assert max(len(a.name), len(b.name)) <= 253
    assert a.name != b.name
    assert "-." not in a.name
