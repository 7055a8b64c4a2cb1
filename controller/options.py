"""How the operator runs: every tunable and its default, in one place.

``rayop run`` and ``rayop dev`` take their flag defaults from :class:`OperatorOptions` (the CLI
reads the dataclass fields, it never retypes a number), the :class:`~controller.operator.Operator`
is built from an instance, and the controller and caches get their values from it. A default
changed here changes the flag, its ``--help`` text and what tests and benchmarks run with.
docs/operations.md's tuning table is checked against ``rayop run --help``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["OperatorOptions", "default"]


@dataclass(frozen=True, kw_only=True)
class OperatorOptions:
    """How the operator runs; the CLI builds this from ``rayop run`` flags."""

    #: Watch only these namespaces (empty: all).
    namespaces: tuple[str, ...] = ()
    #: RayClusters reconciled in parallel (the sweep in docs/performance.md picked 16).
    concurrency: int = 16
    #: Client-side request rate and burst, shared by writes and the informers' reads.
    qps: float = 100.0
    burst: int = 200
    health_addr: str = "0.0.0.0:8081"
    metrics_addr: str = "0.0.0.0:8080"
    #: On SIGTERM, how long in-flight reconciles may finish.
    drain_timeout: float = 30.0
    #: Re-reconcile every cached RayCluster this often, from the cache (None: never).
    resync_period: float | None = 300.0
    #: How long to wait for the caches' first lists before giving up.
    sync_timeout: float = 120.0
    #: A reconcile running longer is cancelled (and retried).
    reconcile_timeout: float = 60.0
    #: After a terminal failure (the server refused an object), look again this much later.
    terminal_requeue: float = 600.0


def default(name: str) -> Any:
    """The default of the option ``name`` (for the CLI's flags)."""
    for option in fields(OperatorOptions):
        if option.name == name:
            return option.default
    raise KeyError(name)
