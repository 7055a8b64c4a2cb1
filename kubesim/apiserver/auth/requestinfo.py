"""The attributes a request is authorized by, read from its method, path and query.

Like upstream's RequestInfoFactory, this parses the URL alone (before kubesim knows whether the
resource exists), so an unauthorized client gets 403 for a path it may not see, not 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from multidict import MultiMapping

__all__ = ["Attributes", "request_attributes"]

_WRITES = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True, slots=True)
class Attributes:
    """What RBAC checks: a resource request (group/resource/...) or a non-resource path."""

    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def full_resource(self) -> str:
        """`pods` or `pods/log`, as rules name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_attributes(method: str, path: str, query: MultiMapping[str]) -> Attributes:
    """The authorization attributes of one HTTP request."""
    parts = [p for p in path.split("/") if p]
    lowered = method.lower()
    if parts[:1] == ["api"] and len(parts) > 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attributes(lowered if method != "HEAD" else "get", False, path=path or "/")
    watch = rest[0] == "watch"
    if watch:
        rest = rest[1:]
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces":
        if len(rest) == 2 or (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace = rest[1]  # the namespace object itself, or its status/finalize
        else:
            namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method in ("GET", "HEAD"):
        if watch or query.get("watch") in ("true", "1"):
            verb = "watch"
        else:
            verb = "get" if name else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _WRITES.get(method, lowered)
    return Attributes(
        verb,
        True,
        path=path,
        group=group,
        version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )
