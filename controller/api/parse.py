"""``parse_raycluster``: from a raw RayCluster dict (either served version) to the defaulted v1 model.

The pipeline, each step pure:

1. identity: a mapping, ``apiVersion`` ``ray.io/v1`` or ``ray.io/v1alpha1``, ``kind`` RayCluster;
2. ``normalize.clean_raw``: unknown fields and unquoted scalars become warnings;
3. the pydantic models: type errors become problems (``errors``);
4. ``normalize.normalize_seed_fields``: the seed's v1alpha1 names move onto KubeRay's;
5. ``validation.validate_cluster``: every rule, every problem at once;
6. ``defaults.apply_defaults`` (only when there are no problems).

The input is never mutated, nothing raises on any input (a bug would be ours: it is reported
as a problem rather than crashing a reconcile loop), and the status is parsed on its own so a
malformed status written by someone else never makes a good spec unusable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controller.api.constants import GROUP, KIND, SERVED_VERSIONS
from controller.api.defaults import apply_defaults
from controller.api.errors import problems_from_validation_error
from controller.api.models import ObjectMeta, RayCluster, RayClusterSpec, RayClusterStatus
from controller.api.normalize import UNKNOWN_FIELD, clean_raw, normalize_seed_fields
from controller.api.problems import Problem
from controller.api.validation import validate_cluster

__all__ = ["ParseResult", "parse_raycluster"]

_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_ACCEPTED_API_VERSIONS = tuple(f"{GROUP}/{version}" for version in SERVED_VERSIONS)


@dataclass(frozen=True)
class ParseResult:
    """The outcome of ``parse_raycluster``."""

    cluster: RayCluster | None
    """The normalized, defaulted ``ray.io/v1`` model; None when there are problems."""
    problems: list[Problem] = field(default_factory=list)
    """Errors: the cluster cannot be built as written."""
    warnings: list[Problem] = field(default_factory=list)
    """Things the user should know (a clamped value, an unsupported feature, a shortened name)."""

    @property
    def ok(self) -> bool:
        """True when the manifest is usable (there may still be warnings)."""
        return self.cluster is not None


def parse_raycluster(obj: object) -> ParseResult:
    """Normalize, validate and default a RayCluster given as a raw dict (a manifest or an API object)."""
    try:
        return _parse(obj)
    except Exception as exc:  # pragma: no cover - a bug of ours; report it, never crash a caller
        return ParseResult(
            None, [Problem("", f"rayop could not read this RayCluster ({type(exc).__name__}).")]
        )


def _parse(obj: object) -> ParseResult:
    if not isinstance(obj, dict):
        return ParseResult(None, [Problem("", "a RayCluster must be an object (a mapping).")])
    problems = _identity_problems(obj)
    if problems:
        return ParseResult(None, problems)
    warnings: list[Problem] = [
        Problem(str(key), UNKNOWN_FIELD) for key in obj if key not in _TOP_LEVEL
    ]
    metadata, spec = _typed(obj, problems, warnings)
    status = _status(obj.get("status"), warnings)
    if metadata is None or spec is None:
        return ParseResult(None, problems, warnings)
    spec, seed_problems, seed_warnings = normalize_seed_fields(spec)
    problems.extend(seed_problems)
    warnings.extend(seed_warnings)
    cluster = RayCluster(metadata=metadata, spec=spec, status=status)
    rule_problems, rule_warnings = validate_cluster(cluster)
    problems.extend(rule_problems)
    warnings.extend(rule_warnings)
    if problems:
        return ParseResult(None, problems, warnings)
    cluster, default_warnings = apply_defaults(cluster)
    warnings.extend(default_warnings)
    return ParseResult(cluster, problems, warnings)


def _identity_problems(obj: dict[Any, Any]) -> list[Problem]:
    problems = []
    api_version = obj.get("apiVersion")
    if api_version not in _ACCEPTED_API_VERSIONS:
        problems.append(
            Problem(
                "apiVersion",
                f"must be {' or '.join(_ACCEPTED_API_VERSIONS)}, not {api_version!r}.",
            )
        )
    if obj.get("kind") != KIND:
        problems.append(Problem("kind", f"must be {KIND}, not {obj.get('kind')!r}."))
    return problems


def _typed(
    obj: dict[Any, Any], problems: list[Problem], warnings: list[Problem]
) -> tuple[ObjectMeta | None, RayClusterSpec | None]:
    """The metadata and spec models, or None for each that has problems (appended)."""
    raw_metadata = obj.get("metadata")
    raw_spec = obj.get("spec")
    metadata = spec = None
    if not isinstance(raw_metadata, dict):
        problems.append(Problem("metadata", "is required and must be an object with a name."))
    else:
        try:
            present = {key: value for key, value in raw_metadata.items() if value is not None}
            metadata = ObjectMeta.model_validate(present)
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc, prefix="metadata"))
    if not isinstance(raw_spec, dict):
        problems.append(Problem("spec", "is required and must be an object."))
    else:
        cleaned = clean_raw(raw_spec, RayClusterSpec, "spec", warnings)
        try:
            spec = RayClusterSpec.model_validate(cleaned)
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc, prefix="spec"))
    return metadata, spec


def _status(raw: object, warnings: list[Problem]) -> RayClusterStatus | None:
    if raw is None:
        return None
    try:
        return RayClusterStatus.model_validate(raw)
    except ValidationError as exc:
        for problem in problems_from_validation_error(exc, prefix="status"):
            warnings.append(Problem(problem.field, f"{problem.message} The status is ignored."))
        return None
