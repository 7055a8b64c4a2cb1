"""Pydantic's validation errors, translated once into our ``Problem``s.

Users never see pydantic's text or a traceback: each error becomes the manifest's field path
(camelCase, ``[i]`` for list items) and a sentence of our own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from controller.api.problems import Problem

__all__ = ["field_path", "problems_from_validation_error"]

_QUOTED = re.compile(r"'([^']*)'")
_SCALARS = (str, int, float, bool)

# One sentence per pydantic error type (https://docs.pydantic.dev/latest/errors/validation_errors/).
_BY_TYPE: dict[str, str] = {
    "missing": "is required.",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object (a mapping of keys to values)",
    "model_type": "must be an object (a mapping of keys to values)",
    "model_attributes_type": "must be an object (a mapping of keys to values)",
    "list_type": "must be a list",
    "finite_number": "must be a finite number",
}


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """``("spec", "workerGroupSpecs", 0, "minReplicas")`` → ``spec.workerGroupSpecs[0].minReplicas``."""
    path = prefix
    if loc and loc[-1] == "[key]":
        # A bad mapping key: name the mapping and quote the key (pydantic puts the key itself,
        # of whatever type, before the marker).
        return f"{field_path(loc[:-2], prefix)}[{loc[-2]!r}]"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def problems_from_validation_error(exc: ValidationError, *, prefix: str = "") -> list[Problem]:
    """Every error in ``exc`` as a Problem, in pydantic's (document) order, without duplicates."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        problem = Problem(field_path(error["loc"], prefix), _message(error))
        if problem not in problems:
            problems.append(problem)
    return problems


def _message(error: Any) -> str:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    if kind in _BY_TYPE:
        sentence = _BY_TYPE[kind]
        if kind == "missing":
            return sentence
        return f"{sentence}, not {_show(value)}."
    if kind == "literal_error" or kind == "enum":
        choices = ", ".join(_QUOTED.findall(str(ctx.get("expected", ""))))
        return f"must be one of {choices}, not {_show(value)}."
    if kind == "greater_than_equal":
        return f"must be at least {_number(ctx['ge'])}, not {_show(value)}."
    if kind == "greater_than":
        return f"must be greater than {_number(ctx['gt'])}, not {_show(value)}."
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx['le'])}, not {_show(value)}."
    if kind == "less_than":
        return f"must be less than {_number(ctx['lt'])}, not {_show(value)}."
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items, not {ctx.get('actual_length')}."
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long."
    if kind == "too_short" or kind == "string_too_short":
        return f"must have at least {ctx['min_length']} items."
    return "has a value of the wrong type or shape."


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _show(value: object) -> str:
    """A short rendering of the offending value (JSON-ish, as the user wrote it)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, _SCALARS):
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + '..."'
    return type(value).__name__
