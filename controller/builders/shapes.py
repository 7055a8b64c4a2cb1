"""Reading the raw parts of a manifest (pod templates, a headService) without trusting their shape.

The API models keep pod templates as raw JSON so unknown fields pass through; validation checks
the parts it must (containers exist), not every type inside. A template may therefore hold
``ports: "8080"`` or ``env: {}``. The builders never crash on that: a rule that needs a field of
the right shape is skipped when the field is malformed, and the field is passed through as the
user wrote it, so the API server rejects the object with its own precise message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["mapping", "objects", "strings"]


def mapping(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objects(value: object) -> list[dict[str, Any]] | None:
    """`value` when it is absent (``[]``) or a list of JSON objects; None when malformed."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return None


def strings(value: object) -> list[str] | None:
    """`value` when it is absent (``[]``) or a list of strings; None when malformed."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None
