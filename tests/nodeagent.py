"""A minimal node agent for the real control plane: the part of a kubelet an operator can see.

kube-controller-manager creates pods and kube-scheduler binds them, but without a kubelet they
stay Pending. This agent registers a Node (Ready, with capacity), renews its Lease in
``kube-node-lease`` so the node-lifecycle controller keeps it Ready, reports every pod bound to
it Running and Ready (with a pod IP), and completes the deletion of pods marked for deletion,
as a kubelet does once containers have stopped. Nothing runs: no containers, no probes.
kubesim's simulated kubelet talks to kubesim in-process, so it cannot serve here.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
from typing import Any

from controller.kube import KubeClient, NotFound
from controller.kube.errors import KubeError

MERGE = "application/merge-patch+json"
POLL = 0.2  # seconds between looks at the node's pods
LEASE_RENEW = 5.0  # seconds; the node-lifecycle controller's grace period is 40 s


def _now(micro: bool = False) -> str:
    stamp = datetime.datetime.now(datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


class NodeAgent:
    """One fake node named ``name`` with ``cpu`` cores and ``memory``."""

    def __init__(
        self, client: KubeClient, name: str, *, cpu: str = "32", memory: str = "128Gi"
    ) -> None:
        self.client = client
        self.name = name
        self.capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
        self._ips = (f"10.244.{n // 250}.{n % 250 + 2}" for n in itertools.count())
        self._ip_of: dict[str, str] = {}

    async def run(self) -> None:
        """Register the node, then keep its Lease and its pods up to date until cancelled."""
        await self._register()
        await asyncio.gather(self._renew_lease(), self._tend_pods())

    async def _register(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name,
                                                           "kubernetes.io/os": "linux"}}}  # fmt: skip
        await self.client.request("POST", "/api/v1/nodes", body=node)
        status = {
            "capacity": self.capacity,
            "allocatable": self.capacity,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "rayop-nodeagent://0",
                "kernelVersion": "",
                "osImage": "",
                "kubeProxyVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
            "conditions": [self._ready()],
        }
        await self.client.request("PATCH", f"/api/v1/nodes/{self.name}/status",
                                  body={"status": status}, content_type=MERGE)  # fmt: skip

    @staticmethod
    def _ready() -> dict[str, str]:
        now = _now()
        return {"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "rayop node agent is posting ready status",
                "lastHeartbeatTime": now, "lastTransitionTime": now}  # fmt: skip

    async def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40}}  # fmt: skip
        while True:
            lease["spec"]["renewTime"] = _now(micro=True)
            await self.client.request("PATCH", path, query={"fieldManager": self.name, "force": "true"},
                                      body=lease, content_type="application/apply-patch+yaml")  # fmt: skip
            await asyncio.sleep(LEASE_RENEW)

    async def _tend_pods(self) -> None:
        query = {"fieldSelector": f"spec.nodeName={self.name}"}
        while True:
            listed = await self.client.request("GET", "/api/v1/pods", query=query)
            for pod in listed.get("items") or []:
                try:
                    await self._tend(pod)
                except (NotFound, KubeError) as error:
                    if error.code not in (404, 409):
                        raise
            await asyncio.sleep(POLL)

    async def _tend(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        if meta.get("deletionTimestamp"):
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                    "preconditions": {"uid": meta["uid"]}}  # fmt: skip
            await self.client.request("DELETE", path, body=body)
            return
        status = pod.get("status") or {}
        if status.get("phase") == "Running":
            return
        ip = self._ip_of.setdefault(meta["uid"], next(self._ips))
        now = _now()
        containers = [
            {"name": c["name"], "image": c["image"], "imageID": c["image"], "ready": True, "started": True,
             "restartCount": 0, "containerID": f"rayop://{meta['uid']}/{c['name']}",
             "state": {"running": {"startedAt": now}}}
            for c in pod["spec"]["containers"]
        ]  # fmt: skip
        conditions = [{"type": t, "status": "True", "lastTransitionTime": now}
                      for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]  # fmt: skip
        patch = {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                            "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "startTime": now,
                            "conditions": conditions, "containerStatuses": containers}}  # fmt: skip
        await self.client.request("PATCH", f"{path}/status", body=patch, content_type=MERGE)
