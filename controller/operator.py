"""The operator process: informers, the controller, the event recorder and the HTTP servers,
owned by one TaskGroup, with a bounded graceful stop.

Stop sequence (SIGTERM, SIGINT or :meth:`Operator.stop`): the controller stops taking keys;
in-flight reconciles get ``drain_timeout`` seconds to finish (then they are cancelled);
pending events are flushed; informers stop; the servers close last, so ``/healthz`` answers
until the very end.

Leader election (issue 7) plugs in through ``elector``: caches warm up in every replica, and
only the leader runs reconcile workers. Every write (workers, status, events, scale-down) goes
through ``self.client``, which is fenced on the elector (issue 16).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog
from kubernetes_asyncio.client import ApiClient
from prometheus_client import CollectorRegistry

from controller.api.constants import API_VERSION
from controller.builders import BuildConfig
from controller.caches import Caches
from controller.controller import RayClusterController
from controller.events import EventRecorder
from controller.kube import KubeClient, KubeError, NotFound, RestClientMetrics, TransportError
from controller.leaderelection import LeaderElector, LeadershipLost
from controller.options import OperatorOptions
from controller.server import HttpServers, parse_addr

__all__ = ["USER_AGENT", "Operator", "OperatorOptions", "PreflightError"]

USER_AGENT = "rayop/0.1.0"

log = structlog.get_logger(__name__)


class PreflightError(Exception):
    """The cluster cannot run rayop as it is (unreachable, or no RayCluster CRD); the message
    says what to do."""


class Operator:
    """Everything ``rayop run`` runs, against one API server."""

    def __init__(
        self,
        api_client: ApiClient,
        options: OperatorOptions,
        *,
        registry: CollectorRegistry | None = None,
        elector: LeaderElector | None = None,
        build_config: BuildConfig | None = None,
    ) -> None:
        if options.concurrency < 1:
            raise ValueError(f"--concurrency must be at least 1, got {options.concurrency}")
        self.options = options
        # Every request (lists, watches, writes) says who it is, so audit logs can tell rayop apart.
        api_client.user_agent = USER_AGENT
        self.registry = registry or CollectorRegistry()
        self.client = KubeClient(
            api_client,
            qps=options.qps,
            burst=options.burst,
            metrics=RestClientMetrics(self.registry),
        )
        self.caches = Caches(
            api_client,
            namespaces=options.namespaces,
            resync_period=options.resync_period,
            request_hooks=self.client,
        )
        self.recorder = EventRecorder(self.client)
        self.controller = RayClusterController(
            client=self.client,
            caches=self.caches,
            recorder=self.recorder,
            registry=self.registry,
            options=options,
            build_config=build_config,
        )
        self.servers = HttpServers(
            registry=self.registry,
            # Ready once the caches are warm, leader or not: a standby replica is healthy.
            ready=lambda: self.caches.has_synced,
            health_addr=parse_addr(options.health_addr, flag="--health-addr"),
            metrics_addr=parse_addr(options.metrics_addr, flag="--metrics-addr"),
        )
        self._elector: LeaderElector | None = None
        if elector is not None:
            self.attach_elector(elector)
        self._stop = asyncio.Event()

    def attach_elector(self, elector: LeaderElector) -> None:
        """Run workers only while ``elector`` holds the lease (call before :meth:`run`), and
        fence every write of this operator's client on it (see controller.leaderelection)."""
        self._elector = elector
        self.client.write_guard = elector.is_leading

    def stop(self) -> None:
        """Begin the graceful stop (safe to call from a signal handler, more than once)."""
        self._stop.set()

    async def preflight(self) -> None:
        """Check the API server answers and serves ``ray.io/v1``; raise :class:`PreflightError`.

        Without this, a missing CRD shows only as informers retrying forever and a /readyz
        that never turns ready.
        """
        try:
            await self.client.request("GET", f"/apis/{API_VERSION}")
        except NotFound:
            raise PreflightError(
                "the RayCluster CRD (rayclusters.ray.io, version v1) is not installed; "
                "install it with: kubectl apply -f manifests/crd/"
            ) from None
        except TransportError as exc:
            raise PreflightError(f"cannot reach the API server: {exc}") from None
        except KubeError as exc:
            raise PreflightError(
                f"the API server refused rayop: {exc.code} {exc.message}"
            ) from None

    async def run(self) -> None:
        """Run until :meth:`stop`; return once everything has shut down.

        Raises :class:`PreflightError` (before starting anything) if the cluster cannot run rayop.
        """
        try:
            await self.preflight()
        except PreflightError:
            await self.client.close()
            raise
        await self.servers.start()
        log.info("operator starting", namespaces=list(self.options.namespaces) or "all",
                 concurrency=self.options.concurrency, ports=self.servers.ports)  # fmt: skip
        try:
            async with asyncio.TaskGroup() as group:
                background = [
                    group.create_task(
                        _guarded(f"informer-{index}", inf.run()), name=f"informer-{index}"
                    )
                    for index, inf in enumerate(self.caches.all())
                ]
                background.append(
                    group.create_task(
                        _guarded("event-recorder", self.recorder.run()), name="event-recorder"
                    )
                )
                work = group.create_task(
                    _guarded("raycluster-controller", self._lead()), name="raycluster-controller"
                )
                stop = group.create_task(self._stop.wait(), name="stop-signal")
                await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
                await self._drain(work)
                stop.cancel()
                with contextlib.suppress(Exception):
                    await self.recorder.flush()
                for task in background:
                    task.cancel()
        except ExceptionGroup as group:
            # One task failed and the TaskGroup stopped the rest: surface the first cause
            # itself (e.g. LeadershipLost), not a group the caller must unpack.
            raise group.exceptions[0] from group
        finally:
            await self.servers.stop()
            await self.client.close()
            log.info("operator stopped")

    async def _lead(self) -> None:
        if self._elector is None:
            await self.controller.run(sync_timeout=self.options.sync_timeout)
        else:
            await self._elector.run(
                lambda: self.controller.run(sync_timeout=self.options.sync_timeout)
            )

    async def _drain(self, work: asyncio.Task[None]) -> None:
        self.controller.stop()
        if work.done():
            return
        done, _ = await asyncio.wait({work}, timeout=self.options.drain_timeout)
        if not done:
            log.warning("in-flight reconciles did not finish in time; cancelling",
                        drain_timeout=self.options.drain_timeout)  # fmt: skip
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work


async def _guarded(name: str, work: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived task, logging an unexpected exit (cancellation is the expected one)."""
    try:
        await work
    except asyncio.CancelledError:
        raise
    except LeadershipLost:
        raise  # expected and logged where it is decided; the CLI exits 1 without a traceback
    except Exception:
        log.exception("task failed; stopping the operator", task=name)
        raise
