"""Label and field selectors, parsed like `k8s.io/apimachinery/pkg/labels` and `.../fields`.

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k` (exists), `!k`
(absent), `k>1`, `k<1`, comma-ANDed. `!=` and `notin` also match objects without the key.
Field selectors: `=`, `==`, `!=` on the fields the resource registers (`ResourceInfo.field_labels`
plus metadata.name and, for namespaced types, metadata.namespace). Parse errors are 400s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from kubesim.apiserver.errors import bad_request

__all__ = ["FieldSelector", "LabelSelector", "field_value"]

_Labels = Mapping[str, str]
_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")  # fmt: skip
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_TOKEN_RE = re.compile(r"\s*(notin\b|in\b|==|!=|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _check_key(key: str, selector: str) -> None:
    if not key or len(key.rsplit("/", 1)[-1]) > 63 or not _KEY_RE.match(key):
        raise bad_request(
            f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise bad_request(
            f'unable to parse requirement: <nil>: Invalid value: "{value}": a valid label must be an '
            "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
            "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
            "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )


def _parse_requirement(text: str, selector: str) -> Callable[[_Labels], bool]:
    tokens = _TOKEN_RE.findall(text)
    tokens = [t for t in tokens if t.strip()]
    if not tokens:
        raise bad_request(
            f"unable to parse requirement: found '', expected: identifier in {selector!r}"
        )
    if tokens[0] == "!":
        if len(tokens) != 2:
            raise bad_request(
                f"unable to parse requirement: found '{text.strip()}', expected: identifier"
            )
        key = tokens[1]
        _check_key(key, selector)
        return lambda labels: key not in labels
    key = tokens[0]
    _check_key(key, selector)
    if len(tokens) == 1:
        return lambda labels: key in labels
    op = tokens[1]
    rest = tokens[2:]
    if op in ("=", "==", "!="):
        if len(rest) > 1:
            raise bad_request(f"found '{rest[1]}', expected: ',' or 'end of string'")
        value = rest[0] if rest else ""
        _check_value(value)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if op in ("in", "notin"):
        if not rest or rest[0] != "(" or rest[-1] != ")":
            found = rest[0] if rest else ""
            raise bad_request(f"unable to parse requirement: found '{found}' expected: '('")
        values = frozenset(v for v in rest[1:-1] if v != ",")
        for value in values:
            _check_value(value)
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if op in (">", "<"):
        if len(rest) != 1 or not rest[0].lstrip("-").isdigit():
            raise bad_request(
                f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer in {selector!r}"
            )
        bound = int(rest[0])

        def compare(labels: _Labels) -> bool:
            raw = labels.get(key)
            if raw is None or not raw.lstrip("-").isdigit():
                return False
            return int(raw) > bound if op == ">" else int(raw) < bound

        return compare
    raise bad_request(
        f"unable to parse requirement: found '{op}', expected: in, notin, =, ==, !=, gt, lt"
    )


class LabelSelector:
    """A parsed label selector; `matches(labels)` is the hot path (a list of closures)."""

    __slots__ = ("_requirements", "text")

    def __init__(self, text: str = "") -> None:
        self.text = text
        self._requirements: list[Callable[[_Labels], bool]] = []
        if text.strip():
            for part in _split_top_level(text):
                self._requirements.append(_parse_requirement(part, text))

    @property
    def empty(self) -> bool:
        """Whether this selector matches everything."""
        return not self._requirements

    def matches(self, labels: _Labels | None) -> bool:
        """Whether an object with these labels is selected."""
        labels = labels or {}
        return all(req(labels) for req in self._requirements)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a selectable field (`true`/`false` for booleans, "" when unset)."""
    if path == "source":  # core/v1 Event: `source` selects source.component
        path = "source.component"
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


class FieldSelector:
    """A parsed field selector restricted to the fields a resource supports."""

    __slots__ = ("_terms", "text")

    def __init__(self, text: str, supported: frozenset[str] | set[str]) -> None:
        self.text = text
        self._terms: list[tuple[str, bool, str]] = []
        if not text.strip():
            return
        for part in re.split(r"(?<!\\),", text):
            match = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
            if not match:
                raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
            name, op, value = match.groups()
            if name not in supported:
                raise bad_request(f"field label not supported: {name}")
            self._terms.append((name, op != "!=", _unescape(value)))

    @property
    def empty(self) -> bool:
        """Whether this selector matches everything."""
        return not self._terms

    def required_value(self, name: str) -> str | None:
        """The value an `=` term pins `name` to (used for metadata.name fast paths)."""
        for field_name, equal, value in self._terms:
            if field_name == name and equal:
                return value
        return None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether `obj` is selected."""
        for name, equal, value in self._terms:
            actual = field_value(obj, name)
            if (actual == value) != equal:
                return False
        return True
