"""Failure injection: the typed chaos methods of `Workloads`, and the `chaos(action, params)`
dispatch the admin endpoint and `kubesim chaos` use.

Each failure shows up exactly where a real cluster shows it: a crash is a terminated container
state, a restart and then CrashLoopBackOff; not-ready is a failing readiness probe (Unhealthy
events, Ready=False); an eviction is phase Failed with reason Evicted, the kubelet's message and
a DisruptionTarget condition; a failed pull is ErrImagePull then ImagePullBackOff. Bad
arguments raise ValueError with a message naming the parameter (the endpoint answers 400).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey
from kubesim.controllers.usage import UsageStore
from kubesim.kubelet import simulated as _simulated
from kubesim.kubelet.nodes import node_name, node_object

if TYPE_CHECKING:
    from kubesim.common.api import ClusterAPI
    from kubesim.common.store import Cache
    from kubesim.controllers.nodelifecycle import NodeLifecycle
    from kubesim.kubelet.agent import Kubelet

__all__ = ["ChaosMixin"]


class ChaosMixin:
    """Fault methods; mixed into `Workloads`, which provides the attributes below."""

    cluster: ClusterAPI
    config: WorkloadsConfig
    clock: Clock
    pods: Cache
    nodes: Cache
    kubelets: dict[str, Kubelet]
    node_lifecycle: NodeLifecycle
    faults: _simulated.Faults
    usage: UsageStore

    # ------------------------------------------------------------------ dispatch

    def chaos(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run chaos `action` with keyword `params`; the JSON-able result says what happened."""
        actions: dict[str, Callable[..., dict[str, Any]]] = {
            "crash_container": self.crash_container,
            "set_not_ready": self.set_not_ready,
            "fail_liveness": self.fail_liveness,
            "fail_pod": self.fail_pod,
            "evict_pod": self.evict_pod,
            "delete_node": self.delete_node,
            "add_node": self.add_node,
            "partition_node": self.partition_node,
            "stall_startup": self.stall_startup,
            "fail_image_pull": self.fail_image_pull,
            "set_pod_usage": self.set_pod_usage,
        }
        method = actions.get(action.replace("-", "_"))
        if method is None:
            raise ValueError(
                f"chaos: unknown action {action!r}; known: {', '.join(sorted(actions))}"
            )
        accepted = set(inspect.signature(method).parameters)
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ValueError(
                f"chaos {action}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(sorted(accepted))}"
            )
        result: dict[str, Any] = method(**params)
        return {"action": action, **result}

    # ------------------------------------------------------------------ containers

    def crash_container(
        self,
        pod: str,
        namespace: str = "default",
        container: str | None = None,
        exit_code: int = 1,
        repeat: bool = False,
        after: float = 0.0,
    ) -> dict[str, Any]:
        """Make a running container exit with `exit_code`; `repeat` keeps it crashing `after`
        seconds into every restart, which drives it into CrashLoopBackOff."""
        kubelet, key, uid, name = self._locate(namespace, pod, container)
        if (
            not isinstance(exit_code, int)
            or isinstance(exit_code, bool)
            or not 0 <= exit_code <= 255
        ):
            raise ValueError(
                f"chaos crash_container: exit_code must be an integer 0-255, got {exit_code!r}"
            )
        plan = _simulated.CrashPlan(exit_code=exit_code, repeat=bool(repeat), after=float(after))
        if repeat:
            self.faults.crashes[(uid, name)] = plan
        else:
            self.faults.crashes.pop((uid, name), None)
        if not _simulated_runtime(kubelet).crash(uid, name, plan):
            raise ValueError(
                f"chaos crash_container: container {name!r} of pod {key} is not running"
            )
        return {"pod": str(key), "container": name, "exitCode": exit_code, "repeat": bool(repeat)}

    def set_not_ready(
        self,
        pod: str,
        namespace: str = "default",
        container: str | None = None,
        ready: bool = False,
    ) -> dict[str, Any]:
        """Make a container's readiness probe fail (or pass again with `ready=True`)."""
        kubelet, key, uid, name = self._locate(namespace, pod, container)
        if ready:
            self.faults.not_ready.discard((uid, name))
        else:
            self.faults.not_ready.add((uid, name))
        _simulated_runtime(kubelet).readiness_changed(uid, name)
        return {"pod": str(key), "container": name, "ready": bool(ready)}

    def fail_liveness(
        self, pod: str, namespace: str = "default", container: str | None = None
    ) -> dict[str, Any]:
        """Fail a container's liveness probe failureThreshold times; the kubelet then kills and
        restarts it (Unhealthy events, Killing, exit 137, restartCount + 1)."""
        kubelet, key, uid, name = self._locate(namespace, pod, container)
        if not _simulated_runtime(kubelet).fail_liveness(uid, name):
            raise ValueError(f"chaos fail_liveness: container {name!r} of pod {key} is not running")
        return {"pod": str(key), "container": name}

    # ------------------------------------------------------------------ pods

    def fail_pod(
        self,
        pod: str,
        namespace: str = "default",
        exit_code: int = 1,
        reason: str = "",
        message: str = "",
    ) -> dict[str, Any]:
        """Kill every container with `exit_code` and put the pod in phase Failed."""
        kubelet, key, _, _ = self._locate(namespace, pod, None)
        kubelet.terminate(key, reason=reason, message=message, exit_code=int(exit_code))
        return {"pod": str(key), "phase": "Failed", "reason": reason}

    def evict_pod(
        self, pod: str, namespace: str = "default", resource: str = "memory"
    ) -> dict[str, Any]:
        """A node-pressure eviction, reported like the kubelet's eviction manager."""
        kubelet, key, _, _ = self._locate(namespace, pod, None)
        if resource not in ("memory", "ephemeral-storage", "pid"):
            raise ValueError(
                f"chaos evict_pod: resource must be memory, ephemeral-storage or pid, got {resource!r}"
            )
        stored = self.pods.get(key) or {}
        containers = [c["name"] for c in (stored.get("spec") or {}).get("containers") or ()]
        threshold, available, using = {
            "memory": ("100Mi", "45Mi", "2Gi"),
            "ephemeral-storage": ("10%", "512Mi", "4Gi"),
            "pid": ("10%", "100", "30000"),
        }[resource]
        message = f"The node was low on resource: {resource}. Threshold quantity: {threshold}, available: {available}. "
        if containers and resource != "pid":
            message += f"Container {containers[0]} was using {using}, request is 0, has larger consumption of {resource}. "
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "TerminationByKubelet",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": kubelet.events_time(),
        }
        kubelet.terminate(
            key,
            reason="Evicted",
            message=message,
            exit_code=137,
            condition=condition,
            event=("Evicted", message),
        )
        return {"pod": str(key), "phase": "Failed", "reason": "Evicted", "message": message}

    def stall_startup(
        self,
        pod: str | None = None,
        namespace: str = "default",
        stalled: bool = True,
        selector: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Hold pods in ContainerCreating: one by name (existing or created later), or every pod
        of the namespace whose labels include `selector`. `stalled=False` releases them."""
        if (pod is None) == (selector is None):
            raise ValueError("chaos stall_startup: give exactly one of pod= or selector=")
        rule = (
            (namespace, pod)
            if pod is not None
            else (namespace, tuple(sorted((selector or {}).items())))
        )
        if stalled:
            self.faults.stalled.add(rule)
            return {"namespace": namespace, "pod": pod, "selector": selector or {}, "stalled": True}
        self.faults.stalled.discard(rule)
        for stored in self.pods:
            if stored["metadata"].get("namespace") != namespace or self.faults.is_stalled(stored):
                continue
            node = (stored.get("spec") or {}).get("nodeName") or ""
            kubelet = self.kubelets.get(node)
            if kubelet is not None:
                _simulated_runtime(kubelet).unstall(str(stored["metadata"]["uid"]))
        return {"namespace": namespace, "pod": pod, "selector": selector or {}, "stalled": False}

    def fail_image_pull(self, image: str, failing: bool = True) -> dict[str, Any]:
        """Make pulls of `image` fail (ErrImagePull, then ImagePullBackOff), or succeed again."""
        if not image:
            raise ValueError("chaos fail_image_pull: image must be a non-empty image reference")
        normalized = _simulated.normalize_image(image)
        if failing:
            self.faults.failing_images.add(normalized)
        else:
            self.faults.failing_images.discard(normalized)
        return {"image": image, "failing": bool(failing)}

    # ------------------------------------------------------------------ nodes and metrics

    def delete_node(self, node: str) -> dict[str, Any]:
        """Delete a Node; the pod garbage collector then fails and removes its pods."""
        if self.nodes.get(ObjectKey("", node)) is None:
            raise ValueError(f"chaos delete_node: node {node!r} not found")
        pods = [
            str(ObjectKey(p["metadata"]["namespace"], p["metadata"]["name"]))
            for p in self.pods.on_node(node)
        ]
        self.cluster.delete(self.nodes.resource, None, node, user="kubesim-chaos")
        return {"node": node, "pods": sorted(pods)}

    def partition_node(self, node: str, partitioned: bool = True) -> dict[str, Any]:
        """Cut a node's kubelet off the API (node Unknown, unreachable taints, pods NotReady
        and evicted after their toleration), or heal it with `partitioned=False`."""
        kubelet = self.kubelets.get(node)
        if kubelet is None:
            raise ValueError(f"chaos partition_node: node {node!r} not found")
        if partitioned:
            kubelet.set_partitioned(True)
            evicting = self.node_lifecycle.partition(node)
            return {"node": node, "partitioned": True, "evicting": evicting}
        self.node_lifecycle.heal(node)
        kubelet.set_partitioned(False)
        return {"node": node, "partitioned": False}

    def add_node(
        self,
        name: str | None = None,
        cpu: str | None = None,
        memory: str | None = None,
        gpus: int | None = None,
        pods: int | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Register one more node (defaults from the config); a kubelet starts for it."""
        config = dataclasses.replace(
            self.config,
            node_cpu=cpu if cpu is not None else self.config.node_cpu,
            node_memory=memory if memory is not None else self.config.node_memory,
            node_gpus=int(gpus) if gpus is not None else self.config.node_gpus,
            node_pods=int(pods) if pods is not None else self.config.node_pods,
        )
        taken = {n["metadata"]["name"] for n in self.nodes}
        index = next(
            i for i in range(len(taken) + len(self.kubelets) + 1) if node_name(i) not in taken
        )
        obj = node_object(config, index, now=self.clock.rfc3339())
        if name:
            obj["metadata"]["name"] = name
            obj["metadata"]["labels"]["kubernetes.io/hostname"] = name
        if labels:
            obj["metadata"]["labels"].update(labels)
        node_name_ = obj["metadata"]["name"]
        if ObjectKey("", node_name_) in {ObjectKey("", t) for t in taken}:
            raise ValueError(f"chaos add_node: node {node_name_!r} already exists")
        self.cluster.create(self.nodes.resource, None, obj, user=f"system:node:{node_name_}")
        return {"node": node_name_, "allocatable": obj["status"]["allocatable"]}

    def set_pod_usage(
        self,
        namespace: str = "default",
        pod: str | None = None,
        selector: dict[str, str] | None = None,
        cpu: str | None = None,
        memory: str | None = None,
        cpu_percent: float | None = None,
        memory_percent: float | None = None,
    ) -> dict[str, Any]:
        """Set the resource usage the HPA controller sees for a pod or for pods by labels."""
        self.usage.set(
            namespace,
            pod=pod,
            selector=selector,
            cpu=cpu,
            memory=memory,
            cpu_percent=cpu_percent,
            memory_percent=memory_percent,
        )
        return {"namespace": namespace, "pod": pod, "selector": selector or {}}

    # ------------------------------------------------------------------ helpers

    def _locate(
        self, namespace: str, pod: str, container: str | None
    ) -> tuple[Kubelet, ObjectKey, str, str]:
        """(kubelet, key, uid, container name) of a pod admitted by a kubelet."""
        key = ObjectKey(namespace, pod)
        stored = self.pods.get(key)
        if stored is None:
            raise ValueError(f"chaos: pod {key} not found")
        node = (stored.get("spec") or {}).get("nodeName") or ""
        kubelet = self.kubelets.get(node)
        uid = kubelet.uid_of(key) if kubelet is not None else None
        if kubelet is None or uid is None:
            raise ValueError(f"chaos: pod {key} is not running on a node yet")
        names = [c["name"] for c in (stored.get("spec") or {}).get("containers") or ()]
        name = container or (names[0] if names else "")
        if name not in names and container is not None:
            inits = [c["name"] for c in (stored.get("spec") or {}).get("initContainers") or ()]
            if name not in inits:
                raise ValueError(
                    f"chaos: pod {key} has no container {container!r}; containers: {', '.join(names)}"
                )
        return kubelet, key, uid, name


def _simulated_runtime(kubelet: Kubelet) -> _simulated.SimulatedRuntime:
    """The node's runtime, if it is the simulated one (container faults need it)."""
    runtime = kubelet.runtime
    if not isinstance(runtime, _simulated.SimulatedRuntime):
        raise ValueError(f"chaos: node {kubelet.name} does not run the simulated runtime")
    return runtime
