"""The endpoints of the `default/kubernetes` Service: the API server's own address.

In a real cluster kube-apiserver itself keeps these (`pkg/controlplane/reconcilers`, the lease
reconciler): an Endpoints labelled `endpointslice.kubernetes.io/skip-mirror: "true"` and an
EndpointSlice named `kubernetes` with only the `kubernetes.io/service-name` label, each holding
the advertised address and the secure port under the name `https`. kubesim's assembly knows that
address only once it serves, so it hands it over (`set_address`); until then nothing is written.
Either object, deleted or edited, is put back.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, key_of
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller
from kubesim.controllers.endpointslices import SERVICE_NAME_LABEL

__all__ = ["ApiserverEndpoints"]

Obj = dict[str, Any]

KEY = ObjectKey("default", "kubernetes")
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"


def endpoints_body(host: str, port: int) -> Obj:
    """The `default/kubernetes` Endpoints upstream writes."""
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": KEY.name,
            "namespace": KEY.namespace,
            "labels": {SKIP_MIRROR_LABEL: "true"},
        },
        "subsets": [
            {
                "addresses": [{"ip": host}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            }
        ],
    }


def slice_body(host: str, port: int) -> Obj:
    """The `default/kubernetes` EndpointSlice upstream writes."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": KEY.name,
            "namespace": KEY.namespace,
            "labels": {SERVICE_NAME_LABEL: KEY.name},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }


_CONTENT = ("subsets", "endpoints", "ports", "addressType")


class ApiserverEndpoints(Controller):
    """Writes the API server's address into `default/kubernetes` Endpoints and EndpointSlice."""

    name = "apiserver-endpoints"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        endpoints: Cache,
        slices: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.user = "system:apiserver"
        self.endpoints = endpoints
        self.slices = slices
        self.address: tuple[str, int] | None = None
        for cache in (endpoints, slices):
            cache.add_handler(self._on_change)

    def set_address(self, host: str, port: int) -> None:
        """Publish `host:port` (an IPv4 address) as the API server's endpoint."""
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"apiserver endpoint: not an IPv4 address: {host!r}") from None
        self.address = (host, port)
        self.queue.add(KEY)

    def _on_change(self, event: str, old: Obj | None, obj: Obj) -> None:
        if key_of(obj) == KEY:
            self.queue.add(KEY)

    def reconcile(self, key: ObjectKey) -> float | None:
        """Make both objects hold the address, writing only what differs."""
        if self.address is None:
            return None
        host, port = self.address
        self._ensure(self.endpoints, endpoints_body(host, port))
        self._ensure(self.slices, slice_body(host, port))
        return None

    def _ensure(self, cache: Cache, body: Obj) -> None:
        current = cache.get(KEY)
        if current is not None and all(current.get(f) == body.get(f) for f in _CONTENT):
            labels = current["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in body["metadata"]["labels"].items()):
                return
        try:
            if current is None:
                self.cluster.create(cache.resource, KEY.namespace, body, user=self.user, owned=True)
            else:
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                self.cluster.update(
                    cache.resource, KEY.namespace, KEY.name, body, user=self.user, owned=True
                )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
            self.queue.add(KEY)
