"""`KubeSim`: a simulated Kubernetes cluster served over HTTP(S) on loopback, in-process.

    async with KubeSim() as sim:              # port 0: the OS picks one
        sim.url, sim.kubeconfig_path         # point kubectl or kubernetes-asyncio here
        sim.cluster                          # the in-process API (kubesim.apiserver.cluster.Cluster)
        sim.audit, sim.faults, sim.workloads

With `controllers=True` the workload controllers and kubelet (`kubesim.controllers`) run as a
task owned by the KubeSim; keyword options that are `WorkloadsConfig` fields configure them.
With `controllers=False` nothing runs on its own: pods stay Pending, and pods are deleted at
once even when they have a grace period (no kubelet would ever finish the deletion).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog
from aiohttp import web

from kubesim.apiserver.audit import AuditLog
from kubesim.apiserver.cluster import Cluster
from kubesim.apiserver.faults import Faults
from kubesim.apiserver.server import ServerOptions
from kubesim.apiserver.server.app import Dispatcher, build_app
from kubesim.apiserver.tls import generate_tls
from kubesim.common.config import WorkloadsConfig
from kubesim.kubeconfig import write_kubeconfig
from kubesim.kubelet.streams import NodeStreams
from kubesim.workloads import Workloads

__all__ = ["KubeSim"]

_log = structlog.get_logger("kubesim")


class KubeSim:
    """One simulated cluster: API server, optional controllers and kubelet, kubeconfig."""

    def __init__(
        self,
        port: int = 0,
        tls: bool = False,
        kubeconfig_path: Path | str | None = None,
        controllers: bool = True,
        *,
        host: str = "127.0.0.1",
        history_size: int = 10_000,
        bookmark_interval: float = 60.0,
        audit_path: Path | str | None = None,
        audit_max_entries: int = 100_000,
        seed: int | None = None,
        workloads_config: Any = None,
        **options: Any,
    ) -> None:
        self.port = port
        self.tls = tls
        self.host = host
        self.controllers = controllers
        self._requested_kubeconfig = Path(kubeconfig_path) if kubeconfig_path else None
        self._seed = seed
        self._bookmark_interval = bookmark_interval
        self._workloads_config = workloads_config
        self._options = options
        if options and not controllers:
            raise TypeError(
                f"KubeSim: unknown option(s) {', '.join(sorted(options))} (workload options need controllers=True)"
            )
        self.cluster = Cluster(
            history_size=history_size,
            graceful_pod_deletion=controllers,
            audit=AuditLog(audit_path, max_entries=audit_max_entries),
            rng=random.Random(seed),
        )
        self.audit = self.cluster.audit
        self.faults = Faults(self.cluster, seed=seed)
        self.workloads: Any = None
        self.url = ""
        self.kubeconfig_path: Path = self._requested_kubeconfig or Path()
        self._tmpdir: Path | None = None
        self._runner: web.AppRunner | None = None
        self._dispatcher: Dispatcher | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def metrics(self) -> Any:
        """The API server's request metrics (`kubesim.apiserver.metrics.ApiMetrics`)."""
        assert self._dispatcher is not None, "KubeSim is not running"
        return self._dispatcher.metrics

    def _make_workloads(self) -> Any:
        config = self._workloads_config
        if config is None:
            unknown = set(self._options) - WorkloadsConfig.field_names()
            if unknown:
                raise TypeError(f"KubeSim: unknown option(s) {', '.join(sorted(unknown))}")
            config = WorkloadsConfig(**self._options)
        return Workloads(self.cluster, config)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve the API, write the kubeconfig and start the controllers."""
        self._tmpdir = Path(tempfile.mkdtemp(prefix="kubesim-"))
        ssl_context = None
        ca_pem = None
        if self.tls:
            material = generate_tls(self._tmpdir / "tls", self.host)
            ssl_context, ca_pem = material.server_context(), material.ca_pem
        self._dispatcher = Dispatcher(
            self.cluster,
            self.faults,
            ServerOptions(bookmark_interval=self._bookmark_interval, seed=self._seed),
            workloads=lambda: self.workloads,
        )
        runner = web.AppRunner(
            build_app(self._dispatcher), access_log=None, handle_signals=False, shutdown_timeout=0.2
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(
            runner, self.host, self.port, ssl_context=ssl_context, reuse_address=True
        )
        await site.start()
        port = runner.addresses[0][1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{self.host}:{port}"
        self._dispatcher.address = f"{self.host}:{port}"
        self.kubeconfig_path = write_kubeconfig(
            self._requested_kubeconfig or self._tmpdir / "kubeconfig", self.url, ca_pem=ca_pem
        )
        if self.controllers:
            self.workloads = self._make_workloads()
            self._dispatcher.streams.connector = NodeStreams(self.workloads.kubelets)
            self._task = asyncio.create_task(self.workloads.run(), name="kubesim-workloads")
            self._task.add_done_callback(self._workloads_ended)

    @staticmethod
    def _workloads_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("kubesim.workloads_stopped", exc_info=task.exception())

    async def stop(self) -> None:
        """Stop the controllers, close watches, stop serving, remove temporary files."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._dispatcher is not None:
            self._dispatcher.watches.close_all()
        self.cluster.broadcaster.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.audit.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
