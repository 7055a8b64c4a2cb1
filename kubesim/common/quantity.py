"""Kubernetes resource quantities (`500m`, `2Gi`, `1e3`) as exact numbers.

Only what scheduling and HPA arithmetic need: parsing to a `Fraction` and formatting CPU as
millicores the way `kubectl` and the HPA status show it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

__all__ = ["QuantityError", "format_cpu", "milli", "parse_quantity", "pod_requests"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: Any) -> Fraction:
    """Parse `"500m"`, `"2Gi"`, `"1e3"`, `2` or `"0.5"` exactly."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must match the regular expression, got {value!r}")
    if isinstance(value, int | float):
        return Fraction(value)
    text = str(value).strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], value) * factor
    if "e" in text.lower() and text[-1].isdigit():
        return _number(text, value)
    suffix = text[-1:] if text[-1:] in _DECIMAL and not text[-1:].isdigit() else ""
    body = text[: -len(suffix)] if suffix else text
    return _number(body, value) * _DECIMAL[suffix]


def _number(body: str, original: Any) -> Fraction:
    try:
        return Fraction(body)
    except (ValueError, ZeroDivisionError):
        try:
            return Fraction(float(body))
        except ValueError:
            raise QuantityError(
                f"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {original!r}"
            ) from None


def milli(value: Any) -> int:
    """A quantity in thousandths, rounded up (how the scheduler compares CPU)."""
    q = parse_quantity(value) * 1000
    return int(-(-q.numerator // q.denominator))


def format_cpu(millicores: int) -> str:
    """`1500` → `"1500m"`, `2000` → `"2"`: the canonical CPU form."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def pod_requests(pod_spec: dict[str, Any]) -> dict[str, Fraction]:
    """Effective requests of a pod: max(sum of containers, each init container) plus overhead.

    A container that sets only limits requests its limits (the API server defaults that, but
    objects created before defaulting existed may not show it).
    """
    total: dict[str, Fraction] = {}
    for container in pod_spec.get("containers") or ():
        for name, qty in _container_requests(container).items():
            total[name] = total.get(name, Fraction(0)) + qty
    for container in pod_spec.get("initContainers") or ():
        for name, qty in _container_requests(container).items():
            if qty > total.get(name, Fraction(0)):
                total[name] = qty
    for name, qty in (pod_spec.get("overhead") or {}).items():
        total[name] = total.get(name, Fraction(0)) + parse_quantity(qty)
    return total


def _container_requests(container: dict[str, Any]) -> dict[str, Fraction]:
    resources = container.get("resources") or {}
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    return {name: parse_quantity(qty) for name, qty in merged.items()}
