"""Transforms: dropping managedFields, allow-list slimming, and freezing objects read-only."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from informers import FrozenDict, freeze, keep_fields, strip_managed_fields


def sample() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a", "labels": {"x": "1"}, "managedFields": [{"manager": "m"}]},
        "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "E"}]}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1"},
    }


def test_strip_managed_fields_drops_only_managed_fields_and_is_idempotent() -> None:
    """The default transform removes metadata.managedFields and nothing else."""
    obj = strip_managed_fields(sample())
    expected = sample()
    del expected["metadata"]["managedFields"]
    assert obj == expected
    assert strip_managed_fields(obj) == expected


def test_keep_fields_keeps_only_the_named_fields_including_inside_lists() -> None:
    """An allow-list keeps named fields, recursing into dicts and each list element."""
    slim = keep_fields(
        {
            "metadata": {"name": True},
            "spec": {"containers": {"name": True}},
            "status": {"phase": True},
        }
    )
    assert slim(sample()) == {
        "metadata": {"name": "a"},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Running"},
    }


def test_frozen_objects_refuse_every_mutation() -> None:
    """A frozen object raises TypeError on any change, at any depth."""
    obj = freeze(sample())
    with pytest.raises(TypeError, match="read-only"):
        obj["kind"] = "x"
    with pytest.raises(TypeError, match="read-only"):
        obj["metadata"]["labels"].update({"y": "2"})
    with pytest.raises(TypeError, match="read-only"):
        obj["metadata"].pop("name")
    with pytest.raises(AttributeError):
        obj["spec"]["containers"].append({})  # lists become tuples
    assert isinstance(obj, dict)
    assert obj["spec"]["containers"][0]["name"] == "c"


def test_deepcopy_of_a_frozen_object_is_a_mutable_plain_copy() -> None:
    """copy.deepcopy thaws: plain dicts and lists, equal to the original JSON."""
    thawed = copy.deepcopy(freeze(sample()))
    assert type(thawed) is dict
    assert type(thawed["spec"]["containers"]) is list
    thawed["metadata"]["labels"]["y"] = "2"
    expected = sample()
    expected["metadata"]["labels"]["y"] = "2"
    assert thawed == expected
    assert type(copy.copy(freeze(sample()))) is dict
    assert not isinstance(copy.copy(freeze(sample())), FrozenDict)
