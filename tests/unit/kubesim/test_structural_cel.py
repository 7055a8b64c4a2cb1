"""CEL rules (x-kubernetes-validations) of CRD schemas, as the API server reports them."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.apiserver.structural import Cause, validate

pytest.importorskip("celpy", reason="cel-python (dev extra) evaluates the rules")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.groups) || self.groups.all(g, self.groups.exists_one(h, h.name == g.name))",
                    "message": "group names must be unique",
                    "fieldPath": ".groups",
                },
                {
                    "rule": "self.mode != 'off' || !has(self.groups)",
                    "reason": "FieldValueForbidden",
                    "message": "no groups when off",
                },
            ],
            "properties": {
                "mode": {
                    "type": "string",
                    "x-kubernetes-validations": [
                        {"rule": "self == oldSelf", "message": "mode is immutable"}
                    ],
                },
                "replicas": {"type": "integer"},
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "x-kubernetes-validations": [{"rule": "self.min <= self.max"}],
                        "properties": {
                            "name": {"type": "string"},
                            "min": {"type": "integer"},
                            "max": {"type": "integer"},
                        },
                    },
                },
            },
        }
    },
}


def obj(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": spec,
    }


def test_passing_rules_give_no_causes() -> None:
    """An object satisfying every rule validates cleanly."""
    assert validate(SCHEMA, obj(mode="on", groups=[{"name": "a", "min": 1, "max": 2}])) == []


def test_failed_rules_report_schema_type_message_and_field_path() -> None:
    """A failed rule is `Invalid value: "<type>": <message>` at the node, plus its fieldPath."""
    groups = [{"name": "a", "min": 3, "max": 2}, {"name": "a", "min": 1, "max": 1}]
    assert validate(SCHEMA, obj(mode="on", groups=groups)) == [
        Cause(
            "FieldValueInvalid",
            "spec.groups",
            'Invalid value: "object": group names must be unique',
        ),
        Cause(
            "FieldValueInvalid",
            "spec.groups[0]",
            'Invalid value: "object": failed rule: self.min <= self.max',
        ),
    ]


def test_reason_changes_the_cause_type() -> None:
    """`reason: FieldValueForbidden` reports Forbidden with the rule's message."""
    assert validate(SCHEMA, obj(mode="off", groups=[])) == [
        Cause("FieldValueForbidden", "spec", "Forbidden: no groups when off")
    ]


def test_transition_rules_run_only_on_updates() -> None:
    """`oldSelf` rules are skipped on create and compare with the stored object on update."""
    assert validate(SCHEMA, obj(mode="on")) == []
    assert validate(SCHEMA, obj(mode="on"), old=obj(mode="on")) == []
    assert validate(SCHEMA, obj(mode="fast"), old=obj(mode="on")) == [
        Cause("FieldValueInvalid", "spec.mode", 'Invalid value: "string": mode is immutable')
    ]


def test_blocking_schema_errors_skip_the_rules() -> None:
    """With a type error the rules are not run, and the server says so in an extra cause."""
    causes = validate(SCHEMA, obj(replicas="x", groups=[{"name": "a", "min": 3, "max": 2}]))
    assert [c.type for c in causes] == ["FieldValueTypeInvalid", "FieldValueInvalid"]
    assert str(causes[1]) == (
        '<nil>: Invalid value: "null": some validation rules were not checked because the object '
        "was invalid; correct the existing errors to complete validation"
    )


def test_rules_cel_python_cannot_evaluate_are_skipped() -> None:
    """Kubernetes-only functions and runtime errors never turn into false rejections."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [
                    {"rule": "quantity(self.size).isGreaterThan(quantity('1Gi'))"},
                    {"rule": "self.missing > 1"},
                ],
                "properties": {"size": {"type": "string"}},
            }
        },
    }
    assert validate(schema, obj(size="2Gi")) == []
