"""The REST path grammar (§1.1): which resource, namespace, name and subresource a path names.

/api/v1[/watch]/namespaces/{ns}/{resource}[/{name}[/{subresource}]]
/api/v1[/watch]/{resource}[/{name}[/{subresource}]]          cluster-scoped or all-namespaces
/apis/{group}/{version}/...                                  the same below a group
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.apiserver import errors
from kubesim.apiserver.resources import Registry, ResourceInfo

__all__ = ["ResourcePath", "parse_resource_path"]


@dataclass(frozen=True, slots=True)
class ResourcePath:
    """A parsed resource URL."""

    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False


def parse_resource_path(
    registry: Registry, group: str, version: str, rest: list[str]
) -> ResourcePath:
    """Resolve the segments after /api/v1 or /apis/G/V (404 when nothing is served there)."""
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    if not rest:
        raise errors.path_not_found()
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns_info = registry.get(group, version, "namespaces")
        if not (ns_info is not None and len(rest) == 3 and rest[2] in ns_info.subresources):
            namespace, rest = rest[1], rest[2:]
    info = registry.get(group, version, rest[0])
    if info is None or len(rest) > 3:
        raise errors.path_not_found()
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    if namespace is not None and not info.namespaced:
        raise errors.path_not_found()
    if subresource is not None and subresource not in info.subresources:
        raise errors.path_not_found()
    if name == "":
        raise errors.path_not_found()
    return ResourcePath(info, namespace, name, subresource, legacy_watch)
