"""JSON merge patch (RFC 7386), the type kubectl scale and the Ray autoscaler's suspend send."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver.patching import PatchError, apply_merge_patch, create_merge_patch


def test_scale_body_sets_replicas_and_keeps_the_rest() -> None:
    """kubectl scale's {"spec":{"replicas":3}} changes only replicas."""
    obj = {"spec": {"replicas": 1, "serviceName": "s"}, "metadata": {"name": "s1"}}
    out = apply_merge_patch(obj, {"spec": {"replicas": 3}})
    assert out == {"spec": {"replicas": 3, "serviceName": "s"}, "metadata": {"name": "s1"}}


def test_null_deletes_and_lists_replace() -> None:
    """null removes a key; a list replaces the old list whole."""
    obj = {"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]}}
    out = apply_merge_patch(obj, {"metadata": {"labels": {"a": None}, "finalizers": ["z"]}})
    assert out == {"metadata": {"labels": {"b": "2"}, "finalizers": ["z"]}}


def test_nulls_inside_new_objects_are_dropped() -> None:
    """A new nested object arrives without its null members (RFC 7386 section 2)."""
    out = apply_merge_patch({}, {"spec": {"idleSuspend": True, "gone": None}})
    assert out == {"spec": {"idleSuspend": True}}


def test_result_shares_nothing_with_the_input() -> None:
    """Mutating the result never reaches the stored object."""
    obj: dict[str, Any] = {"metadata": {"labels": {"a": "1"}}, "spec": {"x": [1]}}
    out = apply_merge_patch(obj, {"spec": {"y": 1}})
    out["metadata"]["labels"]["a"] = "changed"
    out["spec"]["x"].append(2)
    assert obj == {"metadata": {"labels": {"a": "1"}}, "spec": {"x": [1]}}


@pytest.mark.parametrize("patch", [[1], "x", 3, None])
def test_a_patch_that_is_not_an_object_is_400(patch: object) -> None:
    """Only an object is a merge patch the real server accepts."""
    with pytest.raises(PatchError) as info:
        apply_merge_patch({}, patch)
    assert (info.value.code, info.value.message) == (400, "Invalid JSON Patch")


_values = st.recursive(
    st.booleans() | st.integers(-3, 3) | st.text(max_size=2),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=10,
)
_objects = st.dictionaries(st.sampled_from("abcd"), _values, max_size=4)


@settings(max_examples=200, deadline=None)
@given(original=_objects, target=_objects)
def test_merge_patch_of_a_diff_reproduces_the_target(
    original: dict[str, Any], target: dict[str, Any]
) -> None:
    """Applying the merge patch between two objects turns the first into the second."""
    patch = create_merge_patch(original, target)
    assert apply_merge_patch(original, patch) == target
