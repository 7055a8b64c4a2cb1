"""CustomResourceDefinition validation, defaults, versions, printer columns and conversion."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from kubesim.apiserver.crds import (
    convert_version,
    crd_status,
    default_crd,
    has_status_subresource,
    printer_columns,
    scale_paths,
    served_versions,
    storage_version,
    validate_crd,
    validate_crd_update,
    version_schema,
)
from kubesim.apiserver.structural import Cause

SCHEMA = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}},
}


def widget_crd(**spec: Any) -> dict[str, Any]:
    versions = [
        {
            "name": "v1alpha1",
            "served": True,
            "storage": False,
            "schema": {"openAPIV3Schema": SCHEMA},
        },
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": SCHEMA},
            "subresources": {
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                },
            },
            "additionalPrinterColumns": [
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}
            ],
        },
    ]
    base = {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": versions,
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {**base, **spec},
    }


def test_valid_crd_is_defaulted_and_accepted() -> None:
    """A well-formed CRD gets singular/listKind/conversion defaults and no causes."""
    crd = default_crd(widget_crd())
    assert crd["spec"]["names"] == {
        "plural": "widgets",
        "kind": "Widget",
        "singular": "widget",
        "listKind": "WidgetList",
    }
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    assert validate_crd(crd) == []


def test_served_versions_come_in_preference_order_and_storage_is_known() -> None:
    """v1 is preferred over v1alpha1 whatever the declaration order; v1 is the storage version."""
    crd = widget_crd()
    assert [v["name"] for v in served_versions(crd)] == ["v1", "v1alpha1"]
    assert storage_version(crd) == "v1"
    assert version_schema(crd, "v1") == SCHEMA
    assert version_schema(crd, "v9") is None


def test_subresources_and_printer_columns() -> None:
    """Status and scale subresources are per version; a version without columns gets Age."""
    crd = widget_crd()
    assert has_status_subresource(crd, "v1")
    assert not has_status_subresource(crd, "v1alpha1")
    assert scale_paths(crd, "v1") == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
    }
    assert scale_paths(crd, "v1alpha1") is None
    assert [c["name"] for c in printer_columns(crd, "v1")] == ["Replicas"]
    assert [(c["name"], c["type"], c["jsonPath"]) for c in printer_columns(crd, "v1alpha1")] == [
        ("Age", "date", ".metadata.creationTimestamp")
    ]


def test_name_group_and_scope_errors() -> None:
    """The CRD name must be plural.group, the group dotted, the scope Cluster or Namespaced."""
    crd = widget_crd(group="example", scope="Global")
    crd["metadata"]["name"] = "widgets.example.com"
    causes = validate_crd(default_crd(crd))
    assert (
        Cause(
            "FieldValueInvalid",
            "metadata.name",
            'Invalid value: "widgets.example.com": must be spec.names.plural+"."+spec.group',
        )
        in causes
    )
    assert (
        Cause(
            "FieldValueInvalid",
            "spec.group",
            'Invalid value: "example": should be a domain with at least one dot',
        )
        in causes
    )
    assert (
        Cause(
            "FieldValueNotSupported",
            "spec.scope",
            'Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
        )
        in causes
    )


def test_exactly_one_storage_version_and_unique_names() -> None:
    """Zero or two storage versions and duplicate version names are rejected."""
    crd = widget_crd()
    for version in crd["spec"]["versions"]:
        version["storage"] = True
        version["name"] = "v1"
    messages = [str(c) for c in validate_crd(default_crd(crd))]
    assert any("must have exactly one version marked as storage version" in m for m in messages)
    assert any("must contain unique version names" in m for m in messages)


def test_structural_schema_rules() -> None:
    """Schemas must be object-rooted, typed everywhere and leave root metadata alone."""
    bad = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "type": "object",
                "properties": {"untyped": {"description": "x"}, "list": {"type": "array"}},
            },
            "free": {"x-kubernetes-preserve-unknown-fields": True},
        },
    }
    crd = widget_crd()
    crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"] = bad
    del crd["spec"]["versions"][0]["schema"]
    fields = {c.field: c for c in validate_crd(default_crd(crd))}
    root = "spec.versions[1].schema.openAPIV3Schema"
    assert fields[f"{root}.properties[metadata]"].type == "FieldValueForbidden"
    assert fields[f"{root}.properties[spec].properties[untyped].type"].message == (
        "Required value: must not be empty for specified object fields"
    )
    assert fields[f"{root}.properties[spec].properties[list].items"].type == "FieldValueRequired"
    assert (
        fields["spec.versions[0].schema.openAPIV3Schema"].message
        == "Required value: schemas are required"
    )
    assert f"{root}.properties[free].type" not in fields


def test_printer_column_and_names_errors() -> None:
    """Unknown column types and non-DNS names are reported with the supported values."""
    crd = widget_crd()
    crd["spec"]["names"]["shortNames"] = ["W"]
    crd["spec"]["versions"][1]["additionalPrinterColumns"] = [
        {"name": "X", "type": "float", "jsonPath": "spec.x"}
    ]
    causes = {c.field: c for c in validate_crd(default_crd(crd))}
    assert causes["spec.versions[1].additionalPrinterColumns[0].type"].message == (
        'Unsupported value: "float": supported values: "boolean", "date", "integer", "number", "string"'
    )
    assert (
        causes["spec.versions[1].additionalPrinterColumns[0].jsonPath"].type == "FieldValueInvalid"
    )
    assert causes["spec.names.shortNames[0]"].message.startswith(
        'Invalid value: "W": a DNS-1035 label'
    )


def test_status_marks_names_accepted_and_established() -> None:
    """An accepted CRD reports NamesAccepted and Established, and records its storage version."""
    status = crd_status(default_crd(widget_crd()), now="2026-11-25T17:00:00Z")
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("NamesAccepted", "True"),
        ("Established", "True"),
    ]
    assert status["storedVersions"] == ["v1"]
    assert status["acceptedNames"]["listKind"] == "WidgetList"


def test_conversion_none_changes_only_api_version() -> None:
    """Reading at another served version changes apiVersion and nothing else."""
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"replicas": 2},
    }
    converted = convert_version(obj, "example.com/v1alpha1")
    assert converted == {**copy.deepcopy(obj), "apiVersion": "example.com/v1alpha1"}
    assert obj["apiVersion"] == "example.com/v1"


def test_project_raycluster_crd_is_valid() -> None:
    """The RayCluster CRD we ship passes the server's CRD validation."""
    path = Path(__file__).parents[3] / "manifests" / "crd" / "ray.io_rayclusters.yaml"
    crd = yaml.safe_load(path.read_text())
    assert validate_crd(default_crd(crd)) == []


def test_update_keeps_storage_naming_fields_immutable() -> None:
    """Group and plural never change; scope and kind are frozen once the CRD is established."""
    old = default_crd(widget_crd())
    old["status"] = crd_status(old, now="2026-11-25T17:00:00Z")
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    new["spec"]["names"]["kind"] = "Gadget"
    new["spec"]["names"]["listKind"] = "GadgetList"
    causes = validate_crd_update(new, old)
    assert (
        Cause("FieldValueInvalid", "spec.scope", 'Invalid value: "Cluster": field is immutable')
        in causes
    )
    assert (
        Cause("FieldValueInvalid", "spec.names.kind", 'Invalid value: "Gadget": field is immutable')
        in causes
    )
    added_version = copy.deepcopy(old)
    added_version["spec"]["versions"].append(
        {"name": "v2", "served": True, "storage": False, "schema": {"openAPIV3Schema": SCHEMA}}
    )
    assert validate_crd_update(added_version, old) == []
