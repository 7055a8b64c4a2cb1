"""Strategic merge patch on built-in types, driven by the schemas' patch merge keys."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver.patching import PatchError, apply_strategic_merge_patch
from kubesim.apiserver.schemas import TypeSchema, builtin_schema


def _schema(api_version: str, kind: str) -> TypeSchema:
    schema = builtin_schema(api_version, kind)
    assert schema is not None
    return schema


STS = _schema("apps/v1", "StatefulSet")
POD = _schema("v1", "Pod")


def _statefulset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s1", "labels": {"app": "a"}, "finalizers": ["f1"]},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ray",
                            "image": "ray:1",
                            "args": ["a", "b"],
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 6379, "protocol": "TCP"}],
                        },
                        {"name": "sidecar", "image": "busy:1"},
                    ],
                    "volumes": [{"name": "v", "emptyDir": {}}],
                    "tolerations": [{"key": "k1"}],
                }
            },
        },
    }


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return containers


def test_containers_merge_by_name() -> None:
    """Patching one container by name changes it and leaves its siblings alone."""
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busy:2"}]}}}
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert [c["name"] for c in _containers(out)] == ["ray", "sidecar"]
    assert _containers(out)[1]["image"] == "busy:2"
    assert _containers(out)[0] == _containers(_statefulset())[0]


def test_env_merges_by_name_and_new_items_append() -> None:
    """A new env var is appended; an existing one is updated in place."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ray",
                            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "9"}],
                        }
                    ]
                }
            }
        }
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert _containers(out)[0]["env"] == [{"name": "A", "value": "9"}, {"name": "B", "value": "2"}]


def test_ports_merge_by_container_port() -> None:
    """A port patch keyed by containerPort merges into the existing port."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "ray", "ports": [{"containerPort": 6379, "name": "gcs"}]}
                    ]
                }
            }
        }
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert _containers(out)[0]["ports"] == [
        {"containerPort": 6379, "protocol": "TCP", "name": "gcs"}
    ]


def test_atomic_lists_are_replaced() -> None:
    """args and tolerations have no merge strategy: the patch's list replaces them."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "ray", "args": ["c"]}],
                    "tolerations": [{"key": "k2"}],
                }
            }
        }
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert _containers(out)[0]["args"] == ["c"]
    assert out["spec"]["template"]["spec"]["tolerations"] == [{"key": "k2"}]


def test_finalizers_merge_as_a_set() -> None:
    """finalizers (merge strategy, no key) gain new values without duplicates."""
    out = apply_strategic_merge_patch(
        _statefulset(), {"metadata": {"finalizers": ["f2", "f1"]}}, STS
    )
    assert out["metadata"]["finalizers"] == ["f1", "f2"]


def test_patch_delete_directive_removes_a_list_item() -> None:
    """{"name": X, "$patch": "delete"} removes container X."""
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert [c["name"] for c in _containers(out)] == ["ray"]


def test_patch_replace_directive_replaces_a_list_and_a_map() -> None:
    """A {"$patch": "replace"} element replaces the whole list; in a map it replaces the map."""
    patch = {
        "metadata": {"labels": {"$patch": "replace", "new": "1"}},
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}
            }
        },
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert out["metadata"]["labels"] == {"new": "1"}
    assert _containers(out) == [{"name": "only", "image": "x"}]


def test_null_deletes_a_field() -> None:
    """null removes a field, as in a merge patch."""
    out = apply_strategic_merge_patch(_statefulset(), {"metadata": {"labels": {"app": None}}}, STS)
    assert out["metadata"]["labels"] == {}


