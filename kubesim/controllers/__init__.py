"""kubesim's kube-controller-manager: the workload controllers, run in-process against `Cluster`.

StatefulSet, Deployment, ReplicaSet, HorizontalPodAutoscaler, PVC retention and node lifecycle,
each a small reconciler on the shared machinery in `kubesim.common`. They are assembled, with the
scheduler and the kubelets, by `kubesim.workloads.Workloads`.
"""
