"""kubesim: an embedded Kubernetes (API server, workload controllers, kubelet) in one process.

It never imports the operator: it is a Kubernetes, not a part of rayop. One package per
component, as in Kubernetes: `apiserver`, `controllers`, `scheduler`, `kubelet`, `faults`, with
the machinery they share in `common`; this root holds only the assembly (`KubeSim`,
`workloads.Workloads`, the CLI).

    from kubesim import KubeSim

    async with KubeSim(controllers=False) as sim:
        ...  # sim.url, sim.kubeconfig_path, sim.cluster, sim.audit, sim.faults
"""

from kubesim.common.config import WorkloadsConfig
from kubesim.sim import KubeSim

__all__ = ["KubeSim", "WorkloadsConfig"]
