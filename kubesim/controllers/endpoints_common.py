"""What the Endpoints and EndpointSlice controllers share: which pods count, ports, trigger times.

Both follow upstream's `k8s.io/endpointslice` helpers, pure functions of the objects:

* `in_endpoints(pod, include_terminating)` is `ShouldPodBeInEndpoints`: no terminal pods
  (Succeeded/Failed), none without an IP, and terminating ones only when asked (Endpoints asks
  when the Service publishes not-ready addresses; EndpointSlices always, with
  `terminating: true`).
* `sets_hostname(pod, svc)` is `ShouldSetHostname`: the pod's `spec.hostname` is published when
  its `spec.subdomain` names this Service in its namespace (StatefulSet pods and their
  governing Service).
* `find_port(pod, port)` is `FindPort`: a numeric targetPort as is, a named one looked up in the
  containers' (and restartable init containers') ports with the same protocol, else None.
* `TriggerTimes` is `TriggerTimeTracker`: the `endpoints.kubernetes.io/last-change-trigger-time`
  annotation, the earliest change (a pod's Ready transition, the Service's creation) not yet
  seen by the previous sync.

`ServiceEndpointsController` is the part both controllers share: a Service's key in, its pods
and trigger time out, `sync` or `service_gone` called. `ServiceIndex` indexes Services and pods by label: it finds the pods a Service selects without
scanning the namespace, and maps a pod event to the Services whose selector matched the pod
before or after it, only when the change can move its endpoints (upstream's
`podEndpointsChanged`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from kubesim.common.api import ClusterAPI
from kubesim.common.clock import Clock, format_time, parse_time
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, condition, is_ready, key_of
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller

__all__ = [
    "HEADLESS_LABEL",
    "TRIGGER_TIME_ANNOTATION",
    "ServiceEndpointsController",
    "ServiceIndex",
    "TriggerTimes",
    "find_port",
    "headless",
    "in_endpoints",
    "manages_endpoints",
    "pod_ip",
    "selects",
    "sets_hostname",
    "target_ref",
]

Obj = dict[str, Any]

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
#: Set (empty) on the Endpoints and EndpointSlices of a Service without a cluster IP.
HEADLESS_LABEL = "service.kubernetes.io/headless"


def manages_endpoints(svc: Obj) -> bool:
    """Whether the controllers publish endpoints for `svc`: it has a selector, not ExternalName."""
    spec = svc.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def headless(svc: Obj) -> bool:
    """No cluster IP (`clusterIP: None`, or none at all): `!helper.IsServiceIPSet`."""
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return ip in ("", "None")


def selects(svc: Obj, pod: Obj) -> bool:
    """The Service's selector (a plain map) matches the pod's labels."""
    selector = (svc.get("spec") or {}).get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def in_endpoints(pod: Obj, *, include_terminating: bool) -> bool:
    """`ShouldPodBeInEndpoints`: not terminal, has an IP, terminating only if included."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def sets_hostname(pod: Obj, svc: Obj) -> bool:
    """`ShouldSetHostname`: the pod names this Service as its subdomain."""
    spec = pod.get("spec") or {}
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == svc["metadata"]["name"]
        and pod["metadata"].get("namespace") == svc["metadata"].get("namespace")
    )


def pod_ip(pod: Obj) -> str:
    """The pod's (IPv4) address."""
    status = pod.get("status") or {}
    ips = [p.get("ip", "") for p in status.get("podIPs") or ()]
    return str(status.get("podIP") or (ips[0] if ips else ""))


