"""Resource quantities for LimitRange and ResourceQuota admission (`500m`, `2Gi`) as exact
fractions, and back to the canonical strings upstream's messages print.

kubesim.common.quantity has the same parser for the controllers, but the API server may not
import the components' common package (import-linter), so admission keeps its own small copy.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

__all__ = ["format_quantity", "parse_quantity"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: dict[str, Fraction] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    **{
        suffix: Fraction(10**power)
        for suffix, power in (("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18))
    },
}


def parse_quantity(value: Any) -> Fraction:
    """`"500m"` → 1/2, `"1Gi"` → 2**30; raises ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Fraction(value)
    text = str(value).strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return Fraction(text[: -len(suffix)]) * factor
    if text[-1:] in _DECIMAL and not ("e" in text.lower() and text[-1].isdigit()):
        return Fraction(text[:-1]) * _DECIMAL[text[-1]]
    return Fraction(text)


def format_quantity(value: Fraction, *, binary: bool = False) -> str:
    """The canonical form: `2`, `500m`, `1Gi` (binary) or `1G`, `1500`."""
    if value.denominator != 1:
        millis = value * 1000
        if millis.denominator == 1:
            return f"{millis.numerator}m"
        return f"{round(float(millis))}m"
    number = value.numerator
    if number == 0:
        return "0"
    if binary:
        for suffix, factor in reversed(_BINARY.items()):
            if number % factor == 0:
                return f"{number // factor}{suffix}"
        return str(number)
    for suffix in ("E", "P", "T", "G", "M", "k"):
        factor = int(_DECIMAL[suffix])
        if number % factor == 0:
            return f"{number // factor}{suffix}"
    return str(number)
