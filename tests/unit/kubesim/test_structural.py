"""Pruning, defaulting and validation of custom resources by their structural schema."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver.schemas import builtin_schema, schema_from_openapi_v3
from kubesim.apiserver.structural import (
    Cause,
    invalid_message,
    prune_and_default,
    status_causes,
    strict_decoding_message,
    unknown_fields,
    validate,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string", "minLength": 1, "maxLength": 20},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                "ratio": {"type": "number", "nullable": True, "default": 0.5},
                "port": {"x-kubernetes-int-or-string": True},
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "groups": {
                    "type": "array",
                    "maxItems": 2,
                    "items": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer", "default": 3},
                            "options": {
                                "type": "object",
                                "default": {},
                                "properties": {"level": {"type": "string", "default": "info"}},
                            },
                        },
                    },
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {
                        "spec": {"type": "object", "properties": {"a": {"type": "string"}}}
                    },
                },
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def cr(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"image": "img", **spec},
    }


def test_unknown_fields_are_pruned_everywhere_but_preserved_subtrees() -> None:
    """Undeclared fields vanish, except under x-kubernetes-preserve-unknown-fields."""
    obj = cr(bogus=1, config={"anything": {"goes": [1]}}, groups=[{"size": 1, "extra": True}])
    obj["topLevel"] = "x"
    out = prune_and_default(SCHEMA, obj)
    assert "bogus" not in out["spec"]
    assert "topLevel" not in out
    assert out["spec"]["config"] == {"anything": {"goes": [1]}}
    assert "extra" not in out["spec"]["groups"][0]


def test_root_metadata_keeps_only_object_meta_fields() -> None:
    """The root metadata keeps ObjectMeta fields and drops anything else."""
    obj = cr()
    obj["metadata"].update({"labels": {"a": "b"}, "madeUp": 1, "finalizers": ["f"]})
    out = prune_and_default(SCHEMA, obj)
    assert out["metadata"] == {
        "name": "w",
        "namespace": "default",
        "labels": {"a": "b"},
        "finalizers": ["f"],
    }


def test_embedded_resource_keeps_apiversion_kind_metadata() -> None:
    """An embedded resource keeps apiVersion/kind/metadata but its other unknown fields are pruned."""
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"x": "y"}},
        "spec": {"a": "1", "b": 2},
    }
    out = prune_and_default(SCHEMA, cr(template=template))
    assert out["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"x": "y"}},
        "spec": {"a": "1"},
    }


def test_defaults_fill_missing_fields_including_nested_and_array_items() -> None:
    """Defaults apply to missing fields, inside array items, and inside defaults just placed."""
    out = prune_and_default(SCHEMA, cr(groups=[{}, {"size": 7, "options": {"level": "debug"}}]))
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["mode"] == "fast"
    assert spec["groups"][0] == {"size": 3, "options": {"level": "info"}}
    assert spec["groups"][1] == {"size": 7, "options": {"level": "debug"}}


def test_null_is_defaulted_or_dropped_unless_nullable() -> None:
    """A null non-nullable field gets its default (or is removed); a nullable null is kept."""
    out = prune_and_default(SCHEMA, cr(replicas=None, name=None, ratio=None))
    assert out["spec"]["replicas"] == 1
    assert "name" not in out["spec"]
    assert out["spec"]["ratio"] is None


def test_prune_and_default_does_not_mutate_its_input() -> None:
    """The caller's object is left untouched."""
    obj = cr(bogus=1)
    prune_and_default(SCHEMA, obj)
    assert obj["spec"] == {"image": "img", "bogus": 1}


def test_valid_object_has_no_causes() -> None:
    """A conforming object validates cleanly."""
    obj = prune_and_default(SCHEMA, cr(port="http", name="abc", labels={"a": "b"}))
    assert validate(SCHEMA, obj) == []


