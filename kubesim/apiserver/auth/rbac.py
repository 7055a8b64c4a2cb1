"""The RBAC authorizer: Roles, ClusterRoles and their bindings decide every HTTP request.

As upstream, members of `system:masters` are allowed before RBAC is asked; anyone else is
allowed a request when a rule of a role bound to them (cluster-wide, or in the request's
namespace) matches it. Rules match by verb, API group, resource (`pods`, `pods/log`, `*/scale`,
`*`), resourceName, or for non-resource requests by path (`/healthz`, `/api/*`).

Decisions are cached per (user, request attributes) until a Role, ClusterRole or binding
changes, so a steady stream of requests costs one dict lookup each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kubesim.apiserver.auth.requestinfo import Attributes
from kubesim.apiserver.auth.tokens import MASTERS, UserInfo
from kubesim.apiserver.errors import StatusError, qualified_resource
from kubesim.apiserver.store import Store

__all__ = ["RBAC_RESOURCES", "RbacAuthorizer", "forbidden", "rule_allows"]

RBAC_RESOURCES = ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
_GROUP = "rbac.authorization.k8s.io"
_SA_PREFIX = "system:serviceaccount:"
_CACHE_LIMIT = 50_000

Rule = Mapping[str, Any]


def _has(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _resource_matches(resources: Any, attrs: Attributes) -> bool:
    if not isinstance(resources, list):
        return False
    combined = attrs.full_resource
    for resource in resources:
        if resource in ("*", combined):
            return True
        if attrs.subresource and resource == f"*/{attrs.subresource}":
            return True
        if attrs.subresource and resource == f"{attrs.resource}/*":
            return True
    return False


def _path_matches(urls: Any, path: str) -> bool:
    if not isinstance(urls, list):
        return False
    for url in urls:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    """Whether one PolicyRule grants the request (upstream's RuleAllows)."""
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return _path_matches(rule.get("nonResourceURLs"), attrs.path)
    names = rule.get("resourceNames") or []
    return (
        _has(rule.get("apiGroups"), attrs.group)
        and _resource_matches(rule.get("resources"), attrs)
        and (not names or attrs.name in names)
    )


def _subject_matches(subject: Any, user: UserInfo, namespace: str) -> bool:
    if not isinstance(subject, Mapping):
        return False
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_ns = subject.get("namespace") or namespace
        return user.name == f"{_SA_PREFIX}{sa_ns}:{name}"
    return False


def forbidden(user: UserInfo, attrs: Attributes, reason: str = "") -> StatusError:
    """403 with upstream's wording (`responsewriters.forbiddenMessage` + `NewForbidden`)."""
    if not attrs.resource_request:
        why = f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
        message = f"forbidden: {why}"
    else:
        where = (
            f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        )
        why = (
            f'User "{user.name}" cannot {attrs.verb} resource "{attrs.full_resource}" '
            f'in API group "{attrs.group}" {where}'
        )
        who = qualified_resource(attrs.resource, attrs.group)
        message = (
            f'{who} "{attrs.name}" is forbidden: {why}'
            if attrs.name
            else f"{who} is forbidden: {why}"
        )
    if reason:
        message += f": {reason}"
    details: dict[str, Any] = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.group:
        details["group"] = attrs.group
    if attrs.resource:
        details["kind"] = attrs.resource
    return StatusError(403, "Forbidden", message, details)


class RbacAuthorizer:
    """Answers "may this user do this?" from the cluster's RBAC objects."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._decisions: dict[tuple[str, tuple[str, ...], Attributes], bool] = {}
        for plural in RBAC_RESOURCES:
            store.subscribe(store.resource(plural, _GROUP), self._changed)

    def _changed(self, _event: str, _obj: dict[str, Any]) -> None:
        self._decisions.clear()

    def allowed(self, user: UserInfo, attrs: Attributes) -> bool:
        """The decision for one request (cached until RBAC objects change)."""
        if MASTERS in user.groups:
            return True
        key = (user.name, user.groups, attrs)
        decision = self._decisions.get(key)
        if decision is None:
            decision = any(rule_allows(rule, attrs) for rule in self.rules(user, attrs.namespace))
            if len(self._decisions) >= _CACHE_LIMIT:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def check(self, user: UserInfo, attrs: Attributes) -> None:
        """Raise upstream's 403 unless `user` may make the request."""
        if not self.allowed(user, attrs):
            raise forbidden(user, attrs)

    def rules(self, user: UserInfo, namespace: str) -> Iterator[Rule]:
        """Every rule that applies to `user` cluster-wide and, given one, in `namespace`."""
        for _source, rules in self.sources(user, namespace):
            yield from rules

    def sources(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, list[Rule]]]:
        """(which binding, rules) for each binding of `user` (SelfSubjectRulesReview order)."""
        store = self._store
        for binding in store.iter_objects(store.resource("clusterrolebindings", _GROUP)):
            if self._binds(binding, user, ""):
                yield self._describe(binding), self._role_rules(binding, "")
        if namespace:
            for binding in store.iter_objects(store.resource("rolebindings", _GROUP), namespace):
                if self._binds(binding, user, namespace):
                    yield self._describe(binding), self._role_rules(binding, namespace)

    @staticmethod
    def _binds(binding: dict[str, Any], user: UserInfo, namespace: str) -> bool:
        subjects = binding.get("subjects") or []
        return any(_subject_matches(s, user, namespace) for s in subjects)

    @staticmethod
    def _describe(binding: dict[str, Any]) -> str:
        meta = binding["metadata"]
        ref = binding.get("roleRef") or {}
        kind = "RoleBinding" if meta.get("namespace") else "ClusterRoleBinding"
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f'{kind} "{where}{meta["name"]}" of {ref.get("kind")} "{ref.get("name")}"'

    def _role_rules(self, binding: dict[str, Any], namespace: str) -> list[Rule]:
        ref = binding.get("roleRef") or {}
        return self.role_rules(str(ref.get("kind")), str(ref.get("name")), namespace)

    def role_rules(self, kind: str, name: str, namespace: str) -> list[Rule]:
        """The rules of a Role (in `namespace`) or ClusterRole ([] when it does not exist)."""
        store = self._store
        plural = "roles" if kind == "Role" else "clusterroles"
        try:
            role = store.get(
                store.resource(plural, _GROUP), namespace if kind == "Role" else None, name
            )
        except StatusError:
            return []
        return [r for r in role.get("rules") or [] if isinstance(r, Mapping)]

    def covers(self, user: UserInfo, namespace: str, rules: Iterable[Rule]) -> list[Rule]:
        """The atomic rules among `rules` that `user` does not hold (escalation prevention)."""
        if MASTERS in user.groups:
            return []
        held = list(self.rules(user, namespace))
        missing: list[Rule] = []
        for atom in _atoms(rules):
            if not any(_rule_covers(owner, atom) for owner in held):
                missing.append(atom)
        return missing


