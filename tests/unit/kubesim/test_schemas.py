"""TypeSchema navigation over kubernetes-validate's built-in schemas and CRD schemas."""

from __future__ import annotations

from kubesim.apiserver.schemas import UNTYPED, builtin_schema, schema_from_openapi_v3


def _pod_spec():  # type: ignore[no-untyped-def]
    sts = builtin_schema("apps/v1", "StatefulSet")
    assert sts is not None
    spec = sts.field("spec")
    assert spec is not None
    template = spec.field("template")
    assert template is not None
    pod_spec = template.field("spec")
    assert pod_spec is not None
    return pod_spec


def test_containers_are_a_map_list_keyed_by_name() -> None:
    """PodSpec.containers merges by name, as both apply and strategic merge need."""
    containers = _pod_spec().field("containers")
    assert containers is not None
    assert containers.list_type == "map"
    assert containers.list_map_keys == ("name",)
    assert containers.patch_merge_key == "name"
    assert containers.patch_strategy == "merge"
    assert containers.effective_list_type == "map"


def test_container_ports_key_on_port_and_protocol_with_tcp_default() -> None:
    """Container.ports is keyed by containerPort+protocol, and protocol defaults to TCP."""
    containers = _pod_spec().field("containers")
    assert containers is not None
    assert containers.items is not None
    ports = containers.items.field("ports")
    assert ports is not None
    assert ports.list_map_keys == ("containerPort", "protocol")
    assert ports.patch_merge_key == "containerPort"
    assert ports.key_defaults == {"protocol": "TCP"}


def test_atomic_lists_and_maps_are_reported() -> None:
    """args and tolerations are atomic lists; nodeSelector is an atomic map."""
    pod_spec = _pod_spec()
    tolerations = pod_spec.field("tolerations")
    node_selector = pod_spec.field("nodeSelector")
    containers = pod_spec.field("containers")
    assert tolerations is not None
    assert node_selector is not None
    assert containers is not None
    assert containers.items is not None
    args = containers.items.field("args")
    assert args is not None
    assert args.effective_list_type == "atomic"
    assert tolerations.effective_list_type == "atomic"
    assert node_selector.is_atomic_map


def test_volumes_keep_their_retain_keys_strategy() -> None:
    """PodSpec.volumes carries the "merge,retainKeys" patch strategy."""
    volumes = _pod_spec().field("volumes")
    assert volumes is not None
    assert volumes.patch_strategy == "merge,retainKeys"


def test_metadata_labels_are_a_granular_string_map_and_finalizers_a_set() -> None:
    """ObjectMeta.labels is a map of strings; finalizers is a set."""
    pod = builtin_schema("v1", "Pod")
    assert pod is not None
    meta = pod.field("metadata")
    assert meta is not None
    labels = meta.field("labels")
    finalizers = meta.field("finalizers")
    assert labels is not None
    assert finalizers is not None
    assert labels.type == "object"
    assert not labels.is_atomic_map
    assert labels.additional_properties is not None
    assert labels.additional_properties.type == "string"
    assert finalizers.effective_list_type == "set"


def test_refs_resolve_to_one_shared_node_per_definition() -> None:
    """Two paths to the same definition share one cached TypeSchema (lookups are computed once)."""
    pod = builtin_schema("v1", "Pod")
    sts = builtin_schema("apps/v1", "StatefulSet")
    assert pod is not None
    assert sts is not None
    assert pod.field("metadata") is sts.field("metadata")
    assert builtin_schema("v1", "Pod") is pod


def test_int_or_string_and_quantities_are_scalars() -> None:
    """IntOrString (targetPort) and Quantity (limits) are scalars to the merge engines."""
    svc = builtin_schema("v1", "Service")
    assert svc is not None
    spec = svc.field("spec")
    assert spec is not None
    ports = spec.field("ports")
    assert ports is not None
    assert ports.items is not None
    target = ports.items.field("targetPort")
    assert target is not None
    assert target.int_or_string
    assert target.type == "string"


def test_unknown_kind_has_no_schema() -> None:
    """A kind the shipped schemas do not know gives None (CRDs use schema_from_openapi_v3)."""
    assert builtin_schema("ray.io/v1", "RayCluster") is None
    assert builtin_schema("apps/v1", "NoSuchKind") is None


def test_crd_lists_without_markers_are_atomic() -> None:
    """In a CRD schema an unmarked list is atomic, a marked one keeps its marker."""
    schema = schema_from_openapi_v3(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "groups": {"type": "array", "items": {"type": "object"}},
                        "named": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                        },
                    },
                }
            },
        }
    )
    spec = schema.field("spec")
    assert spec is not None
    groups = spec.field("groups")
    named = spec.field("named")
    assert groups is not None
    assert named is not None
    assert groups.effective_list_type == "atomic"
    assert named.effective_list_type == "map"
    assert named.effective_map_keys == ("name",)


def test_crd_metadata_is_object_meta() -> None:
    """A CRD's metadata merges like the built-in ObjectMeta (finalizers are a set)."""
    schema = schema_from_openapi_v3({"type": "object"})
    meta = schema.field("metadata")
    assert meta is not None
    finalizers = meta.field("finalizers")
    assert finalizers is not None
    assert finalizers.effective_list_type == "set"


def test_preserve_unknown_fields_makes_unknown_keys_untyped() -> None:
    """Under x-kubernetes-preserve-unknown-fields every key is untyped (granular, atomic lists)."""
    schema = schema_from_openapi_v3(
        {
            "type": "object",
            "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            },
        }
    )
    spec = schema.field("spec")
    assert spec is not None
    assert spec.preserve_unknown_fields
    assert spec.member("anything") is UNTYPED
    assert UNTYPED.member("deeper") is UNTYPED


def test_embedded_resources_get_object_meta() -> None:
    """An x-kubernetes-embedded-resource object's metadata is typed as ObjectMeta."""
    schema = schema_from_openapi_v3(
        {
            "type": "object",
            "properties": {
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                }
            },
        }
    )
    template = schema.field("template")
    assert template is not None
    assert template.embedded_resource
    meta = template.field("metadata")
    assert meta is not None
    assert meta.field("labels") is not None
