"""Machinery shared by kubesim's controllers, scheduler and kubelet.

The in-process API client (`api`), the loop clock, `WorkloadsConfig`, keyed work queues, the
informer-like object store, event recording, pod helpers and resource quantities: what
client-go and apimachinery give Kubernetes' own components.
"""
