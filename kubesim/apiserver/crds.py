"""CustomResourceDefinition rules: validation, defaults, served versions, printer columns, conversion.

What the apiextensions API server checks before it serves a CRD (`apis/apiextensions/validation`):
name = `<plural>.<group>`, a dotted group, DNS-1035 names, a scope, unique version names with
exactly one storage version, a structural `openAPIV3Schema` for every version (a type on every
specified field, `object` at the root, nothing but name/generateName under root `metadata`),
well-formed printer columns and scale paths. Messages are worded like the real server's, with
its `properties[spec]` style paths. `crd_status` is what the server reports once it accepts a CRD
(NamesAccepted and Established), which `kubectl wait --for condition=established` reads.

Known gaps: CEL rules (`x-kubernetes-validations`) in a CRD are accepted without being compiled
or cost-checked (custom resources are checked against them when cel-python is installed, see
`kubesim.apiserver.structural.cel`); a `default` is not checked against its schema; conversion webhooks
are accepted but every version is converted with strategy None (only `apiVersion` changes).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubesim.apiserver.structural import Cause, go_quote, go_value
from kubesim.apiserver.tables import DEFAULT_CRD_COLUMNS

__all__ = [
    "convert_version",
    "crd_status",
    "default_crd",
    "has_status_subresource",
    "kube_version_key",
    "printer_columns",
    "scale_paths",
    "served_versions",
    "storage_version",
    "validate_crd",
    "validate_crd_update",
    "version_schema",
]

Obj = dict[str, Any]

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
_COLUMN_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64", "password")


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", path, f"Invalid value: {go_value(value)}: {detail}")


def _required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", path, "Required value" + (f": {detail}" if detail else ""))


def _unsupported(path: str, value: Any, allowed: tuple[str, ...]) -> Cause:
    supported = ", ".join(go_quote(a) for a in allowed)
    return Cause(
        "FieldValueNotSupported",
        path,
        f"Unsupported value: {go_value(value)}: supported values: {supported}",
    )


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _versions(crd: Obj) -> list[Obj]:
    versions = _dict(crd.get("spec")).get("versions")
    return [v for v in versions if isinstance(v, dict)] if isinstance(versions, list) else []


# ---------------------------------------------------------------- defaults and status


def default_crd(crd: Obj) -> Obj:
    """A copy with the server's CRD defaults: singular, listKind, conversion strategy None."""
    result = copy.deepcopy(crd)
    spec = result.setdefault("spec", {})
    if not isinstance(spec, dict):
        return result
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}
    return result


def crd_status(crd: Obj, *, now: str) -> Obj:
    """The status the server sets on an accepted CRD: names accepted, established, stored versions."""
    names = copy.deepcopy(_dict(_dict(crd.get("spec")).get("names")))
    previous = _dict(crd.get("status")).get("storedVersions")
    stored = list(previous) if isinstance(previous, list) else []
    current = storage_version(crd)
    if current and current not in stored:
        stored.append(current)
    return {
        "acceptedNames": names,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "lastTransitionTime": now,
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                "type": "Established",
                "status": "True",
                "lastTransitionTime": now,
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": stored,
    }


# ---------------------------------------------------------------- versions


def kube_version_key(version: str) -> tuple[int, int, int, str]:
    """Sort key for Kubernetes version names: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others (by name)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0, version)
    major = int(match[1])
    stage = {"alpha": 2, "beta": 1}.get(match[2] or "", 0)
    minor = int(match[3] or 0)
    return (stage, -major, -minor, "")


def served_versions(crd: Obj) -> list[Obj]:
    """The served entries of `spec.versions`, preferred (discovery) order first."""
    served = [
        v for v in _versions(crd) if v.get("served") is True and isinstance(v.get("name"), str)
    ]
    return sorted(served, key=lambda v: kube_version_key(v["name"]))


def storage_version(crd: Obj) -> str:
    """The name of the version objects are stored at ("" when none is marked)."""
    for version in _versions(crd):
        if version.get("storage") is True:
            return str(version.get("name", ""))
    return ""


def _version(crd: Obj, name: str) -> Obj:
    return next((v for v in _versions(crd) if v.get("name") == name), {})


def version_schema(crd: Obj, version: str) -> Obj | None:
    """The openAPIV3Schema of `version` (None when the version or its schema is missing)."""
    schema = _dict(_dict(_version(crd, version).get("schema")).get("openAPIV3Schema"))
    return schema or None


def printer_columns(crd: Obj, version: str) -> list[Obj]:
    """`version`'s additionalPrinterColumns, or the default Age column when it declares none."""
    columns = _version(crd, version).get("additionalPrinterColumns")
    if isinstance(columns, list) and columns:
        return [dict(c) for c in columns if isinstance(c, dict)]
    return [dict(c) for c in DEFAULT_CRD_COLUMNS]


def has_status_subresource(crd: Obj, version: str) -> bool:
    """Whether `version` serves /status (which splits status from the main resource)."""
    return "status" in _dict(_version(crd, version).get("subresources"))


