"""Field errors as the API server words them: `Cause`, Go-style value printing, 422 messages."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = [
    "Cause",
    "dedup",
    "go_number",
    "go_quote",
    "go_value",
    "invalid",
    "invalid_message",
    "status_causes",
]


class Cause(NamedTuple):
    """One field error, as the API server puts it in `Status.details.causes`.

    `type` is the CauseType (`FieldValueInvalid`, ...), `field` the path (`spec.replicas`),
    `message` the error body without the field (`Required value`)."""

    type: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


# ---------------------------------------------------------------- Go-style formatting


def go_quote(text: str) -> str:
    """`strconv.Quote`: double-quoted with Go escapes (printable unicode kept)."""
    out = ['"']
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_number(value: float) -> str:
    """Go's `%v` of an int64 or float64 (shortest repr, exponent from 1e21)."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text


def go_value(value: Any) -> str:
    """How `field.Error.ErrorBody` prints a bad value: numbers and bools bare, strings quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    # Go prints maps and slices with %#v; JSON is the readable equivalent.
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def invalid(path: str, value: Any, detail: str, kind: str = "FieldValueInvalid") -> Cause:
    """A cause printed `Invalid value: <value>: <detail>` (its type defaults to FieldValueInvalid)."""
    return Cause(kind, path, f"Invalid value: {go_value(value)}: {detail}")


def dedup(causes: Iterable[Cause]) -> list[Cause]:
    """Causes in order, each distinct message once (`field.ErrorList.ToAggregate`)."""
    seen: set[str] = set()
    out = []
    for cause in causes:
        if str(cause) not in seen:
            seen.add(str(cause))
            out.append(cause)
    return out


# ---------------------------------------------------------------- Status helpers


def status_causes(causes: Iterable[Cause]) -> list[dict[str, str]]:
    """`Status.details.causes` entries (`reason`, `message`, `field`), duplicates removed."""
    return [{"reason": c.type, "message": c.message, "field": c.field} for c in dedup(causes)]


def invalid_message(kind: str, group: str, name: str, causes: Iterable[Cause]) -> str:
    """The 422 message the server builds: `Kind.group "name" is invalid: <errors>`.

    One error prints bare, several are joined by `, ` inside `[...]`, duplicates once
    (`field.ErrorList.ToAggregate`)."""
    parts = [str(c) for c in dedup(causes)]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return f"{qualified} {go_quote(name)} is invalid: {body}"
