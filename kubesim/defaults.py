"""Server-side defaults of built-in kinds (stub)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["apply_defaults"]


def apply_defaults(group: str, version: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `obj` with the API server's defaults applied (stub: a copy)."""
    return copy.deepcopy(obj)
