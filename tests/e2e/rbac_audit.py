"""What rayop calls on the API server, as RBAC sees it, and what its RBAC manifests grant.

A call is the triple RBAC authorizes: ``(verb, apiGroup, resource)``, where ``resource`` is
``plural`` or ``plural/subresource``. They come from three places:

- Writes: kubesim's audit log (entries whose user agent is the operator's). One Kubernetes
  rule is added here: a server-side apply that *creates* its object (kubesim answers 201, as the
  real API server does) is also authorized as ``create`` (the API server checks ``create``
  before it stores an object a PATCH brought into being), so it needs both verbs.
- List/watch: the URL paths of the informers a running operator started.
- Everything else rayop sends through its one client (GETs included): the requests a
  :class:`RequestLog` saw, turned into RBAC attributes the way the API server does
  (method + path + ``?watch``). Discovery paths (``/apis/ray.io/v1``) are non-resource URLs
  that every authenticated user may read (the built-in ``system:discovery`` role).

:func:`record_operator_calls` collects the writes of every in-process kubesim for a whole
pytest session (it wraps ``AuditLog.record``, so tests that clear the log or start their own
kubesim are covered too) and checks at the end that the manifests grant all of them. A kubesim
run as a separate process (``python -m kubesim serve`` in the docs tests) is not seen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from controller.kube import KubeClient
from controller.operator import USER_AGENT
from kubesim.apiserver.audit import AuditLog

__all__ = [
    "AUTOSCALER_CALLS",
    "CLUSTER_ROLE",
    "DISCOVERY",
    "LEASE_ROLE",
    "Call",
    "RequestLog",
    "call_from_request",
    "calls_from_audit",
    "grants",
    "load_rules",
    "record_operator_calls",
    "role_for",
    "ungranted",
]

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "operator"
CLUSTER_ROLE = MANIFESTS / "clusterrole.yaml"
LEASE_ROLE = MANIFESTS / "leader-election-role.yaml"
LEASES = ("coordination.k8s.io", "leases")
"""The one resource whose calls the leader-election Role (in rayop's namespace) grants."""

DISCOVERY = "discovery"
"""Marker verb for non-resource (discovery) requests, which no rayop rule needs to grant."""

AUTOSCALER_CALLS: tuple[tuple[str, str, str], ...] = (
    ("GET", "/apis/ray.io/v1/namespaces/{ns}/rayclusters/{cluster}", ""),
    ("GET", "/api/v1/namespaces/{ns}/pods", "labelSelector=ray.io/cluster%3D{cluster}"),
    ("GET", "/api/v1/namespaces/{ns}/pods/{head}", ""),
    ("PATCH", "/apis/ray.io/v1/namespaces/{ns}/rayclusters/{cluster}", ""),
    ("PATCH", "/api/v1/namespaces/{ns}/pods/{head}", ""),
    ("PATCH", "/api/v1/namespaces/{ns}/pods/{head}/resize", ""),
)
"""Every request the Ray autoscaler sidecar sends (method, path, query): its
``KubernetesHttpApiClient`` reads the RayCluster, lists the cluster's pods, reads the head pod,
JSON-patches the RayCluster, and (in-place pod resize, v2) patches pods and ``pods/resize``. The
Role rayop creates for it must allow each; ``watch`` on pods is in that Role but never sent."""

_VERBS_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


class Call(NamedTuple):
    """One request as RBAC authorizes it."""

    verb: str
    group: str
    resource: str
    """``plural`` or ``plural/subresource``."""

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}.{self.group or 'core'}"


def calls_from_audit(entries: Iterable[Mapping[str, Any]]) -> set[Call]:
    """The calls behind the operator's audited writes (see the module docstring for create)."""
    calls: set[Call] = set()
    for entry in entries:
        if not str(entry.get("user_agent") or "").startswith(USER_AGENT):
            continue
        resource = str(entry["resource"])
        if entry.get("subresource"):
            resource = f"{resource}/{entry['subresource']}"
        group = str(entry.get("group") or "")
        calls.add(Call(str(entry["verb"]), group, resource))
        if entry["verb"] == "patch" and entry.get("code") == 201 and not entry.get("subresource"):
            calls.add(Call("create", group, resource))
    return calls


