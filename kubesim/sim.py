"""`KubeSim`: a simulated Kubernetes cluster served over HTTP(S) on loopback, in-process.

    async with KubeSim() as sim:              # port 0: the OS picks one
        sim.url, sim.kubeconfig_path         # point kubectl or kubernetes-asyncio here
        sim.cluster                          # the in-process API (kubesim.apiserver.cluster.Cluster)
        sim.audit, sim.faults, sim.workloads
        sim.admin_token                      # the kubeconfig's bearer token (system:masters)

HTTP requests are authenticated and authorized (`authorization="rbac"`, the default, or
`"always-allow"`); kubesim's own components use the in-process API and are not.

With `controllers=True` the workload controllers and kubelet (`kubesim.controllers`) run as a
task owned by the KubeSim; keyword options that are `WorkloadsConfig` fields configure them.
With `controllers=False` nothing runs on its own: pods stay Pending, and pods are deleted at
once even when they have a grace period (no kubelet would ever finish the deletion).

`runtime="process"` (a `WorkloadsConfig` field, like `image_map={"IMAGE": "DIR"}`) runs pods as
real processes: the KubeSim then also opens a `PodHost` (kubesim.podhost): a bridge for the
pods, the API over HTTPS on the bridge address and the cluster DNS there. `start()` raises
`HostUnavailable` (one line naming what is missing) when the host lacks root or iproute2.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import random
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog
from aiohttp import web

from kubesim.apiserver.audit import AuditLog
from kubesim.apiserver.auth import AUTHORIZATION_MODES
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


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


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
        authorization: str = "rbac",
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
        if authorization not in AUTHORIZATION_MODES:
            raise ValueError(
                f"KubeSim: authorization must be one of {', '.join(AUTHORIZATION_MODES)}, not {authorization!r}"
            )
        self.cluster.auth.mode = authorization
        #: The kubeconfig's bearer token: the cluster admin (group system:masters).
        self.admin_token = self.cluster.auth.admin_token
        self.faults = Faults(self.cluster, seed=seed)
        self.workloads: Any = None
        self.url = ""
        self.kubeconfig_path: Path = self._requested_kubeconfig or Path()
        self._tmpdir: Path | None = None
        self._runner: web.AppRunner | None = None
        self._dispatcher: Dispatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._config = WorkloadsConfig()
        #: The bridge, in-pod API address and DNS of the process runtime (None when simulated).
        self.pod_host: Any = None

    @property
    def metrics(self) -> Any:
        """The API server's request metrics (`kubesim.apiserver.metrics.ApiMetrics`)."""
        assert self._dispatcher is not None, "KubeSim is not running"
        return self._dispatcher.metrics

    def _resolve_config(self) -> WorkloadsConfig:
        config = self._workloads_config
        if config is None:
            unknown = set(self._options) - WorkloadsConfig.field_names()
            if unknown:
                raise TypeError(f"KubeSim: unknown option(s) {', '.join(sorted(unknown))}")
            config = WorkloadsConfig(**self._options)
        assert isinstance(config, WorkloadsConfig)
        return config

    def _make_workloads(self) -> Any:
        """The Workloads to run (a seam for tests that assemble kubelets themselves)."""
        return Workloads(self.cluster, self._config)

    async def _start_workloads(self, runner: web.AppRunner, workdir: Path) -> None:
        config = self._resolve_config()
        if config.runtime == "process":
            from kubesim.podhost import PodHost

            self.pod_host = await PodHost.open(
                runner=runner, config=config, workdir=workdir, cluster=self.cluster
            )
            config = dataclasses.replace(config, pod_cidr=self.pod_host.pod_cidr)
        self._config = config
        self.workloads = self._make_workloads()
        if self.pod_host is not None:
            self.workloads.runtime_factory = self.pod_host.host.runtime_factory(
                cluster=self.cluster, config=config, clock=self.workloads.clock
            )
        assert self._dispatcher is not None
        self._dispatcher.streams.connector = NodeStreams(self.workloads.kubelets)
        # `default/kubernetes` endpoints: where in-pod clients reach the API (the bridge).
        if self.pod_host is not None:
            self.workloads.set_apiserver_address(self.pod_host.api_host, self.pod_host.api_port)
        elif _is_ipv4(self.host):
            self.workloads.set_apiserver_address(self.host, runner.addresses[0][1])
        self._task = asyncio.create_task(self.workloads.run(), name="kubesim-workloads")
        self._task.add_done_callback(self._workloads_ended)

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
            assert self.cluster.admission is not None
            self.cluster.admission.set_root_ca(ca_pem.decode())
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
            self._requested_kubeconfig or self._tmpdir / "kubeconfig",
            self.url,
            ca_pem=ca_pem,
            token=self.admin_token,
        )
        if self.controllers:
            try:
                await self._start_workloads(runner, self._tmpdir)
            except BaseException:
                await self.stop()
                raise

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
        if self.pod_host is not None:
            # End the pods' real processes and sandboxes, then DNS, the HTTPS site, the bridge.
            for kubelet in self.workloads.kubelets.values():
                kubelet.stop()
            await self.pod_host.close()
            self.pod_host = None
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
