"""Pod networking: one bridge per kubesim, one network namespace and veth per pod.

The bridge `ks<id>b` holds the first address of the pod CIDR (the gateway the kubelet's IP
allocator leaves free) with the whole CIDR's prefix, so every pod of every node is on one L2
segment and pods reach each other by pod IP with no routing. Its MAC address is pinned: a Linux
bridge otherwise takes the lowest MAC of its ports, which changes as veths come and go, and
peers holding the old ARP entry stall for about a minute (seen with Ray's autoscaler).

A pod's namespace `ks<id>-<uid8>` gets `eth0` (the inside end of the veth) with the pod IP the
kubelet allocated, `lo` up, and a default route via the bridge. A pod CIDR that overlaps a route
already on the host is refused: the bridge's route would hijack or be hijacked by it.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from kubesim.kubelet.process.cleanup import (
    NETNS_DIR,
    HostUnavailable,
    Instance,
    ip,
    kill_netns_processes,
)

__all__ = ["Network", "PodNetwork"]


@dataclass(frozen=True)
class PodNetwork:
    """What others need to know about the pod network (the API and DNS listen on `bridge_ip`)."""

    bridge: str
    bridge_ip: str
    pod_cidr: str


def _overlapping_route(cidr: ipaddress.IPv4Network) -> str | None:
    """A route of the host's main table that overlaps `cidr` (the default route aside)."""
    for route in json.loads(ip("-j", "-4", "route", "show") or "[]"):
        dst = str(route.get("dst", ""))
        if dst in ("", "default"):
            continue
        try:
            network = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if isinstance(network, ipaddress.IPv4Network) and network.overlaps(cidr):
            return f"{dst} dev {route.get('dev', '?')}"
    return None


class Network:
    """The bridge of one instance and the namespaces of its pods."""

    def __init__(self, instance: Instance, pod_cidr: str) -> None:
        cidr = ipaddress.ip_network(pod_cidr)
        if not isinstance(cidr, ipaddress.IPv4Network):
            raise HostUnavailable(f"pod CIDR {pod_cidr}: the process runtime supports IPv4 only")
        clash = _overlapping_route(cidr)
        if clash is not None:
            raise HostUnavailable(
                f"pod CIDR {pod_cidr} overlaps the host route {clash}; choose another "
                "WorkloadsConfig.pod_cidr (--pod-cidr)"
            )
        self._instance = instance
        # add_pod runs in worker threads: next() on a count is atomic, `+= 1` is not.
        self._veth_numbers = itertools.count()
        self._veths: dict[str, str] = {}
        digits = instance.id
        mac = f"02:6b:73:{digits[0:2]}:{digits[2:4]}:{digits[4:6]}"
        self.info = PodNetwork(
            bridge=f"{instance.prefix}b",
            bridge_ip=str(cidr.network_address + 1),
            pod_cidr=str(cidr),
        )
        self._prefixlen = cidr.prefixlen
        ip(
            "-batch",
            "-",
            stdin=(
                f"link add {self.info.bridge} address {mac} type bridge\n"
                f"addr add {self.info.bridge_ip}/{cidr.prefixlen} dev {self.info.bridge}\n"
                f"link set {self.info.bridge} up\n"
            ),
        )

    def netns_name(self, uid: str) -> str:
        """The network namespace of pod `uid`."""
        return f"{self._instance.prefix}-{uid[:8]}"

    def netns_path(self, uid: str) -> str:
        """The namespace file processes join (`setns`, `nsenter --net=`)."""
        return str(NETNS_DIR / self.netns_name(uid))

    def add_pod(self, uid: str, pod_ip: str) -> None:
        """Create pod `uid`'s namespace with `pod_ip` on eth0 and a route via the bridge."""
        netns = self.netns_name(uid)
        number = next(self._veth_numbers)
        veth = f"{self._instance.prefix}v{number}"
        peer = f"{self._instance.prefix}p{number}"
        self._veths[uid] = veth
        ip("netns", "add", netns)
        ip(
            "-batch",
            "-",
            stdin=(
                f"link add {veth} type veth peer name {peer} netns {netns}\n"
                f"link set {veth} master {self.info.bridge} up\n"
            ),
        )
        ip(
            "-n",
            netns,
            "-batch",
            "-",
            stdin=(
                f"link set {peer} name eth0\n"
                f"addr add {pod_ip}/{self._prefixlen} dev eth0\n"
                "link set eth0 up\n"
                "link set lo up\n"
                f"route add default via {self.info.bridge_ip}\n"
            ),
        )

    def remove_pod(self, uid: str) -> None:
        """Kill whatever still runs in the pod's namespace and delete it and its veth."""
        netns = self.netns_name(uid)
        if Path(self.netns_path(uid)).exists():
            kill_netns_processes(netns)
            ip("netns", "delete", netns, check=False)
        veth = self._veths.pop(uid, None)
        if veth is not None:
            ip("link", "delete", veth, check=False)

    def close(self) -> None:
        """Remove every pod namespace and the bridge."""
        for uid in list(self._veths):
            self.remove_pod(uid)
        ip("link", "delete", self.info.bridge, check=False)
