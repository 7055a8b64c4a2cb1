"""`Workloads`: starts and owns every simulated controller, the scheduler, the nodes and kubelets.

Wiring only: shared caches (one subscription per resource, indexed by owner and node), one
`Kubelet` per node, and the typed chaos methods, which `chaos(action, params)` dispatches to for
the admin endpoint and CLI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, key_of
from kubesim.common.store import Cache
from kubesim.controllers.deployment import DeploymentController
from kubesim.controllers.endpoints import EndpointsController
from kubesim.controllers.endpoints_apiserver import ApiserverEndpoints
from kubesim.controllers.endpointslices import EndpointSliceController
from kubesim.controllers.hpa import HPAController
from kubesim.controllers.nodelifecycle import NodeLifecycle
from kubesim.controllers.replicaset import ReplicaSetController
from kubesim.controllers.statefulset import StatefulSetController
from kubesim.controllers.usage import UsageStore
from kubesim.faults.chaos import ChaosMixin
from kubesim.kubelet import agent as _agent
from kubesim.kubelet import nodes as _nodes
from kubesim.kubelet import simulated as _simulated
from kubesim.kubelet.lease import NodeLease
from kubesim.kubelet.runtime import ContainerRuntime
from kubesim.scheduler.scheduler import Scheduler

__all__ = ["Workloads"]

log = structlog.get_logger(__name__)


class Workloads(ChaosMixin):
    """Every workload component of kubesim, running in-process against one `Cluster`."""

    def __init__(self, cluster: ClusterAPI, config: WorkloadsConfig | None = None) -> None:
        self.cluster = cluster
        self.config = config or WorkloadsConfig()
        #: Builds each kubelet's container runtime (None: the simulated one); the assembly sets
        #: it before `run()` for the process runtime.
        self.runtime_factory: Callable[[_agent.Kubelet], ContainerRuntime] | None = None
        self.clock = Clock()
        self.faults = _simulated.Faults()
        self.pods = Cache(cluster, "pods", by_node=True)
        self.nodes = Cache(cluster, "nodes")
        self.kubelets: dict[str, _agent.Kubelet] = {}
        self._indexes: set[int] = set()
        self.statefulsets = Cache(cluster, "statefulsets", "apps")
        self.revisions = Cache(cluster, "controllerrevisions", "apps")
        self.claims = Cache(cluster, "persistentvolumeclaims")
        self.deployments = Cache(cluster, "deployments", "apps")
        self.replicasets = Cache(cluster, "replicasets", "apps")
        self.hpas = Cache(cluster, "horizontalpodautoscalers", "autoscaling")
        self.services = Cache(cluster, "services")
        self.endpoints = Cache(cluster, "endpoints")
        self.endpointslices = Cache(cluster, "endpointslices", "discovery.k8s.io")
        self.usage = UsageStore()
        self._caches = [
            self.services,
            self.endpoints,
            self.endpointslices,
            self.hpas,
            self.nodes,
            self.pods,
            self.statefulsets,
            self.revisions,
            self.claims,
            self.deployments,
            self.replicasets,
        ]
        self.scheduler = Scheduler(
            cluster=cluster, config=self.config, clock=self.clock, pods=self.pods, nodes=self.nodes
        )
        self.statefulset_controller = StatefulSetController(
            cluster=cluster,
            config=self.config,
            clock=self.clock,
            sets=self.statefulsets,
            pods=self.pods,
            revisions=self.revisions,
            claims=self.claims,
        )
        self.replicaset_controller = ReplicaSetController(
            cluster=cluster,
            config=self.config,
            clock=self.clock,
            sets=self.replicasets,
            pods=self.pods,
        )
        self.deployment_controller = DeploymentController(
            cluster=cluster,
            config=self.config,
            clock=self.clock,
            deployments=self.deployments,
            sets=self.replicasets,
            pods=self.pods,
        )
        self.hpa_controller = HPAController(
            cluster=cluster,
            config=self.config,
            clock=self.clock,
            hpas=self.hpas,
            pods=self.pods,
            usage=self.usage,
            replicasets=self.replicasets,
        )
        self.node_lifecycle = NodeLifecycle(
            cluster=cluster,
            clock=self.clock,
            nodes=self.nodes,
            pods=self.pods,
            record_events=self.config.record_events,
        )
        self._new_endpoint_controllers()
        #: Per node: its kubelet task and its lease renewer.
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._task_group: asyncio.TaskGroup | None = None
        self.pods.add_handler(self._route_pod)
        self.nodes.add_handler(self._on_node)
        self._runners: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("scheduler", self.scheduler.run),
            ("statefulset-controller", self.statefulset_controller.run),
            ("replicaset-controller", self.replicaset_controller.run),
            ("deployment-controller", self.deployment_controller.run),
            ("horizontal-pod-autoscaler", self.hpa_controller.run),
            ("endpoint-controller", self.endpoints_controller.run),
            ("endpointslice-controller", self.endpointslice_controller.run),
            ("apiserver-endpoints", self.apiserver_endpoints.run),
        ]
        self.started = asyncio.Event()

    def _new_endpoint_controllers(self) -> None:
        common: dict[str, Any] = {
            "cluster": self.cluster,
            "config": self.config,
            "clock": self.clock,
        }
        self.endpoints_controller = EndpointsController(
            **common, services=self.services, pods=self.pods, endpoints=self.endpoints
        )
        self.endpointslice_controller = EndpointSliceController(
            **common,
            services=self.services,
            pods=self.pods,
            slices=self.endpointslices,
            nodes=self.nodes,
        )
        self.apiserver_endpoints = ApiserverEndpoints(
            **common, endpoints=self.endpoints, slices=self.endpointslices
        )

    def set_apiserver_address(self, host: str, port: int) -> None:
        """Publish the API server's address in the `default/kubernetes` Endpoints and slice."""
        self.apiserver_endpoints.set_address(host, port)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Register the nodes, then run every controller and kubelet until cancelled."""
        self.clock.monotonic()
        self.clock.now()
        for cache in self._caches:
            cache.start()
        self._register_nodes()
        try:
            async with asyncio.TaskGroup() as group:
                self._task_group = group
                for name, runner in self._runners:
                    group.create_task(self._guard(name, runner), name=f"kubesim-{name}")
                for kubelet in list(self.kubelets.values()):
                    self._start_kubelet(kubelet)
                self.started.set()
        finally:
            self._task_group = None
            for cache in self._caches:
                cache.stop()

    async def _guard(self, name: str, runner: Callable[[], Awaitable[None]]) -> None:
        try:
            await runner()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("workload_component_crashed", component=name)
            raise

    def _start_kubelet(self, kubelet: _agent.Kubelet) -> None:
        if self._task_group is None or kubelet.name in self._tasks:
            return
        name = kubelet.name
        tasks = [
            self._task_group.create_task(
                self._guard(f"kubelet-{name}", kubelet.run), name=f"kubesim-kubelet-{name}"
            )
        ]
        if self.config.node_lease_seconds:
            lease = NodeLease(
                cluster=self.cluster,
                clock=self.clock,
                node=name,
                duration_seconds=self.config.node_lease_seconds,
            )
            tasks.append(
                self._task_group.create_task(
                    self._guard(
                        f"node-lease-{name}", lambda: lease.run(lambda: kubelet.partitioned)
                    ),
                    name=f"kubesim-node-lease-{name}",
                )
            )
        self._tasks[name] = tasks
        for pod in self.pods.on_node(kubelet.name):
            kubelet.queue.add(key_of(pod))

    def _register_nodes(self) -> None:
        now = self.clock.rfc3339()
        for index in range(self.config.nodes):
            obj = _nodes.node_object(self.config, index, now=now)
            name = obj["metadata"]["name"]
            if self.nodes.get(ObjectKey("", name)) is None:
                try:
                    created = self.cluster.create(
                        self.nodes.resource, None, obj, user=f"system:node:{name}"
                    )
                    if created.get("status") != obj["status"]:
                        self.cluster.update(
                            self.nodes.resource,
                            None,
                            name,
                            {**created, "status": obj["status"]},
                            user=f"system:node:{name}",
                            subresource="status",
                        )
                except StatusError as exc:
                    if exc.code != 409:
                        raise
            self._new_kubelet(name, index)

    def _new_kubelet(self, name: str, index: int) -> _agent.Kubelet:
        self._indexes.add(index)
        kubelet = _agent.Kubelet(
            cluster=self.cluster,
            config=self.config,
            clock=self.clock,
            index=index,
            name=name,
            pods=self.pods,
            faults=self.faults,
            runtime_factory=self.runtime_factory,
        )
        self.kubelets[name] = kubelet
        return kubelet

    def _adopt_node(self, node: dict[str, Any]) -> None:
        """A Node created after startup (kubectl, `add_node`) gets a kubelet of its own."""
        index = next(i for i in range(len(self._indexes) + 1) if i not in self._indexes)
        kubelet = self._new_kubelet(node["metadata"]["name"], index)
        self._start_kubelet(kubelet)

    # ------------------------------------------------------------------ routing

    def _route_pod(self, event: str, old: dict[str, Any] | None, pod: dict[str, Any]) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return
        kubelet = self.kubelets.get(node)
        if kubelet is not None:
            kubelet.queue.add(key_of(pod))
        elif event != "DELETED" and self.nodes.get(ObjectKey("", node)) is None:
            # Bound to a node that does not exist: the pod garbage collector's job.
            asyncio.get_running_loop().call_soon(self._collect_orphan, key_of(pod))

    def _on_node(self, event: str, old: dict[str, Any] | None, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        if event != "DELETED":
            if name not in self.kubelets and self._task_group is not None:
                self._adopt_node(node)
            return
        kubelet = self.kubelets.pop(name, None)
        if kubelet is not None:
            kubelet.stop()
            self._indexes.discard(kubelet.index)
        for task in self._tasks.pop(name, []):
            task.cancel()
        loop = asyncio.get_running_loop()
        for pod in self.pods.on_node(name):
            loop.call_soon(self._collect_orphan, key_of(pod))

    def _collect_orphan(self, key: ObjectKey) -> None:
        """PodGC: a pod bound to a vanished node is marked Failed, then force-deleted."""
        pod = self.pods.get(key)
        if pod is None:
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or self.nodes.get(ObjectKey("", node)) is not None:
            return
        user = "system:serviceaccount:kube-system:pod-garbage-collector"
        status = dict(pod.get("status") or {})
        if status.get("phase") not in ("Succeeded", "Failed"):
            now = self.clock.rfc3339()
            conditions = [
                c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"
            ]
            conditions.append(
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists",
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                }
            )
            status.update(phase="Failed", conditions=conditions)
            body = {"metadata": {"name": key.name, "namespace": key.namespace}, "status": status}
            try:
                self.cluster.update(
                    self.pods.resource,
                    key.namespace,
                    key.name,
                    body,
                    user=user,
                    subresource="status",
                    owned=True,
                )
            except StatusError as exc:
                if exc.code != 404:
                    raise
        try:
            self.cluster.delete(
                self.pods.resource, key.namespace, key.name, user=user, grace_period_seconds=0
            )
        except StatusError as exc:
            if exc.code != 404:
                raise
