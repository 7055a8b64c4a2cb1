"""rayop's one door to the API server: raw-JSON requests, client-side throttling, metrics, and
the single write path.

Every request goes through :meth:`KubeClient.request` (the informers' lists and watches through
:meth:`throttle` and :meth:`observe`, the ``informers.RequestHooks`` seam), which waits for a
token from the QPS/burst bucket, sends the request through kubernetes-asyncio's ``ApiClient`` (which owns
TLS, auth and token refresh) with ``_preload_content=False``, decodes the body with orjson
(never the generated model classes: about 25x slower), counts it in
``rest_client_requests_total{code,method}`` and turns any failure into the exception tree
of :mod:`controller.kube.errors`.

Writes: :meth:`KubeClient.apply` is server-side apply (``application/apply-patch+yaml``,
``fieldManager=rayop``, ``force=true``) and is the only way rayop changes an object;
:meth:`KubeClient.delete` removes one. Events are applied like any other object.

Retry-After: when the server answers with ``Retry-After`` (a 429, a 503), no write of this
client is sent before that time has passed (capped at :data:`MAX_RETRY_AFTER`), whichever
worker, cluster or path it is for: the server asked the client, not one request, to wait.
The controller's requeue honours it too, so the reconcile that failed retries no sooner.

Fencing: with a ``write_guard`` (the leader elector's :meth:`is_leading`), every request that
is not a read is checked immediately before it is sent, after any wait for a rate-limit token;
a write attempted while the guard says no raises :class:`NotLeading` and never reaches the
server. Reads are never fenced, so a standby keeps its caches warm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio.client import ApiClient

from controller.kube.errors import NotFound, NotLeading, TransportError, error_from_response
from controller.kube.metrics import RestClientMetrics
from controller.kube.ratelimit import TokenBucket
from controller.kube.resources import object_path, resource_for

__all__ = ["APPLY_CONTENT_TYPE", "FIELD_MANAGER", "KubeClient"]

FIELD_MANAGER = "rayop"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
_JSON = "application/json"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_RETRY_AFTER = 60.0
"""The longest a Retry-After holds this client's writes (a hostile header cannot stall us)."""

# A single hung request must not stall a worker forever (kubernetes-asyncio sets no timeout).
_DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)


class KubeClient:
    """A thin, typed-by-convention client over a kubernetes-asyncio ``ApiClient``.

    Objects in and out are plain JSON dicts. ``qps``/``burst`` bound the request rate
    (``qps <= 0`` disables the limit); ``metrics`` receives one observation per request.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        qps: float = 100.0,
        burst: int = 200,
        metrics: RestClientMetrics | None = None,
        field_manager: str = FIELD_MANAGER,
        write_guard: Callable[[], bool] | None = None,
    ) -> None:
        self.api_client = api_client
        self.field_manager = field_manager
        #: Asked right before every write is sent; False refuses it (see the module docstring).
        self.write_guard = write_guard
        self._bucket = TokenBucket(qps, burst)
        self._metrics = metrics
        self._writes_not_before = 0.0  # loop time before which no write is sent (Retry-After)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = _JSON,
    ) -> dict[str, Any]:
        """Send one request and return the decoded JSON answer; raise a ``KubeError`` on failure."""
        loop = asyncio.get_running_loop()
        throttled = await self._bucket.acquire()
        if method not in _READS:
            await self._honour_retry_after(loop)
        # No await between this check and the send: a write never leaves a fenced process.
        if method not in _READS and self.write_guard is not None and not self.write_guard():
            raise NotLeading(f"{method} {path}: refused, this replica is not the leader")
        started = loop.time()
        code = "<error>"
        try:
            response = await self.api_client.call_api(
                path,
                method,
                query_params=list((query or {}).items()),
                header_params={"Content-Type": content_type, "Accept": _JSON},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=_DEFAULT_TIMEOUT,
            )
            try:
                raw = await response.read()
            finally:
                response.release()
            code = str(response.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransportError(f"{method} {path}: {exc or type(exc).__name__}") from exc
        finally:
            if self._metrics is not None:
                self._metrics.observe(
                    method=method, code=code, seconds=loop.time() - started, throttled=throttled
                )
        if response.status >= 400:
            error = error_from_response(
                response.status, raw, retry_after=response.headers.get("Retry-After")
            )
            error.raised_at = loop.time()
            if error.retry_after:
                wait = min(error.retry_after, MAX_RETRY_AFTER)
                self._writes_not_before = max(self._writes_not_before, loop.time() + wait)
            raise error
        decoded = orjson.loads(raw) if raw else {}
        return decoded if isinstance(decoded, dict) else {}

    async def _honour_retry_after(self, loop: asyncio.AbstractEventLoop) -> None:
        # Again after each wait: another answer may have pushed the time back meanwhile.
        for _ in range(10):
            wait = self._writes_not_before - loop.time()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def throttle(self) -> float:
        """Wait for this client's rate limiter (informers' requests share it; RequestHooks)."""
        return await self._bucket.acquire()

    def observe(
        self, *, method: str, verb: str, code: str, seconds: float, throttled: float
    ) -> None:
        """Count a request made elsewhere on this client's budget (the informers' reads)."""
        if self._metrics is not None:
            self._metrics.observe(
                method=method, verb=verb, code=code, seconds=seconds, throttled=throttled
            )

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any]:
        """Read one object (raises ``NotFound``)."""
        ref = resource_for(api_version, kind)
        return await self.request("GET", object_path(ref, namespace, name))

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, *, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """List objects (one page; used by tools, never on the reconcile path)."""
        ref = resource_for(api_version, kind)
        query = {"labelSelector": label_selector} if label_selector else {}
        answer = await self.request("GET", ref.collection_path(namespace), query=query)
        return list(answer.get("items") or [])

    async def apply(
        self, obj: Mapping[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` (or its ``subresource``, e.g. ``"status"``) as rayop, forcing.

        ``obj`` must carry apiVersion, kind, metadata.name (and metadata.namespace for
        namespaced kinds). Returns the object as the server stored it.
        """
        meta = obj["metadata"]
        ref = resource_for(obj["apiVersion"], obj["kind"])
        path = object_path(ref, meta.get("namespace"), meta["name"], subresource)
        query = {"fieldManager": self.field_manager, "force": "true"}
        return await self.request(
            "PATCH", path, query=query, body=obj, content_type=APPLY_CONTENT_TYPE
        )

    async def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        propagation_policy: str = "Background",
    ) -> bool:
        """Delete one object; return False when it was already gone.

        ``uid`` adds a precondition so a same-named successor is never deleted by mistake.
        """
        ref = resource_for(api_version, kind)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": propagation_policy,
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", object_path(ref, namespace, name), body=body)
        except NotFound:
            return False
        return True

    async def close(self) -> None:
        """Close the underlying HTTP session."""
        await self.api_client.close()
