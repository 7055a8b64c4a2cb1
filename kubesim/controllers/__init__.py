"""kubesim's kube-controller-manager, scheduler and kubelet, run in-process against `Cluster`.

`Workloads(cluster, config)` owns every simulated component: the StatefulSet, Deployment,
ReplicaSet, HorizontalPodAutoscaler and PVC-retention controllers, the scheduler, the nodes and
their kubelet. `run()` runs them until cancelled; `chaos(action, params)` and the typed fault
methods inject the failures a real cluster brings.
"""

from kubesim.controllers.config import WorkloadsConfig
from kubesim.controllers.manager import Workloads

__all__ = ["Workloads", "WorkloadsConfig"]
