"""kubesim: an embedded Kubernetes (API server, workload controllers, kubelet) in one process.

It never imports the operator: it is a Kubernetes, not a part of rayop.

    from kubesim import KubeSim

    async with KubeSim(controllers=False) as sim:
        ...  # sim.url, sim.kubeconfig_path, sim.cluster, sim.audit, sim.faults
"""

from kubesim.sim import KubeSim

__all__ = ["KubeSim"]
