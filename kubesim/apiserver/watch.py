"""Watch machinery: committed events, a bounded per-resource history, and open watchers.

This plays the part of kube-apiserver's watch cache. Every committed change becomes one
`WatchEvent`; `Broadcaster.publish` appends it to the resource's history and offers it to every
open `Watcher` of that resource. Offering never awaits: it filters, queues a reference and sets
the watcher's wakeup. Bytes are produced lazily and cached on the event, so an event is
serialised once per output form (object JSON per apiVersion, table rows per watcher kind)
however many watchers receive it.

Selector transitions follow `etcd3/watcher.go`: an object that starts matching arrives as ADDED,
one that stops matching as DELETED carrying its previous state at the new resourceVersion.

History is bounded (`history_size` events per resource, the watch cache's capacity). Resuming
from a resourceVersion older than what history still holds yields a 410 `Expired` error event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from kubesim.apiserver.errors import StatusError, expired
from kubesim.apiserver.selectors import FieldSelector, LabelSelector

__all__ = ["Broadcaster", "History", "WatchEvent", "Watcher"]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


class WatchEvent:
    """One committed change. `obj` is the stored object (read-only), `old` its prior state."""

    __slots__ = ("_cache", "obj", "old", "rv", "type")

    def __init__(
        self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None, rv: int
    ) -> None:
        self.type = event_type
        self.obj = obj
        self.old = old
        self.rv = rv
        self._cache: dict[Any, Any] = {}

    def old_at_rv(self) -> dict[str, Any]:
        """The previous state stamped with this event's RV (selector-transition DELETED)."""
        cached = self._cache.get("old_at_rv")
        if cached is None:
            assert self.old is not None
            cached = {
                **self.old,
                "metadata": {**self.old["metadata"], "resourceVersion": str(self.rv)},
            }
            self._cache["old_at_rv"] = cached
        result: dict[str, Any] = cached
        return result

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """Memoise an encoding of this event (shared by every watcher that asks for `key`)."""
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = build()
            return value


class History:
    """The last `size` events of one resource, for exact resumes."""

    __slots__ = ("compacted_rv", "events", "size")

    def __init__(self, size: int, start_rv: int) -> None:
        self.size = size
        self.events: deque[WatchEvent] = deque()
        #: Events with rv <= compacted_rv are gone; resuming from before it is a 410.
        self.compacted_rv = start_rv

    def append(self, event: WatchEvent) -> None:
        """Record an event, dropping the oldest beyond capacity."""
        self.events.append(event)
        while len(self.events) > self.size:
            self.compacted_rv = self.events.popleft().rv

    def shrink(self, keep: int, current_rv: int) -> None:
        """Forget all but the newest `keep` events (fault injection: force 410 on resume)."""
        while len(self.events) > keep:
            self.compacted_rv = self.events.popleft().rv
        if keep == 0:
            self.compacted_rv = current_rv

    def since(self, rv: int, current_rv: int) -> list[WatchEvent]:
        """Events after `rv`; raises 410 Expired when some of them were already dropped."""
        if rv < self.compacted_rv:
            oldest = self.events[0].rv if self.events else current_rv + 1
            raise expired(f"too old resource version: {rv} ({oldest - 1})")
        return [e for e in self.events if e.rv > rv]