def _atoms(rules: Iterable[Rule]) -> Iterator[dict[str, list[str]]]:
    """Upstream's BreakdownRule: one rule per verb × group × resource × name (or URL)."""
    for rule in rules:
        for verb in rule.get("verbs") or []:
            for url in rule.get("nonResourceURLs") or []:
                yield {"nonResourceURLs": [url], "verbs": [verb]}
            for group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    atom = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                    names = rule.get("resourceNames") or []
                    if not names:
                        yield atom
                    for name in names:
                        yield atom | {"resourceNames": [name]}


def _covers_values(owner: Any, wanted: str) -> bool:
    return isinstance(owner, list) and ("*" in owner or wanted in owner)


def _rule_covers(owner: Rule, atom: Mapping[str, list[str]]) -> bool:
    if not _covers_values(owner.get("verbs"), atom["verbs"][0]):
        return False
    if "nonResourceURLs" in atom:
        return _path_matches(owner.get("nonResourceURLs"), atom["nonResourceURLs"][0])
    if not _covers_values(owner.get("apiGroups"), atom["apiGroups"][0]):
        return False
    resource = atom["resources"][0]
    owned = owner.get("resources") or []
    base, _, sub = resource.partition("/")
    if not (
        "*" in owned or resource in owned or (sub and (f"*/{sub}" in owned or f"{base}/*" in owned))
    ):
        return False
    names = owner.get("resourceNames") or []
    return not names or atom.get("resourceNames", [""])[0] in names
