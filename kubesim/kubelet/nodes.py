"""Node objects for the simulated nodes, and per-node pod IP allocation.

Node `i` is `kubesim-node-<i>` with InternalIP from `node_cidr`, podCIDR the i-th /24 of
`pod_cidr`, capacity = allocatable from the config, and the four conditions a healthy kubelet
reports (MemoryPressure, DiskPressure, PIDPressure False; Ready True).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import deque
from typing import Any

from kubesim.common.config import WorkloadsConfig

__all__ = ["IPAllocator", "node_name", "node_object"]

KUBELET_VERSION = "v1.32.0"


def node_name(index: int) -> str:
    """The name of simulated node `index`."""
    return f"kubesim-node-{index}"


def node_ip(config: WorkloadsConfig, index: int) -> str:
    """The InternalIP of node `index` (.1 is left for the gateway)."""
    network = ipaddress.ip_network(config.node_cidr)
    return str(network.network_address + 2 + index)


def pod_cidr(config: WorkloadsConfig, index: int) -> str:
    """The /24 of `pod_cidr` given to node `index`."""
    network = ipaddress.ip_network(config.pod_cidr)
    prefix = max(network.prefixlen, 24)
    base = int(network.network_address) + index * (1 << (32 - prefix))
    return f"{ipaddress.ip_address(base)}/{prefix}"


def node_object(config: WorkloadsConfig, index: int, *, now: str) -> dict[str, Any]:
    """The Node a kubelet registers, with its status."""
    name = node_name(index)
    resources: dict[str, str] = {
        "cpu": config.node_cpu,
        "memory": config.node_memory,
        "pods": str(config.node_pods),
        "ephemeral-storage": "100Gi",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }
    if config.node_gpus:
        resources["nvidia.com/gpu"] = str(config.node_gpus)
    cidr = pod_cidr(config, index)

    def cond(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    machine = uuid.uuid5(uuid.NAMESPACE_DNS, name).hex
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "kubesim",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": node_ip(config, index)},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": machine,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_OID, name)),
                "kernelVersion": "6.8.0-kubesim",
                "osImage": "kubesim (simulated node)",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [],
        },
    }


class IPAllocator:
    """Pod IPs from one node's podCIDR, handed out in order and reused only after the rest
    (like the host-local IPAM plugin, which continues after the last address it reserved)."""

    def __init__(self, cidr: str) -> None:
        network = ipaddress.ip_network(cidr)
        # .0 is the network, .1 the node's bridge, the last the broadcast.
        self._free = deque(str(ip) for ip in list(network.hosts())[1:])
        self._owner: dict[str, str] = {}

    def allocate(self, uid: str) -> str:
        """A free IP for pod `uid`; "" when the range is exhausted. Call once per pod."""
        if not self._free:
            return ""
        ip = self._free.popleft()
        self._owner[ip] = uid
        return ip

    def release(self, ip: str) -> None:
        """Return an IP to the pool."""
        if self._owner.pop(ip, None) is not None:
            self._free.append(ip)
