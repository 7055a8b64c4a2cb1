"""JSON merge patch (RFC 7386), ``application/merge-patch+json``.

Objects merge key by key, ``null`` deletes a key, anything else (lists included) replaces.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver.patching._values import clone
from kubesim.apiserver.patching.errors import PatchError

__all__ = ["apply_merge_patch", "create_merge_patch"]


def apply_merge_patch(obj: dict[str, Any], patch: object) -> dict[str, Any]:
    """`obj` with the RFC 7386 merge patch `patch` applied; `obj` is not modified.

    The real server rejects a top-level patch that is not an object with 400
    ``Invalid JSON Patch`` (evanphx/json-patch's ``ErrBadJSONPatch``).
    """
    if not isinstance(patch, dict):
        raise PatchError.bad_request("Invalid JSON Patch")
    # Copy on write shared untouched subtrees with `obj`; detach them so callers may mutate.
    merged: dict[str, Any] = clone(_merge(obj, patch))
    return merged


def _merge(target: Any, patch: dict[str, Any]) -> dict[str, Any]:
    # Copy on write: only the dicts along patched paths are new; untouched subtrees of
    # `target` are shared, and values taken from `patch` are cloned.
    out: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = _merge(out.get(key), value)
        else:
            out[key] = clone(value) if isinstance(value, list) else value
    return out


def create_merge_patch(original: Any, target: Any) -> Any:
    """A merge patch that turns `original` into `target` (the inverse of `apply_merge_patch`).

    Used by tests and by callers that want the smallest merge patch between two objects.
    """
    if not isinstance(original, dict) or not isinstance(target, dict):
        return target
    patch: dict[str, Any] = {}
    for key in original:
        if key not in target:
            patch[key] = None
    for key, value in target.items():
        if key not in original:
            patch[key] = value
        elif original[key] != value or type(original[key]) is not type(value):
            if isinstance(value, dict) and isinstance(original[key], dict):
                patch[key] = create_merge_patch(original[key], value)
            else:
                patch[key] = value
    return patch
