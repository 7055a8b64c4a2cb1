"""The Endpoints controller: one `v1/Endpoints` per Service with a selector, as upstream writes it.

Upstream's `pkg/controller/endpoint` `syncService`, reading only the caches:

* Service gone: its Endpoints are deleted. No selector or `type: ExternalName`: left alone
  (such Endpoints are written by hand, or by the API server for `default/kubernetes`).
* Each selected pod that `in_endpoints` (terminating ones only with publishNotReadyAddresses)
  gives one address per Service port whose targetPort resolves in it (`find_port`): under
  `addresses` when Ready or when the Service publishes not-ready addresses, else under
  `notReadyAddresses`. A headless Service without ports lists its pods with no ports.
* `repack` merges what share a port set into one subset, sorted (`RepackSubsets`,
  `SortSubsets`), so equal inputs give equal objects.
* Labels are the Service's, plus `service.kubernetes.io/headless` for a headless one; the
  `endpoints.kubernetes.io/last-change-trigger-time` annotation is the earliest unseen change.
* Nothing is written when subsets and labels already match: a pod's annotation change or a
  resync costs no write.
Not modelled: the 1000-address truncation (`endpoints.kubernetes.io/over-capacity`).
"""

from __future__ import annotations

from typing import Any

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, is_ready, key_of
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

__all__ = ["EndpointsController", "endpoint_subsets", "repack"]

Obj = dict[str, Any]

#: Stands for "no ports" while repacking (a headless Service without ports), as upstream's -1.
_NO_PORT: tuple[Any, ...] = ()


def _address(pod: Obj, svc: Obj) -> Obj:
    address: Obj = {"ip": pod_ip(pod)}
    if sets_hostname(pod, svc):
        address["hostname"] = pod["spec"]["hostname"]
    address["nodeName"] = (pod.get("spec") or {}).get("nodeName", "")
    address["targetRef"] = target_ref(pod)
    return address


def _port(svc_port: Obj, number: int) -> Obj:
    port: Obj = {"name": svc_port["name"]} if svc_port.get("name") else {}
    port.update(port=number, protocol=svc_port.get("protocol", "TCP"))
    if svc_port.get("appProtocol"):
        port["appProtocol"] = svc_port["appProtocol"]
    return port


def _port_key(port: Obj) -> tuple[Any, ...]:
    return (port.get("name", ""), port["port"], port["protocol"], port.get("appProtocol", ""))


def _address_key(address: Obj) -> tuple[str, str]:
    return (address["ip"], address["targetRef"]["uid"])


def endpoint_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """The repacked `subsets` of the Endpoints of `svc` over the candidate `pods`."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    # (address, ready, port or None) for each address and port it serves.
    entries: list[tuple[Obj, bool, Obj | None]] = []
    for pod in pods:
        if not in_endpoints(pod, include_terminating=publish):
            continue
        address, ready = _address(pod, svc), publish or is_ready(pod)
        ports = spec.get("ports") or []
        if not ports:
            if headless(svc):
                entries.append((address, ready, None))
            continue
        for svc_port in ports:
            number = find_port(pod, svc_port)
            if number is not None:
                entries.append((address, ready, _port(svc_port, number)))
    return repack(entries)


def repack(entries: list[tuple[Obj, bool, Obj | None]]) -> list[Obj]:
    """`RepackSubsets`: ports that share the same (address, ready) set form one subset."""
    addresses: dict[tuple[str, str], Obj] = {}
    by_port: dict[tuple[Any, ...], set[tuple[tuple[str, str], bool]]] = {}
    ports: dict[tuple[Any, ...], Obj] = {}
    for address, ready, port in entries:
        akey = _address_key(address)
        addresses[akey] = address
        pkey = _port_key(port) if port is not None else _NO_PORT
        if port is not None:
            ports[pkey] = port
        by_port.setdefault(pkey, set()).add((akey, ready))
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[tuple[Any, ...]]] = {}
    for pkey, serving in by_port.items():
        groups.setdefault(frozenset(serving), []).append(pkey)
    subsets = []
    for group, pkeys in groups.items():
        subset: Obj = {}
        up = sorted(a for a, ok in group if ok)
        down = sorted(a for a, ok in group if not ok)
        if up:
            subset["addresses"] = [addresses[a] for a in up]
        if down:
            subset["notReadyAddresses"] = [addresses[a] for a in down]
        real = sorted(p for p in pkeys if p != _NO_PORT)
        if real:
            subset["ports"] = [ports[p] for p in real]
        subsets.append(subset)
    subsets.sort(key=lambda s: [_port_key(p) for p in s.get("ports", ())])
    return subsets


def endpoints_labels(svc: Obj) -> dict[str, str]:
    """The Service's labels, plus the headless label when it has no cluster IP."""
    labels = {k: v for k, v in (svc["metadata"].get("labels") or {}).items() if k != HEADLESS_LABEL}
    if headless(svc):
        labels[HEADLESS_LABEL] = ""
    return labels


class EndpointsController(ServiceEndpointsController):
    """Keeps each selecting Service's Endpoints equal to its pods'."""

    name = "endpoint-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        services: Cache,
        pods: Cache,
        endpoints: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock, services=services, pods=pods)
        self.endpoints = endpoints
        # A deleted or hand-edited Endpoints is put back (upstream's onEndpointsDelete/Update).
        endpoints.add_handler(lambda event, old, obj: self.queue.add(key_of(obj)))

    def service_gone(self, key: ObjectKey) -> None:
        """Delete the Endpoints of a deleted Service."""
        current = self.endpoints.get(key)
        if current is not None:
            self.delete_quietly(self.endpoints.resource, current)

    def sync(self, svc: Obj, pods: list[Obj], *, trigger: str | None) -> None:
        """Create or update the Endpoints named like `svc` unless they already match."""
        current = self.endpoints.get(key_of(svc))
        subsets = endpoint_subsets(svc, pods)
        labels = endpoints_labels(svc)
        if current is None or not self._settled(current, subsets, labels):
            self._write(svc, current, subsets=subsets, labels=labels, trigger=trigger)

    @staticmethod
    def _settled(current: Obj, subsets: list[Obj], labels: dict[str, str]) -> bool:
        return (current.get("subsets") or []) == subsets and (
            current["metadata"].get("labels") or {}
        ) == labels

    def _write(
        self,
        svc: Obj,
        current: Obj | None,
        *,
        subsets: list[Obj],
        labels: dict[str, str],
        trigger: str | None,
    ) -> None:
        meta = svc["metadata"]
        # Like upstream's DeepCopy of the current object: what others set on it is kept.
        body_meta: Obj = {"name": meta["name"], "namespace": meta["namespace"]}
        if current is not None:
            body_meta = {k: v for k, v in current["metadata"].items() if k != "managedFields"}
        annotations = dict(body_meta.pop("annotations", None) or {})
        annotations.pop(TRIGGER_TIME_ANNOTATION, None)
        if trigger is not None:
            annotations[TRIGGER_TIME_ANNOTATION] = trigger
        body_meta.pop("labels", None)
        if labels:
            body_meta["labels"] = labels
        if annotations:
            body_meta["annotations"] = annotations
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": body_meta}
        if subsets:
            body["subsets"] = subsets
        res, namespace = self.endpoints.resource, meta["namespace"]
        try:
            if current is None:
                self.cluster.create(res, namespace, body, user=self.user, owned=True)
            else:
                self.cluster.update(res, namespace, meta["name"], body, user=self.user, owned=True)
        except StatusError as exc:
            if exc.code in (404, 409):
                self.queue.add(key_of(svc))
                return
            raise
