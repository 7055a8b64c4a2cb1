"""`meta.k8s.io/v1` Table responses for `kubectl get` (stub)."""

from __future__ import annotations

from typing import Any

__all__ = ["to_table"]


def to_table(
    kind_info: Any,
    objects: list[dict[str, Any]],
    *,
    now: str,
    include_object: str = "Metadata",
    crd_columns: list[dict[str, Any]] | None = None,
    include_headers: bool = True,
) -> dict[str, Any]:
    """Render `objects` as a Table (stub: Name column only)."""
    rows = [{"cells": [o.get("metadata", {}).get("name", "")], "object": None} for o in objects]
    cols = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": cols if include_headers else [],
        "rows": rows,
    }
