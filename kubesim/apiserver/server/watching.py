"""Watch streams over HTTP (§4.2): newline-delimited JSON events, one per line.

A stream is 200 + chunked `application/json`. Problems found after the request was accepted
(a resourceVersion too old for the history) are sent as one `ERROR` event carrying a 410
`Expired` Status, then the stream ends, exactly as the watch cache does. `timeoutSeconds` ends
the stream cleanly; without it a random 30-60 minutes applies. Bookmarks go out every
`bookmark_interval` seconds (and just before the timeout) when `allowWatchBookmarks` is set.

Events are pulled from the `Watcher` in batches and written with one `write()` per batch;
their bytes are cached on the shared event, so N watchers cost one serialisation.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
from aiohttp import web

from kubesim.apiserver import errors
from kubesim.apiserver.cluster import Cluster
from kubesim.apiserver.errors import StatusError
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.server.codec import parse_bool, parse_int, wants_table
from kubesim.apiserver.server.handlers import RequestContext, ResourceHandlers
from kubesim.apiserver.server.paths import ResourcePath
from kubesim.apiserver.tables import to_table
from kubesim.apiserver.watch import Watcher, WatchEvent

__all__ = ["WatchHandler"]

#: Seconds between checks that an idle watch's client is still connected.
_LIVENESS_CHECK = 5.0


def _encode_json(event_type: str, obj: dict[str, Any]) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + orjson.dumps(obj) + b"}\n"


class WatchHandler:
    """Serves `?watch=true` requests for one `Cluster`."""

    def __init__(
        self,
        cluster: Cluster,
        handlers: ResourceHandlers,
        *,
        bookmark_interval: float,
        rng: random.Random,
    ) -> None:
        self.cluster = cluster
        self.handlers = handlers
        self.bookmark_interval = bookmark_interval
        self.rng = rng
        #: Open streams (fault injection and shutdown close them).
        self.open: set[Watcher] = set()

    def close_all(self) -> None:
        """End every open stream (server shutdown)."""
        for watcher in list(self.open):
            watcher.close()

    async def serve(
        self, request: web.Request, rp: ResourcePath, ctx: RequestContext
    ) -> web.StreamResponse:
        """Validate, open the watch, then stream until timeout, close or disconnect."""
        info = rp.info
        query = ctx.query
        field_selector = query.get("fieldSelector", "")
        if rp.name is not None:
            pinned = f"metadata.name={rp.name}"
            if field_selector and field_selector != pinned:
                raise errors.bad_request("fieldSelector metadata.name doesn't match requested name")
            field_selector = pinned
        labels, fields = self.cluster.selectors(
            info, query.get("labelSelector", ""), field_selector
        )
        timeout = parse_int("timeoutSeconds", query.get("timeoutSeconds"))
        if timeout is None or timeout <= 0:
            timeout = int(1800 * (1 + self.rng.random()))
        bookmarks = parse_bool(query.get("allowWatchBookmarks"))
        initial_events = (
            parse_bool(query.get("sendInitialEvents")) if "sendInitialEvents" in query else False
        )
        if "sendInitialEvents" in query and query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                [
                    errors.Cause(
                        "FieldValueForbidden",
                        "resourceVersionMatch",
                        "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                    )
                ],
            )
        rv = query.get("resourceVersion")
        table = wants_table(ctx.accept)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            watcher = self.cluster.watch(
                info, rp.namespace, labels, fields, "" if initial_events else rv
            )
        except StatusError as exc:
            if exc.code != 410:
                raise
            await response.prepare(request)
            await response.write(_encode_json("ERROR", exc.status()))
            return response
        self.open.add(watcher)
        try:
            await response.prepare(request)
            if initial_events and bookmarks:
                await self._initial_then_bookmark(response, watcher, info, table)
            await self._pump(
                request, response, watcher, info, table=table, lifetime=timeout, bookmarks=bookmarks
            )
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.open.discard(watcher)
            self.cluster.broadcaster.remove(info.key, watcher)
        return response

    async def _initial_then_bookmark(
        self, response: web.StreamResponse, watcher: Watcher, info: ResourceInfo, table: bool
    ) -> None:
        rv = self.cluster.resource_version
        batch = watcher.drain()
        chunks = [
            self._encode(info, t, e, o, table, first=i == 0) for i, (t, e, o) in enumerate(batch)
        ]
        marker = {
            "kind": info.kind,
            "apiVersion": info.api_version,
            "metadata": {
                "resourceVersion": str(rv),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        }
        chunks.append(_encode_json("BOOKMARK", marker))
        await response.write(b"".join(chunks))

    async def _pump(
        self,
        request: web.Request,
        response: web.StreamResponse,
        watcher: Watcher,
        info: ResourceInfo,
        *,
        table: bool,
        lifetime: float,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        next_bookmark = loop.time() + self.bookmark_interval
        first = True
        while True:
            now = loop.time()
            if now >= deadline:
                if bookmarks:
                    await response.write(self._bookmark(info, self.cluster.resource_version))
                return
            wake_at = min(deadline, next_bookmark) if bookmarks else deadline
            # Wake now and then even when idle, to notice clients that went away (aiohttp does
            # not cancel handlers on disconnect) and stop offering them events.
            await watcher.wait(max(0.0, min(wake_at, now + _LIVENESS_CHECK) - now))
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            rv_seen = self.cluster.resource_version
            batch = watcher.drain()
            if batch:
                chunks = []
                for event_type, event, obj in batch:
                    chunks.append(self._encode(info, event_type, event, obj, table, first=first))
                    first = False
                await response.write(b"".join(chunks))
            if watcher.closed:
                if watcher.error is not None:
                    await response.write(_encode_json("ERROR", watcher.error.status()))
                return
            if bookmarks and loop.time() >= next_bookmark:
                # Everything up to rv_seen has been delivered, so it is a safe resume point.
                await response.write(self._bookmark(info, rv_seen))
                next_bookmark = loop.time() + self.bookmark_interval

    @staticmethod
    def _bookmark(info: ResourceInfo, rv: int) -> bytes:
        return _encode_json(
            "BOOKMARK",
            {
                "kind": info.kind,
                "apiVersion": info.api_version,
                "metadata": {"resourceVersion": str(rv)},
            },
        )

    def _encode(
        self,
        info: ResourceInfo,
        event_type: str,
        event: WatchEvent,
        obj: dict[str, Any],
        table: bool,
        *,
        first: bool,
    ) -> bytes:
        """One event line; cached on the shared event for every watcher of the same form."""
        if table:
            if first:
                return self._encode_table(info, event_type, obj, headers=True)
            table_key = ("table", event_type, info.api_version, obj is event.obj)
            encoded: bytes = event.cached(
                table_key, lambda: self._encode_table(info, event_type, obj, headers=False)
            )
            return encoded
        key = (event_type, info.api_version, obj is event.obj)

        def build() -> bytes:
            shown = self.cluster.present(info, obj)
            return _encode_json(event_type, shown)

        json_line: bytes = event.cached(key, build)
        return json_line

    def _encode_table(
        self, info: ResourceInfo, event_type: str, obj: dict[str, Any], *, headers: bool
    ) -> bytes:
        shown = self.cluster.present(info, obj)
        table = to_table(
            info,
            [shown],
            now=self.handlers.now(),
            crd_columns=info.extra.get("columns") if info.custom else None,
            include_headers=headers,
        )
        table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        return _encode_json(event_type, table)
