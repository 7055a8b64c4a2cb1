"""Raw list and watch requests for any resource, over kubernetes-asyncio's transport.

kubernetes-asyncio supplies the configuration, authentication and aiohttp session
(``ApiClient.call_api(..., _preload_content=False)``); everything else is ours:

- responses are decoded with orjson into plain dicts, never into the generated model classes
  (typed decoding costs 5–25× more CPU);
- a watch stream is read in whatever chunks arrive and split into lines here, so one wake-up
  can decode and store many events (no per-line ``readline`` round trip);
- every request has a socket read timeout: kubernetes-asyncio's default is none at all, and a
  half-open connection would then hang a watch forever;
- failures become :mod:`informers.errors` types, so callers never see aiohttp's;
- every request first waits on the caller's rate limiter and is then counted by the caller's
  metrics (:class:`RequestHooks`, injected: this package imports nothing of its users), so
  reads share the QPS budget and the ``rest_client_*`` series with the writes, as in client-go,
  where lists and watches go through the same REST client as everything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import orjson

from informers._gc import paused
from informers.errors import ApiError, ConnectionLost, InformerError, api_error

__all__ = ["RequestHooks", "ResourceClient"]

_ACCEPT = {"Accept": "application/json"}


class RequestHooks(Protocol):
    """The caller's rate limiter and metrics, around every list and watch request."""

    async def throttle(self) -> float:
        """Wait for the client-side rate limiter; return the seconds waited."""

    def observe(
        self, *, method: str, verb: str, code: str, seconds: float, throttled: float
    ) -> None:
        """Count one request: HTTP ``method``, ``verb`` (``LIST``/``WATCH``), status ``code``
        (``"<error>"`` without an answer), ``seconds`` to the response headers."""


class ResourceClient:
    """Lists and watches one resource (group/version/plural), in a namespace or all of them."""

    def __init__(
        self,
        api_client: Any,
        *,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 75.0,
        hooks: RequestHooks | None = None,
    ) -> None:
        """``api_client`` is a ``kubernetes_asyncio.client.ApiClient`` (it owns the session);
        ``hooks`` throttle and count every request (none: unthrottled and uncounted)."""
        for field, value in (("version", version), ("plural", plural)):
            if not value:
                raise ValueError(f"{field}: must not be empty")
        self._api_client = api_client
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        scope = f"/namespaces/{quote(namespace, safe='')}" if namespace else ""
        self.path = f"{prefix}{scope}/{plural}"
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self.read_timeout = read_timeout
        self._hooks = hooks

    async def list_page(
        self,
        *,
        resource_version: str,
        limit: int | None,
        continue_token: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> dict[str, Any]:
        """One page of a list: the decoded ``<Kind>List`` body."""
        query = _selectors(label_selector, field_selector)
        if continue_token:
            query.append(("continue", continue_token))
        else:
            query.append(("resourceVersion", resource_version))
        if limit:
            query.append(("limit", str(limit)))
        response = await self._request(query, verb="LIST")
        try:
            body = await response.read()
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise ConnectionLost(f"list {self.path}: {exc!r}") from exc
        finally:
            response.release()
            self._forget(response)
        with paused():
            page: dict[str, Any] = orjson.loads(body)
        return page

    async def watch(
        self,
        *,
        resource_version: str,
        timeout_seconds: int,
        label_selector: str = "",
        field_selector: str = "",
        send_initial_events: bool = False,
    ) -> AsyncGenerator[list[bytes], None]:
        """Yield the watch stream's lines (one JSON event each) in batches, as they arrive.

        Decoding is left to the caller, which can then decode and store a batch in one go.
        The generator ends when the server closes the stream cleanly; close it (``aclosing``)
        to drop the connection early. ``send_initial_events`` asks for a streaming list
        (every object as ADDED, then the initial-events-end BOOKMARK) from a version no older
        than ``resource_version``.
        """
        query = _selectors(label_selector, field_selector)
        query += [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if send_initial_events:
            query += [("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")]
        response = await self._request(query, verb="WATCH")
        clean = False
        try:
            pending = b""
            async for chunk in response.content.iter_any():
                if b"\n" not in chunk:
                    pending += chunk  # part of a long event: wait for its end
                    continue
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                yield lines
            if pending.strip():
                raise ConnectionLost(f"watch {self.path}: stream ended inside an event")
            clean = True
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise ConnectionLost(f"watch {self.path}: {exc!r}") from exc
        finally:
            # A stream abandoned mid-way cannot be reused: drop its connection.
            if clean:
                response.release()
            else:
                response.close()
            self._forget(response)

    def _forget(self, response: aiohttp.ClientResponse) -> None:
        # kubernetes-asyncio keeps the last response on the ApiClient (``last_response``),
        # which would pin a whole list body (tens of MB at 50k pods) until the next request.
        if getattr(self._api_client, "last_response", None) is response:
            self._api_client.last_response = None

    async def _request(self, query: list[tuple[str, str]], *, verb: str) -> aiohttp.ClientResponse:
        hooks = self._hooks
        if hooks is None:
            return await self._send(query)
        throttled = await hooks.throttle()
        loop = asyncio.get_running_loop()
        started = loop.time()
        code = "<error>"
        try:
            response = await self._send(query)
            code = str(response.status)
            return response
        except InformerError as exc:
            code = str(exc.code) if isinstance(exc, ApiError) else code
            raise
        finally:
            hooks.observe(
                method="GET", verb=verb, code=code, seconds=loop.time() - started,
                throttled=throttled,
            )  # fmt: skip

    async def _send(self, query: list[tuple[str, str]]) -> aiohttp.ClientResponse:
        try:
            response: aiohttp.ClientResponse = await self._api_client.call_api(
                self.path,
                "GET",
                query_params=query,
                header_params=dict(_ACCEPT),
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self._timeout,
            )
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise ConnectionLost(f"GET {self.path}: {exc!r}") from exc
        if response.status >= 300:
            try:
                body = await response.read()
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                raise ConnectionLost(f"GET {self.path}: {exc!r}") from exc
            finally:
                response.release()
                self._forget(response)
            raise api_error(
                response.status, _loads_or_none(body), retry_after=_retry_after(response)
            )
        return response


def _selectors(label_selector: str, field_selector: str) -> list[tuple[str, str]]:
    query = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


def _loads_or_none(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
