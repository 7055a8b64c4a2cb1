"""Deep copies of raw JSON-like data, fast.

Manifests and API objects are JSON, and an orjson round trip copies them several times faster
than ``copy.deepcopy`` (parse_raycluster runs on every reconcile). Anything orjson cannot carry
unchanged (a YAML date, a non-string key) falls back to ``copy.deepcopy``.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import orjson

__all__ = ["copy_json"]

T = TypeVar("T")
_PLAIN = (str, int, float, bool, type(None))
# Refuse (and so fall back on) anything orjson would silently turn into a string.
_STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def copy_json(value: T) -> T:
    """An independent deep copy of ``value``."""
    if isinstance(value, _PLAIN):
        return value
    try:
        copied: T = orjson.loads(orjson.dumps(value, option=_STRICT))
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return copy.deepcopy(value)
    return copied
