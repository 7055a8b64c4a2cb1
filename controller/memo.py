"""What rayop wrote last, so a reconcile that runs before the informer caught up stays quiet.

An apply returns long before its watch event reaches the cache. A reconcile in between (a pod
event for the same RayCluster, say) would see the old object, think it differs, and write the
same thing again: a duplicate write and a duplicate event. client-go controllers solve this
with "expectations"; rayop records, per object, the fingerprint it wrote and the
resourceVersion the server answered with. While the cached object is older than that version
(or absent), the write is known to be in flight and is not repeated. Once the cache has caught
up, the cache is the truth again: if someone changed the object after our write, its
resourceVersion is newer and rayop compares against it as usual.

resourceVersions are opaque in general; comparing them as integers is what the real API
server's etcd revisions and kubesim allow. When one does not parse as an integer the memo
simply does not apply (rayop writes, which is always correct). Entries expire after ``ttl``
seconds so a watch event that never comes cannot silence rayop for long.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["WriteMemo"]


@dataclass(frozen=True)
class _Entry:
    fingerprint: str
    resource_version: str
    at: float
    payload: Any


class WriteMemo:
    """Per-object record of rayop's last write; pure (time is passed in)."""

    def __init__(self, *, ttl: float = 30.0) -> None:
        self._ttl = ttl
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def remember(
        self,
        key: Hashable,
        *,
        fingerprint: str,
        resource_version: str,
        now: float,
        payload: Any = None,
    ) -> None:
        """Record that rayop wrote ``fingerprint`` to ``key`` and got ``resource_version`` back."""
        self._entries.pop(key, None)
        self._entries[key] = _Entry(fingerprint, resource_version, now, payload)
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.at <= self._ttl:
                break
            self._entries.popitem(last=False)

    def in_flight(self, key: Hashable, *, observed_rv: str | None, now: float) -> _Entry | None:
        """The entry for ``key`` if the cached object (``observed_rv``) predates rayop's write."""
        entry = self._entries.get(key)
        if entry is None or now - entry.at > self._ttl:
            return None
        if observed_rv is None:
            return entry
        try:
            return entry if int(observed_rv) < int(entry.resource_version) else None
        except ValueError:
            return None

    def wrote(
        self, key: Hashable, fingerprint: str, *, observed_rv: str | None, now: float
    ) -> bool:
        """True when rayop already wrote ``fingerprint`` and the cache has not caught up yet."""
        entry = self.in_flight(key, observed_rv=observed_rv, now=now)
        return entry is not None and entry.fingerprint == fingerprint

    def forget(self, key: Hashable) -> None:
        """Drop the entry for ``key`` (after a delete, say)."""
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
