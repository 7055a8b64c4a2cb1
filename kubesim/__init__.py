"""kubesim: an embedded Kubernetes (API server, workload controllers, kubelet) in one process.

It never imports the operator: it is a Kubernetes, not a part of rayop."""
