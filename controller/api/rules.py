"""Small helpers the validation modules share: the findings collector and pod-template readers.

Templates are raw dicts of unknown shape (validation reports a bad shape), so every reader here
tolerates anything and returns None or empty rather than raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.api.problems import Problem

__all__ = ["Findings", "container_env", "parse_version", "ray_container"]


@dataclass
class Findings:
    """Problems (errors) and warnings, in the order rules find them."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        """Record something that makes the cluster unusable."""
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        """Record something the user should know."""
        self.warnings.append(Problem(path, message))


def ray_container(template: dict[str, Any]) -> dict[str, Any] | None:
    """The Ray container (containers[0], as in KubeRay), or None when the template has none."""
    pod_spec = template.get("spec")
    if not isinstance(pod_spec, dict):
        return None
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        return None
    return containers[0]


def container_env(container: dict[str, Any] | None) -> dict[str, tuple[int, Any]]:
    """The container's env as ``{name: (index, value or None)}`` (a valueFrom has no value)."""
    result: dict[str, tuple[int, Any]] = {}
    env = container.get("env") if container else None
    if not isinstance(env, list):
        return result
    for index, item in enumerate(env):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            result.setdefault(item["name"], (index, item.get("value")))
    return result


def parse_version(version: str | None) -> tuple[int, ...] | None:
    """``"2.56.0"`` → ``(2, 56, 0)``; None when it is not a dotted version (e.g. ``nightly``)."""
    if not version:
        return None
    parts = version.split("-")[0].split("+")[0].split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)
