"""What ``parse_raycluster`` reports: a problem names the field and says, in a sentence, what is wrong.

Field paths use the manifest's own (KubeRay camelCase) names and list indexes, the way
``kubectl explain`` and the API server's causes do: ``spec.workerGroupSpecs[0].minReplicas``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Problem", "format_problems"]


class Problem(NamedTuple):
    """One thing wrong with (or worth knowing about) a RayCluster manifest."""

    field: str
    """Path of the offending field, e.g. ``spec.workerGroupSpecs[0].minReplicas``."""
    message: str
    """A plain sentence a user can act on."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def format_problems(problems: list[Problem]) -> str:
    """One line per problem, ``field: message``, for a CLI or an Event note."""
    return "\n".join(str(problem) for problem in problems)
