"""What a cluster network gives pods, for kubesim's process runtime: API, DNS, a bridge.

With `runtime="process"` pods are real processes in their own network and mount namespaces
(`kubesim.kubelet.process`, whose `ProcessHost` owns the bridge and the pod namespaces). They
need more than the kubelet: the API server on an address they can route to, over HTTPS (Ray's
autoscaler refuses plain HTTP) with a certificate covering that address, service-account files
trusting that certificate, and a DNS server for Service names. `PodHost` opens all of it on the
bridge address (API on 443, DNS on 53) before the kubelets start, and closes it after them.

The pod CIDR: the configured one, unless it is the default and a route on the host already
covers it (another kubesim with the process runtime, say); then the next free 10.x.0.0/16.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from kubesim.apiserver.cluster import Cluster
from kubesim.apiserver.tls import generate_tls
from kubesim.common.config import WorkloadsConfig
from kubesim.dns.server import DnsServer
from kubesim.kubelet.process.cleanup import HostUnavailable
from kubesim.kubelet.process.env import ApiEndpoint
from kubesim.kubelet.process.host import ProcessHost
from kubesim.kubelet.process.sandbox import ServiceAccountFiles

__all__ = ["API_PORT", "DNS_PORT", "PodHost"]

#: Where in-pod clients reach the API server: the port of the `kubernetes` Service in a cluster.
API_PORT = 443
#: The cluster DNS port.
DNS_PORT = 53
#: Candidate pod CIDRs when the default one is taken: 10.244/16 (the default), 10.245/16, ...
_DEFAULT_CIDR = WorkloadsConfig().pod_cidr
_CANDIDATES = 8


def _bridge_ip(pod_cidr: str) -> str:
    """The bridge holds the first address of the pod CIDR (the kubelet never allocates it)."""
    return str(next(ipaddress.ip_network(pod_cidr).hosts()))


def _candidates(pod_cidr: str) -> list[str]:
    if pod_cidr != _DEFAULT_CIDR:
        return [pod_cidr]
    base = ipaddress.ip_network(pod_cidr)
    return [
        str(ipaddress.ip_network((int(base.network_address) + i * 2**16, 16)))
        for i in range(_CANDIDATES)
    ]


#: Service-account tokens are written once (the process runtime does not rotate them).
_TOKEN_SECONDS = 30 * 24 * 3600


def _token_source(cluster: Cluster) -> Callable[[str, str], str]:
    """Signed ServiceAccount tokens for a pod's service account, so in-pod clients (the Ray
    autoscaler) authenticate as that account and act under RBAC, as in a cluster."""
    return lambda namespace, name: cluster.auth.issue_token(
        namespace, name, expiration=_TOKEN_SECONDS
    )


@dataclass
class PodHost:
    """One KubeSim's pod network, the API's HTTPS site on the bridge and the cluster DNS."""

    host: ProcessHost
    dns: DnsServer
    site: web.TCPSite
    api_host: str
    api_port: int = API_PORT

    @classmethod
    async def open(
        cls, *, runner: web.AppRunner, config: WorkloadsConfig, workdir: Path, cluster: Cluster
    ) -> PodHost:
        """Claim the host and a pod CIDR, serve the API over TLS and DNS on the bridge.

        Raises `HostUnavailable` (one line naming what is missing) when the host cannot.
        """
        skip: set[str] = set()
        while True:
            host, material = cls._claim(config, workdir, _token_source(cluster), skip=skip)
            api_host = host.pod_network.bridge_ip
            try:
                site = web.TCPSite(
                    runner, api_host, API_PORT, ssl_context=material.server_context()
                )
                await site.start()
                dns = DnsServer(cluster, domain=config.cluster_domain)
                await dns.start(api_host, DNS_PORT)
                break
            except OSError as exc:
                host.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                # Another kubesim's bridge still holds the address (it is going away, or it
                # claimed the range a moment ago): take the next free range.
                skip.add(host.pod_network.pod_cidr)
            except BaseException:
                host.close()
                raise
        # In-pod clients verify the bridge's certificate: kube-root-ca.crt must hold its CA.
        cluster.admission.set_root_ca(material.ca_pem.decode())
        return cls(host=host, dns=dns, site=site, api_host=api_host)

    @staticmethod
    def _claim(
        config: WorkloadsConfig,
        workdir: Path,
        token: Callable[[str, str], str],
        *,
        skip: set[str],
    ) -> tuple[ProcessHost, Any]:
        problem: HostUnavailable | None = None
        for cidr in _candidates(config.pod_cidr):
            if cidr in skip:
                continue
            address = _bridge_ip(cidr)
            material = generate_tls(workdir / f"pod-tls-{address}", address)
            try:
                host = ProcessHost(
                    pod_cidr=cidr,
                    image_map=config.image_map,
                    api=ApiEndpoint(address, API_PORT),
                    service_accounts=ServiceAccountFiles(
                        ca_crt=material.ca_pem.decode(), token=token
                    ),
                )
            except HostUnavailable as exc:
                if "overlaps" not in str(exc):
                    raise
                problem = exc
                continue
            return host, material
        raise problem or HostUnavailable(
            f"every pod network kubesim tries ({config.pod_cidr} and the next ones) is in use "
            "by another kubesim on this host"
        )

    @property
    def pod_cidr(self) -> str:
        """The pod CIDR in use (the kubelets allocate pod IPs from it)."""
        return self.host.pod_network.pod_cidr

    async def close(self) -> None:
        """Stop DNS and the HTTPS site, then remove every pod namespace and the bridge."""
        await self.dns.stop()
        await self.site.stop()
        self.host.close()
