"""The EndpointSlice controller: `discovery.k8s.io/v1` slices of each selecting Service's pods.

Upstream's `pkg/controller/endpointslice` with `k8s.io/endpointslice`'s reconciler, reduced to
one address type (IPv4, kubesim's pod network):

* Every selected pod that `in_endpoints` (terminating ones included) is one endpoint with its
  conditions: `serving` = pod Ready, `terminating` = deletionTimestamp set, `ready` =
  publishNotReadyAddresses or (serving and not terminating); `hostname` for pods whose
  subdomain names the Service, `targetRef`, `nodeName`, and `zone` from the node's
  `topology.kubernetes.io/zone` label.
* Endpoints are grouped by their resolved port set (named targetPorts can differ per pod); each
  group fills slices of at most 100 endpoints, named `<service>-<random>`, owned by the Service
  (so the garbage collector removes them with it), labelled `kubernetes.io/service-name`,
  `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, the Service's own
  labels and `service.kubernetes.io/headless` when headless.
* `plan_slices` keeps each endpoint in the slice that already holds it, puts new ones where there
  is room, and writes only the slices whose endpoints or labels changed; a Service with no
  endpoints keeps one empty placeholder slice, as upstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, is_ready, owner_reference
from kubesim.common.store import Cache
from kubesim.controllers.endpoints_common import (
    HEADLESS_LABEL,
    TRIGGER_TIME_ANNOTATION,
    ServiceEndpointsController,
    find_port,
    headless,
    in_endpoints,
    pod_ip,
    sets_hostname,
    target_ref,
)

__all__ = [
    "CONTROLLER_NAME",
    "MANAGED_BY_LABEL",
    "SERVICE_NAME_LABEL",
    "EndpointSliceController",
    "SlicePlan",
    "desired_groups",
    "plan_slices",
]

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
#: --max-endpoints-per-slice's default.
MAX_ENDPOINTS = 100

#: A group's key: its ports, each as (name, port, protocol, appProtocol), sorted.
PortsKey = tuple[tuple[Any, ...], ...]


def _ports_key(ports: list[Obj]) -> PortsKey:
    return tuple(
        sorted(
            (p.get("name", ""), p["port"], p["protocol"], p.get("appProtocol", "")) for p in ports
        )
    )


def slice_endpoint(pod: Obj, svc: Obj, zone: str | None) -> Obj:
    """`podToEndpoint`: one pod as an EndpointSlice endpoint."""
    serving = is_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: Obj = {
        "addresses": [pod_ip(pod)],
        "conditions": {
            "ready": publish or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
    }
    if sets_hostname(pod, svc):
        endpoint["hostname"] = pod["spec"]["hostname"]
    endpoint["targetRef"] = target_ref(pod)
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    if zone:
        endpoint["zone"] = zone
    return endpoint


def slice_ports(svc: Obj, pod: Obj) -> list[Obj]:
    """`getEndpointPorts`: the Service's ports whose targetPort resolves in `pod`."""
    ports = []
    for svc_port in (svc.get("spec") or {}).get("ports") or ():
        number = find_port(pod, svc_port)
        if number is None:
            continue
        port: Obj = {
            "name": svc_port.get("name", ""),
            "port": number,
            "protocol": svc_port.get("protocol", "TCP"),
        }
        if svc_port.get("appProtocol"):
            port["appProtocol"] = svc_port["appProtocol"]
        ports.append(port)
    return ports


