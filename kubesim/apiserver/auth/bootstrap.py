"""The RBAC policy a real cluster bootstraps, and the ClusterRole aggregation controller.

kube-apiserver's rbac/bootstrap-roles post-start hook creates the default ClusterRoles and
bindings; kubesim creates those a user or operator meets (cluster-admin for `system:masters`,
discovery and public info for everyone, self-reviews for every authenticated user, and the
user-facing admin/edit/view roles, aggregated from the `system:aggregate-to-*` roles by their
`rbac.authorization.k8s.io/aggregate-to-*` labels, as the aggregation controller does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubesim.apiserver.errors import StatusError

__all__ = ["AggregationController", "bootstrap_policy", "selector_matches"]

_GROUP = "rbac.authorization.k8s.io"
_API_VERSION = f"{_GROUP}/v1"
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(urls: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


_VIEW = [
    _rule([""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"], _READ),
    _rule([""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"], _READ),
    _rule([""], ["namespaces"], _READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], _READ),
    _rule(["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"], _READ),
    _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], _READ),
    _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], _READ),
    _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], _READ),
    _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], _READ),
]  # fmt: skip
_EDIT = [
    _rule([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], _READ),
    _rule([""], ["serviceaccounts"], ["impersonate"]),
    _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], _WRITE),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"], _WRITE),
    _rule([""], ["serviceaccounts/token"], ["create"]),
    _rule(["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"], _WRITE),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], _WRITE),
    _rule(["batch"], ["cronjobs", "jobs"], _WRITE),
    _rule(["policy"], ["poddisruptionbudgets"], _WRITE),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], _WRITE),
    _rule(["coordination.k8s.io"], ["leases"], [*_READ, *_WRITE]),
]  # fmt: skip
_ADMIN = [
    _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    _rule([_GROUP], ["rolebindings", "roles"], [*_READ, *_WRITE]),
]
_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]  # fmt: skip
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _cluster_role(
    name: str,
    rules: list[dict[str, Any]],
    *,
    labels: Mapping[str, str] | None = None,
    aggregate_from: str | None = None,
) -> dict[str, Any]:
    role: dict[str, Any] = {
        "apiVersion": _API_VERSION,
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {**_BOOTSTRAP_LABELS, **(labels or {})},
            "annotations": dict(_AUTOUPDATE),
        },
        "rules": rules,
    }
    if aggregate_from is not None:
        selector = {"matchLabels": {f"{_AGGREGATE}{aggregate_from}": "true"}}
        role["aggregationRule"] = {"clusterRoleSelectors": [selector]}
    return role


def _binding(name: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": _API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": dict(_BOOTSTRAP_LABELS),
            "annotations": dict(_AUTOUPDATE),
        },
        "roleRef": {"apiGroup": _GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": _GROUP, "kind": "Group", "name": g} for g in groups],
    }


def bootstrap_policy() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ClusterRoles, ClusterRoleBindings) as kube-apiserver creates them at start."""
    everyone = ["system:authenticated"]
    roles = [
        _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _cluster_role("system:discovery", [_urls(_DISCOVERY_URLS, ["get"])]),
        _cluster_role("system:public-info-viewer", [_urls(_PUBLIC_URLS, ["get"])]),
        _cluster_role(
            "system:basic-user",
            [
                _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
                _rule(
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    ["create"],
                ),
            ],
        ),
        _cluster_role("admin", [], labels={}, aggregate_from="admin"),
        _cluster_role("edit", [], labels={f"{_AGGREGATE}admin": "true"}, aggregate_from="edit"),
        _cluster_role("view", [], labels={f"{_AGGREGATE}edit": "true"}, aggregate_from="view"),
        _cluster_role("system:aggregate-to-admin", _ADMIN, labels={f"{_AGGREGATE}admin": "true"}),
        _cluster_role("system:aggregate-to-edit", _EDIT, labels={f"{_AGGREGATE}edit": "true"}),
        _cluster_role("system:aggregate-to-view", _VIEW, labels={f"{_AGGREGATE}view": "true"}),
    ]
    bindings = [
        _binding("cluster-admin", "cluster-admin", ["system:masters"]),
        _binding("system:discovery", "system:discovery", everyone),
        _binding("system:basic-user", "system:basic-user", everyone),
        _binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            [*everyone, "system:unauthenticated"],
        ),
    ]
    aggregate(roles)
    return roles, bindings


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions) against labels; an empty or
    malformed selector matches nothing, as the aggregation controller treats it."""
    if not isinstance(selector, Mapping) or not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if (op == "Exists") != present and op in ("Exists", "DoesNotExist"):
            return False
    return True


def aggregated_rules(
    role: Mapping[str, Any], roles: Sequence[Mapping[str, Any]]
) -> list[Any] | None:
    """The rules an aggregated ClusterRole should hold (None if it aggregates nothing)."""
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors")
    if not isinstance(selectors, list):
        return None
    rules: list[Any] = []
    for other in sorted(roles, key=lambda r: str(r["metadata"]["name"])):
        if other["metadata"]["name"] == role["metadata"]["name"]:
            continue
        labels = other["metadata"].get("labels") or {}
        if any(selector_matches(s, labels) for s in selectors):
            rules += [r for r in other.get("rules") or [] if r not in rules]
    return rules


def aggregate(roles: list[dict[str, Any]]) -> None:
    """Fill the aggregated roles of `roles` in place until nothing changes (roles aggregate
    roles that aggregate others: admin ⊃ edit ⊃ view)."""
    changed = True
    while changed:
        changed = False
        for role in roles:
            rules = aggregated_rules(role, roles)
            if rules is not None and rules != role.get("rules"):
                role["rules"] = rules
                changed = True


class AggregationController:
    """Keeps aggregated ClusterRoles' rules the union of the roles their selectors match."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self._info = cluster.resource("clusterroles", _GROUP)
        cluster.subscribe(self._info, self._changed)

    def _changed(self, _event: str, obj: dict[str, Any]) -> None:
        roles = [dict(r) for r in self._cluster.iter_objects(self._info)]
        for role in roles:
            rules = aggregated_rules(role, roles)
            if rules is None or rules == (role.get("rules") or []):
                continue
            try:
                self._cluster.patch(
                    self._info,
                    None,
                    role["metadata"]["name"],
                    {"rules": rules},
                    patch_type="merge",
                    user="system:kube-controller-manager",
                    field_manager="clusterrole-aggregation-controller",
                )
            except StatusError:
                continue  # deleted meanwhile: nothing to aggregate into
