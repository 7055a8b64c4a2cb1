"""`Workloads`: starts and owns every simulated controller, the scheduler and the kubelet."""

from __future__ import annotations

import asyncio
from typing import Any

from kubesim.controllers.config import WorkloadsConfig

__all__ = ["Workloads"]


class Workloads:
    """Every workload component of kubesim (skeleton: the components land in later commits)."""

    def __init__(self, cluster: Any, config: WorkloadsConfig | None = None) -> None:
        self.cluster = cluster
        self.config = config or WorkloadsConfig()

    async def run(self) -> None:
        """Run every controller and the kubelet until cancelled."""
        await asyncio.Event().wait()

    def chaos(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Dispatch one chaos action from the admin endpoint; returns a JSON-able result."""
        raise ValueError(f"chaos: unknown action {action!r}")