def desired_groups(
    svc: Obj, pods: list[Obj], zones: dict[str, str]
) -> dict[PortsKey, tuple[list[Obj], list[Obj]]]:
    """Port set → (ports, endpoints) for the selected `pods` (zones: node name → zone)."""
    groups: dict[PortsKey, tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not in_endpoints(pod, include_terminating=True):
            continue
        ports = slice_ports(svc, pod)
        node = (pod.get("spec") or {}).get("nodeName", "")
        endpoint = slice_endpoint(pod, svc, zones.get(node))
        groups.setdefault(_ports_key(ports), (ports, []))[1].append(endpoint)
    return groups


def slice_labels(svc: Obj) -> dict[str, str]:
    """`setEndpointSliceLabels`: the Service's labels, then the reserved ones."""
    reserved = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
    labels = {k: v for k, v in (svc["metadata"].get("labels") or {}).items() if k not in reserved}
    if headless(svc):
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = svc["metadata"]["name"]
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def _endpoint_id(endpoint: Obj) -> tuple[str, str]:
    return (endpoint["addresses"][0], (endpoint.get("targetRef") or {}).get("uid", ""))


def _sorted(endpoints: list[Obj]) -> list[Obj]:
    return sorted(endpoints, key=_endpoint_id)


@dataclass
class SlicePlan:
    """What one sync writes: new slices' bodies, changed slices (stored → endpoints), deletions."""

    create: list[tuple[list[Obj], list[Obj]]] = field(default_factory=list)
    update: list[tuple[Obj, list[Obj], list[Obj]]] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def plan_slices(
    existing: list[Obj], groups: dict[PortsKey, tuple[list[Obj], list[Obj]]], labels: dict[str, str]
) -> SlicePlan:
    """The fewest writes that make `existing` slices hold `groups` (placeholder when empty)."""
    plan = SlicePlan()
    if not groups:
        return _plan_placeholder(existing, labels)
    by_group: dict[PortsKey, list[Obj]] = {}
    for obj in sorted(existing, key=lambda s: s["metadata"]["name"]):
        key = _ports_key(obj.get("ports") or [])
        if key in groups and obj.get("endpoints"):
            by_group.setdefault(key, []).append(obj)
        else:
            plan.delete.append(obj)
    for key, (ports, endpoints) in groups.items():
        _plan_group(plan, by_group.get(key, []), ports, endpoints, labels)
    return plan


def _plan_group(
    plan: SlicePlan,
    slices: list[Obj],
    ports: list[Obj],
    endpoints: list[Obj],
    labels: dict[str, str],
) -> None:
    holder = {_endpoint_id(e): s["metadata"]["name"] for s in slices for e in s["endpoints"]}
    contents: dict[str, list[Obj]] = {s["metadata"]["name"]: [] for s in slices}
    fresh = []
    for endpoint in _sorted(endpoints):
        name = holder.get(_endpoint_id(endpoint))
        if name is not None:
            contents[name].append(endpoint)
        else:
            fresh.append(endpoint)
    for held in contents.values():
        room = MAX_ENDPOINTS - len(held)
        if room > 0 and fresh:
            held.extend(fresh[:room])
            del fresh[:room]
    for obj in slices:
        new = _sorted(contents[obj["metadata"]["name"]])
        if not new:
            plan.delete.append(obj)
        elif new != obj["endpoints"] or (obj["metadata"].get("labels") or {}) != labels:
            plan.update.append((obj, ports, new))
    for start in range(0, len(fresh), MAX_ENDPOINTS):
        plan.create.append((ports, fresh[start : start + MAX_ENDPOINTS]))


def _plan_placeholder(existing: list[Obj], labels: dict[str, str]) -> SlicePlan:
    plan = SlicePlan()
    keep = next((s for s in existing if not s.get("endpoints") and not s.get("ports")), None)
    plan.delete = [s for s in existing if s is not keep]
    if keep is None:
        plan.create.append(([], []))
    elif (keep["metadata"].get("labels") or {}) != labels:
        plan.update.append((keep, [], []))
    return plan


class EndpointSliceController(ServiceEndpointsController):
    """Keeps each selecting Service's EndpointSlices equal to its pods'."""

    name = "endpointslice-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        services: Cache,
        pods: Cache,
        slices: Cache,
        nodes: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock, services=services, pods=pods)
        self.slices = slices
        self.nodes = nodes
        slices.add_handler(self._on_slice)

    def _on_slice(self, event: str, old: Obj | None, obj: Obj) -> None:
        labels = obj["metadata"].get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) == CONTROLLER_NAME and SERVICE_NAME_LABEL in labels:
            self.queue.add(ObjectKey(obj["metadata"]["namespace"], labels[SERVICE_NAME_LABEL]))

    # A deleted Service's slices are owned by it: the garbage collector deletes them.

    def sync(self, svc: Obj, pods: list[Obj], *, trigger: str | None) -> None:
        """Create, update and delete the slices of `svc` (only those that change)."""
        existing = [
            s
            for s in self.slices.owned_by(svc["metadata"]["uid"])
            if (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == CONTROLLER_NAME
        ]
        labels = slice_labels(svc)
        plan = plan_slices(existing, desired_groups(svc, pods, self._zones()), labels)
        self._apply(svc, plan, labels=labels, trigger=trigger)

    def _zones(self) -> dict[str, str]:
        zones = {}
        for node in self.nodes:
            zone = (node["metadata"].get("labels") or {}).get(ZONE_LABEL)
            if zone:
                zones[node["metadata"]["name"]] = zone
        return zones

    def _apply(
        self, svc: Obj, plan: SlicePlan, *, labels: dict[str, str], trigger: str | None
    ) -> None:
        res, namespace = self.slices.resource, svc["metadata"]["namespace"]
        try:
            for obj in plan.delete:
                self.delete_quietly(res, obj)
            for stored, ports, endpoints in plan.update:
                body = _slice_body(stored["metadata"], ports, endpoints, labels, trigger)
                self.cluster.update(
                    res, namespace, stored["metadata"]["name"], body, user=self.user, owned=True
                )
            for ports, endpoints in plan.create:
                meta = {
                    "generateName": f"{svc['metadata']['name']}-",
                    "namespace": namespace,
                    "ownerReferences": [owner_reference(svc, kind="Service", api_version="v1")],
                }
                body = _slice_body(meta, ports, endpoints, labels, trigger)
                self.cluster.create(res, namespace, body, user=self.user, owned=True)
        except StatusError as exc:
            if exc.code in (404, 409):
                self.queue.add(ObjectKey(namespace, svc["metadata"]["name"]))
                return
            raise


def _slice_body(
    meta: Obj, ports: list[Obj], endpoints: list[Obj], labels: dict[str, str], trigger: str | None
) -> Obj:
    """An EndpointSlice body from `meta` (stored or new) with this sync's content."""
    new_meta = {k: v for k, v in meta.items() if k != "managedFields"}
    new_meta["labels"] = labels
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != TRIGGER_TIME_ANNOTATION
    }
    if trigger is not None:
        annotations[TRIGGER_TIME_ANNOTATION] = trigger
    new_meta.pop("annotations", None)
    if annotations:
        new_meta["annotations"] = annotations
    body: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": new_meta,
        "addressType": "IPv4",
        "endpoints": endpoints,
    }
    if ports:
        body["ports"] = ports
    return body