def scale_paths(crd: Obj, version: str) -> Obj | None:
    """`version`'s scale subresource (specReplicasPath, statusReplicasPath, labelSelectorPath) or None."""
    scale = _dict(_version(crd, version).get("subresources")).get("scale")
    return dict(scale) if isinstance(scale, dict) else None


def convert_version(obj: Obj, api_version: str) -> Obj:
    """Conversion strategy None: a copy whose only change is `apiVersion`."""
    result = copy.deepcopy(obj)
    result["apiVersion"] = api_version
    return result


# ---------------------------------------------------------------- validation


def validate_crd(crd: Obj) -> list[Cause]:
    """Every reason the real server would reject this CustomResourceDefinition (empty: valid).

    The server validates the defaulted object, so `default_crd` is applied first (a missing
    listKind or singular is not an error). The name rule (`<plural>.<group>`) is included."""
    causes: list[Cause] = []
    crd = default_crd(crd)
    spec = _dict(crd.get("spec"))
    group = spec.get("group")
    names = _dict(spec.get("names"))
    causes += _validate_name(crd, group, names)
    if not group:
        causes.append(_required("spec.group"))
    elif not isinstance(group, str) or not _DNS1123_SUBDOMAIN.match(group):
        causes.append(_invalid("spec.group", group, _DNS1123_SUBDOMAIN_MSG))
    elif "." not in group:
        causes.append(_invalid("spec.group", group, "should be a domain with at least one dot"))
    causes += _validate_names(names)
    scope = spec.get("scope")
    if not scope:
        causes.append(_required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        causes.append(_unsupported("spec.scope", scope, ("Cluster", "Namespaced")))
    causes += _validate_versions(spec)
    conversion = _dict(spec.get("conversion"))
    strategy = conversion.get("strategy")
    if strategy not in ("None", "Webhook"):
        causes.append(_unsupported("spec.conversion.strategy", strategy, ("None", "Webhook")))
    return causes


def validate_crd_update(crd: Obj, old: Obj) -> list[Cause]:
    """`validate_crd` plus the update rules: group and plural never change (they name the
    storage); scope and kind cannot change once the CRD is established."""
    causes = validate_crd(crd)
    new_spec, old_spec = _dict(crd.get("spec")), _dict(old.get("spec"))
    new_names, old_names = _dict(new_spec.get("names")), _dict(old_spec.get("names"))
    established = any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in _list(_dict(old.get("status")).get("conditions"))
        if isinstance(c, dict)
    )
    checks = [
        ("spec.group", new_spec.get("group"), old_spec.get("group")),
        ("spec.names.plural", new_names.get("plural"), old_names.get("plural")),
    ]
    if established:
        checks += [
            ("spec.scope", new_spec.get("scope"), old_spec.get("scope")),
            ("spec.names.kind", new_names.get("kind"), old_names.get("kind")),
        ]
    for path, new, previous in checks:
        if new != previous:
            causes.append(_invalid(path, new, "field is immutable"))
    return causes


