"""Service cluster-IP and node-port allocation, as the Service registry of kube-apiserver does it.

A real server fills these in while it stores a Service (`pkg/registry/core/service/storage`,
`alloc.go`), after the field manager has recorded who set what, so the allocated values belong
to no manager: an apply that never mentions `clusterIP` keeps it and does not own it. kubesim
does the same by running `ServiceAllocator.prepare` at validation time, after managedFields.

What is modelled (single-stack IPv4, service CIDR 10.96.0.0/12, node ports 30000-32767):

* create: `clusterIP`/`clusterIPs` allocated (random, unique), a requested IP honoured when in
  range and free, `None` kept for headless Services; `ipFamilies: [IPv4]` and
  `ipFamilyPolicy: SingleStack` when not yet set (a selectorless headless Service would get
  `RequireDualStack` and both families, as upstream, but `kubesim.apiserver.defaults` fills in
  SingleStack first: a documented gap); a `nodePort` per port for NodePort and LoadBalancer
  Services (unless `allocateLoadBalancerNodePorts: false`; ports with the same number share
  one), and `healthCheckNodePort` for a LoadBalancer with `externalTrafficPolicy: Local`.
  ExternalName Services get nothing. A `default/kubernetes` Service holds 10.96.0.1.
* update: values the client omitted are carried over from the stored object (upstream's
  `patchAllocatedValues`), so a PUT or apply without `clusterIP` keeps it; changing it is 422
  `spec.clusterIPs[0]: Invalid value: ["..."]: may not change once set`. Type changes allocate
  what the new type needs and drop what it no longer has (`dropTypeDependentFields`).
* release: the tables mirror the committed Services (`observe` is fed every commit), so a
  deleted Service's IP and ports are free again and a failed or dry-run write holds nothing.

The wording of the 422s follows what users report from real clusters:
`spec.clusterIP: Invalid value: "10.96.0.10": provided IP is already allocated`.
"""

from __future__ import annotations

import ipaddress
import json
import random
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.errors import Cause

__all__ = [
    "KUBERNETES_SERVICE_IP",
    "NODE_PORT_RANGE",
    "SERVICE_CIDR",
    "ServiceAllocator",
    "kubernetes_service",
]

SERVICE_CIDR = "10.96.0.0/12"
NODE_PORT_RANGE = (30000, 32767)
#: The first address of the service CIDR, held by the `kubernetes` Service in `default`.
KUBERNETES_SERVICE_IP = "10.96.0.1"
_NONE = "None"
#: Upstream allocates dynamic IPs above a small static band first (ServiceIPStaticSubrange).
_STATIC_BAND = 256

Obj = dict[str, Any]


