"""The JSONPath subset CRD printer columns use: `.a.b`, `['k']`, `[0]`, `[*]`, `[?(@.x=="y")]`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from kubesim.apiserver.structural import go_value
from kubesim.apiserver.tables.fields import at

__all__ = ["jsonpath_find", "jsonpath_text"]

# ---------------------------------------------------------------- JSONPath for printer columns

_TOKEN = re.compile(
    r"""\.\.?(?P<name>(?:\\.|[^.\[\\])+)      # .name (dots may be escaped)
      | \[\s*(?P<quote>['"])(?P<key>.*?)(?P=quote)\s*\]  # ['key']
      | \[\s*(?P<index>-?\d+)\s*\]           # [0]
      | \[\s*\*\s*\]                         # [*]
      | \[\s*\?\(\s*@(?P<fpath>(?:\.[\w\-/\\.]+)+)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<lit>"[^"]*"|'[^']*'|[^)\s]+)\s*)?\)\s*\]""",
    re.VERBOSE,
)


def _compile(path: str) -> list[re.Match[str]] | None:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            return None
        tokens.append(match)
        pos = match.end()
    return tokens


def _literal(text: str) -> Any:
    if text[:1] in "\"'":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _filter_ok(item: Any, match: re.Match[str]) -> bool:
    keys = [k.replace("\\.", ".") for k in re.split(r"(?<!\\)\.", match["fpath"].lstrip("."))]
    value = at(item, *keys)
    if match["op"] is None:
        return value is not None
    expected = _literal(match["lit"])
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    try:
        return value is not None and compare[match["op"]](value, expected)
    except TypeError:
        return False


def jsonpath_find(obj: Any, path: str) -> list[Any]:
    """Every value `path` selects in `obj` (empty when nothing matches or the path is invalid)."""
    tokens = _compile(path)
    if tokens is None:
        return []
    current = [obj]
    for token in tokens:
        step: list[Any] = []
        for value in current:
            if token["name"] is not None or token["key"] is not None:
                key = (
                    token["key"] if token["key"] is not None else token["name"].replace("\\.", ".")
                )
                if isinstance(value, dict) and key in value:
                    step.append(value[key])
            elif token["index"] is not None:
                index = int(token["index"])
                if isinstance(value, list) and -len(value) <= index < len(value):
                    step.append(value[index])
            elif token["fpath"] is not None:
                if isinstance(value, list):
                    step += [item for item in value if _filter_ok(item, token)]
            elif isinstance(value, list):
                step += value
            elif isinstance(value, dict):
                step += list(value.values())
        current = step
    return current


def jsonpath_text(value: Any) -> str:
    """How kubectl's JSONPath printer writes one value."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return go_value(value)
