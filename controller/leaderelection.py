"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm.

Only the leader runs reconcile workers, so two rayop replicas never write the same objects.
The algorithm is client-go's ``tools/leaderelection`` (the defaults controller-runtime uses:
15 s lease, 10 s renew deadline, 2 s retry period), not kubernetes-asyncio's, which never
increments ``leaseTransitions``, has no release, and trusts wall clocks:

- Expiry is judged on *our* monotonic clock: when we first observe a lease record we note the
  loop time; the holder is presumed alive until ``observed_at + leaseDurationSeconds``. Remote
  timestamps are written for humans and never trusted, which tolerates clock skew between
  replicas.
- Every write is a PUT carrying the observed ``resourceVersion``, so two candidates racing for
  an expired lease cannot both win: the loser gets 409 and tries again later.
- Taking over someone else's lease increments ``leaseTransitions``; renewing our own keeps it
  and keeps ``acquireTime``.
- The leader renews every retry period; if no renewal succeeds within the renew deadline it has
  lost the lease: :meth:`LeaderElector.run` cancels the guarded work at once and raises
  :class:`LeadershipLost`, and the process exits (controller-runtime does the same, because a
  process that may still hold in-flight writes must not go on as a follower).

Fencing (one leader means one writer). A paused leader (SIGSTOP, a VM freeze, a suspended
laptop) must not write once a standby may have taken over, even for the moments before its
renew loop notices. :meth:`LeaderElector.is_leading` is the single answer to "may I write
now?", and the API client asks it right before every write leaves the process. It is False
once the renew deadline has passed since the *send* time of the last successful renewal. A
standby counts the lease duration from when it *observed* that renewal, which is later, and
the lease duration exceeds the renew deadline, so the old leader stops writing before anyone
else can acquire. Elapsed time is measured on the loop's monotonic clock and, where Linux
has it, on ``CLOCK_BOOTTIME``, which also counts a system suspend; the larger one wins, so a
clock jump after a pause fences rather than extends. The leader also steps down at once when
it reads the lease held by someone else, and it never sends a renewal after its deadline
(a renewal that succeeds but was begun too late still loses the lease).
- On a clean stop (SIGTERM) the leader releases the lease (empty holder, 1 s duration) so a
  standby takes over at its next retry instead of waiting out the lease.

Each API call is bounded by half the renew deadline, so one hung request cannot by itself cost
the lease.

The Lease API sits behind :class:`LeaseClient`, a three-method seam that the operator's API
client implements and tests may replace with anything that speaks real HTTP to kubesim.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import structlog
from prometheus_client import CollectorRegistry, Gauge

__all__ = [
    "LeaderElectionConfig",
    "LeaderElector",
    "LeadershipLost",
    "LeaseClient",
    "LeaseConflictError",
    "default_identity",
]

log = structlog.get_logger(__name__)

JITTER_FACTOR = 1.2
"""client-go's jitter: the acquire loop waits between 1× and (1 + 1.2)× the retry period."""


class LeaseConflictError(Exception):
    """A create or replace lost a race: the lease exists already or changed meanwhile (409)."""


class LeadershipLost(Exception):
    """The lease could not be renewed within the renew deadline; the process must exit."""


