"""Kubernetes Events on RayClusters, aggregated and rate limited like client-go's recorder.

What a user reads in ``kubectl describe raycluster``: children created, updated and deleted,
an invalid spec with its messages, failures to apply. Repeats of the same event (same object,
type, reason and message) do not flood: they update one Event's ``count`` and
``lastTimestamp``. Each involved object also has a token bucket (client-go's spam filter:
burst 25, one more token every 5 minutes), so a cluster stuck in a failure loop cannot write
more than that. Unlike client-go's filter, a repeat refused a token is not lost: it is counted
into its Event, which is posted with the full count once a token is back (17 head outages read
``count: 17``, not the first few).

Event names are ``<object>.<hash>``, the object's name shortened so the whole stays within the
253 characters of a DNS subdomain (the hash keeps shortened names apart).

The decision logic (:class:`EventCorrelator`) is pure and takes the time as an argument;
:class:`EventRecorder` adds the sending. ``record()`` never awaits: reconcile hands an event
over and moves on, and a background task applies the Event objects (through the same
``apply`` as every other write). Failures to post events are logged and dropped; they never
fail a reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from controller.kube import KubeClient, KubeError

__all__ = ["EventCorrelator", "EventRecorder", "Occurrence", "event_name", "rfc3339"]

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
    last_timestamp: str = ""


_MAX_NAME = 253
_DIGEST = 16


def event_name(involved_name: str, key: tuple[str, ...]) -> str:
    """``<object>.<hash of key>``, the object part shortened to fit 253 characters."""
    digest = hashlib.sha256("\x00".join(key).encode()).hexdigest()[:_DIGEST]
    prefix = involved_name[: _MAX_NAME - _DIGEST - 1].rstrip(".-")
    return f"{prefix}.{digest}"


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
        # Repeats refused a token, by aggregation key: posted with their count by due().
        self._deferred: OrderedDict[tuple[str, ...], Mapping[str, Any]] = OrderedDict()

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
        """Account for one event at loop time ``now``; None when the spam filter holds it back
        (it is counted all the same, and :meth:`due` posts it later)."""
        uid = str(involved.get("uid") or involved.get("name") or "")
        key = (uid, type_, reason, message)
        seen = self._seen.get(key)
        if seen is None:
            seen = _Seen(event_name(str(involved.get("name")), key), 0, timestamp)
            self._seen[key] = seen
            if len(self._seen) > self._cache_size:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        seen.count += 1
        seen.last_timestamp = timestamp
        if not self._take_token(uid, now):
            self._deferred[key] = involved
            self._deferred.move_to_end(key)
            if len(self._deferred) > self._cache_size:
                self._deferred.popitem(last=False)
            return None
        self._deferred.pop(key, None)
        return Occurrence(seen.name, seen.count, seen.first_timestamp, timestamp)

    def due(self, now: float) -> list[tuple[Mapping[str, Any], str, str, str, Occurrence]]:
        """Held-back repeats whose object has a token again: (involved, type, reason, message,
        occurrence with the count so far), oldest first."""
        found = []
        for key, involved in list(self._deferred.items()):
            seen = self._seen.get(key)
            if seen is None:
                del self._deferred[key]
                continue
            if not self._take_token(key[0], now):
                continue
            del self._deferred[key]
            occurrence = Occurrence(
                seen.name, seen.count, seen.first_timestamp, seen.last_timestamp
            )
            found.append((involved, key[1], key[2], key[3], occurrence))
        return found

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
    DEFERRED_TICK = 30.0
    """How often held-back repeats are looked at (a token comes back every 5 minutes)."""

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
            log.debug("event held back by spam filter", reason=reason, object=ref.get("name"))
            return
        self._queue(ref, type_, reason, message, occurrence)

    def _queue(
        self, ref: dict[str, Any], type_: str, reason: str, message: str, occurrence: Occurrence
    ) -> None:
        if len(self._pending) >= self._max_pending and occurrence.name not in self._pending:
            log.warning("event dropped: too many pending", reason=reason)
            return
        self._pending[occurrence.name] = self._event(ref, type_, reason, message, occurrence)
        self._wakeup.set()

    def post_due(self) -> None:
        """Queue the held-back repeats that have a token again (run() calls it every tick)."""
        now = asyncio.get_running_loop().time()
        for involved, type_, reason, message, occurrence in self._correlator.due(now):
            self._queue(dict(involved), type_, reason, message, occurrence)

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
        """Send queued events until cancelled; every ``DEFERRED_TICK`` seconds, also the
        held-back repeats that have a token again."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.DEFERRED_TICK):
                    await self._wakeup.wait()
            self.post_due()
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
