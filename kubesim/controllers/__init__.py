"""kubesim's kube-controller-manager, scheduler and kubelet, run in-process against `Cluster`.

`Workloads(cluster, config)` owns every simulated component: the StatefulSet, Deployment,
ReplicaSet, HorizontalPodAutoscaler and PVC-retention controllers, the scheduler, the nodes and
their kubelet. `run()` runs them until cancelled; `chaos(action, params)` and the typed fault
methods inject the failures a real cluster brings.

`Workloads` is imported lazily: `kubesim.kubelet` builds on this package's small modules
(config, clock, queue, ...), and the manager builds on the kubelet, so an eager import here
would make importing `kubesim.kubelet.*` first circular.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubesim.controllers.config import WorkloadsConfig

if TYPE_CHECKING:
    from kubesim.controllers.manager import Workloads

__all__ = ["Workloads", "WorkloadsConfig"]


def __getattr__(name: str) -> object:
    if name == "Workloads":
        from kubesim.controllers.manager import Workloads

        return Workloads
    raise AttributeError(f"module 'kubesim.controllers' has no attribute {name!r}")
