"""Raw data is copied, never shared with or changed in the caller's object."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from controller.api import parse_raycluster
from controller.api.jsoncopy import copy_json


def test_copies_are_independent_and_equal() -> None:
    """A copy equals the original and changing it leaves the original alone."""
    original = {"a": [{"b": 1.5, "c": None, "d": True}], "e": "x"}
    copied = copy_json(original)
    assert copied == original
    copied["a"][0]["b"] = 2
    assert original["a"][0]["b"] == 1.5


def test_values_json_cannot_carry_are_kept_as_they_are() -> None:
    """YAML dates and non-string keys survive the copy unchanged (not turned into strings)."""
    original = {"when": datetime.date(2026, 11, 25), 1: "one"}
    copied = copy_json(original)
    assert copied == original
    assert isinstance(copied["when"], datetime.date)


def test_parsed_templates_are_not_the_callers_dicts(
    manifest: Callable[..., dict[str, Any]],
) -> None:
    """Changing a parsed template cannot change the object it was parsed from."""
    obj = manifest()
    cluster = parse_raycluster(obj).cluster
    assert cluster is not None
    cluster.spec.worker_group_specs[0].template["spec"]["containers"][0]["image"] = "changed"
    assert (
        obj["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"]
        != "changed"
    )


def test_unknown_top_level_fields_are_warned_about(manifest: Callable[..., dict[str, Any]]) -> None:
    """A misspelt top-level key (specs:) is named in a warning, not silently ignored."""
    obj = manifest()
    obj["specs"] = {}
    result = parse_raycluster(obj)
    assert result.warnings[0].field == "specs"
