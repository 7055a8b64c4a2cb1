"""Every rule a RayCluster must satisfy beyond its types, reported all at once.

``validate_cluster`` returns (problems, warnings). Problems make the cluster unusable; warnings
are things the user should know (a clamped value, a shortened name, an unsupported KubeRay
feature rayop can still run without). Rules mirror KubeRay's (reference kuberay.md §5.4) where
they apply to rayop, plus rayop's own (workload kinds, HPAs, volumes, names).
"""

from __future__ import annotations

from controller.api.models import RayCluster
from controller.api.problems import Problem

__all__ = ["validate_cluster"]


def validate_cluster(cluster: RayCluster) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) for a typed, seed-normalized cluster (before derived defaults)."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    return problems, warnings
