"""The names kubesim's cluster DNS knows, kept from Services and EndpointSlices as they change.

What a cluster's DNS (CoreDNS' `kubernetes` plugin) serves, with one difference that follows
from kubesim having no kube-proxy: a ClusterIP Service's name resolves to its ready endpoints,
not to its cluster IP, which nothing would route.

    <svc>.<ns>.svc.<domain>                 A: the ready endpoints' IPs (ClusterIP and headless;
                                            publishNotReadyAddresses makes every endpoint ready)
    <host>.<svc>.<ns>.svc.<domain>          A: one endpoint of a headless Service; <host> is its
                                            hostname (StatefulSet pods) or its IP with dashes
    _<port>._<proto>.<svc>.<ns>.svc.<domain>  SRV: each ready endpoint's named port; the target is
                                            the Service (ClusterIP) or the endpoint's name (headless)
    <ns>.svc.<domain>, svc.<domain>, <domain>  exist, without records (a namespace only while it
                                            has a Service)

A Service without ready endpoints still exists (its name answers with no records). Every other
name is unknown. `RecordTable.lookup` answers from dicts; the handlers rebuild one Service's
names per change, so a lookup never waits and never scans.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubesim.common.podutil import ObjectKey, key_of

__all__ = ["Node", "RecordTable"]

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Node:
    """The records at one name: A addresses and SRV (port, target) pairs, either may be empty."""

    addresses: tuple[str, ...] = ()
    services: tuple[tuple[int, str], ...] = ()


@dataclass
class _Builder:
    addresses: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def address(self, name: str, ip: str) -> None:
        known = self.addresses.setdefault(name, [])
        if ip not in known:
            known.append(ip)

    def service(self, name: str, port: int, target: str) -> None:
        known = self.services.setdefault(name, [])
        if (port, target) not in known:
            known.append((port, target))

    def nodes(self, base: str) -> dict[str, Node]:
        names = {base, *self.addresses, *self.services}
        return {
            n: Node(
                tuple(sorted(self.addresses.get(n, ()))), tuple(sorted(self.services.get(n, ())))
            )
            for n in names
        }


def _ready(endpoint: Obj) -> bool:
    """An endpoint is ready unless its `ready` condition is false (nil means ready)."""
    return (endpoint.get("conditions") or {}).get("ready") is not False


def _host_label(endpoint: Obj, ip: str) -> str:
    return str(endpoint.get("hostname") or ip.replace(".", "-"))


def _is_headless(svc: Obj) -> bool:
    return ((svc.get("spec") or {}).get("clusterIP") or "None") == "None"


class RecordTable:
    """Service and endpoint names of one cluster domain, fed by `on_service` and `on_slice`."""

    def __init__(self, domain: str = "cluster.local") -> None:
        self.domain = domain.strip(".").lower()
        self._services: dict[ObjectKey, Obj] = {}
        # service key -> slice name -> slice
        self._slices: dict[ObjectKey, dict[str, Obj]] = {}
        self._names: dict[str, Node] = {}
        self._owned: dict[ObjectKey, set[str]] = {}
        self._namespaces: Counter[str] = Counter()
        #: Bumped on every change: the SOA serial.
        self.serial = 1

    # ------------------------------------------------------------------ feeding

    def on_service(self, event: str, old: Obj | None, svc: Obj) -> None:
        """A Service was added, changed or deleted."""
        key = key_of(svc)
        if event == "DELETED":
            if self._services.pop(key, None) is not None:
                self._namespaces[key.namespace] -= 1
        else:
            if key not in self._services:
                self._namespaces[key.namespace] += 1
            self._services[key] = svc
        self._rebuild(key)

    def on_slice(self, event: str, old: Obj | None, obj: Obj) -> None:
        """An EndpointSlice was added, changed or deleted."""
        for item in (old, obj):
            if item is None:
                continue
            service = (item["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
            if not service:
                continue
            key = ObjectKey(item["metadata"].get("namespace", ""), service)
            slices = self._slices.setdefault(key, {})
            slices.pop(item["metadata"]["name"], None)
            if item is obj and event != "DELETED":
                slices[obj["metadata"]["name"]] = obj
            if not slices:
                del self._slices[key]
            self._rebuild(key)

    # ------------------------------------------------------------------ answering

    def in_zone(self, name: str) -> bool:
        """Whether `name` (lowercase, no final dot) is the domain or below it."""
        return name == self.domain or name.endswith("." + self.domain)

    def lookup(self, name: str) -> Node | None:
        """The records at `name` (lowercase, no final dot), or None when it does not exist."""
        node = self._names.get(name)
        if node is not None:
            return node
        if name in (self.domain, f"svc.{self.domain}"):
            return Node()
        suffix = f".svc.{self.domain}"
        if name.endswith(suffix) and self._namespaces[name[: -len(suffix)]] > 0:
            return Node()
        return None

    # ------------------------------------------------------------------ building

    def _rebuild(self, key: ObjectKey) -> None:
        for name in self._owned.pop(key, ()):
            self._names.pop(name, None)
        svc = self._services.get(key)
        self.serial += 1
        if svc is None or (svc.get("spec") or {}).get("type") == "ExternalName":
            return
        base = f"{key.name}.{key.namespace}.svc.{self.domain}"
        builder = _Builder()
        for obj in self._slices.get(key, {}).values():
            self._add_slice(builder, obj, base=base, headless=_is_headless(svc))
        nodes = builder.nodes(base)
        self._names.update(nodes)
        self._owned[key] = set(nodes)

    @staticmethod
    def _add_slice(builder: _Builder, obj: Obj, *, base: str, headless: bool) -> None:
        if obj.get("addressType", "IPv4") != "IPv4":
            return
        ports = [p for p in obj.get("ports") or () if p.get("name") and p.get("port")]
        for endpoint in obj.get("endpoints") or ():
            if not _ready(endpoint):
                continue
            for ip in endpoint.get("addresses") or ():
                builder.address(base, ip)
                target = base
                if headless:
                    target = f"{_host_label(endpoint, ip)}.{base}"
                    builder.address(target, ip)
                for port in ports:
                    protocol = str(port.get("protocol", "TCP")).lower()
                    srv_name = f"_{port['name']}._{protocol}.{base}"
                    builder.service(srv_name, int(port["port"]), target)
