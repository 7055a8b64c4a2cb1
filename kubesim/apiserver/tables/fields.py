"""Shared pieces of the table printers: ages, tolerant field access, column definitions."""

from __future__ import annotations

import datetime
import functools
from typing import Any

__all__ = [
    "AGE_COLUMN",
    "CREATED_DOC",
    "NAME_COLUMN",
    "NAME_DOC",
    "SELECTOR_WIDE",
    "TEMPLATE_WIDE",
    "Column",
    "Obj",
    "Row",
    "age",
    "at",
    "column",
    "container_cells",
    "dict_at",
    "dicts_at",
    "format_label_selector",
    "format_labels",
    "human_duration",
    "int_at",
    "list_at",
    "parse_time",
    "selector_string",
    "str_at",
]

Obj = dict[str, Any]
Column = dict[str, Any]
Row = list[Any]

NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATED_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It "
    "is not guaranteed to be set in happens-before order across separate operations. Clients may not "
    "set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
    "Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

# ---------------------------------------------------------------- time


def parse_time(value: Any) -> datetime.datetime | None:
    """An RFC3339 timestamp as an aware datetime (None when unset or malformed)."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_rfc3339(value)


@functools.lru_cache(maxsize=4096)
def _parse_rfc3339(value: str) -> datetime.datetime | None:
    # Cached: a table parses `now` once per row and timestamps repeat across rows and events.
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def human_duration(seconds: float) -> str:
    """apimachinery's `duration.HumanDuration`: ~2-3 significant figures (`90s`, `3m2s`, `5d4h`)."""
    whole = int(seconds)  # Go truncates toward zero
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any, now: str) -> str:
    """`translateTimestampSince`: the age of an RFC3339 timestamp, `<unknown>` when unset."""
    then, current = parse_time(timestamp), parse_time(now)
    if then is None or current is None:
        return "<unknown>"
    return human_duration((current - then).total_seconds())


# ---------------------------------------------------------------- small accessors


def at(obj: Any, *path: str | int) -> Any:
    """Walk dicts and lists; None as soon as a step is missing."""
    for step in path:
        if isinstance(step, int):
            obj = obj[step] if isinstance(obj, list) and -len(obj) <= step < len(obj) else None
        else:
            obj = obj.get(step) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


def dict_at(obj: Any, *path: str) -> Obj:
    """The object at `path`, or an empty dict when it is missing or not an object."""
    value = at(obj, *path)
    return value if isinstance(value, dict) else {}


def list_at(obj: Any, *path: str) -> list[Any]:
    value = at(obj, *path)
    return value if isinstance(value, list) else []


def int_at(obj: Any, *path: str) -> int:
    value = at(obj, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def str_at(obj: Any, *path: str) -> str:
    value = at(obj, *path)
    return value if isinstance(value, str) else ""


def dicts_at(obj: Any, *path: str) -> list[Obj]:
    return [item for item in list_at(obj, *path) if isinstance(item, dict)]


def container_cells(template_spec: Any) -> tuple[str, str]:
    containers = dicts_at(template_spec, "containers")
    return (
        ",".join(str_at(c, "name") for c in containers),
        ",".join(str_at(c, "image") for c in containers),
    )


def format_labels(labels: Any) -> str:
    """`labels.FormatLabels`: sorted `k=v` joined by commas, `<none>` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def selector_string(selector: Any) -> str:
    """`labels.Selector.String()` of a LabelSelector: requirements sorted by key."""
    if not isinstance(selector, dict):
        return ""
    parts: list[tuple[str, str]] = []
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        parts += [(k, f"{k}={v}") for k, v in match_labels.items()]
    for expr in dicts_at(selector, "matchExpressions"):
        key, op = str_at(expr, "key"), str_at(expr, "operator")
        values = ",".join(sorted(str(v) for v in list_at(expr, "values")))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op, key)
        parts.append((key, text))
    return ",".join(text for _, text in sorted(parts))


def format_label_selector(selector: Any) -> str:
    """`metav1.FormatLabelSelector`: `<none>` for an empty selector."""
    return selector_string(selector) or "<none>"


# ---------------------------------------------------------------- built-in printers


def column(name: str, kind: str = "string", description: str = "", *, priority: int = 0) -> Column:
    column: Column = {"name": name, "type": kind, "format": "", "description": description}
    column["priority"] = priority
    return column


NAME_COLUMN = {**column("Name", description=NAME_DOC), "format": "name"}
AGE_COLUMN = column("Age", description=CREATED_DOC)
TEMPLATE_WIDE = [
    column("Containers", description="Names of each container in the template.", priority=1),
    column(
        "Images", description="Images referenced by each container in the template.", priority=1
    ),
]
SELECTOR_WIDE = column("Selector", description="Label selector of the pods.", priority=1)
