"""client-go's REST client metrics, so the operator's traffic can be counted and graphed.

``rest_client_requests_total{code,method}`` is the one users and tests rely on (issue 6 §8):
``code`` is the HTTP status as a string (``"<error>"`` when there was no answer) and
``method`` the HTTP method, as in client-go. Latency and time spent in the client-side rate
limiter are histograms by ``verb``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["RestClientMetrics"]

_LATENCY_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class RestClientMetrics:
    """The ``rest_client_*`` metric family, registered on the caller's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code and method.",
            ["code", "method"],
            registry=registry,
        )
        self.duration = Histogram(
            "rest_client_request_duration_seconds",
            "Request latency in seconds, by verb.",
            ["verb"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.rate_limiter_duration = Histogram(
            "rest_client_rate_limiter_duration_seconds",
            "Client-side rate limiter latency in seconds, by verb.",
            ["verb"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(
        self, *, method: str, code: str, seconds: float, throttled: float, verb: str = ""
    ) -> None:
        """Record one finished request; ``verb`` (default: ``method``) labels the histograms.

        Informers' requests say ``LIST`` or ``WATCH`` (a watch's seconds are to its response
        headers, not its whole life), so their latency is apart from the writes' ``PATCH``.
        """
        self.requests.labels(code=code, method=method).inc()
        self.duration.labels(verb=verb or method).observe(seconds)
        self.rate_limiter_duration.labels(verb=verb or method).observe(throttled)
