"""The `/openapi/v3` documents kubectl needs (stub, filled in next)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["OpenAPIResource", "OpenAPIV3"]


@dataclass(frozen=True)
class OpenAPIResource:
    """One served resource, as the OpenAPI documents describe it.

    `schema` is the CRD version's openAPIV3Schema (None for built-ins, whose schemas come
    from kubernetes-validate)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)


class OpenAPIV3:
    """Builds and caches the OpenAPI v3 root and per-group-version documents."""

    def __init__(self) -> None:
        self._resources: list[OpenAPIResource] = []

    def set_resources(self, resources: list[OpenAPIResource]) -> None:
        """Replace the served resources (call on every CRD change); drops cached documents."""
        self._resources = list(resources)

    def root(self) -> dict[str, Any]:
        """The `/openapi/v3` discovery document."""
        return {"paths": {}}

    def document(self, gv_path: str) -> dict[str, Any] | None:
        """The document for `api/v1` or `apis/<group>/<version>`; None when not served."""
        return None
