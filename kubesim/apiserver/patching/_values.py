"""Small helpers on JSON values shared by the patch engines."""

from __future__ import annotations

import copy
from typing import Any

import orjson

__all__ = ["clone", "json_equal"]


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (orjson round trip: several times faster than deepcopy)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        # Integers beyond 64 bits, or non-JSON values a caller slipped in.
        return copy.deepcopy(value)


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values that, unlike ``==``, tells ``true`` from ``1`` and ``1`` from ``1.0``
    only where JSON itself does (booleans are never numbers)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, dict):
        if not isinstance(right, dict) or len(left) != len(right):
            return False
        for key, value in left.items():
            if key not in right or not json_equal(value, right[key]):
                return False
        return True
    if isinstance(left, list):
        if not isinstance(right, list) or len(left) != len(right):
            return False
        return all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(right, dict | list):
        return False
    return bool(left == right)