def _validate_name(crd: Obj, group: Any, names: Obj) -> list[Cause]:
    name = _dict(crd.get("metadata")).get("name")
    expected = f"{names.get('plural')}.{group}"
    if not name:
        return [_required("metadata.name", "name or generateName is required")]
    if name != expected:
        return [_invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group')]
    return []


def _validate_names(names: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("plural", "singular", "kind", "listKind"):
        value = names.get(key)
        path = f"spec.names.{key}"
        if key in ("plural", "kind", "listKind") and not value:
            causes.append(_required(path))
            continue
        if not value:
            continue
        checked = value.lower() if key in ("kind", "listKind") and isinstance(value, str) else value
        if not isinstance(checked, str) or not _DNS1035.match(checked):
            causes.append(_invalid(path, value, _DNS1035_MSG))
    for key in ("shortNames", "categories"):
        for index, item in enumerate(_list(names.get(key))):
            if not isinstance(item, str) or not _DNS1035.match(item):
                causes.append(_invalid(f"spec.names.{key}[{index}]", item, _DNS1035_MSG))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        causes.append(
            _invalid(
                "spec.names.listKind", names["listKind"], "kind and listKind may not be the same"
            )
        )
    return causes


def _validate_versions(spec: Obj) -> list[Cause]:
    versions = _versions({"spec": spec})
    if not versions:
        return [
            _required("spec.versions", "must have exactly one version marked as storage version")
        ]
    causes: list[Cause] = []
    seen: set[str] = set()
    for index, version in enumerate(versions):
        path = f"spec.versions[{index}]"
        name = version.get("name")
        if not isinstance(name, str) or not _DNS1035.match(name):
            causes.append(_invalid(f"{path}.name", name, _DNS1035_MSG))
        elif name in seen:
            causes.append(_invalid("spec.versions", name, "must contain unique version names"))
        seen.add(str(name))
        schema = _dict(version.get("schema")).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            causes.append(_required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
        else:
            causes += _structural(schema, f"{path}.schema.openAPIV3Schema", root=True)
        causes += _validate_columns(version, path)
        causes += _validate_scale(version, path)
    if sum(1 for v in versions if v.get("storage") is True) != 1:
        causes.append(
            _invalid(
                "spec.versions",
                [v.get("name") for v in versions],
                "must have exactly one version marked as storage version",
            )
        )
    if not any(v.get("served") is True for v in versions):
        causes.append(
            _invalid(
                "spec.versions",
                [v.get("name") for v in versions],
                "must have at least one served version",
            )
        )
    return causes


def _typeless_ok(schema: Obj) -> bool:
    """Int-or-string and preserve-unknown-fields nodes may omit `type`."""
    return bool(
        schema.get("x-kubernetes-int-or-string")
        or schema.get("x-kubernetes-preserve-unknown-fields")
    )


def _structural(schema: Obj, path: str, *, root: bool = False) -> list[Cause]:
    """The structural-schema rules that matter: types everywhere, object root, bare metadata."""
    causes: list[Cause] = []
    declared = schema.get("type")
    if root:
        if not declared:
            causes.append(_required(f"{path}.type", "must not be empty at the root"))
        elif declared != "object":
            causes.append(_invalid(f"{path}.type", declared, "must be object at the root"))
        metadata = _dict(_dict(schema.get("properties")).get("metadata"))
        extra = set(_dict(metadata.get("properties"))) - {"name", "generateName"}
        if extra or set(metadata) - {"type", "properties"}:
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    f"{path}.properties[metadata]",
                    "Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
                )
            )
    for key, sub in _dict(schema.get("properties")).items():
        sub_path = f"{path}.properties[{key}]"
        if not isinstance(sub, dict):
            continue
        if not sub.get("type") and not _typeless_ok(sub):
            causes.append(
                _required(f"{sub_path}.type", "must not be empty for specified object fields")
            )
        if not (root and key == "metadata"):
            causes += _structural(sub, sub_path)
    if declared == "array" or "items" in schema:
        items = schema.get("items")
        if not isinstance(items, dict):
            if declared == "array":
                causes.append(_required(f"{path}.items", "must be specified"))
        else:
            if not items.get("type") and not _typeless_ok(items):
                causes.append(
                    _required(f"{path}.items.type", "must not be empty for specified array items")
                )
            causes += _structural(items, f"{path}.items")
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        if schema.get("properties"):
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    f"{path}.additionalProperties",
                    "Forbidden: additionalProperties and properties are mutual exclusive",
                )
            )
        causes += _structural(additional, f"{path}.additionalProperties")
    if declared and declared not in ("object", "array", "string", "integer", "number", "boolean"):
        causes.append(
            _unsupported(
                f"{path}.type",
                declared,
                ("array", "boolean", "integer", "number", "object", "string"),
            )
        )
    return causes


def _validate_columns(version: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    columns = version.get("additionalPrinterColumns") or []
    for index, column in enumerate(columns if isinstance(columns, list) else []):
        col_path = f"{path}.additionalPrinterColumns[{index}]"
        column = _dict(column)
        if not column.get("name"):
            causes.append(_required(f"{col_path}.name"))
        kind = column.get("type")
        if not kind:
            causes.append(_required(f"{col_path}.type"))
        elif kind not in _COLUMN_TYPES:
            causes.append(_unsupported(f"{col_path}.type", kind, _COLUMN_TYPES))
        fmt = column.get("format")
        if fmt and fmt not in _COLUMN_FORMATS:
            causes.append(_unsupported(f"{col_path}.format", fmt, _COLUMN_FORMATS))
        json_path = column.get("jsonPath")
        if not json_path:
            causes.append(_required(f"{col_path}.jsonPath"))
        elif not isinstance(json_path, str) or not json_path.startswith("."):
            causes.append(
                _invalid(
                    f"{col_path}.jsonPath", json_path, "must be a simple json path starting with ."
                )
            )
    return causes


def _validate_scale(version: Obj, path: str) -> list[Cause]:
    scale = _dict(version.get("subresources")).get("scale")
    if not isinstance(scale, dict):
        return []
    causes: list[Cause] = []
    scale_path = f"{path}.subresources.scale"
    for key, prefix in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = scale.get(key)
        if not value:
            causes.append(_required(f"{scale_path}.{key}"))
        elif not isinstance(value, str) or not value.startswith(prefix):
            causes.append(
                _invalid(
                    f"{scale_path}.{key}",
                    value,
                    f"should be a json path under {prefix.rstrip('.')}",
                )
            )
    selector = scale.get("labelSelectorPath")
    if selector and (
        not isinstance(selector, str) or not selector.startswith((".spec.", ".status."))
    ):
        causes.append(
            _invalid(
                f"{scale_path}.labelSelectorPath",
                selector,
                "should be a json path under either .spec or .status",
            )
        )
    return causes