class LeaseClient(Protocol):
    """The Lease calls leader election makes; raw JSON dicts in and out."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""

    async def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        """Create the Lease; raise :class:`LeaseConflictError` if it exists already."""

    async def replace_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        """PUT the Lease with its resourceVersion; raise :class:`LeaseConflictError` on 409."""


@dataclass(frozen=True, kw_only=True)
class LeaderElectionConfig:
    """Where the lease lives, who we are, and client-go's three durations (seconds)."""

    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        # The same checks client-go's NewLeaderElector makes, with its wording.
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("leaseDuration must be greater than renewDeadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("renewDeadline must be greater than retryPeriod*JitterFactor")
        if min(self.lease_duration, self.renew_deadline, self.retry_period) <= 0:
            raise ValueError("leaseDuration, renewDeadline and retryPeriod must be positive")
        if not self.identity:
            raise ValueError("identity may not be empty")


def _boottime() -> float:
    """Seconds on a clock that keeps counting while the system is suspended (Linux), else
    the monotonic clock."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


def default_identity() -> str:
    """The hostname plus a random suffix, so two processes on one host never share an identity."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _micro_time(now: datetime.datetime) -> str:
    """A Kubernetes MicroTime: RFC 3339 with exactly six fractional digits, in UTC."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for one Lease and runs the guarded work only while holding it.

    ``clock`` returns wall-clock time for the timestamps written into the lease (humans read
    them); every decision uses the event loop's monotonic time instead.
    """

    def __init__(
        self,
        client: LeaseClient,
        config: LeaderElectionConfig,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        # The last lease we read or wrote, and the loop time at which its record last changed.
        # Expiry is computed from these alone (never from the remote renewTime).
        self._observed: dict[str, Any] | None = None
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._is_leader = False
        # When the last successful renewal was *sent*, on the loop clock and on CLOCK_BOOTTIME.
        self._renewed_at = 0.0
        self._renewed_boot = 0.0
        self._foreign_holder = ""
        self._gauge: Gauge | None = None
        if registry is not None:
            self._gauge = Gauge(
                "leader_election_master_status",
                "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
                "backup, 1 indicates master. 'name' is the string used to identify the lease.",
                ["name"],
                registry=registry,
            )
            self._gauge.labels(name=config.name).set(0)

    @property
    def identity(self) -> str:
        """Who this candidate is, as written into ``holderIdentity``."""
        return self._config.identity

    @property
    def is_leader(self) -> bool:
        """True from a successful acquire until the lease is lost or released."""
        return self._is_leader

    def is_leading(self) -> bool:
        """True while we hold the lease *and* its renew deadline has not passed since the last
        successful renewal was sent (on either clock). The API client's write fence."""
        return self._is_leader and self._since_renewal() < self._config.renew_deadline

    def _since_renewal(self) -> float:
        loop_elapsed = asyncio.get_running_loop().time() - self._renewed_at
        return max(loop_elapsed, _boottime() - self._renewed_boot)

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Acquire the lease, then run ``lead()`` while renewing it.

        Returns when ``lead()`` returns (after releasing the lease). Raises
        :class:`LeadershipLost` if a renewal fails for longer than the renew deadline; ``lead()``
        has been cancelled by then. Cancelling ``run`` cancels ``lead()`` and releases the lease.
        """
        await self._acquire()
        try:
            async with asyncio.TaskGroup() as group:
                work = group.create_task(lead(), name=f"leader:{self._config.name}:work")
                renew = group.create_task(
                    self._renew_loop(), name=f"leader:{self._config.name}:renew"
                )
                work.add_done_callback(lambda _: renew.cancel())
        except* LeadershipLost:
            raise LeadershipLost(
                f"lost lease {self._config.namespace}/{self._config.name}: "
                + (
                    f"held by {self._foreign_holder}"
                    if self._foreign_holder
                    else f"not renewed within {self._config.renew_deadline}s"
                )
            ) from None
        finally:
            if self._is_leader and self._config.release_on_cancel:
                await self._release()
            self._set_leader(False)

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        log.info("campaigning for the lease", lease=self._config.name, identity=self.identity)
        while not await self._try_acquire_or_renew():
            wait = self._config.retry_period * (1 + random.random() * JITTER_FACTOR)
            await asyncio.sleep(wait)
        log.info(
            "lease acquired",
            lease=self._config.name,
            identity=self.identity,
            at=loop.time(),
        )

    async def _renew_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._config.retry_period)
            deadline = self._renewed_at + self._config.renew_deadline
            try:
                async with asyncio.timeout_at(deadline):
                    await self._renew_until_success()
            except TimeoutError:
                self._lose("renew deadline passed")
            if not self.is_leading():  # renewed, but the attempt began after a pause
                self._lose("renewal began after the renew deadline")
            log.debug("lease renewed", lease=self._config.name, at=loop.time())

    async def _renew_until_success(self) -> None:
        while True:
            if not self.is_leading():  # a pause or clock jump: never renew past the deadline
                self._lose("renew deadline passed")
            if await self._try_acquire_or_renew():
                return
            if self._foreign_holder:
                self._lose(f"lease taken by {self._foreign_holder}")
            await asyncio.sleep(self._config.retry_period)

    def _lose(self, why: str) -> NoReturn:
        self._set_leader(False)
        log.error("lease lost", lease=self._config.name, identity=self.identity, why=why)
        raise LeadershipLost(self._config.name)

    async def _try_acquire_or_renew(self) -> bool:
        """One attempt of client-go's tryAcquireOrRenew; True when we hold the lease after it."""
        cfg = self._config
        loop = asyncio.get_running_loop()
        started, started_boot = loop.time(), _boottime()
        self._foreign_holder = ""
        try:
            async with asyncio.timeout(max(cfg.renew_deadline / 2, 1.0)):
                lease = await self._client.get_lease(cfg.namespace, cfg.name)
                if lease is None:
                    created = await self._client.create_lease(cfg.namespace, self._new_lease())
                    self._observe(created, loop.time())
                    self._renewed(started, started_boot)
                    return True
                self._observe(lease, loop.time())
                spec = lease.get("spec") or {}
                holder = spec.get("holderIdentity") or ""
                duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
                if (
                    holder
                    and holder != self.identity
                    and self._observed_at + duration > loop.time()
                ):
                    self._foreign_holder = holder
                    self._set_leader(False)
                    return False
                updated = await self._client.replace_lease(cfg.namespace, self._renewal(lease))
                self._observe(updated, loop.time())
                self._renewed(started, started_boot)
                return True
        except LeaseConflictError:
            return False
        except Exception as exc:  # a timeout, a dropped connection, a 5xx or 429: retry later
            log.warning("lease attempt failed", lease=cfg.name, error=repr(exc))
            return False

    def _observe(self, lease: dict[str, Any], now: float) -> None:
        spec = lease.get("spec") or {}
        record = (
            spec.get("holderIdentity"),
            spec.get("leaseDurationSeconds"),
            spec.get("acquireTime"),
            spec.get("renewTime"),
            spec.get("leaseTransitions"),
        )
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at = now
        self._observed = lease

    def _new_lease(self) -> dict[str, Any]:
        now = _micro_time(self._clock())
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._config.name, "namespace": self._config.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self._config.lease_duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }

    def _renewed(self, started: float, started_boot: float) -> None:
        """Record a successful acquire or renewal begun at ``started`` (loop and boot clocks)."""
        self._renewed_at, self._renewed_boot = started, started_boot
        self._set_leader(True)

    def _renewal(self, lease: dict[str, Any]) -> dict[str, Any]:
        spec = dict(lease.get("spec") or {})
        now = _micro_time(self._clock())
        transitions = int(spec.get("leaseTransitions") or 0)
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = transitions + 1
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = int(self._config.lease_duration)
        spec["renewTime"] = now
        return {**lease, "spec": spec}

    async def _release(self) -> None:
        """Hand the lease back so a standby need not wait for it to expire.

        A renewal cancelled mid-flight may have landed without our seeing its answer, leaving
        our copy one resourceVersion behind; so on a conflict, read the lease again and retry
        while it is still ours (client-go retries the release on conflict too).
        """
        lease = self._observed
        try:
            async with asyncio.timeout(self._config.renew_deadline):
                for _ in range(5):
                    spec = dict((lease or {}).get("spec") or {})
                    if lease is None or spec.get("holderIdentity") != self.identity:
                        return
                    spec.update(
                        holderIdentity="",
                        leaseDurationSeconds=1,
                        renewTime=_micro_time(self._clock()),
                    )
                    try:
                        await self._client.replace_lease(
                            self._config.namespace, {**lease, "spec": spec}
                        )
                    except LeaseConflictError:
                        lease = await self._client.get_lease(
                            self._config.namespace, self._config.name
                        )
                        continue
                    log.info("lease released", lease=self._config.name, identity=self.identity)
                    return
        except Exception as exc:  # the lease then simply expires; nothing else to do
            log.warning("lease release failed", lease=self._config.name, error=repr(exc))

    def _set_leader(self, leader: bool) -> None:
        self._is_leader = leader
        if self._gauge is not None:
            self._gauge.labels(name=self._config.name).set(1 if leader else 0)