def test_type_error_is_worded_like_the_api_server() -> None:
    """A wrong type names the field, the observed JSON type and the expected one."""
    assert validate(SCHEMA, cr(replicas="three")) == [
        Cause(
            "FieldValueTypeInvalid",
            "spec.replicas",
            'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        )
    ]


def test_whole_float_passes_integer_and_int_or_string_rejects_bool() -> None:
    """3.0 is an integer to the server; int-or-string lists both types in its message."""
    assert validate(SCHEMA, cr(replicas=3.0)) == []
    assert validate(SCHEMA, cr(port=True)) == [
        Cause(
            "FieldValueTypeInvalid",
            "spec.port",
            'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        )
    ]


def test_enum_required_and_range_messages() -> None:
    """Enum, required and minimum/maximum violations read as the real server writes them."""
    obj = cr(mode="medium", replicas=11)
    del obj["spec"]["image"]
    assert validate(SCHEMA, obj) == [
        Cause(
            "FieldValueInvalid",
            "spec.replicas",
            "Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        ),
        Cause(
            "FieldValueNotSupported",
            "spec.mode",
            'Unsupported value: "medium": supported values: "fast", "slow"',
        ),
        Cause("FieldValueRequired", "spec.image", "Required value"),
    ]
    assert validate(SCHEMA, cr(replicas=-1))[0].message == (
        "Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
    )


def test_string_and_array_constraints() -> None:
    """Length, pattern and item-count limits produce their own cause types."""
    causes = validate(SCHEMA, cr(image="", name="ABC", groups=[{}, {}, {}]))
    assert (
        Cause(
            "FieldValueInvalid",
            "spec.image",
            'Invalid value: "": spec.image in body should be at least 1 chars long',
        )
        in causes
    )
    assert (
        Cause(
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'",
        )
        in causes
    )
    assert (
        Cause("FieldValueTooMany", "spec.groups", "Too many: 3: must have at most 2 items")
        in causes
    )
    too_long = validate(SCHEMA, cr(image="x" * 21))
    assert too_long == [
        Cause("FieldValueTooLong", "spec.image", "Too long: may not be more than 20 bytes")
    ]


def test_nested_paths_use_indexes_and_map_keys() -> None:
    """Errors inside lists and maps carry `[i]` and `.key` in their field path."""
    causes = validate(SCHEMA, cr(groups=[{"size": "big"}], labels={"team": 5}))
    assert [c.field for c in causes] == ["spec.groups[0].size", "spec.labels.team"]


def test_invalid_message_joins_causes_like_an_aggregate() -> None:
    """One cause prints bare; several are bracketed and comma-joined; duplicates collapse."""
    one = [Cause("FieldValueRequired", "spec.image", "Required value")]
    assert invalid_message("Widget", "example.com", "w", one) == (
        'Widget.example.com "w" is invalid: spec.image: Required value'
    )
    two = [*one, one[0], Cause("FieldValueInvalid", "spec.x", "Invalid value: 1: bad")]
    assert invalid_message("Widget", "example.com", "w", two) == (
        'Widget.example.com "w" is invalid: [spec.image: Required value, spec.x: Invalid value: 1: bad]'
    )
    assert status_causes(two) == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.image"},
        {"reason": "FieldValueInvalid", "message": "Invalid value: 1: bad", "field": "spec.x"},
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None)
@given(
    spec=st.dictionaries(
        st.sampled_from(["image", "replicas", "mode", "groups", "labels", "x"]), json_values
    )
)
def test_prune_and_default_is_idempotent_and_validate_never_raises(spec: dict[str, Any]) -> None:
    """Arbitrary JSON: pruning twice equals pruning once, and validation returns causes, never raises."""
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {}, "spec": spec}
    once = prune_and_default(SCHEMA, obj)
    assert prune_and_default(SCHEMA, once) == once
    assert all(isinstance(c, Cause) for c in validate(SCHEMA, once))
    assert all(isinstance(c, Cause) for c in validate(SCHEMA, obj))


def test_unknown_fields_of_builtins_and_custom_resources() -> None:
    """Strict field validation finds typos at any depth, but not under preserved or map fields."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "labels": {"any": "key"},
            "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}],
        },
        "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolcy": "Always"}], "foo": 1},
    }
    paths = unknown_fields(builtin_schema("v1", "Pod"), pod)
    assert paths == ["spec.containers[0].imagePullPolcy", "spec.foo"]
    assert strict_decoding_message(paths) == (
        'strict decoding error: unknown field "spec.containers[0].imagePullPolcy", unknown field "spec.foo"'
    )
    assert strict_decoding_message(["spec.foo"], kind="Pod", version="v1") == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo"'
    )
    custom = schema_from_openapi_v3(SCHEMA)
    obj = cr(config={"free": 1}, labels={"k": "v"}, groups=[{"size": 1, "sise": 2}])
    assert unknown_fields(custom, obj) == ["spec.groups[0].sise"]


def test_empty_object_schema_is_opaque_for_builtins_but_prunes_in_crds() -> None:
    """FieldsV1-like built-in objects hide nothing; a bare `type: object` in a CRD knows no keys."""
    bare = schema_from_openapi_v3({"type": "object", "properties": {"spec": {"type": "object"}}})
    assert unknown_fields(bare, {"spec": {"a": 1}}) == ["spec.a"]
    assert prune_and_default(
        {"type": "object", "properties": {"spec": {"type": "object"}}}, {"spec": {"a": 1}}
    ) == {"spec": {}}


def test_set_and_map_lists_reject_duplicates() -> None:
    """list-type set repeats and map-list key repeats are Duplicate causes at their index."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "tags": {
                        "type": "array",
                        "x-kubernetes-list-type": "set",
                        "items": {"type": "string"},
                    },
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name", "port"],
                        "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                        },
                    },
                },
            }
        },
    }
    obj = cr(
        tags=["a", "b", "a"],
        ports=[{"name": "x", "port": 1}, {"name": "x", "port": 2}, {"port": 1, "name": "x"}],
    )
    assert validate(schema, obj) == [
        Cause("FieldValueDuplicate", "spec.tags[2]", 'Duplicate value: "a"'),
        Cause(
            "FieldValueDuplicate",
            "spec.ports[2]",
            'Duplicate value: map[string]interface {}{"name":"x", "port":1}',
        ),
    ]


schema_keys = st.sampled_from(
    [
        "type",
        "properties",
        "items",
        "required",
        "enum",
        "default",
        "nullable",
        "minimum",
        "maxLength",
        "pattern",
        "additionalProperties",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-validations",
        "allOf",
        "anyOf",
        "format",
        "spec",
        "a",
    ]
)
schemas = st.recursive(
    json_values,
    lambda children: (
        st.dictionaries(schema_keys, children, max_size=4) | st.lists(children, max_size=2)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    schema=st.dictionaries(schema_keys, schemas, max_size=4),
    obj=st.dictionaries(schema_keys, json_values, max_size=3),
)
def test_malformed_schemas_never_crash(schema: dict[str, Any], obj: dict[str, Any]) -> None:
    """Even a schema the CRD validation would refuse only yields causes, never an exception."""
    pruned = prune_and_default(schema, obj)
    assert isinstance(pruned, dict)
    assert all(isinstance(c, Cause) for c in validate(schema, obj))