def test_set_element_order_reorders_the_merged_list() -> None:
    """$setElementOrder puts the listed items in the given order."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "ray"}],
                    "containers": [{"name": "sidecar", "image": "busy:3"}],
                }
            }
        }
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert [c["name"] for c in _containers(out)] == ["sidecar", "ray"]


def test_set_element_order_interleaves_server_only_items_by_their_old_place() -> None:
    """A container the patch does not list keeps its position relative to the listed ones."""
    obj = _statefulset()
    _containers(obj).insert(0, {"name": "init-like", "image": "x"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "ray"}],
                    "containers": [{"name": "sidecar", "image": "busy:3"}],
                }
            }
        }
    }
    out = apply_strategic_merge_patch(obj, patch, STS)
    assert [c["name"] for c in _containers(out)] == ["init-like", "sidecar", "ray"]


def test_delete_from_primitive_list() -> None:
    """$deleteFromPrimitiveList/finalizers removes the listed values."""
    out = apply_strategic_merge_patch(
        _statefulset(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"]}}, STS
    )
    assert out["metadata"]["finalizers"] == []


def test_retain_keys_clears_the_other_volume_source() -> None:
    """A volume patch with $retainKeys switches its source from emptyDir to a configMap."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {
                            "name": "v",
                            "configMap": {"name": "cm"},
                            "$retainKeys": ["configMap", "name"],
                        }
                    ]
                }
            }
        }
    }
    out = apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert out["spec"]["template"]["spec"]["volumes"] == [
        {"name": "v", "configMap": {"name": "cm"}}
    ]


def test_retain_keys_contradicting_the_patch_is_422() -> None:
    """A field in the patch but not in $retainKeys is 422, as on the real server."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [{"name": "v", "configMap": {"name": "cm"}, "$retainKeys": ["name"]}]
                }
            }
        }
    }
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert (info.value.code, info.value.message) == (
        422,
        "patch content doesn't match retainKeys list",
    )


def test_ippr_annotation_patch_on_a_pod() -> None:
    """The Ray autoscaler's pod annotation patch merges into existing annotations."""
    pod = {
        "metadata": {"name": "p", "annotations": {"a": "1"}},
        "spec": {"containers": [{"name": "c"}]},
    }
    out = apply_strategic_merge_patch(
        pod, {"metadata": {"annotations": {"ray.io/ippr-status": "{}"}}}, POD
    )
    assert out["metadata"]["annotations"] == {"a": "1", "ray.io/ippr-status": "{}"}


def test_input_is_not_modified_and_result_is_detached() -> None:
    """The stored object stays as it was, and the result shares nothing with it."""
    original = _statefulset()
    snapshot = copy.deepcopy(original)
    out = apply_strategic_merge_patch(original, {"spec": {"replicas": 2}}, STS)
    _containers(out)[0]["image"] = "mutated"
    assert original == snapshot


def test_a_list_body_is_400() -> None:
    """A strategic merge patch must be an object (Go's decoding message)."""
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch(_statefulset(), [{"op": "add"}], STS)
    assert info.value.code == 400
    assert (
        info.value.message
        == "json: cannot unmarshal array into Go value of type map[string]interface {}"
    )


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["a", "c", "replace", "delete", "merge"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "spec",
                    "template",
                    "containers",
                    "name",
                    "env",
                    "finalizers",
                    "metadata",
                    "$patch",
                    "$retainKeys",
                    "$setElementOrder/containers",
                    "$deleteFromPrimitiveList/finalizers",
                    "volumes",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(patch=_json)
def test_arbitrary_patches_raise_only_patch_errors(patch: object) -> None:
    """Whatever the body, strategic merge returns an object or raises PatchError."""
    outcome: object
    try:
        outcome = apply_strategic_merge_patch(_statefulset(), patch, STS)
    except PatchError as exc:
        outcome = exc.code
    assert isinstance(outcome, dict) or outcome in (400, 422)


def test_an_item_without_the_merge_key_is_400_with_gos_map_printing() -> None:
    """A container patch without a name is refused, printed the way the real server prints it."""
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "x", "args": ["a"]}]}}}}
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch(_statefulset(), patch, STS)
    assert info.value.code == 400
    assert (
        info.value.message == "map: map[args:[a] image:x] does not contain declared merge key: name"
    )
