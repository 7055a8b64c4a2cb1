"""The aiohttp application: one dispatcher for every path kube-apiserver serves.

Per request: parse the path, decide the verb, apply injected faults, call the handler, count
the request in /metrics. Everything a client can see on failure is a `Status` body.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiohttp import web

from kubesim.apiserver import errors
from kubesim.apiserver.auth import (
    CURRENT_REQUEST,
    CURRENT_USER,
    Attributes,
    request_attributes,
)
from kubesim.apiserver.auth.wire import decode_review
from kubesim.apiserver.cluster import Cluster
from kubesim.apiserver.errors import MAX_REQUEST_BODY_BYTES, StatusError
from kubesim.apiserver.faults import Faults
from kubesim.apiserver.metrics import ApiMetrics
from kubesim.apiserver.openapi import OpenAPIResource, OpenAPIV3
from kubesim.apiserver.server import discovery
from kubesim.apiserver.server.codec import (
    decode_body,
    json_response,
    parse_bool,
    status_response,
)
from kubesim.apiserver.server.handlers import USER, RequestContext, ResourceHandlers
from kubesim.apiserver.server.health import serve_health
from kubesim.apiserver.server.paths import ResourcePath, parse_resource_path
from kubesim.apiserver.server.streaming import StreamingHandler
from kubesim.apiserver.server.watching import WatchHandler

__all__ = ["VERSION_INFO", "Dispatcher", "ServerOptions", "build_app"]

_log = structlog.get_logger("kubesim.apiserver.server")

#: What `/version` answers: a v1.32 server (the kubectl installed next to kubesim).
VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+kubesim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_WRITE_METHODS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
_WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_METRIC_VERBS = {
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETECOLLECTION",
}


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Knobs of the HTTP layer."""

    bookmark_interval: float = 60.0
    address: str = "127.0.0.1:0"
    seed: int | None = None


def _user_name() -> str:
    user = CURRENT_USER.get()
    return user.name if user is not None else USER


