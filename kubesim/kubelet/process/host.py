"""`ProcessHost`: one kubesim's share of the host for the process runtime.

It holds what every node's runtime shares: the instance (its id, directory and owner record,
after sweeping what dead instances left), the bridge and pod namespaces, the image map, and how
pods reach the API server (address for `KUBERNETES_SERVICE_*`, CA and tokens for the
service-account files). The assembly makes one, hands `runtime_factory(...)` to the kubelets,
and closes it when kubesim stops; closing is also registered with `atexit` so Ctrl-C leaves
nothing behind.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from kubesim.common.api import ClusterAPI
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.kubelet.process.cleanup import Instance, require_host
from kubesim.kubelet.process.env import ApiEndpoint
from kubesim.kubelet.process.images import ImageMap
from kubesim.kubelet.process.network import Network, PodNetwork
from kubesim.kubelet.process.sandbox import ServiceAccountFiles

if TYPE_CHECKING:
    from kubesim.kubelet.agent import Kubelet
    from kubesim.kubelet.process.runtime import ProcessRuntime

__all__ = ["ProcessHost"]


class ProcessHost:
    """The instance, network, image map and API access shared by one kubesim's runtimes."""

    def __init__(
        self,
        *,
        pod_cidr: str,
        image_map: Mapping[str, str] | None = None,
        api: ApiEndpoint | None = None,
        service_accounts: ServiceAccountFiles | None = None,
        nameserver: str | None = None,
    ) -> None:
        """Claim the host; HostUnavailable (one line naming what is missing) when impossible."""
        require_host()
        self.instance = Instance.create()
        try:
            self.network = Network(self.instance, pod_cidr)
        except BaseException:
            self.instance.close()
            raise
        self.images = ImageMap.with_defaults(image_map)
        self.api = api
        self.service_accounts = service_accounts
        self.nameserver = nameserver or self.network.info.bridge_ip
        self._closed = False
        atexit.register(self.close)

    @property
    def pod_network(self) -> PodNetwork:
        """Bridge name, bridge IP and pod CIDR (the API and DNS listen on the bridge IP)."""
        return self.network.info

    def runtime_factory(
        self, *, cluster: ClusterAPI, config: WorkloadsConfig, clock: Clock
    ) -> Callable[[Kubelet], ProcessRuntime]:
        """What `Kubelet(runtime_factory=...)` takes: one ProcessRuntime per node."""
        from kubesim.kubelet.process.runtime import ProcessRuntime

        def build(kubelet: Kubelet) -> ProcessRuntime:
            return ProcessRuntime(
                host=self,
                cluster=cluster,
                config=config,
                clock=clock,
                node=kubelet.name,
                listener=kubelet,
                pod_ip=kubelet.pod_ip,
                host_ip=kubelet.host_ip,
            )

        return build

    def close(self) -> None:
        """Remove every pod namespace, the bridge, mounts and files of this instance."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.network.close()
        self.instance.close()