class Watcher:
    """One open watch stream: its filters, its pending events and its wakeup.

    Invariant: `pending` holds (type, event, object) in commit order; the HTTP layer drains it.
    A watcher that falls `max_pending` events behind is closed, like the real server closes an
    unresponsive consumer; its client re-watches from its last resourceVersion."""

    __slots__ = (
        "_wakeup",
        "closed",
        "error",
        "field_selector",
        "label_selector",
        "max_pending",
        "namespace",
        "pending",
        "present",
    )

    def __init__(
        self,
        namespace: str | None,
        label_selector: LabelSelector,
        field_selector: FieldSelector,
        *,
        max_pending: int = 100_000,
        present: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.namespace = namespace
        #: How the watched endpoint shows stored objects, when it converts them (selectors
        #: apply to what the client sees).
        self.present = present
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.max_pending = max_pending
        self.pending: deque[tuple[str, WatchEvent, dict[str, Any]]] = deque()
        self.closed = False
        self.error: StatusError | None = None
        self._wakeup = asyncio.Event()

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if not self.label_selector.matches(meta.get("labels")):
            return False
        if self.field_selector.empty:
            return True
        return self.field_selector.matches(self.present(obj) if self.present else obj)

    def offer(self, event: WatchEvent) -> None:
        """Queue `event` as this watcher sees it (maybe as an ADDED/DELETED transition)."""
        if self.closed:
            return
        if event.type == MODIFIED:
            now, before = self._matches(event.obj), self._matches(event.old)
            if now and before:
                self._push(MODIFIED, event, event.obj)
            elif now:
                self._push(ADDED, event, event.obj)
            elif before:
                self._push(DELETED, event, event.old_at_rv())
        elif self._matches(event.obj):
            self._push(event.type, event, event.obj)

    def push_initial(self, obj: dict[str, Any], rv: int) -> None:
        """Queue a synthetic ADDED for an object that existed when the watch started."""
        self._push(ADDED, WatchEvent(ADDED, obj, None, rv), obj)

    def _push(self, event_type: str, event: WatchEvent, obj: dict[str, Any]) -> None:
        self.pending.append((event_type, event, obj))
        if len(self.pending) > self.max_pending:
            self.pending.clear()
            self.close()
            return
        self._wakeup.set()

    def close(self, error: StatusError | None = None) -> None:
        """End the stream (optionally after one ERROR event)."""
        self.closed = True
        self.error = error
        self._wakeup.set()

    async def wait(self, at_most: float | None) -> None:
        """Wait until events are pending, the watch closed, or `at_most` seconds passed."""
        if self.pending or self.closed:
            return
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._wakeup.wait()

    def drain(self) -> list[tuple[str, WatchEvent, dict[str, Any]]]:
        """Take every pending event."""
        items = list(self.pending)
        self.pending.clear()
        return items


class Broadcaster:
    """Histories and watchers of every resource, keyed by storage key (group, plural)."""

    def __init__(self, history_size: int) -> None:
        self.history_size = history_size
        self.histories: dict[tuple[str, str], History] = {}
        self.watchers: dict[tuple[str, str], set[Watcher]] = {}

    def history(self, key: tuple[str, str]) -> History:
        """The history of `key`. Until it first drops an event it holds every event since start."""
        found = self.histories.get(key)
        if found is None:
            found = self.histories[key] = History(self.history_size, 0)
        return found

    def publish(self, key: tuple[str, str], event: WatchEvent) -> None:
        """Record and fan out one committed event. Never awaits."""
        self.history(key).append(event)
        for watcher in self.watchers.get(key, ()):
            watcher.offer(event)

    def add(self, key: tuple[str, str], watcher: Watcher) -> None:
        """Register an open watch."""
        self.watchers.setdefault(key, set()).add(watcher)

    def remove(self, key: tuple[str, str], watcher: Watcher) -> None:
        """Unregister a finished watch."""
        self.watchers.get(key, set()).discard(watcher)

    def close_all(self, key: tuple[str, str] | None = None) -> int:
        """Close open watches (all, or of one resource); returns how many were closed."""
        count = 0
        for k, watchers in self.watchers.items():
            if key is None or k == key:
                for watcher in list(watchers):
                    watcher.close()
                    count += 1
        return count

    def encode_json(self, event_type: str, obj: dict[str, Any]) -> bytes:
        """One newline-terminated JSON watch event."""
        return b'{"type":"' + event_type.encode() + b'","object":' + orjson.dumps(obj) + b"}\n"
