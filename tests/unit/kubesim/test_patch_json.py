"""JSON patch (RFC 6902) as kube-apiserver applies it, including the Ray autoscaler's patches."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver.patching import PatchError, apply_json_patch

REJECTED = "the server rejected our request due to an error in our request"


def _raycluster() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc", "namespace": "default", "resourceVersion": "42"},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}},
            "workerGroupSpecs": [
                {"groupName": "small", "replicas": 0, "minReplicas": 0, "maxReplicas": 5}
            ],
        },
    }


def test_autoscaler_scale_up_patch_sets_replicas() -> None:
    """The autoscaler's scale-up body replaces the group's replicas."""
    out = apply_json_patch(
        _raycluster(), [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1}]
    )
    assert out["spec"]["workerGroupSpecs"][0]["replicas"] == 1


def test_autoscaler_scale_down_replaces_a_missing_scale_strategy() -> None:
    """A replace of the absent scaleStrategy key succeeds (evanphx/json-patch v4 leniency)."""
    ops = [
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 0},
        {
            "op": "replace",
            "path": "/spec/workerGroupSpecs/0/scaleStrategy",
            "value": {"workersToDelete": ["rc-small-worker-00001"]},
        },
    ]
    out = apply_json_patch(_raycluster(), ops)
    group = out["spec"]["workerGroupSpecs"][0]
    assert group["replicas"] == 0
    assert group["scaleStrategy"] == {"workersToDelete": ["rc-small-worker-00001"]}


def test_autoscaler_cleanup_patch_empties_workers_to_delete() -> None:
    """The v1 cleanup body leaves an empty workersToDelete list."""
    ops = [
        {
            "op": "replace",
            "path": "/spec/workerGroupSpecs/0/scaleStrategy",
            "value": {"workersToDelete": []},
        }
    ]
    out = apply_json_patch(_raycluster(), ops)
    assert out["spec"]["workerGroupSpecs"][0]["scaleStrategy"] == {"workersToDelete": []}


def test_idle_termination_test_and_add_finalizer() -> None:
    """A passing resourceVersion test lets the finalizer add through; a stale one is 422."""
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {
            "op": "add",
            "path": "/metadata/finalizers",
            "value": ["ray.io/idle-termination-cleanup-finalizer"],
        },
    ]
    out = apply_json_patch(_raycluster(), ops)
    assert out["metadata"]["finalizers"] == ["ray.io/idle-termination-cleanup-finalizer"]
    ops[0]["value"] = "41"
    with pytest.raises(PatchError) as info:
        apply_json_patch(_raycluster(), ops)
    assert (info.value.code, info.value.reason, info.value.message) == (422, "Invalid", REJECTED)
    assert info.value.detail == "testing value /metadata/resourceVersion failed: test failed"


def test_input_is_not_modified() -> None:
    """The patched object is a new one; the stored object is untouched."""
    original = _raycluster()
    apply_json_patch(
        original, [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 9}]
    )
    assert original == _raycluster()


def test_replace_under_a_missing_parent_fails_with_422() -> None:
    """Leniency stops at the last key: a missing parent is 422 Invalid."""
    with pytest.raises(PatchError) as info:
        apply_json_patch(
            _raycluster(), [{"op": "replace", "path": "/spec/nothing/here", "value": 1}]
        )
    assert info.value.code == 422
    assert info.value.details == {}
    assert (
        info.value.detail
        == "replace operation does not apply: doc is missing path: /spec/nothing/here: missing value"
    )


def test_replace_past_the_end_of_a_list_fails() -> None:
    """Replacing index 3 of a one-item list is 422 (missing key)."""
    with pytest.raises(PatchError) as info:
        apply_json_patch(
            _raycluster(), [{"op": "replace", "path": "/spec/workerGroupSpecs/3", "value": {}}]
        )
    assert info.value.code == 422
    assert "doc is missing key: /spec/workerGroupSpecs/3" in info.value.detail


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"spec": {"x": 2}}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("nope", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["op"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
    ],
)
def test_bodies_that_are_not_lists_of_objects_are_400(body: object, message: str) -> None:
    """kubernetes-asyncio's default dict body for custom objects is a 400 BadRequest, as on a real server."""
    with pytest.raises(PatchError) as info:
        apply_json_patch(_raycluster(), body)
    assert (info.value.code, info.value.reason, info.value.message) == (400, "BadRequest", message)


