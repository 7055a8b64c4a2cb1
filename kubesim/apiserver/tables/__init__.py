"""`meta.k8s.io/v1` Table responses for `kubectl get`, built the way the real server builds them.

kubectl asks for a Table (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) and prints
its cells verbatim, so the columns, cell types and wording here are those of the upstream printers
(`pkg/printers/internalversion/printers.go`, generated wide: columns with priority > 0 are what
`-o wide` adds). Custom resources use their CRD's `additionalPrinterColumns`, evaluated by a small
JSONPath (`.a.b`, `[0]`, `[*]`, `['k']`, `[?(@.type=="Ready")]`) and formatted by column type like
apiextensions' table convertor (date columns become ages). Every other kind gets the server's
default `Name`/`Created At` table.

Ages are `duration.HumanDuration` of `now - timestamp` (`5s`, `3m2s`, `2d`); `now` is passed in.
"""

from __future__ import annotations

import datetime
from typing import Any

from kubesim.apiserver.tables.cluster import PRINTERS, Printer, pod_conditions
from kubesim.apiserver.tables.fields import (
    CREATED_DOC,
    NAME_COLUMN,
    Column,
    Obj,
    Row,
    age,
    at,
    column,
    human_duration,
    parse_time,
    str_at,
)
from kubesim.apiserver.tables.groups import GROUP_PRINTERS
from kubesim.apiserver.tables.jsonpath import jsonpath_find, jsonpath_text

__all__ = [
    "DEFAULT_CRD_COLUMNS",
    "age",
    "human_duration",
    "jsonpath_find",
    "to_table",
]

#: What a CRD version without additionalPrinterColumns shows besides its name.
DEFAULT_CRD_COLUMNS: tuple[Column, ...] = (
    {
        "name": "Age",
        "type": "date",
        "description": CREATED_DOC,
        "jsonPath": ".metadata.creationTimestamp",
    },
)


def _crd_cell(spec: Column, obj: Obj, now: str) -> Any:
    """One additionalPrinterColumn's cell, typed like apiextensions' `cellForJSONValue`."""
    found = jsonpath_find(obj, str(spec.get("jsonPath", "")))
    if not found or found[0] is None:
        return None
    value, kind = found[0], spec.get("type", "string")
    if kind == "string":
        return jsonpath_text(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return age(value, now) if parse_time(value) else "<invalid>"
    return None


def _crd_printer(columns: list[Column]) -> Printer:
    columns = columns or list(DEFAULT_CRD_COLUMNS)
    definitions = [{**NAME_COLUMN}]
    for spec in columns:
        path = spec.get("jsonPath", "")
        definitions.append(
            {
                "name": spec.get("name", ""),
                "type": spec.get("type", "string"),
                "format": spec.get("format", ""),
                "description": spec.get("description")
                or f"Custom resource definition column (in JSONPath format): {path}",
                "priority": spec.get("priority", 0),
            }
        )

    def row(obj: Obj, now: str) -> Row:
        return [str_at(obj, "metadata", "name"), *(_crd_cell(c, obj, now) for c in columns)]

    return definitions, row


def _default_printer() -> Printer:
    columns = [{**NAME_COLUMN}, {**column("Created At", "date", CREATED_DOC)}]

    def row(obj: Obj, now: str) -> Row:
        created = parse_time(at(obj, "metadata", "creationTimestamp"))
        stamp = (
            created.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if created
            else "0001-01-01T00:00:00Z"
        )
        return [str_at(obj, "metadata", "name"), stamp]

    return columns, row


# ---------------------------------------------------------------- the Table


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    # The metadata is shared, not copied: the Table is serialized at once and never mutated.
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    kind_info: Any,
    objects: list[Obj],
    *,
    now: str,
    include_object: str = "Metadata",
    crd_columns: list[Column] | None = None,
    include_headers: bool = True,
    resource_version: str | None = None,
    continue_token: str | None = None,
    remaining_item_count: int | None = None,
) -> Obj:
    """Render `objects` as a `meta.k8s.io/v1` Table.

    `kind_info` is anything with `group` and `kind` attributes (a ResourceInfo); custom resources
    pass their version's `crd_columns` (from `kubesim.apiserver.crds.printer_columns`; empty means the
    default Age column). `include_object` is the `includeObject` query parameter (`Metadata`,
    `Object`, `None`); `include_headers=False` is a watch event after the first, which carries no
    columnDefinitions. Cells are computed wide: kubectl hides priority > 0 columns itself. Rows
    share the objects' metadata (and, for `Object`, the objects): serialize, never mutate."""
    group = str(getattr(kind_info, "group", "") or "")
    kind = str(getattr(kind_info, "kind", kind_info if isinstance(kind_info, str) else ""))
    if crd_columns is not None:
        columns, make_row = _crd_printer(list(crd_columns))
    else:
        columns, make_row = (
            PRINTERS.get((group, kind)) or GROUP_PRINTERS.get((group, kind)) or _default_printer()
        )
    rows = []
    for obj in objects:
        row: Obj = {"cells": make_row(obj, now)}
        if (group, kind) == ("", "Pod") and crd_columns is None:
            conditions = pod_conditions(obj)
            if conditions:
                row["conditions"] = conditions
        row["object"] = _row_object(obj, include_object)
        rows.append(row)
    metadata: Obj = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in columns] if include_headers else None,
        "rows": rows,
    }