class Dispatcher:
    """Routes every request; owns the handlers, metrics and fault hooks of one server."""

    def __init__(
        self,
        cluster: Cluster,
        faults: Faults,
        options: ServerOptions,
        *,
        workloads: Callable[[], Any] = lambda: None,
    ) -> None:
        self.cluster = cluster
        self.faults = faults
        self.options = options
        self.metrics = ApiMetrics()
        self.workloads = workloads
        self.handlers = ResourceHandlers(cluster, cluster.now)
        self.watches = WatchHandler(
            cluster,
            self.handlers,
            bookmark_interval=options.bookmark_interval,
            rng=random.Random(options.seed),
        )
        self.streams = StreamingHandler(cluster)
        self.openapi = OpenAPIV3()
        self.address = options.address
        self._refresh_openapi()
        cluster.crds.on_change.append(self._refresh_openapi)

    def _refresh_openapi(self) -> None:
        resources = [
            OpenAPIResource(
                i.group,
                i.version,
                i.kind,
                i.plural,
                i.namespaced,
                subresources=i.subresources,
                schema=i.extra.get("schema") if i.custom else None,
            )
            for i in self.cluster.registry
        ]
        self.openapi.set_resources(resources)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The single aiohttp handler."""
        user, asked = CURRENT_USER.set(None), CURRENT_REQUEST.set(None)
        try:
            return await self._authorized(request)
        except StatusError as exc:
            return status_response(exc)
        except Exception as exc:  # a bug in kubesim must not take the server down
            _log.exception("kubesim.unhandled_error", method=request.method, path=request.path)
            return status_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))
        finally:
            CURRENT_USER.reset(user)
            CURRENT_REQUEST.reset(asked)

    async def _authorized(self, request: web.Request) -> web.StreamResponse:
        """Authenticate and authorize (`kubesim.apiserver.auth`), then route; the review
        endpoints and TokenRequest are answered by the auth package itself."""
        auth = self.cluster.auth
        user = auth.identify(request.headers, secure=request.secure)
        CURRENT_USER.set(user)
        attrs = request_attributes(request.method, request.path, request.query)
        CURRENT_REQUEST.set(attrs)
        try:
            auth.authorize(user, attrs)
        except StatusError as exc:
            if attrs.resource_request and attrs.verb in _WRITE_VERBS:
                self._audit_refused(request, attrs, exc.code)
            raise
        if auth.serves(attrs):
            raw, media = await request.read(), request.content_type or "application/json"
            body = decode_review(raw) if "protobuf" in media else decode_body(raw, media)
            answer, code = auth.serve(attrs, body, user)
            return json_response(answer, code)
        return await self._route(request)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        segments = [s for s in request.path.split("/") if s]
        head = segments[0] if segments else ""
        if head == "api" and len(segments) > 2:
            return await self._resource(request, "", segments[1], segments[2:])
        if head == "apis" and len(segments) > 3:
            return await self._resource(request, segments[1], segments[2], segments[3:])
        if request.method != "GET" and head not in ("kubesim",):
            raise errors.method_not_allowed("", "", request.method.lower())
        if head in ("api", "apis"):
            return self._discovery(request, segments)
        if head == "version":
            return json_response(VERSION_INFO)
        if head == "openapi":
            return self._openapi(segments)
        if head in ("healthz", "readyz", "livez"):
            return serve_health(head, segments[1:], request)
        if head == "metrics":
            return web.Response(
                body=self.metrics.render(),
                headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
            )
        if head == "kubesim":
            return await self._admin(request, segments)
        if not segments:
            paths = [
                "/api",
                "/api/v1",
                "/apis",
                "/healthz",
                "/livez",
                "/metrics",
                "/openapi/v3",
                "/readyz",
                "/version",
            ]
            return json_response({"paths": paths})
        raise errors.path_not_found()

    # ------------------------------------------------------------------ resources

    @staticmethod
    def _verb(request: web.Request, rp: ResourcePath) -> str:
        method = request.method
        if method == "GET":
            if rp.legacy_watch or parse_bool(request.query.get("watch")):
                return "watch"
            return "get" if rp.name is not None else "list"
        if method == "DELETE":
            return "delete" if rp.name is not None else "deletecollection"
        verb = _WRITE_METHODS.get(method)
        if method == "POST" and rp.subresource == "exec":
            return "create"  # an exec over SPDY (kubectl's fallback) is a POST to the pod
        if (
            verb is None
            or (verb != "create" and rp.name is None)
            or (verb == "create" and rp.name is not None)
        ):
            raise errors.method_not_allowed(rp.info.plural, rp.info.group, verb or method.lower())
        return verb

    async def _resource(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        metric_verb, group_label, resource, sub = request.method, group, "", ""
        code = 500
        try:
            rp = parse_resource_path(self.cluster.registry, group, version, rest)
            resource, sub = rp.info.plural, rp.subresource or ""
            verb = self._verb(request, rp)
            metric_verb = _METRIC_VERBS[verb]
            if verb == "patch" and request.content_type == "application/apply-patch+yaml":
                metric_verb = "APPLY"
            response = await self._serve(request, rp, verb)
            code = response.status
            return response
        except StatusError as exc:
            code = exc.code
            raise
        finally:
            self.metrics.observe(
                metric_verb, group_label, resource, sub, code, time.perf_counter() - started
            )

    async def _serve(self, request: web.Request, rp: ResourcePath, verb: str) -> web.StreamResponse:
        if verb not in rp.info.verbs and not (
            rp.subresource and verb in ("get", "update", "patch")
        ):
            raise errors.method_not_allowed(rp.info.plural, rp.info.group, verb)
        audited_before = self.cluster.audit.total
        try:
            return await self._dispatch(request, rp, verb)
        except StatusError as exc:
            # Writes the Cluster saw are audited there; these failed before reaching it
            # (injected faults, oversized or undecodable bodies, bad options).
            if verb in _WRITE_VERBS and self.cluster.audit.total == audited_before:
                self._audit_failure(verb, rp, request, exc.code)
            raise

    async def _dispatch(
        self, request: web.Request, rp: ResourcePath, verb: str
    ) -> web.StreamResponse:
        latency, failure = self.faults.decide(verb, rp.info.plural, rp.subresource)
        if latency:
            await asyncio.sleep(latency)
        ctx = await self._context(request)
        if failure is not None:
            raise failure
        if rp.subresource in ("log", "exec"):
            return await self.streams.serve(request, rp, verb)
        handlers = self.handlers
        if verb in ("get", "list"):
            handlers.check_list_options(ctx.query, watch=False)
            await handlers.wait_for_resource_version(ctx.query)
            return handlers.get(rp, ctx) if verb == "get" else handlers.list(rp, ctx)
        if verb == "watch":
            handlers.check_list_options(ctx.query, watch=True)
            return await self.watches.serve(request, rp, ctx)
        if verb == "create":
            return handlers.create(rp, ctx)
        if verb == "update":
            return handlers.update(rp, ctx)
        if verb == "patch":
            return handlers.patch(rp, ctx)
        if verb == "delete":
            return handlers.delete(rp, ctx)
        return handlers.delete_collection(rp, ctx)

    def _audit_failure(self, verb: str, rp: ResourcePath, request: web.Request, code: int) -> None:
        self.cluster.audit.record(
            verb=verb,
            group=rp.info.group,
            resource=rp.info.plural,
            subresource=rp.subresource,
            namespace=rp.namespace,
            name=rp.name,
            code=code,
            user=_user_name(),
            user_agent=request.headers.get("User-Agent", ""),
            field_manager=request.query.get("fieldManager"),
        )

    async def _context(self, request: web.Request) -> RequestContext:
        body = b""
        if request.can_read_body:
            length = request.content_length
            if length is not None and length > MAX_REQUEST_BODY_BYTES:
                raise errors.entity_too_large()
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise errors.entity_too_large()
            if len(body) > MAX_REQUEST_BODY_BYTES:
                raise errors.entity_too_large()
        headers = request.headers
        return RequestContext(
            request.query,
            headers.get("Accept", ""),
            headers.get("Content-Type", ""),
            headers.get("User-Agent", ""),
            body,
            _user_name(),
        )

    def _audit_refused(self, request: web.Request, attrs: Attributes, code: int) -> None:
        """A write the authorizer refused is audited too: who tried what."""
        self.cluster.audit.record(
            verb=attrs.verb,
            group=attrs.group,
            resource=attrs.resource,
            subresource=attrs.subresource or None,
            namespace=attrs.namespace,
            name=attrs.name,
            code=code,
            user=_user_name(),
            user_agent=request.headers.get("User-Agent", ""),
            field_manager=request.query.get("fieldManager"),
        )

    # ------------------------------------------------------------------ discovery and openapi

    def _discovery(self, request: web.Request, segments: list[str]) -> web.Response:
        registry = self.cluster.registry
        accept = request.headers.get("Accept", "")
        if len(segments) == 1:
            if discovery.wants_aggregated(accept):
                doc = discovery.aggregated(registry, core=segments[0] == "api")
                return web.Response(
                    body=orjson.dumps(doc) + b"\n",
                    headers={"Content-Type": discovery.AGGREGATED_CONTENT_TYPE},
                )
            if segments[0] == "api":
                return json_response(discovery.api_versions(self.address))
            return json_response(discovery.api_group_list(registry))
        if segments[0] == "api" and len(segments) == 2:
            found = discovery.api_resource_list(registry, "", segments[1])
        elif segments[0] == "apis" and len(segments) == 2:
            found = discovery.api_group(registry, segments[1])
        else:
            found = discovery.api_resource_list(registry, segments[1], segments[2])
        if found is None:
            raise errors.path_not_found()
        return json_response(found)

    def _openapi(self, segments: list[str]) -> web.Response:
        if segments[1:2] == ["v3"]:
            if len(segments) == 2:
                return json_response(self.openapi.root())
            document = self.openapi.document("/".join(segments[2:]))
            if document is not None:
                return json_response(document)
        raise errors.path_not_found()

    # ------------------------------------------------------------------ admin

    async def _admin(self, request: web.Request, segments: list[str]) -> web.Response:
        if segments[1:2] != ["v1"] or len(segments) != 3:
            raise errors.path_not_found()
        what = segments[2]
        if request.method == "GET" and what == "faults":
            return json_response({"rules": self.faults.to_json()})
        if request.method != "POST":
            raise errors.method_not_allowed(what, "kubesim", request.method.lower())
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise errors.bad_request(f"invalid JSON body: {exc}")
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a JSON object")
        try:
            if what == "faults":
                return json_response(self.faults.handle_admin(body))
            if what == "chaos":
                workloads = self.workloads()
                if workloads is None:
                    raise errors.service_unavailable(
                        "chaos needs the workload controllers (start kubesim with controllers)"
                    )
                action = str(body.get("action", ""))
                params = {k: v for k, v in body.items() if k != "action"}
                return json_response(workloads.chaos(action, params))
        except (ValueError, TypeError, KeyError) as exc:
            raise errors.bad_request(str(exc).strip("'\""))
        raise errors.path_not_found()


def build_app(dispatcher: Dispatcher) -> web.Application:
    """The aiohttp application serving `dispatcher` for every path and method."""
    app = web.Application(
        client_max_size=MAX_REQUEST_BODY_BYTES + 1, handler_args={"max_field_size": 65536}
    )
    app.router.add_route("*", "/{tail:.*}", dispatcher.handle)
    return app
