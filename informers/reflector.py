"""The reflector: keeps a sink in step with the API server by list, then watch, forever.

The resourceVersion rules, decided here (as in client-go's ``reflector.go``):

- With ``stream_lists``, the list *is* a watch: ``sendInitialEvents=true`` with
  ``resourceVersionMatch=NotOlderThan`` (KEP-3157's streaming list, client-go's WatchList):
  the server sends every object as an ``ADDED`` event, then a ``BOOKMARK`` annotated
  ``k8s.io/initial-events-end``, and the stream goes on as an ordinary watch. Each object is
  decoded and transformed as its chunk arrives, so the raw list is never in memory at once
  (a restart's memory peak was the whole list decoded). A server that refuses the parameters
  (400/422), or a stream that ends before the bookmark, turns streaming off for this reflector
  and it lists instead.
- The first list asks for resourceVersion ``"0"`` (any version, cheapest for the server);
  after a 410 Expired the next list asks for ``""`` (a consistent, most recent read). Lists at
  ``"0"`` or ``""`` are paginated (``limit=500`` + ``continue``); if a continue token expires
  mid-way, the list starts over at ``""``. Each page's objects are transformed (the sink's
  ``prepare``) as the page arrives, before the next page is read.
- The watch starts from the list's resourceVersion, with ``allowWatchBookmarks=true`` and a
  server timeout drawn from [5, 10) minutes so that watches do not all expire together.
- Every event moves the last seen version forward, bookmarks included (they carry no object
  change, only a newer version), so a re-watch resumes exactly after the last event: no
  duplicates, no gaps.
- A clean close (the server timeout) re-watches at once. A 410, from the HTTP status or an
  ``ERROR`` event, relists; the store's ``replace`` then turns objects deleted during the gap
  into tombstones. Any other failure — 429, 5xx, a refused or reset connection, a stream
  silent past the read timeout (a half-open connection), a watch closed within a second
  without an event — backs off (:class:`~informers.backoff.Backoff`) and re-watches from the
  last version; a failed list is retried the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import structlog

from informers._gc import paused
from informers.backoff import Backoff
from informers.client import ResourceClient
from informers.errors import (
    ApiError,
    ConnectionLost,
    Expired,
    InformerError,
    TooManyRequests,
    api_error,
)

__all__ = ["Reflector", "ReflectorSink"]

log = structlog.get_logger("informers.reflector")

Obj = dict[str, Any]

PAGE_SIZE = 500
#: The annotation on the BOOKMARK that ends a streaming list's initial events.
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
WATCH_TIMEOUT = (300.0, 600.0)
# client-go's VeryShortWatchError: a watch that ends this fast with no event is a failure.
VERY_SHORT_WATCH = 1.0


class ReflectorSink(Protocol):
    """Where a reflector delivers what it reads. Every method is plain ``def``."""

    def prepare(self, obj: Obj) -> Obj:
        """What a listed object is stored as (the transform), as soon as it is read."""

    def replace(self, objects: list[Obj], resource_version: str) -> None:
        """The complete current list of objects, each already ``prepare``d (after each list)."""

    def apply(self, events: list[Obj]) -> None:
        """Watch events (``ADDED``/``MODIFIED``/``DELETED``), in order."""


class Reflector:
    """Lists and watches one resource into a :class:`ReflectorSink` until cancelled."""

    def __init__(
        self,
        client: ResourceClient,
        sink: ReflectorSink,
        *,
        name: str,
        label_selector: str = "",
        field_selector: str = "",
        page_size: int = PAGE_SIZE,
        watch_timeout: tuple[float, float] = WATCH_TIMEOUT,
        backoff: Backoff | None = None,
        rand: Callable[[], float] = random.random,
        stream_lists: bool = False,
    ) -> None:
        """Read ``client``'s resource into ``sink``; ``name`` labels the logs."""
        self._client = client
        self._sink = sink
        self.name = name
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._backoff = backoff
        self._rand = rand
        #: List by a watch with initial events (turned off if the server does not support it).
        self.stream_lists = stream_lists
        self._log = log.bind(informer=name)
        #: The version the next watch resumes from ("" until the first list).
        self.last_resource_version = ""
        # Set by a 410: the last version is gone, so list at "" (a consistent read).
        self._version_unavailable = False
        #: Counts, for tests and metrics: lists done, watches opened.
        self.lists = 0
        self.watches = 0

    async def run(self) -> None:
        """List, then watch; recover from every failure. Returns only by cancellation."""
        backoff = self._backoff or Backoff()
        need_list = True
        while True:
            try:
                if need_list:
                    if self.stream_lists and await self._stream_list():
                        need_list = False
                        continue  # listed, then watched on one stream, which ended cleanly
                    await self._list()
                    need_list = False
                await self._watch()
                continue  # a clean close: the server timeout ended the watch; resume at once
            except Expired as exc:
                self._log.info("resource version expired; relisting", error=str(exc), relist=True)
                self._version_unavailable = True
                need_list = True
                delay = backoff.next()
            except InformerError as exc:
                delay = backoff.next()
                if isinstance(exc, TooManyRequests) and exc.retry_after:
                    delay = max(delay, exc.retry_after)
                self._log.warning(
                    "list or watch failed; retrying",
                    error=str(exc),
                    relist=need_list,
                    retry_in=round(delay, 3),
                )
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------ list

    def _list_version(self) -> str:
        if self._version_unavailable:
            return ""
        return self.last_resource_version or "0"

    async def _list(self) -> None:
        version = self._list_version()
        # Lists at a specific version are served from the watch cache, which ignores paging.
        paginate = version in ("", "0")
        items: list[Obj] = []
        token: str | None = None
        list_version = ""
        while True:
            try:
                page = await self._client.list_page(
                    resource_version=version,
                    limit=self._page_size if paginate else None,
                    continue_token=token,
                    label_selector=self._label_selector,
                    field_selector=self._field_selector,
                )
            except Expired:
                if version == "" and token is None:
                    raise
                # The continue token or the version expired: start over, consistently.
                version, paginate, items, token, list_version = "", True, [], None, ""
                continue
            metadata = page.get("metadata") or {}
            _fill_type_meta(page)
            # Transformed page by page: the raw page is dropped before the next one is read.
            prepare = self._sink.prepare
            items.extend([prepare(item) for item in page.get("items") or ()])
            del page
            list_version = list_version or str(metadata.get("resourceVersion") or "")
            token = metadata.get("continue") or None
            if token is None:
                break
        self._sink.replace(items, list_version)
        self.last_resource_version = list_version
        self._version_unavailable = False
        self.lists += 1
        self._log.debug("listed", items=len(items), resource_version=list_version)

    # ------------------------------------------------------------------ watch

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        low, high = self._watch_timeout
        timeout_seconds = max(1, int(low + self._rand() * (high - low)))
        started = loop.time()
        saw_event = False
        self.watches += 1
        stream = self._client.watch(
            resource_version=self.last_resource_version,
            timeout_seconds=timeout_seconds,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
        )
        async with contextlib.aclosing(stream):
            async for lines in stream:
                saw_event = True
                # One network chunk is decoded and stored with the collector paused: the
                # decoded temporaries are never scanned (see informers/_gc.py).
                with paused():
                    self._deliver(lines)
        if not saw_event and loop.time() - started < VERY_SHORT_WATCH:
            raise ConnectionLost("watch closed within a second without an event")

    async def _stream_list(self) -> bool:
        """List by a streaming watch, then keep watching on it; False if the server cannot."""
        low, high = self._watch_timeout
        self.watches += 1
        stream = self._client.watch(
            resource_version="",
            timeout_seconds=max(1, int(low + self._rand() * (high - low))),
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            send_initial_events=True,
        )
        initial: list[Obj] | None = []  # None once the initial events are in the sink
        try:
            async with contextlib.aclosing(stream):
                async for lines in stream:
                    with paused():
                        initial = self._deliver_initial(lines, initial)
        except ApiError as exc:
            if exc.code not in (400, 422):
                raise
            self._log.info("streaming lists not supported; listing", error=str(exc))
            self.stream_lists = False
            return False
        if initial is not None:
            self._log.info("watch ended before its initial events did; listing instead")
            self.stream_lists = False
            return False
        return True

    def _deliver_initial(self, lines: list[bytes], initial: list[Obj] | None) -> list[Obj] | None:
        """Collect a streaming list's ADDED objects until its end bookmark, then replace the
        sink's contents and deliver the rest as watch events; the objects still collecting."""
        if initial is None:
            self._deliver(lines)
            return None
        for index, line in enumerate(lines):
            if not line or line.isspace():
                continue
            kind, version, event = _decode(line)
            if kind == "ERROR":
                raise api_error(500, event.get("object"))
            obj = event["object"]
            if kind == "ADDED":
                initial.append(self._sink.prepare(obj))
            elif kind == "BOOKMARK" and _ends_initial_events(obj):
                self._sink.replace(initial, str(version))
                self.last_resource_version = str(version)
                self._version_unavailable = False
                self.lists += 1
                self._log.debug("listed by watch", items=len(initial), resource_version=version)
                self._deliver(lines[index + 1 :])
                return None
        return initial

    def _deliver(self, lines: list[bytes]) -> None:
        changes: list[Obj] = []
        for line in lines:
            if not line or line.isspace():
                continue
            kind, version, event = _decode(line)
            if kind == "ERROR":
                if changes:
                    self._sink.apply(changes)
                raise api_error(500, event.get("object"))
            if kind != "BOOKMARK":
                changes.append(event)
            # Bookmarks too: they carry no change, only a newer version to resume from.
            self.last_resource_version = str(version)
        if changes:
            self._sink.apply(changes)


def _decode(line: bytes) -> tuple[str, str | None, Obj]:
    """(type, resourceVersion, event) of one watch line; ConnectionLost if it is garbled."""
    try:
        event = orjson.loads(line)
        kind = event["type"]
        version = None if kind == "ERROR" else event["object"]["metadata"]["resourceVersion"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        # A garbled stream: resume from the last good event.
        raise ConnectionLost(f"malformed watch event: {exc!r}") from exc
    return str(kind), version, event


def _ends_initial_events(obj: Obj) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(INITIAL_EVENTS_END) == "true"


def _fill_type_meta(page: Obj) -> None:
    # List items carry no apiVersion/kind (watch objects do); give them the list's, so a
    # handler sees the same shape whichever way an object arrived.
    kind = str(page.get("kind") or "")
    if not kind.endswith("List"):
        return
    api_version = page.get("apiVersion")
    item_kind = kind[: -len("List")]
    for item in page.get("items") or ():
        if "kind" not in item:
            item["kind"] = item_kind
            item["apiVersion"] = api_version
