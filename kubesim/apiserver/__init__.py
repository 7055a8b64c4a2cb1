"""kubesim's kube-apiserver: store, verbs, watch, CRDs, patching and apply, GC, HTTP serving.

`cluster.Cluster` is the in-process API every other component talks to; `server` serves it over
HTTP(S) to kubectl and the Kubernetes clients. Nothing here imports the controllers, the
scheduler or the kubelet: they are clients of this package, as in Kubernetes.
"""
