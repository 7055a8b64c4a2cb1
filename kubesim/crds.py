"""CustomResourceDefinition rules: validation, served versions, printer columns (stub)."""

from __future__ import annotations

from typing import Any

from kubesim.structural import Cause

__all__ = ["printer_columns", "served_versions", "storage_version", "validate_crd"]


def validate_crd(crd: dict[str, Any]) -> list[Cause]:
    """Validate a CustomResourceDefinition (stub: accepts everything)."""
    return []


def served_versions(crd: dict[str, Any]) -> list[dict[str, Any]]:
    """The served entries of `spec.versions`, in preference order."""
    return [v for v in crd.get("spec", {}).get("versions", []) if v.get("served")]


def storage_version(crd: dict[str, Any]) -> str:
    """The name of the storage version."""
    for v in crd.get("spec", {}).get("versions", []):
        if v.get("storage"):
            return str(v["name"])
    return ""


def printer_columns(crd: dict[str, Any], version: str) -> list[dict[str, Any]]:
    """The additionalPrinterColumns of `version` (stub: as declared)."""
    for v in crd.get("spec", {}).get("versions", []):
        if v.get("name") == version:
            return list(v.get("additionalPrinterColumns", []))
    return []
