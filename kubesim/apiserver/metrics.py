"""kube-apiserver's request metrics, on a registry of their own per server.

`apiserver_request_total{verb,group,resource,subresource,code}` and
`apiserver_request_duration_seconds{verb,group,resource,subresource}`, with the real server's
verb names (GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["ApiMetrics"]

_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.4,
    0.6,
    0.8,
    1.0,
    1.25,
    1.5,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    15,
    20,
    30,
    45,
    60,
)


class ApiMetrics:
    """The request counter and latency histogram of one simulated API server."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, API resource, subresource and HTTP response code.",
            ["verb", "group", "resource", "subresource", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, resource and subresource.",
            ["verb", "group", "resource", "subresource"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def observe(
        self, verb: str, group: str, resource: str, subresource: str, code: int, seconds: float
    ) -> None:
        """Count one finished request (label children are cached: this runs per request)."""
        key = (verb, group, resource, subresource, code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(verb, group, resource, subresource, str(code)),
                self.duration.labels(verb, group, resource, subresource),
            )
        children[0].inc()
        if verb != "WATCH":
            children[1].observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