def find_port(pod: Obj, svc_port: Obj) -> int | None:
    """The container port a Service port's targetPort names in `pod`, or None."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = svc_port.get("protocol", "TCP")
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ())
    containers += [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    for container in containers:
        for port in container.get("ports") or ():
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def target_ref(pod: Obj) -> Obj:
    """The ObjectReference to a pod that both kinds of endpoint carry."""
    meta = pod["metadata"]
    return {
        "kind": "Pod",
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }


class TriggerTimes:
    """Per Service, the trigger times the previous sync saw (upstream's TriggerTimeTracker)."""

    def __init__(self) -> None:
        self._seen: dict[ObjectKey, tuple[dict[str, float], float]] = {}

    def compute(self, svc: Obj, pods: list[Obj]) -> str | None:
        """The annotation value for this sync (None: no new trigger), and remember the state."""
        key = key_of(svc)
        known = self._seen.get(key)
        last_pods, last_svc = known if known is not None else ({}, 0.0)
        changed: list[float] = []
        now_pods: dict[str, float] = {}
        for pod in pods:
            ready = condition(pod, "Ready")
            when = parse_time((ready or {}).get("lastTransitionTime"))
            if when is None:
                continue
            name = pod["metadata"]["name"]
            now_pods[name] = when
            if when > last_pods.get(name, 0.0):
                changed.append(when)
        created = parse_time(svc["metadata"].get("creationTimestamp")) or 0.0
        if created > last_svc:
            changed.append(created)
        self._seen[key] = (now_pods, created)
        if known is None:
            return format_time(created) if created else None
        return format_time(min(changed)) if changed else None

    def forget(self, key: ObjectKey) -> None:
        """Drop the state of a deleted Service."""
        self._seen.pop(key, None)


def _endpoints_changed(old: Obj, new: Obj) -> bool:
    """`podEndpointsChanged` (first half) plus a terminal phase: can the pod's endpoint move?"""
    if bool(old["metadata"].get("deletionTimestamp")) != bool(
        new["metadata"].get("deletionTimestamp")
    ):
        return True
    if is_ready(old) != is_ready(new) or pod_ip(old) != pod_ip(new):
        return True
    phases = ((old.get("status") or {}).get("phase"), (new.get("status") or {}).get("phase"))
    terminal = ("Succeeded", "Failed")
    return (phases[0] in terminal) != (phases[1] in terminal)


def _membership_changed(old: Obj, new: Obj) -> bool:
    """Labels, hostname or subdomain changed: the set of matching Services may differ."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    return (
        (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {})
        or old_spec.get("hostname") != new_spec.get("hostname")
        or old_spec.get("subdomain") != new_spec.get("subdomain")
    )


#: (namespace, label key, label value): what both indexes below are keyed by.
LabelKey = tuple[str, str, str]


def _anchor(svc: Obj) -> LabelKey | None:
    """One label every pod the Service selects must carry (its smallest selector pair)."""
    selector = (svc.get("spec") or {}).get("selector") or {}
    if not selector:
        return None
    key, value = min(selector.items())
    return (svc["metadata"].get("namespace", ""), key, value)


def _label_keys(pod: Obj) -> list[LabelKey]:
    namespace = pod["metadata"].get("namespace", "")
    return [(namespace, k, v) for k, v in (pod["metadata"].get("labels") or {}).items()]


class ServiceIndex:
    """Services and pods indexed by label, so a pod event or a sync looks only at candidates.

    A Service is filed under one pair of its selector (`_anchor`), a pod under each of its
    labels: the Services a pod may match are those filed under one of its labels, and the pods
    a Service may select are those filed under its anchor. Both are then checked in full.
    """

    def __init__(self, services: Cache, enqueue: Callable[[ObjectKey], None]) -> None:
        self._services = services
        self._enqueue = enqueue
        self._services_by_label: defaultdict[LabelKey, set[ObjectKey]] = defaultdict(set)
        self._anchors: dict[ObjectKey, LabelKey] = {}
        self._pods_by_label: defaultdict[LabelKey, dict[ObjectKey, Obj]] = defaultdict(dict)
        services.add_handler(self._on_service)

    def selected_pods(self, svc: Obj) -> list[Obj]:
        """The pods `svc` selects, as of the last pod event handed to `on_pod`."""
        anchor = _anchor(svc)
        if anchor is None:
            return []
        return [p for p in self._pods_by_label.get(anchor, {}).values() if selects(svc, p)]

    def _on_service(self, event: str, old: Obj | None, svc: Obj) -> None:
        key = key_of(svc)
        previous = self._anchors.pop(key, None)
        if previous is not None:
            self._services_by_label[previous].discard(key)
            if not self._services_by_label[previous]:
                del self._services_by_label[previous]
        anchor = _anchor(svc)
        if event != "DELETED" and anchor is not None:
            self._anchors[key] = anchor
            self._services_by_label[anchor].add(key)
        self._enqueue(key)

    def on_pod(self, event: str, old: Obj | None, pod: Obj) -> None:
        """Track the pod, and enqueue every Service whose endpoints this event can change."""
        key = key_of(pod)
        for label in _label_keys(old) if old is not None else ():
            pods = self._pods_by_label.get(label)
            if pods is not None:
                pods.pop(key, None)
                if not pods:
                    del self._pods_by_label[label]
        if event != "DELETED":
            for label in _label_keys(pod):
                self._pods_by_label[label][key] = pod
        if old is not None and event == "MODIFIED":
            if old["metadata"].get("resourceVersion") == pod["metadata"].get("resourceVersion"):
                return
            if not _endpoints_changed(old, pod) and not _membership_changed(old, pod):
                return
        candidates: set[ObjectKey] = set()
        for item in (old, pod):
            for label in _label_keys(item) if item is not None else ():
                candidates |= self._services_by_label.get(label, set())
        for svc_key in candidates:
            svc = self._services.get(svc_key)
            if svc is not None and (selects(svc, pod) or (old is not None and selects(svc, old))):
                self._enqueue(svc_key)


class ServiceEndpointsController(Controller):
    """A controller keyed by Service that publishes the pods it selects; subclasses write."""

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        services: Cache,
        pods: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.services = services
        self.triggers = TriggerTimes()
        self.index = ServiceIndex(services, self.queue.add)
        pods.add_handler(self.index.on_pod)

    def reconcile(self, key: ObjectKey) -> float | None:
        """Publish the pods of Service `key`, or clean up after it."""
        svc = self.services.get(key)
        if svc is None:
            self.triggers.forget(key)
            self.service_gone(key)
            return None
        if manages_endpoints(svc):
            pods = self.index.selected_pods(svc)
            self.sync(svc, pods, trigger=self.triggers.compute(svc, pods))
        return None

    def sync(self, svc: Obj, pods: list[Obj], *, trigger: str | None) -> None:
        """Write what `svc` and its selected `pods` call for (only what changed)."""
        raise NotImplementedError

    def service_gone(self, key: ObjectKey) -> None:
        """Service `key` no longer exists."""
