"""RBAC's escalation prevention, applied where upstream's RBAC registry applies it: on writes
of Roles, ClusterRoles and their bindings made over HTTP.

A user may write a role only with permissions they hold themselves, unless they have the
`escalate` verb on it; may bind a role only if they hold its permissions, unless they have the
`bind` verb on it; and only `system:masters` may set an aggregationRule. kubesim's own
components write through the in-process API and are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.auth import CURRENT_REQUEST, CURRENT_USER, Attributes
from kubesim.apiserver.auth.rbac import RbacAuthorizer
from kubesim.apiserver.auth.tokens import MASTERS, UserInfo
from kubesim.apiserver.resources import ResourceInfo

__all__ = ["RBAC_KEYS", "prevent_escalation"]

_GROUP = "rbac.authorization.k8s.io"
RBAC_KEYS = frozenset(
    (_GROUP, p) for p in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
)


def _compact(rule: Mapping[str, Any]) -> str:
    parts = []
    for field, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("resourceNames", "ResourceNames"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("verbs", "Verbs"),
    ):
        if rule.get(field):
            quoted = " ".join(f'"{v}"' for v in rule[field])
            parts.append(f"{label}:[{quoted}]")
    return "{" + ", ".join(parts) + "}"


def _refuse(
    info: ResourceInfo, name: str, user: UserInfo, missing: list[Mapping[str, Any]]
) -> errors.StatusError:
    groups = " ".join(f'"{g}"' for g in user.groups)
    rules = "\n".join(_compact(r) for r in missing)
    why = (
        f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions not '
        f"currently held:\n{rules}"
    )
    return errors.forbidden(info.plural, info.group, name, why)


def prevent_escalation(rbac: RbacAuthorizer, info: ResourceInfo, obj: dict[str, Any]) -> None:
    """Refuse a Role/ClusterRole/binding write that grants more than the writer holds."""
    user, asked = CURRENT_USER.get(), CURRENT_REQUEST.get()
    if user is None or MASTERS in user.groups:
        return
    if asked is None or (asked.group, asked.resource) != info.key or asked.subresource:
        return  # not this request's own write (e.g. the garbage collector's, on its behalf)
    meta = obj["metadata"]
    namespace = str(meta.get("namespace") or "") if info.namespaced else ""
    name = str(meta.get("name") or "")
    if info.plural in ("roles", "clusterroles"):
        if info.plural == "clusterroles" and obj.get("aggregationRule"):
            raise errors.forbidden(
                info.plural,
                info.group,
                name,
                "must have cluster-admin privileges to use the aggregationRule",
            )
        escalate = Attributes(
            "escalate", True, group=_GROUP, resource=info.plural, namespace=namespace, name=name
        )
        if rbac.allowed(user, escalate):
            return
        missing = rbac.covers(user, namespace, obj.get("rules") or [])
        if missing:
            raise _refuse(info, name, user, missing)
        return
    ref = obj.get("roleRef") or {}
    kind, role = str(ref.get("kind") or ""), str(ref.get("name") or "")
    plural = "roles" if kind == "Role" else "clusterroles"
    bind = Attributes("bind", True, group=_GROUP, resource=plural, namespace=namespace, name=role)
    if rbac.allowed(user, bind):
        return
    missing = rbac.covers(user, namespace, rbac.role_rules(kind, role, namespace))
    if missing:
        raise _refuse(info, name, user, missing)