def call_from_request(method: str, path: str, query: Mapping[str, str] | None = None) -> Call:
    """The RBAC attributes of one request (verb ``discovery`` for non-resource paths)."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"]:
        group, rest = (parts[1] if len(parts) > 1 else ""), parts[3:]
    else:
        rest = []
    if not rest:
        return Call(DISCOVERY, "", path)
    if rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    resource = rest[0] if len(rest) < 3 else f"{rest[0]}/{rest[2]}"
    named = len(rest) > 1
    if method == "GET":
        watch = (query or {}).get("watch") in ("true", "1")
        verb = "watch" if watch else ("get" if named else "list")
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = _VERBS_BY_METHOD[method]
    return Call(verb, group, resource)


def load_rules(path: Path, kind: str) -> list[dict[str, Any]]:
    """The rules of the one ``kind`` (ClusterRole or Role) object in a manifest file."""
    (role,) = [obj for obj in yaml.safe_load_all(path.read_text()) if obj and obj["kind"] == kind]
    return list(role["rules"])


def grants(rules: Iterable[Mapping[str, Any]]) -> set[Call]:
    """Every call the rules allow, spelled out; wildcards and resourceNames are refused, since
    they cannot be exact."""
    granted: set[Call] = set()
    for rule in rules:
        assert not rule.get("resourceNames"), f"resourceNames are not checked: {rule}"
        for field in ("verbs", "apiGroups", "resources"):
            assert "*" not in rule[field], f"wildcard {field} cannot be exact: {rule}"
        for verb in rule["verbs"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.add(Call(verb, group, resource))
    return granted


def role_for(call: Call) -> str:
    """Which manifest must grant ``call``: the lease Role for leases, the ClusterRole otherwise."""
    return "Role" if (call.group, call.resource) == LEASES else "ClusterRole"


def ungranted(calls: Iterable[Call]) -> list[str]:
    """The calls the shipped manifests do not grant (each with the role that should), sorted."""
    granted = {
        "ClusterRole": grants(load_rules(CLUSTER_ROLE, "ClusterRole")),
        "Role": grants(load_rules(LEASE_ROLE, "Role")),
    }
    return sorted(
        f"{call} (missing from the {role_for(call)})"
        for call in calls
        if call.verb != DISCOVERY and call not in granted[role_for(call)]
    )


class RequestLog:
    """Records the RBAC attributes of every request the attached clients send.

    Only observes: each request still goes to the API server unchanged, through the client's
    own ``request`` (the one door every KubeClient call goes through).
    """

    def __init__(self) -> None:
        self.calls: set[Call] = set()

    def attach(self, client: KubeClient) -> None:
        """Record every request ``client`` sends from now on."""
        send = client.request

        async def request(method: str, path: str, **kw: Any) -> dict[str, Any]:
            self.calls.add(call_from_request(method, path, kw.get("query")))
            return await send(method, path, **kw)

        client.request = request  # type: ignore[method-assign]


@contextlib.contextmanager
def record_operator_calls() -> Iterator[set[Call]]:
    """Collect the calls behind every write the operator makes to any in-process kubesim while
    the block runs; on a clean exit, fail if the manifests do not grant one of them."""
    calls: set[Call] = set()
    original = AuditLog.record

    def record(self: AuditLog, **entry: Any) -> None:
        original(self, **entry)
        calls.update(calls_from_audit([entry]))

    AuditLog.record = record  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        AuditLog.record = original  # type: ignore[method-assign]
    missing = ungranted(calls)
    assert not missing, (
        "rayop made calls during the e2e suite that its RBAC manifests do not grant: "
        + "; ".join(missing)
    )
