"""API discovery (§2.1-2.3): legacy documents and aggregated discovery (apidiscovery.k8s.io/v2).

kubectl asks for aggregated discovery first; the answer's Content-Type says which form it is,
and kubectl falls back to the legacy per-group-version documents on plain JSON.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kubesim.apiserver.resources import Registry, ResourceInfo

__all__ = [
    "AGGREGATED_CONTENT_TYPE",
    "aggregated",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "wants_aggregated",
]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_SUB_VERBS = ["get", "patch", "update"]


def wants_aggregated(accept: str) -> bool:
    """Whether the client accepts the v2 aggregated discovery form."""
    return "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept.replace(" ", "") + ";"


def _sub_kind(info: ResourceInfo, sub: str) -> tuple[str, str, str]:
    if sub == "scale":
        return "autoscaling", "v1", "Scale"
    if sub == "exec":
        return "", "v1", "PodExecOptions"
    return info.group, info.version, info.kind


def _sub_verbs(sub: str) -> list[str]:
    return {"log": ["get"], "exec": ["create", "get"], "finalize": ["update"]}.get(sub, _SUB_VERBS)


def api_versions(address: str) -> dict[str, Any]:
    """`GET /api` (legacy)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    """`GET /apis/{group}`."""
    versions = registry.groups().get(group)
    if not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    """`GET /apis` (legacy)."""
    groups = []
    for group in registry.groups():
        if group:
            found = api_group(registry, group)
            assert found is not None
            groups.append({k: v for k, v in found.items() if k not in ("kind", "apiVersion")})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def storage_version_hash(info: ResourceInfo) -> str:
    """What upstream's `discovery.StorageVersionHash` gives for the version objects are stored
    at: the first 8 bytes of sha256("group/version/kind"), base64 (clients detect a storage
    version change by it)."""
    group = info.group if info.storage_group is None else info.storage_group
    text = f"{group}/{info.storage_version or info.version}/{info.kind}"
    return base64.b64encode(hashlib.sha256(text.encode()).digest()[:8]).decode()


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """`GET /api/v1` or `/apis/{group}/{version}`."""
    infos = registry.in_group_version(group, version)
    if not infos:
        return None
    resources: list[dict[str, Any]] = []
    for info in infos:
        entry: dict[str, Any] = {
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
            "storageVersionHash": storage_version_hash(info),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        for sub in sorted(info.subresources):
            g, v, kind = _sub_kind(info, sub)
            sub_entry: dict[str, Any] = {
                "name": f"{info.plural}/{sub}",
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": kind,
                "verbs": _sub_verbs(sub),
            }
            if sub == "scale":
                sub_entry.update(group=g, version=v)
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    resources.sort(key=lambda entry: str(entry["name"]))  # upstream lists them by path, sorted
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subs = []
    for sub in sorted(info.subresources):
        g, v, kind = _sub_kind(info, sub)
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": g, "version": v, "kind": kind},
                "verbs": _sub_verbs(sub),
            }
        )
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, *, core: bool) -> dict[str, Any]:
    """`GET /api` (core=True) or `/apis` in the aggregated v2 form."""
    items = []
    for group, versions in registry.groups().items():
        if (group == "") != core:
            continue
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v,
                        "resources": [
                            _aggregated_resource(i) for i in registry.in_group_version(group, v)
                        ],
                        "freshness": "Current",
                    }
                    for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }
