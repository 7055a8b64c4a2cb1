"""The RayCluster CRD, generated from the models: ``python -m controller.api.crd [--check]``.

Writes ``manifests/crd/ray.io_rayclusters.yaml``; ``--check`` only compares and exits 1 when the
file is stale (a test does the same, so models and CRD cannot drift).

One structural schema serves both versions (``v1`` served and stored, ``v1alpha1`` served, no
conversion): it is the union of KubeRay's v1 fields, the seed manifest's v1alpha1 fields and
rayop's additions, so an object written at either version reads back at the other with nothing
lost. Pod templates, Services, resources and env are ``x-kubernetes-preserve-unknown-fields``
objects rather than copies of the Kubernetes core schemas, which keeps the CRD a few hundred
lines instead of KubeRay's 17k; the API server still validates the pods rayop creates from them.

Schema defaults come from the models (fields marked ``crd_default``, values in
``controller.api.defaults``); CEL rules from ``x-kubernetes-validations`` on the models.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any, Final

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from controller.api.constants import (
    GROUP,
    KIND,
    LIST_KIND,
    PLURAL,
    SERVED_VERSIONS,
    SINGULAR,
    STORAGE_VERSION,
)
from controller.api.models import INT32_MAX, RayClusterSpec, RayClusterStatus

__all__ = ["CRD_PATH", "PRINTER_COLUMNS", "build_crd", "main", "render_crd"]

CRD_PATH: Final = (
    Path(__file__).resolve().parents[2] / "manifests" / "crd" / "ray.io_rayclusters.yaml"
)
_HEADER: Final = (
    "# The RayCluster CRD. Generated from controller/api/models.py by\n"
    "# `python -m controller.api.crd`; do not edit by hand.\n"
)

#: kubectl get rayclusters: KubeRay's columns (TPUs and the head's addresses with -o wide).
PRINTER_COLUMNS: Final[list[dict[str, Any]]] = [
    {"name": "desired workers", "type": "integer", "jsonPath": ".status.desiredWorkerReplicas"},
    {"name": "available workers", "type": "integer", "jsonPath": ".status.availableWorkerReplicas"},
    {"name": "cpus", "type": "string", "jsonPath": ".status.desiredCPU"},
    {"name": "memory", "type": "string", "jsonPath": ".status.desiredMemory"},
    {"name": "gpus", "type": "string", "jsonPath": ".status.desiredGPU"},
    {"name": "tpus", "type": "string", "jsonPath": ".status.desiredTPU", "priority": 1},
    {"name": "status", "type": "string", "jsonPath": ".status.state"},
    {"name": "age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "head pod IP", "type": "string", "jsonPath": ".status.head.podIP", "priority": 1},
    {
        "name": "head service IP",
        "type": "string",
        "jsonPath": ".status.head.serviceIP",
        "priority": 1,
    },
]


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a dict."""
    schema = {
        "description": "A Ray cluster: a head node and groups of worker nodes, run by rayop.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _model_schema(RayClusterSpec),
            "status": _model_schema(RayClusterStatus),
        },
        "required": ["spec"],
    }
    versions = [
        {
            "name": version,
            "served": True,
            "storage": version == STORAGE_VERSION,
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
            "additionalPrinterColumns": PRINTER_COLUMNS,
        }
        for version in SERVED_VERSIONS
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": LIST_KIND,
                "plural": PLURAL,
                "singular": SINGULAR,
                "categories": ["all"],
            },
            "scope": "Namespaced",
            "versions": versions,
        },
    }


def render_crd() -> str:
    """The CRD file's exact text."""

    class _Dumper(yaml.SafeDumper):
        # Repeated sub-schemas (one per version) are written out in full, not as YAML anchors:
        # some tools (and readers) do not follow aliases.
        def ignore_aliases(self, data: Any) -> bool:
            return True

    body = yaml.dump(build_crd(), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return _HEADER + body


# ------------------------------------------------------------------------------ schema walker
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        properties[alias] = _field_schema(info)
        if info.is_required():
            required.append(alias)
    schema: dict[str, Any] = {"type": "object"}
    if model.__doc__:
        schema["description"] = model.__doc__.strip().splitlines()[0]
    schema["properties"] = properties
    if required:
        schema["required"] = required
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict):
        schema.update(typing.cast(dict[str, Any], extra.get("crd", {})))
    return schema


def _field_schema(info: FieldInfo) -> dict[str, Any]:
    schema = dict(_type_schema(info.annotation))
    if info.description:
        # The field's own description wins over its model's (it says what the field is for).
        schema = {"description": info.description} | {
            key: value for key, value in schema.items() if key != "description"
        }
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.Ge):
            schema["minimum"] = constraint.ge
        elif isinstance(constraint, annotated_types.Gt):
            schema["minimum"] = constraint.gt
            schema["exclusiveMinimum"] = True
        elif isinstance(constraint, annotated_types.Le):
            schema["maximum"] = constraint.le
            if constraint.le == INT32_MAX and schema.get("type") == "integer":
                schema["format"] = "int32"
        elif isinstance(constraint, annotated_types.MaxLen):
            key = "maxItems" if schema.get("type") == "array" else "maxLength"
            schema[key] = constraint.max_length
    extra = info.json_schema_extra
    if isinstance(extra, dict):
        schema.update(typing.cast(dict[str, Any], extra.get("crd", {})))
        if extra.get("crd_default"):
            schema["default"] = _plain(info.get_default(call_default_factory=True))
    return schema


def _type_schema(annotation: Any) -> dict[str, Any]:
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        if any(_is_int_or_string(meta) for meta in args[1:]):
            return {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
        return _type_schema(args[0])
    if origin is typing.Literal:
        return {"type": "string", "enum": list(args)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_schema(annotation)
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict:
        if args[1] is str:
            return {"type": "object", "additionalProperties": {"type": "string"}}
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if annotation in simple:
        return {"type": simple[annotation]}
    raise TypeError(f"no CRD schema for {annotation!r}")


def _is_int_or_string(meta: object) -> bool:
    return (
        isinstance(meta, FieldInfo)
        and isinstance(meta.json_schema_extra, dict)
        and bool(meta.json_schema_extra.get("int_or_string"))
    )


def _strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return value


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the CRD file. Returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m controller.api.crd",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--check", action="store_true", help="fail if the file is not up to date")
    parser.add_argument("-o", "--output", type=Path, default=CRD_PATH, help="where to write it")
    args = parser.parse_args(argv)
    text = render_crd()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m controller.api.crd", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
