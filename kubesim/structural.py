"""Structural schemas of custom resources: pruning, defaulting and validation (stub, filled in next)."""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

__all__ = ["Cause", "invalid_message", "prune_and_default", "validate"]


class Cause(NamedTuple):
    """One field error, as the API server puts it in `Status.details.causes`."""

    type: str
    field: str
    message: str


def prune_and_default(schema: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """Return a pruned, defaulted copy of `obj` (stub: a plain copy)."""
    return copy.deepcopy(obj)


def validate(schema: dict[str, Any], obj: dict[str, Any]) -> list[Cause]:
    """Validate `obj` against a CRD version's openAPIV3Schema (stub: accepts everything)."""
    return []


def invalid_message(kind: str, group: str, name: str, causes: list[Cause]) -> str:
    """The 422 message: `Kind.group "name" is invalid: [field: msg, ...]`."""
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return f'{qualified} "{name}" is invalid: {body}'
