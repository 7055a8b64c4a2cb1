"""The one seam between the store and the patch/apply engine (`kubesim.patching`).

The engine is pure (no clock, no I/O). This module resolves it once at import, caches the
merge schemas per resource, and offers a minimal fallback while the engine is absent from a
checkout (merge patch only, no managedFields), so the API server still runs.
"""

from __future__ import annotations

import importlib
from typing import Any

from kubesim.resources import ResourceInfo

__all__ = ["ENGINE_AVAILABLE", "ApplyConflict", "Engine", "PatchError"]


def _load(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_patching: Any = _load("kubesim.patching")
_schemas: Any = _load("kubesim.schemas")

#: Whether the real patch/apply engine is installed (False: fallbacks below).
ENGINE_AVAILABLE = _patching is not None and _schemas is not None


class _FallbackPatchError(Exception):
    code = 422
    reason = "Invalid"
    message = ""


class _FallbackApplyConflict(Exception):
    conflicts: list[tuple[str, str]] = []  # noqa: RUF012 - never instantiated with data
    message = ""


PatchError: type[Exception] = _patching.PatchError if _patching else _FallbackPatchError
ApplyConflict: type[Exception] = _patching.ApplyConflict if _patching else _FallbackApplyConflict


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


class Engine:
    """Schema lookup plus the engine's functions, with the server's `now` supplied."""

    def __init__(self) -> None:
        self._schemas: dict[tuple[str, str, str], Any] = {}

    def schema_for(self, info: ResourceInfo) -> Any:
        """The merge schema of a resource (built-in from kubernetes-validate, or the CRD's)."""
        key = (info.group, info.version, info.plural)
        if key in self._schemas:
            return self._schemas[key]
        schema: Any = None
        if _schemas is not None:
            crd_schema = info.extra.get("schema")
            if info.custom:
                schema = _schemas.schema_from_openapi_v3(
                    crd_schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                )
            else:
                schema = _schemas.builtin_schema(info.api_version, info.kind)
        self._schemas[key] = schema
        return schema

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
        if _patching is None:
            return new
        result: dict[str, Any] = _patching.track_update(
            old,
            new,
            schema=self.schema_for(info),
            manager=manager,
            operation="Update",
            subresource=subresource,
            now=now,
        )
        return result

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
        """Server-side apply of `config` onto `live`."""
        if _patching is None:
            merged: dict[str, Any] = _merge(live or {}, config)
            return merged
        result: dict[str, Any] = _patching.server_side_apply(
            live,
            config,
            schema=self.schema_for(info),
            manager=manager,
            force=force,
            subresource=subresource,
            now=now,
        )
        return result

    def patch(self, info: ResourceInfo, obj: dict[str, Any], body: Any, patch_type: str) -> Any:
        """Apply a json, merge or strategic patch to `obj` (which the engine may reuse)."""
        if _patching is None:
            if patch_type == "json":
                raise _FallbackPatchError("JSON patch needs kubesim.patching")
            return _merge(obj, body)
        if patch_type == "json":
            return _patching.apply_json_patch(obj, body)
        if patch_type == "merge":
            return _patching.apply_merge_patch(obj, body)
        return _patching.apply_strategic_merge_patch(obj, body, self.schema_for(info))
