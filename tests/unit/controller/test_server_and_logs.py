"""Unit tests for the health/metrics server and the logging setup."""

from __future__ import annotations

import io
import json

import aiohttp
import pytest
import structlog
from prometheus_client import CollectorRegistry, Counter

from controller.logs import configure_logging
from controller.server import HttpServers, parse_addr


async def test_readyz_follows_the_ready_check_and_metrics_are_served() -> None:
    """/readyz is 503 until ready, then 200; /healthz is 200; /metrics shows the registry."""
    registry = CollectorRegistry()
    Counter("demo_total", "A demo counter.", registry=registry).inc()
    ready = False
    servers = HttpServers(
        registry=registry,
        ready=lambda: ready,
        health_addr=("127.0.0.1", 0),
        metrics_addr=("127.0.0.1", 0),
    )
    await servers.start()
    base = f"http://127.0.0.1:{servers.ports['health']}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503
                assert "[-]informers-synced failed" in await response.text()
            ready = True
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            metrics = f"http://127.0.0.1:{servers.ports['metrics']}/metrics"
            async with http.get(metrics) as response:
                assert "demo_total 1.0" in await response.text()
    finally:
        await servers.stop()


def test_parse_addr_accepts_host_port_and_disables_on_zero() -> None:
    """HOST:PORT and :PORT parse; 0 disables; anything else names the flag."""
    assert parse_addr("127.0.0.1:8080", flag="--x") == ("127.0.0.1", 8080)
    assert parse_addr(":9090", flag="--x") == ("0.0.0.0", 9090)
    assert parse_addr("0", flag="--x") is None
    with pytest.raises(ValueError, match="--metrics-addr: expected HOST:PORT"):
        parse_addr("localhost", flag="--metrics-addr")


def test_json_logs_carry_bound_context() -> None:
    """Lines logged inside bound_contextvars carry raycluster and reconcile_id, as JSON."""
    out = io.StringIO()
    configure_logging(fmt="json", level="info", stream=out)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(raycluster="ns/c", reconcile_id="00002a"):
        log.info("applied", kind="StatefulSet")
    log.debug("hidden at info level")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == "applied"
    assert (lines[0]["raycluster"], lines[0]["reconcile_id"]) == ("ns/c", "00002a")
    assert lines[0]["level"] == "info"


def test_unknown_log_level_is_rejected_by_name() -> None:
    """A bad level names the flag and the value."""
    with pytest.raises(ValueError, match="--log-level: unknown level 'loud'"):
        configure_logging(level="loud", stream=io.StringIO())
