"""The host side of kubesim's process runtime: what a real cluster gives pods besides the kubelet.

With `runtime="process"` pods are real processes in their own network and mount namespaces
(`kubesim.kubelet.process`), so they need what a cluster network gives them: a bridge to reach
each other, the API server on an address they can route to (over HTTPS, which Ray's autoscaler
insists on, with a certificate covering that address) and a DNS server for Service names. The
assembly (`KubeSim`) opens a `PodHost` before the kubelets start and closes it after they stop.

It checks `kubesim.hostcheck.missing_prerequisite()` first, so a host without root or
iproute2 gets one sentence instead of a failure halfway through creating a bridge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from kubesim.apiserver.tls import generate_tls
from kubesim.common.config import WorkloadsConfig
from kubesim.dns import DnsServer
from kubesim.hostcheck import ProcessRuntimeUnavailable, default_image_map, missing_prerequisite
from kubesim.kubelet.agent import Kubelet
from kubesim.kubelet.process import PodNetwork, ProcessRuntime
from kubesim.kubelet.runtime import ContainerRuntime

__all__ = ["PodHost"]

#: Where in-pod clients reach the API server: the port of the `kubernetes` Service in a cluster.
API_PORT = 443
#: The cluster DNS port.
DNS_PORT = 53


@dataclass
class PodHost:
    """The bridge, the API server's HTTPS site on it and the DNS server, for one KubeSim."""

    network: PodNetwork
    dns: DnsServer
    site: web.TCPSite
    ca_pem: bytes
    #: The config the kubelets run with: the network's pod CIDR and the default image map.
    config: WorkloadsConfig
    runtimes: list[ProcessRuntime] = dataclasses.field(default_factory=list)

    #: The port pods reach the API server at (`KUBERNETES_SERVICE_PORT[_HTTPS]`).
    api_port: int = API_PORT

    @property
    def api_host(self) -> str:
        """The address pods reach the API server at (`KUBERNETES_SERVICE_HOST`)."""
        return str(self.network.address)

    @classmethod
    async def open(
        cls, *, runner: web.AppRunner, config: WorkloadsConfig, workdir: Path, cluster: Any
    ) -> PodHost:
        """Create the bridge, serve the API over TLS on it and answer DNS there."""
        missing = missing_prerequisite()
        if missing is not None:
            raise ProcessRuntimeUnavailable(f"the process runtime needs {missing}")
        network = PodNetwork.create(pod_cidr=config.pod_cidr)
        try:
            address = str(network.address)
            material = generate_tls(workdir / "pod-tls", address)
            site = web.TCPSite(runner, address, API_PORT, ssl_context=material.server_context())
            await site.start()
            dns = DnsServer(cluster)
            await dns.start(address, DNS_PORT)
        except BaseException:
            network.close()
            raise
        config = dataclasses.replace(
            config,
            pod_cidr=str(network.cidr),
            image_map={**default_image_map(), **config.image_map},
        )
        return cls(network=network, dns=dns, site=site, ca_pem=material.ca_pem, config=config)

    def runtime_factory(self) -> Callable[[Kubelet], ContainerRuntime]:
        """Build each kubelet's `ProcessRuntime`, pointed at this host's API and DNS."""

        def build(kubelet: Kubelet) -> ContainerRuntime:
            runtime = ProcessRuntime(
                kubelet=kubelet,
                config=self.config,
                network=self.network,
                api_host=self.api_host,
                api_port=self.api_port,
                ca_pem=self.ca_pem,
                nameserver=self.api_host,
            )
            self.runtimes.append(runtime)
            return runtime

        return build

    async def close(self) -> None:
        """Stop every pod's processes and sandbox, DNS and the HTTPS site, then the bridge."""
        for runtime in self.runtimes:
            await runtime.close()
        await self.dns.stop()
        await self.site.stop()
        self.network.close()
