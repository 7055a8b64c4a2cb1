"""The operator's small HTTP servers: ``/healthz``, ``/readyz`` and ``/metrics`` (aiohttp).

``/healthz`` answers 200 while the process's event loop runs (a wedged loop cannot answer).
``/readyz`` answers 200 only once every informer cache has synced (leader or not: a standby
replica with warm caches is ready to take over), 503 before, in controller-runtime's ``[+]name ok`` / ``[-]name failed`` text form.
``/metrics`` is the Prometheus exposition of the operator's registry. Health and metrics may
share one address or use two (``--health-addr``, ``--metrics-addr``); ``0`` disables one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HttpServers", "parse_addr"]


def parse_addr(addr: str, *, flag: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (or ``:PORT``) → ``(host, port)``; ``"0"`` or ``""`` → None (disabled)."""
    if addr in ("", "0"):
        return None
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{flag}: expected HOST:PORT (e.g. 0.0.0.0:8080), got {addr!r}")
    return (host or "0.0.0.0", int(port))


class HttpServers:
    """Serves health and metrics on one or two addresses until :meth:`stop`."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        ready: Callable[[], bool],
        health_addr: tuple[str, int] | None,
        metrics_addr: tuple[str, int] | None,
    ) -> None:
        self._registry = registry
        self._ready = ready
        self._addrs: dict[tuple[str, int], list[str]] = {}
        if health_addr:
            self._addrs.setdefault(health_addr, []).append("health")
        if metrics_addr:
            self._addrs.setdefault(metrics_addr, []).append("metrics")
        self._runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}

    async def start(self) -> None:
        """Bind every address; ``ports`` then maps "health"/"metrics" to the bound port."""
        for (host, port), roles in self._addrs.items():
            app = web.Application()
            if "health" in roles:
                app.router.add_get("/healthz", self._healthz)
                app.router.add_get("/readyz", self._readyz)
            if "metrics" in roles:
                app.router.add_get("/metrics", self._metrics)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, port)
            await site.start()
            self._runners.append(runner)
            bound = runner.addresses[0][1] if runner.addresses else port
            for role in roles:
                self.ports[role] = bound

    async def stop(self) -> None:
        """Close every listener."""
        await asyncio.gather(*(runner.cleanup() for runner in self._runners))
        self._runners.clear()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="[+]ping ok\nhealthz check passed\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="[+]informers-synced ok\nreadyz check passed\n")
        return web.Response(status=503, text="[-]informers-synced failed\nreadyz check failed\n")

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
