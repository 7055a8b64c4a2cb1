"""Every namespace holds a `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap.

Upstream the serviceaccounts controller and the root-ca-cert-publisher make them shortly after
a namespace appears (and put them back when deleted). kubesim makes them in the same step as
the namespace (a store subscriber), so a pod created right after its namespace is admitted even
without controllers running. `ca.crt` is the CA of kubesim's HTTPS server when it serves TLS
(`set_root_ca`), and empty over plain HTTP, where there is no CA.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.watch import DELETED

__all__ = ["ROOT_CA_CONFIGMAP", "NamespaceDefaults"]

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_MANAGER = "kube-controller-manager"
_CA_ANNOTATION = {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}  # fmt: skip


class NamespaceDefaults:
    """Creates (and re-creates) each namespace's default account and root CA ConfigMap."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self.root_ca = ""
        self._namespaces = cluster.resource("namespaces")
        self._accounts = cluster.resource("serviceaccounts")
        self._configmaps = cluster.resource("configmaps")
        for namespace in list(cluster.iter_objects(self._namespaces)):
            self._fill(namespace["metadata"]["name"])
        cluster.subscribe(self._namespaces, self._namespace_changed)
        cluster.subscribe(self._accounts, self._object_changed)
        cluster.subscribe(self._configmaps, self._object_changed)

    def set_root_ca(self, pem: str) -> None:
        """Publish the API server's CA (PEM) in every namespace's `kube-root-ca.crt`."""
        self.root_ca = pem
        for configmap in list(self._cluster.iter_objects(self._configmaps)):
            if configmap["metadata"]["name"] == ROOT_CA_CONFIGMAP:
                self._cluster.system_update(
                    self._configmaps,
                    configmap,
                    {**configmap, "data": {"ca.crt": pem}},
                    user="system:serviceaccount:kube-system:root-ca-cert-publisher",
                    manager=_MANAGER,
                )

    def _namespace_changed(self, event: str, namespace: dict[str, Any]) -> None:
        if event != DELETED:
            self._fill(namespace["metadata"]["name"])

    def _object_changed(self, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event == DELETED and name in ("default", ROOT_CA_CONFIGMAP):
            self._fill(obj["metadata"]["namespace"])

    def _active(self, namespace: str) -> bool:
        try:
            ns = self._cluster.get(self._namespaces, None, namespace)
        except errors.StatusError:
            return False
        return not ns["metadata"].get("deletionTimestamp")

    def _fill(self, namespace: str) -> None:
        if not self._active(namespace):
            return
        wanted: list[tuple[Any, dict[str, Any]]] = [
            (self._accounts, {"metadata": {"name": "default", "namespace": namespace}}),
            (
                self._configmaps,
                {
                    "metadata": {
                        "name": ROOT_CA_CONFIGMAP,
                        "namespace": namespace,
                        "annotations": dict(_CA_ANNOTATION),
                    },
                    "data": {"ca.crt": self.root_ca},
                },
            ),
        ]
        for info, obj in wanted:
            try:
                self._cluster.get(info, namespace, obj["metadata"]["name"])
            except errors.StatusError:
                self._cluster.system_create(info, namespace, obj, manager=_MANAGER)
