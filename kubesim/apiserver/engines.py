"""The one seam between the store and the patch/apply engine (`kubesim.apiserver.patching`).

The engine is pure (no clock, no I/O) and never modifies its inputs; its results share no
mutable state with them, so the store may hand it stored objects without copying. This module
resolves the merge schema of each served resource once (built-in types from
kubernetes-validate's schemas, custom resources from their CRD version) and supplies `now`.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import patching
from kubesim.apiserver.patching import ApplyConflict, PatchError
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.schemas import TypeSchema, builtin_schema, schema_from_openapi_v3

__all__ = ["ApplyConflict", "Engine", "PatchError"]

_UNTYPED_CRD = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


class Engine:
    """Schema lookup plus the engine's functions."""

    def __init__(self) -> None:
        self._schemas: dict[tuple[str, str, str], TypeSchema | None] = {}

    def schema_for(self, info: ResourceInfo) -> TypeSchema | None:
        """The merge schema of a resource (None for a built-in kubernetes-validate lacks)."""
        key = (info.group, info.version, info.plural)
        if key not in self._schemas:
            if info.custom:
                self._schemas[key] = schema_from_openapi_v3(
                    info.extra.get("schema") or _UNTYPED_CRD
                )
            else:
                self._schemas[key] = builtin_schema(info.api_version, info.kind)
        return self._schemas[key]

    def _schema(self, info: ResourceInfo) -> TypeSchema:
        return self.schema_for(info) or schema_from_openapi_v3(_UNTYPED_CRD)

    def forget(self, group: str, plural: str) -> None:
        """Drop cached schemas of a resource (its CRD changed)."""
        for key in [k for k in self._schemas if k[0] == group and k[2] == plural]:
            del self._schemas[key]

    def track_update(
        self,
        info: ResourceInfo,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        *,
        manager: str,
        subresource: str | None,
        now: str,
    ) -> dict[str, Any]:
        """`new` with managedFields updated for a non-apply write."""
        return patching.track_update(
            old,
            new,
            schema=self._schema(info),
            manager=manager,
            operation="Update",
            subresource=subresource,
            now=now,
        )

    def apply(
        self,
        info: ResourceInfo,
        live: dict[str, Any] | None,
        config: dict[str, Any],
        *,
        manager: str,
        force: bool,
        subresource: str | None,
        now: str,
    ) -> dict[str, Any]:
        """Server-side apply of `config` onto `live` (None: create-on-apply)."""
        return patching.server_side_apply(
            live,
            config,
            schema=self._schema(info),
            manager=manager,
            force=force,
            subresource=subresource,
            now=now,
        )

    def patch(
        self, info: ResourceInfo, obj: dict[str, Any], body: Any, patch_type: str
    ) -> dict[str, Any]:
        """`obj` (unchanged) with a json, merge or strategic patch applied."""
        if patch_type == "json":
            return patching.apply_json_patch(obj, body)
        if patch_type == "merge":
            return patching.apply_merge_patch(obj, body)
        return patching.apply_strategic_merge_patch(obj, body, self._schema(info))
