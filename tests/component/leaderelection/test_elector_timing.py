"""Leader election timing, on fake loop time, against an in-memory Lease with real semantics.

The Lease store here keeps the API server's contract that matters to the algorithm (create fails
when the Lease exists, replace fails on a stale resourceVersion), so the tests can step time
exactly; ``test_elector_kubesim.py`` runs the same elector against kubesim over HTTP.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller.leaderelection import (
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    LeaseConflictError,
)

NS, NAME = "rayop-system", "rayop-leader"


class MemoryLeases:
    """A Lease store with create/replace optimistic concurrency and a switch to fail calls."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0
        self.failing = False
        self.writes: list[str] = []

    def _check(self) -> None:
        if self.failing:
            raise ConnectionError("apiserver unreachable")

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        lease = self.leases.get((namespace, name))
        return copy.deepcopy(lease) if lease else None

    async def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        self._check()
        key = (namespace, lease["metadata"]["name"])
        if key in self.leases:
            raise LeaseConflictError("already exists")
        return self._store(key, lease)

    async def replace_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        self._check()
        key = (namespace, lease["metadata"]["name"])
        current = self.leases[key]
        if current["metadata"]["resourceVersion"] != lease["metadata"].get("resourceVersion"):
            raise LeaseConflictError("the object has been modified")
        return self._store(key, lease)

    def _store(self, key: tuple[str, str], lease: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(lease)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[key] = stored
        self.writes.append(stored["spec"]["holderIdentity"])
        return copy.deepcopy(stored)

    def spec(self) -> dict[str, Any]:
        return dict(self.leases[(NS, NAME)]["spec"])


def _config(identity: str, *, release: bool = True) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        name=NAME, namespace=NS, identity=identity, release_on_cancel=release
    )


async def _lead_forever(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


@pytest.mark.looptime
async def test_first_candidate_creates_the_lease_and_leads() -> None:
    """With no Lease, the first candidate creates it, holds it and starts the guarded work."""
    leases = MemoryLeases()
    registry = CollectorRegistry()
    elector = LeaderElector(leases, _config("a"), registry=registry)
    started = asyncio.Event()
    task = asyncio.create_task(elector.run(lambda: _lead_forever(started)))
    await asyncio.wait_for(started.wait(), timeout=1)

    spec = leases.spec()
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert registry.get_sample_value("leader_election_master_status", {"name": NAME}) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.looptime
async def test_standby_takes_over_a_crashed_leader_after_the_lease_duration() -> None:
    """A leader that stops renewing without releasing is replaced once 15 s have passed, not before."""
    leases = MemoryLeases()
    loop = asyncio.get_running_loop()
    a_started, b_started = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(
        LeaderElector(leases, _config("a", release=False)).run(lambda: _lead_forever(a_started))
    )
    await a_started.wait()
    b = asyncio.create_task(
        LeaderElector(leases, _config("b")).run(lambda: _lead_forever(b_started))
    )
    await asyncio.sleep(10)
    assert not b_started.is_set(), "the standby must not lead while the leader renews"

    a.cancel()  # a crash: no release, the lease stays with "a" until it expires
    crashed_at = loop.time()
    with pytest.raises(asyncio.CancelledError):
        await a
    await asyncio.sleep(10)
    assert not b_started.is_set(), "the lease has not expired yet"
    await asyncio.wait_for(b_started.wait(), timeout=30)
    # b dates the record from its own last poll that saw it change (within one jittered retry
    # period, 4.4 s, of the crash), waits 15 s from there, then acts at its next poll.
    assert loop.time() - crashed_at <= 15 + 2 * 4.4
    spec = leases.spec()
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b


@pytest.mark.looptime
async def test_release_on_stop_hands_over_at_the_next_retry() -> None:
    """A leader stopping cleanly empties the holder so a standby leads within one retry period."""
    leases = MemoryLeases()
    loop = asyncio.get_running_loop()
    a_started, b_started = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(
        LeaderElector(leases, _config("a")).run(lambda: _lead_forever(a_started))
    )
    await a_started.wait()
    b = asyncio.create_task(
        LeaderElector(leases, _config("b")).run(lambda: _lead_forever(b_started))
    )
    await asyncio.sleep(5)

    a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a
    assert leases.spec()["holderIdentity"] == ""
    stopped_at = loop.time()
    await asyncio.wait_for(b_started.wait(), timeout=30)
    assert loop.time() - stopped_at <= 2 * (1 + 1.2)
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b


@pytest.mark.looptime
async def test_losing_the_apiserver_loses_the_lease_within_the_renew_deadline() -> None:
    """When renewals fail for the renew deadline, the work is cancelled and run() raises."""
    leases = MemoryLeases()
    registry = CollectorRegistry()
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def lead() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    elector = LeaderElector(leases, _config("a"), registry=registry)
    task = asyncio.create_task(elector.run(lead))
    await started.wait()
    leases.failing = True
    failed_at = loop.time()
    with pytest.raises(LeadershipLost):
        await task
    assert cancelled.is_set()
    assert not elector.is_leader
    assert loop.time() - failed_at <= 2 + 10
    assert registry.get_sample_value("leader_election_master_status", {"name": NAME}) == 0


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        ((10, 10, 2), "leaseDuration must be greater than renewDeadline"),
        ((15, 2, 2), "renewDeadline must be greater than retryPeriod*JitterFactor"),
    ],
)
def test_inconsistent_durations_are_rejected(
    durations: tuple[float, float, float], message: str
) -> None:
    """The durations are checked as client-go checks them, with its wording."""
    lease, renew, retry = durations
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        LeaderElectionConfig(
            name=NAME,
            namespace=NS,
            identity="a",
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
        )


@pytest.mark.looptime
async def test_release_survives_a_renewal_whose_answer_was_lost() -> None:
    """If the lease moved on since we last saw it (a renewal landed unseen), release still works."""
    leases = MemoryLeases()
    started = asyncio.Event()
    a = asyncio.create_task(LeaderElector(leases, _config("a")).run(lambda: _lead_forever(started)))
    await started.wait()
    # A write of our own that we never saw the answer to: the stored resourceVersion moves on.
    leases._store((NS, NAME), leases.leases[(NS, NAME)])

    a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a
    assert leases.spec()["holderIdentity"] == ""
    assert leases.spec()["leaseDurationSeconds"] == 1
