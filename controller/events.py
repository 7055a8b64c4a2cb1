"""Kubernetes Events on RayClusters, aggregated and rate limited like client-go's recorder.

What a user reads in ``kubectl describe raycluster``: children created, updated and deleted,
an invalid spec with its messages, failures to apply. Repeats of the same event (same object,
type, reason and message) do not flood: they update one Event's ``count`` and
``lastTimestamp``. Each involved object also has a token bucket (client-go's spam filter:
burst 25, one more token every 5 minutes), so a cluster stuck in a failure loop cannot write
more than that.

The decision logic (:class:`EventCorrelator`) is pure and takes the time as an argument;
:class:`EventRecorder` adds the sending. ``record()`` never awaits: reconcile hands an event
over and moves on, and a background task applies the Event objects (through the same
``apply`` as every other write). Failures to post events are logged and dropped; they never
fail a reconcile.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from controller.kube import KubeClient, KubeError

__all__ = ["EventCorrelator", "EventRecorder", "Occurrence", "rfc3339"]

log = structlog.get_logger(__name__)

NORMAL = "Normal"
WARNING = "Warning"


def rfc3339(moment: datetime.datetime) -> str:
    """``2026-11-25T17:00:00Z`` (second precision, UTC), the format of Event timestamps."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Occurrence:
    """One accepted event: which Event object carries it and its aggregated count."""

    name: str
    count: int
    first_timestamp: str
    last_timestamp: str


@dataclass
class _Seen:
    name: str
    count: int
    first_timestamp: str


class EventCorrelator:
    """Decides, purely, whether an event is posted and under which name with which count."""

    def __init__(
        self, *, burst: int = 25, refill_seconds: float = 300.0, cache_size: int = 4096
    ) -> None:
        self._burst = burst
        self._refill = refill_seconds
        self._cache_size = cache_size
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        # uid -> (tokens, at), least recently used first. Bounded like the aggregation cache
        # (client-go's spam filter is an LRU of 4096 too): a forgotten object starts again
        # with a full bucket, which only matters for one quiet for longer than the others.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def observe(
        self,
        involved: Mapping[str, Any],
        type_: str,
        reason: str,
        message: str,
        *,
        now: float,
        timestamp: str,
    ) -> Occurrence | None:
        """Account for one event at loop time ``now``; None when the spam filter drops it."""
        uid = str(involved.get("uid") or involved.get("name") or "")
        if not self._take_token(uid, now):
            return None
        key = (uid, type_, reason, message)
        seen = self._seen.get(key)
        if seen is None:
            digest = hashlib.sha256("\x00".join(key).encode()).hexdigest()[:16]
            seen = _Seen(f"{involved.get('name')}.{digest}", 0, timestamp)
            self._seen[key] = seen
            if len(self._seen) > self._cache_size:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        seen.count += 1
        return Occurrence(seen.name, seen.count, seen.first_timestamp, timestamp)

    def _take_token(self, uid: str, now: float) -> bool:
        tokens, at = self._buckets.get(uid, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - at) / self._refill)
        taken = tokens >= 1.0
        self._buckets[uid] = (tokens - 1.0 if taken else tokens, now)
        self._buckets.move_to_end(uid)
        if len(self._buckets) > self._cache_size:
            self._buckets.popitem(last=False)
        return taken


class EventRecorder:
    """Posts core/v1 Events for objects; ``record`` is synchronous and never blocks.

    ``run()`` must be running (as a task) for events to be sent. ``clock`` gives wall time for
    the Event timestamps.
    """

    SENDERS = 4
    """Events in flight at once."""

    def __init__(
        self,
        client: KubeClient,
        *,
        component: str = "rayop",
        correlator: EventCorrelator | None = None,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        max_pending: int = 1000,
    ) -> None:
        self._client = client
        self._component = component
        self._correlator = correlator or EventCorrelator()
        self._clock = clock
        self._max_pending = max_pending
        self._pending: dict[str, dict[str, Any]] = {}
        self._wakeup = asyncio.Event()
        self.sent = 0

    def normal(self, involved: Mapping[str, Any], reason: str, message: str) -> None:
        """Record a Normal event about ``involved`` (an object or its metadata-bearing dict)."""
        self.record(involved, NORMAL, reason, message)

    def warning(self, involved: Mapping[str, Any], reason: str, message: str) -> None:
        """Record a Warning event about ``involved``."""
        self.record(involved, WARNING, reason, message)

    def record(self, involved: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Queue an event; aggregated with its repeats and dropped by the spam filter if needed."""
        ref = _object_reference(involved)
        timestamp = rfc3339(self._clock())
        now = asyncio.get_running_loop().time()
        occurrence = self._correlator.observe(
            ref, type_, reason, message, now=now, timestamp=timestamp
        )
        if occurrence is None:
            log.debug("event dropped by spam filter", reason=reason, object=ref.get("name"))
            return
        if len(self._pending) >= self._max_pending and occurrence.name not in self._pending:
            log.warning("event dropped: too many pending", reason=reason)
            return
        self._pending[occurrence.name] = self._event(ref, type_, reason, message, occurrence)
        self._wakeup.set()

    def _event(
        self,
        ref: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        occurrence: Occurrence,
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": occurrence.name, "namespace": ref.get("namespace") or "default"},
            "involvedObject": ref,
            "type": type_,
            "reason": str(reason),  # an EventReason is a str; the body holds the plain value
            "message": message[:1024],
            "count": occurrence.count,
            "firstTimestamp": occurrence.first_timestamp,
            "lastTimestamp": occurrence.last_timestamp,
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": self._component,
        }

    async def run(self) -> None:
        """Send queued events until cancelled."""
        while True:
            await self._wakeup.wait()
            await self.flush()

    async def flush(self) -> None:
        """Send every queued event now, a few at a time (events must not lag far behind)."""
        self._wakeup.clear()
        while self._pending:
            batch = [self._pending.pop(name) for name in list(self._pending)[: self.SENDERS]]
            await asyncio.gather(*(self._send(body) for body in batch))

    async def _send(self, body: dict[str, Any]) -> None:
        try:
            await self._client.apply(body)
            self.sent += 1
        except KubeError as exc:
            log.warning("failed to post event", event_reason=body["reason"], error=str(exc))


def _object_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
    }
    return {k: v for k, v in ref.items() if v}
