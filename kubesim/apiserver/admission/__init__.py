"""Admission: what kube-apiserver's admission plugins do to a write before it is stored.

`Admission.admit(info, obj, old)` is called once per create (`old is None`) and update, after
decoding and defaults and before validation, for every write (HTTP or in-process), as upstream
runs admission for every client. In upstream's plugin order:

- ServiceAccount (pods): the account must exist (403), its token is projected into the pod;
- Priority (pods): priorityClassName resolves to spec.priority (403 for an unknown class);
- LimitRanger (pods): container defaults and min/max from the namespace's LimitRanges;
- RBAC escalation prevention (Roles, ClusterRoles, bindings written over HTTP);
- ResourceQuota (creates): 403 `exceeded quota: ...` when a quota of the namespace would be
  exceeded.

It also owns the namespace side (a `default` ServiceAccount and `kube-root-ca.crt` in every
namespace), the ResourceQuota status controller and the two system PriorityClasses.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from kubesim.apiserver.admission.limits import admit_limits
from kubesim.apiserver.admission.namespaces import NamespaceDefaults
from kubesim.apiserver.admission.priority import SYSTEM_PRIORITY_CLASSES, admit_priority
from kubesim.apiserver.admission.quota import QuotaController, admit_quota
from kubesim.apiserver.admission.rbac import RBAC_KEYS, prevent_escalation
from kubesim.apiserver.admission.serviceaccount import admit_service_account
from kubesim.apiserver.resources import ResourceInfo

__all__ = ["Admission"]

_PODS = ("", "pods")


class Admission:
    """The admission chain of one cluster (see the module docstring)."""

    def __init__(self, cluster: Any, *, rng: random.Random | None = None) -> None:
        self._cluster = cluster
        self._rng = rng or random.Random()
        info = cluster.resource("priorityclasses", "scheduling.k8s.io")
        for priority_class in SYSTEM_PRIORITY_CLASSES:
            obj = copy.deepcopy(priority_class)
            cluster.system_create(info, "", obj, manager="kube-apiserver")
        self.namespaces = NamespaceDefaults(cluster)
        self.quotas = QuotaController(cluster)

    def set_root_ca(self, pem: str) -> None:
        """The CA (PEM) pods find in `kube-root-ca.crt` (kubesim's HTTPS CA)."""
        self.namespaces.set_root_ca(pem)

    def admit(self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Mutate or refuse (403) one write; `old` is None for a create."""
        key = info.key
        if key == _PODS and old is None:
            admit_service_account(self._cluster, obj, self._rng)
            admit_priority(self._cluster, obj)
            admit_limits(self._cluster, obj)
        elif key in RBAC_KEYS:
            prevent_escalation(self._cluster.auth.rbac, info, obj)
        if old is None:
            admit_quota(self._cluster, info, obj)
