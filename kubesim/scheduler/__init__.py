"""kubesim's kube-scheduler: binds pending pods to nodes that fit them."""
