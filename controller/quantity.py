"""Kubernetes resource quantities (``"500m"``, ``"4Gi"``, ``"1e3"``) as exact decimals.

Used to compare what rayop asked for with what the server stored (the server rewrites
quantities into canonical form, so ``"1024Mi"`` comes back as ``"1Gi"``) and to sum the
resources a RayCluster wants for its status.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["format_cpu", "format_memory", "parse_quantity"]

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


def parse_quantity(value: object) -> Decimal | None:
    """The quantity's exact value, or None when ``value`` is not a quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        return None


def format_cpu(cores: Decimal) -> str:
    """CPU the way Kubernetes prints it: whole cores as integers, otherwise millicores."""
    if cores == cores.to_integral_value():
        return str(int(cores))
    return f"{int((cores * 1000).to_integral_value())}m"


def format_memory(amount: Decimal) -> str:
    """Bytes in the largest binary unit that divides them exactly (``"6Gi"``), else bytes."""
    value = int(amount.to_integral_value())
    if value == 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = int(_SUFFIXES[suffix])
        if value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)