def kubernetes_service() -> Obj:
    """The `default/kubernetes` Service every real cluster has (created by kube-apiserver)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": KUBERNETES_SERVICE_IP,
            "clusterIPs": [KUBERNETES_SERVICE_IP],
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
    }


def _needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_ports(spec: Obj) -> bool:
    kind = spec.get("type")
    if kind == "NodePort":
        return True
    return kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def _needs_health_check_port(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _ports(spec: Obj) -> list[Obj]:
    ports = spec.get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _invalid_ip(field: str, ip: str, detail: str) -> Cause:
    return Cause("FieldValueInvalid", field, f'Invalid value: "{ip}": {detail}')


class ServiceAllocator:
    """Cluster IPs and node ports of one simulated cluster.

    `prepare(svc, old)` fills in (and checks) a Service about to be stored; `observe(event, svc)`
    keeps the tables equal to what is committed. Both are plain calls: nothing awaits."""

    def __init__(
        self,
        *,
        service_cidr: str = SERVICE_CIDR,
        node_ports: tuple[int, int] = NODE_PORT_RANGE,
        rng: random.Random | None = None,
    ) -> None:
        self.network = ipaddress.IPv4Network(service_cidr)
        self.node_ports = node_ports
        self._rng = rng or random.Random()
        self._ips: dict[str, str] = {}  # ip -> uid of the Service holding it
        self._ports: dict[int, str] = {}  # node port -> uid
        self._held: dict[str, tuple[list[str], list[int]]] = {}  # uid -> (ips, ports)

    # ------------------------------------------------------------------ tables

    def observe(self, event_type: str, svc: Obj) -> None:
        """Record a committed Service (ADDED/MODIFIED) or release a deleted one (DELETED)."""
        uid = str(svc["metadata"].get("uid") or "")
        ips, ports = self._held.pop(uid, ([], []))
        for ip in ips:
            if self._ips.get(ip) == uid:
                del self._ips[ip]
        for port in ports:
            if self._ports.get(port) == uid:
                del self._ports[port]
        if event_type == "DELETED":
            return
        spec = svc.get("spec") or {}
        held_ips = [ip for ip in spec.get("clusterIPs") or [] if ip != _NONE and self._in_range(ip)]
        held_ports = [
            int(n)
            for n in [p.get("nodePort") for p in _ports(spec)] + [spec.get("healthCheckNodePort")]
            if isinstance(n, int) and not isinstance(n, bool) and n
        ]
        for ip in held_ips:
            self._ips[ip] = uid
        for port in held_ports:
            self._ports[port] = uid
        self._held[uid] = (held_ips, held_ports)

    def allocated_ips(self) -> set[str]:
        """Cluster IPs held by stored Services."""
        return set(self._ips)

    def allocated_node_ports(self) -> set[int]:
        """Node ports (and health-check node ports) held by stored Services."""
        return set(self._ports)

    # ------------------------------------------------------------------ prepare

    def prepare(self, svc: Obj, old: Obj | None) -> None:
        """Fill in the allocated fields of `svc` (mutated) about to replace `old` (None: create).

        Raises the real server's 422 when a requested IP or port is taken or out of range, or
        when an update changes the cluster IP."""
        spec = svc.get("spec")
        if not isinstance(spec, dict):
            return
        old_spec: Obj = (old or {}).get("spec") or {}
        uid = str((old or {}).get("metadata", {}).get("uid") or "")
        causes: list[Cause] = []
        if old is not None:
            self._carry_over(spec, old_spec)
            causes += self._immutable_ips(spec, old_spec)
        if causes:
            raise errors.invalid("Service", "", svc["metadata"].get("name") or "", causes)
        if _needs_cluster_ip(spec):
            causes += self._cluster_ips(spec, uid)
        else:
            for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if spec.get(key) in ("", [], None):
                    spec.pop(key, None)
        causes += self._node_ports(spec, uid)
        if causes:
            raise errors.invalid("Service", "", svc["metadata"].get("name") or "", causes)

    @staticmethod
    def _carry_over(spec: Obj, old_spec: Obj) -> None:
        """What the client left out of an update keeps its stored value; type changes drop."""
        if _needs_cluster_ip(old_spec) and _needs_cluster_ip(spec):
            if (
                spec.get("clusterIP")
                and spec["clusterIP"] != old_spec.get("clusterIP")
                and spec.get("clusterIPs") == old_spec.get("clusterIPs")
            ):
                # A new clusterIP with the old clusterIPs means the client changed the singular
                # field only (upstream's NormalizeClusterIPs); validation then refuses it.
                spec["clusterIPs"] = [spec["clusterIP"]]
            if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
            if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
                if spec.get("clusterIP") == old_spec.get("clusterIP"):
                    spec["clusterIPs"] = old_spec["clusterIPs"]
                else:
                    spec["clusterIPs"] = [spec["clusterIP"]]
            for key in ("ipFamilies", "ipFamilyPolicy"):
                if not spec.get(key) and old_spec.get(key):
                    spec[key] = old_spec[key]
        elif _needs_cluster_ip(old_spec):
            # Becoming ExternalName: allocated values the client did not touch are dropped.
            for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if spec.get(key) == old_spec.get(key):
                    spec.pop(key, None)
        if _needs_node_ports(old_spec) and _needs_node_ports(spec):
            new_ports = _ports(spec)
            used = {p.get("nodePort") for p in new_ports if p.get("nodePort")}
            by_name = {p.get("name", ""): p.get("nodePort") for p in _ports(old_spec)}
            for port in new_ports:
                previous = by_name.get(port.get("name", ""))
                if not port.get("nodePort") and previous and previous not in used:
                    port["nodePort"] = previous
                    used.add(previous)
        elif _needs_node_ports(old_spec):
            old_ports = {p.get("name", ""): p.get("nodePort") for p in _ports(old_spec)}
            for port in _ports(spec):
                if port.get("nodePort") and port["nodePort"] == old_ports.get(port.get("name", "")):
                    port.pop("nodePort")
        if _needs_health_check_port(old_spec) and _needs_health_check_port(spec):
            if not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
                spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
        elif spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)

    @staticmethod
    def _immutable_ips(spec: Obj, old_spec: Obj) -> list[Cause]:
        if not (_needs_cluster_ip(old_spec) and _needs_cluster_ip(spec)):
            return []
        old_ips, new_ips = old_spec.get("clusterIPs") or [], spec.get("clusterIPs") or []
        if not old_ips:
            return []
        if new_ips and new_ips[0] != old_ips[0]:
            return [
                Cause(
                    "FieldValueInvalid",
                    "spec.clusterIPs[0]",
                    f"Invalid value: {json.dumps(new_ips, separators=(',', ':'))}: may not change once set",
                )
            ]
        return []

    def _cluster_ips(self, spec: Obj, uid: str) -> list[Cause]:
        ip = spec.get("clusterIP")
        ips = spec.get("clusterIPs")
        if not isinstance(ip, str) or not ip:
            ip = ips[0] if isinstance(ips, list) and ips and isinstance(ips[0], str) else ""
        if ip == _NONE:
            spec["clusterIP"], spec["clusterIPs"] = _NONE, [_NONE]
            if spec.get("selector"):
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("ipFamilies", ["IPv4"])
            else:
                # Headless without a selector may carry endpoints of either family.
                spec.setdefault("ipFamilyPolicy", "RequireDualStack")
                spec.setdefault("ipFamilies", ["IPv4", "IPv6"])
            return []
        if not ip:
            ip = self._free_ip()
        elif self._ips.get(ip, uid) != uid:
            return [_invalid_ip("spec.clusterIP", ip, "provided IP is already allocated")]
        elif not self._in_range(ip):
            return [
                _invalid_ip(
                    "spec.clusterIP",
                    ip,
                    f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {self.network}",
                )
            ]
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
        return []

    def _node_ports(self, spec: Obj, uid: str) -> list[Cause]:
        causes: list[Cause] = []
        taken_here: set[int] = set()
        low, high = self.node_ports
        wanted: list[tuple[str, Obj, str]] = []
        if _needs_node_ports(spec):
            wanted += [
                (f"spec.ports[{i}].nodePort", p, "nodePort") for i, p in enumerate(_ports(spec))
            ]
        if _needs_health_check_port(spec):
            wanted.append(("spec.healthCheckNodePort", spec, "healthCheckNodePort"))
        for field, holder, key in wanted:
            port = holder.get(key)
            if not port:
                continue
            if not isinstance(port, int) or not low <= port <= high:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        field,
                        f"Invalid value: {port}: provided port is not in the valid range. The range of valid ports is {low}-{high}",
                    )
                )
            elif self._ports.get(port, uid) != uid:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        field,
                        f"Invalid value: {port}: provided port is already allocated",
                    )
                )
            taken_here.add(port)
        if causes:
            return causes
        # Ports with the same number (e.g. 53/TCP and 53/UDP) share one node port, as upstream.
        by_number = {
            p.get("port"): p["nodePort"] for _, p, key in wanted if key == "nodePort" and p.get(key)
        }
        for _, holder, key in wanted:
            if not holder.get(key):
                shared = by_number.get(holder.get("port")) if key == "nodePort" else None
                holder[key] = shared or self._free_port(taken_here)
                taken_here.add(holder[key])
                if key == "nodePort":
                    by_number.setdefault(holder.get("port"), holder[key])
        return causes

    # ------------------------------------------------------------------ picking

    def _in_range(self, ip: str) -> bool:
        try:
            address = ipaddress.IPv4Address(ip)
        except ValueError:
            return False
        return address in self.network and address not in (
            self.network.network_address,
            self.network.broadcast_address,
        )

    def _free_ip(self) -> str:
        size = self.network.num_addresses
        base = int(self.network.network_address)
        low = min(_STATIC_BAND, size // 2)
        for _ in range(64):
            candidate = str(ipaddress.IPv4Address(base + self._rng.randrange(low, size - 1)))
            if candidate not in self._ips:
                return candidate
        for offset in range(1, size - 1):
            candidate = str(ipaddress.IPv4Address(base + offset))
            if candidate not in self._ips:
                return candidate
        raise errors.StatusError(
            500,
            "InternalError",
            "Internal error occurred: failed to allocate a serviceIP: range is full",
        )

    def _free_port(self, also_taken: set[int]) -> int:
        low, high = self.node_ports
        for _ in range(64):
            candidate = self._rng.randint(low, high)
            if candidate not in self._ports and candidate not in also_taken:
                return candidate
        for candidate in range(low, high + 1):
            if candidate not in self._ports and candidate not in also_taken:
                return candidate
        raise errors.StatusError(
            500,
            "InternalError",
            "Internal error occurred: failed to allocate a nodePort: range is full",
        )
