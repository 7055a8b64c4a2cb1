"""controller-runtime's reconcile metrics, under the names users' dashboards already query.

``controller_runtime_reconcile_total{controller,result}`` (result ∈ success, error, requeue,
requeue_after, all pre-initialised to 0), ``controller_runtime_reconcile_errors_total``,
``controller_runtime_terminal_reconcile_errors_total``,
``controller_runtime_reconcile_time_seconds`` (controller-runtime's buckets),
``controller_runtime_max_concurrent_reconciles`` and ``controller_runtime_active_workers``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RESULTS", "ControllerMetrics"]

RESULTS = ("success", "error", "requeue", "requeue_after")

_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30,
    40, 50, 60,
)  # fmt: skip


class ControllerMetrics:
    """The metric family of one controller (``controller`` label = its name)."""

    def __init__(self, registry: CollectorRegistry, controller: str, *, concurrency: int) -> None:
        self.controller = controller
        self.total = Counter(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=registry,
        )
        self.errors = Counter(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self.terminal_errors = Counter(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self.time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.max_concurrent = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
            registry=registry,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=registry,
        )
        for result in RESULTS:
            self.total.labels(controller=controller, result=result)
        self.errors.labels(controller=controller)
        self.terminal_errors.labels(controller=controller)
        self.max_concurrent.labels(controller=controller).set(concurrency)
        self.active_workers.labels(controller=controller).set(0)

    def finished(self, result: str, seconds: float) -> None:
        """Record one finished reconcile."""
        self.total.labels(controller=self.controller, result=result).inc()
        self.time.labels(controller=self.controller).observe(seconds)
        if result == "error":
            self.errors.labels(controller=self.controller).inc()
