"""From whatever a user wrote to the one v1 shape: unknown fields, scalar strings, seed names.

Two passes:

- ``clean_raw`` runs on the raw dict before the models see it. It reports fields that are not
  part of the API (the API server's schema would drop them; we say so instead of dropping them
  silently) and turns unquoted YAML scalars in string maps (``num-gpus: 0``) into the strings
  Kubernetes requires, with a warning.
- ``normalize_seed_fields`` runs on the validated model and moves the seed manifest's v1alpha1
  names onto KubeRay's, which is what the Ray autoscaler reads:
  ``headService.type`` → ``headGroupSpec.serviceType``;
  ``autoscalerOptions.idleTimeoutMinutes`` → ``idleTimeoutSeconds`` (× 60);
  ``autoscalerOptions.upscalingSpeed`` → ``upscalingMode`` (see ``defaults.upscaling_mode_for_speed``).
  When both names are set and disagree, the seed name wins for the autoscaler options (rayop
  writes the KubeRay name back for the autoscaler, see ``controller.api.compat``) and the service
  type conflict is an error (nothing writes either, so it can only be a mistake).
"""

from __future__ import annotations

import functools
import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from controller.api.defaults import UPSCALING_SPEED_BY_MODE, upscaling_mode_for_speed
from controller.api.jsoncopy import copy_json
from controller.api.models import RayClusterSpec
from controller.api.problems import Problem

__all__ = ["UNKNOWN_FIELD", "clean_raw", "normalize_seed_fields"]

UNKNOWN_FIELD = "is not a RayCluster field; it is ignored (check the spelling)."
# Fields old KubeRay manifests still carry, with what became of them.
_LEGACY = {
    (
        "HeadGroupSpec",
        "replicas",
    ): "is from old KubeRay versions and is ignored: the head is always one pod.",
}

# Raw-object fields whose contents are Kubernetes' business, not ours: never walked.
_OPAQUE = (dict, list)


def clean_raw(
    raw: dict[str, Any], model: type[BaseModel], path: str, warnings: list[Problem]
) -> dict[str, Any]:
    """A copy of ``raw`` without unknown fields or nulls, with string-map scalars made strings.

    Appends a warning per dropped field and per converted value. Values of the wrong type are
    left for the model to report.
    """
    by_alias = _fields_by_alias(model)
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            # The API server drops nulls of non-nullable fields before defaulting; so do we
            # (an empty `rayStartParams:` in YAML is a null).
            continue
        field_path = f"{path}.{key}" if path else str(key)
        info = by_alias.get(key)
        if info is None:
            message = _LEGACY.get((model.__name__, key), UNKNOWN_FIELD)
            warnings.append(Problem(field_path, message))
            continue
        cleaned[key] = _clean_value(value, info.annotation, field_path, warnings)
    return cleaned


@functools.cache
def _fields_by_alias(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {(info.alias or name): info for name, info in model.model_fields.items()}


def _clean_value(value: Any, annotation: Any, path: str, warnings: list[Problem]) -> Any:
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(value, dict):
            return clean_raw(value, annotation, path, warnings)
        return value
    if origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(annotation)
        item_type = _strip_optional(item_type)
        if isinstance(item_type, type) and issubclass(item_type, BaseModel):
            return [
                _clean_value(item, item_type, f"{path}[{index}]", warnings)
                for index, item in enumerate(value)
            ]
        return copy_json(value)
    if origin is dict and typing.get_args(annotation) == (str, str) and isinstance(value, dict):
        return {key: _stringify(item, f"{path}.{key}", warnings) for key, item in value.items()}
    if isinstance(value, _OPAQUE):
        return copy_json(value)
    return value


def _stringify(value: Any, path: str, warnings: list[Problem]) -> Any:
    if isinstance(value, bool | int | float):
        text = json.dumps(value)
        warnings.append(
            Problem(path, f'must be a string; {text} is read as "{text}" (quote it in YAML).')
        )
        return text
    return value


def _strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def normalize_seed_fields(
    spec: RayClusterSpec,
) -> tuple[RayClusterSpec, list[Problem], list[Problem]]:
    """``spec`` with the seed's v1alpha1 names moved onto KubeRay's; (spec, problems, warnings)."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    update: dict[str, Any] = {}
    if spec.head_service is not None:
        update["head_service"] = None
        seed_type = spec.head_service.type
        head = spec.head_group_spec
        if seed_type is not None and head.service_type not in (None, seed_type):
            problems.append(
                Problem(
                    "spec.headService.type",
                    f"is {seed_type} but spec.headGroupSpec.serviceType is {head.service_type}; "
                    "set only one of them.",
                )
            )
        elif seed_type is not None:
            update["head_group_spec"] = head.model_copy(update={"service_type": seed_type})
    options = spec.autoscaler_options
    if options is not None and (
        options.idle_timeout_minutes is not None or options.upscaling_speed is not None
    ):
        changes: dict[str, Any] = {"idle_timeout_minutes": None, "upscaling_speed": None}
        if options.idle_timeout_minutes is not None:
            seconds = options.idle_timeout_minutes * 60
            if options.idle_timeout_seconds not in (None, seconds):
                warnings.append(
                    Problem(
                        "spec.autoscalerOptions.idleTimeoutSeconds",
                        f"is {options.idle_timeout_seconds} but idleTimeoutMinutes "
                        f"{options.idle_timeout_minutes} asks for {seconds} seconds; "
                        "idleTimeoutMinutes wins.",
                    )
                )
            changes["idle_timeout_seconds"] = seconds
        if options.upscaling_speed is not None:
            mode = upscaling_mode_for_speed(options.upscaling_speed)
            speed = options.upscaling_speed
            if speed not in UPSCALING_SPEED_BY_MODE.values():
                warnings.append(
                    Problem(
                        "spec.autoscalerOptions.upscalingSpeed",
                        f"{speed:g} cannot be honoured exactly: the Ray autoscaler in KubeRay mode "
                        "only has speed 1 (upscalingMode Conservative) and 1000 (Default); "
                        f"{mode} is the nearer one.",
                    )
                )
            current = options.upscaling_mode
            if (
                current is not None
                and UPSCALING_SPEED_BY_MODE[current] != UPSCALING_SPEED_BY_MODE[mode]
            ):
                warnings.append(
                    Problem(
                        "spec.autoscalerOptions.upscalingMode",
                        f"is {current} but upscalingSpeed {speed:g} means {mode}; "
                        "upscalingSpeed wins.",
                    )
                )
                changes["upscaling_mode"] = mode
            elif current is None:
                changes["upscaling_mode"] = mode
        update["autoscaler_options"] = options.model_copy(update=changes)
    return spec.model_copy(update=update), problems, warnings