def test_more_than_ten_thousand_operations_is_413() -> None:
    """The real server caps a JSON patch at 10,000 operations."""
    ops = [{"op": "test", "path": "/spec", "value": {}}] * 10001
    with pytest.raises(PatchError) as info:
        apply_json_patch({"spec": {}}, ops)
    assert (info.value.code, info.value.reason) == (413, "RequestEntityTooLarge")
    assert info.value.message == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    )


def test_add_append_insert_and_negative_index() -> None:
    """add supports "-" (append), an index (insert) and negative indices from the end."""
    doc = {"a": [1, 2, 3]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/-", "value": 4}]) == {"a": [1, 2, 3, 4]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/0", "value": 0}]) == {"a": [0, 1, 2, 3]}
    # v4 counts a negative add index from the end of the grown list: -1 appends.
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/-1", "value": 9}]) == {
        "a": [1, 2, 3, 9]
    }
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/-2", "value": 9}]) == {
        "a": [1, 2, 9, 3]
    }
    assert apply_json_patch(doc, [{"op": "remove", "path": "/a/-1"}]) == {"a": [1, 2]}


def test_pointer_escapes_are_decoded() -> None:
    """~1 is "/" and ~0 is "~" in a path token (annotation keys with slashes)."""
    doc: dict[str, Any] = {"metadata": {"annotations": {"ray.io/ft": "x", "a~b": "y"}}}
    out = apply_json_patch(
        doc,
        [
            {"op": "replace", "path": "/metadata/annotations/ray.io~1ft", "value": "z"},
            {"op": "remove", "path": "/metadata/annotations/a~0b"},
        ],
    )
    assert out["metadata"]["annotations"] == {"ray.io/ft": "z"}


def test_move_and_copy() -> None:
    """move relocates a value; copy duplicates it independently."""
    doc = {"a": {"x": [1]}, "b": {}}
    moved = apply_json_patch(doc, [{"op": "move", "from": "/a/x", "path": "/b/y"}])
    assert moved == {"a": {}, "b": {"y": [1]}}
    copied = apply_json_patch(doc, [{"op": "copy", "from": "/a/x", "path": "/b/y"}])
    copied["b"]["y"].append(2)
    assert copied["a"]["x"] == [1]


def test_remove_of_a_missing_key_names_the_key() -> None:
    """remove of an absent key is 422 with the library's explanation kept in detail."""
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": {}}, [{"op": "remove", "path": "/a/b"}])
    assert (
        info.value.detail
        == "error in remove for path: '/a/b': Unable to remove nonexistent key: b: missing value"
    )


def test_unknown_operation_is_422() -> None:
    """An unknown op is rejected as Unexpected kind."""
    with pytest.raises(PatchError) as info:
        apply_json_patch({}, [{"op": "frobnicate", "path": "/a"}])
    assert info.value.code == 422
    assert info.value.detail == "Unexpected kind: frobnicate"


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_paths = st.lists(st.sampled_from(["a", "b", "0", "1", "-", "~1", "x/y", ""]), max_size=4).map(
    lambda parts: "".join("/" + p for p in parts)
)
_ops = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bad"])
            | _json
        },
        optional={"path": _paths | _json, "from": _paths | _json, "value": _json},
    )
    | _json,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["a", "b"]), _json, max_size=2), ops=_ops | _json)
def test_arbitrary_input_raises_only_patch_errors(doc: dict[str, Any], ops: object) -> None:
    """Whatever the body, json patch returns an object or raises PatchError (never a traceback)."""
    outcome: object
    try:
        outcome = apply_json_patch(doc, ops)
    except PatchError as exc:
        outcome = exc.code
    assert isinstance(outcome, dict) or outcome in (400, 413, 422)
