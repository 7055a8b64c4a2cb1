"""Object-metadata checks every resource shares (`apimachinery/pkg/api/validation`).

Two kinds of failure, as on the real server:

* decode errors (a field has the wrong JSON type): 400 BadRequest,
  `Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal ...`;
* validation errors (a value is not allowed): `Cause`s that become one 422 Invalid.
"""

from __future__ import annotations

import re
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.errors import Cause, StatusError, bad_request
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.structural import go_quote

__all__ = [
    "check_kind",
    "check_metadata_types",
    "check_namespace",
    "validate_labels",
    "validate_name",
    "validate_object_meta",
]

_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_QUALIFIED_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)

# Resources whose names are DNS labels (namespaces) or DNS-1035 labels (services); the
# rest use RFC 1123 subdomains, except RBAC and a few others that accept path segments.
_NAME_RULES: dict[tuple[str, str], str] = {
    ("", "namespaces"): "label",
    ("", "services"): "dns1035",
    ("rbac.authorization.k8s.io", "roles"): "segment",
    ("rbac.authorization.k8s.io", "rolebindings"): "segment",
    ("rbac.authorization.k8s.io", "clusterroles"): "segment",
    ("rbac.authorization.k8s.io", "clusterrolebindings"): "segment",
}

_GO_TYPES = {
    str: "string",
    int: "number",
    float: "number",
    bool: "bool",
    list: "array",
    dict: "object",
}


def _invalid(field: str, value: Any, detail: str) -> Cause:
    shown = go_quote(value) if isinstance(value, str) else repr(value)
    return Cause("FieldValueInvalid", field, f"Invalid value: {shown}: {detail}")


def name_problems(rule: str, name: str) -> list[str]:
    """Why `name` is not a valid name under `rule` (empty when valid)."""
    if rule == "segment":
        if name in (".", ".."):
            return [f"may not be {go_quote(name)}"]
        return [f"may not contain {go_quote(c)}" for c in ("/", "%") if c in name]
    limit, pattern, message = {
        "label": (63, _LABEL_RE, _LABEL_MSG),
        "dns1035": (63, _DNS1035_RE, _DNS1035_MSG),
    }.get(rule, (253, _SUBDOMAIN_RE, _SUBDOMAIN_MSG))
    problems = []
    if len(name) > limit:
        problems.append(f"must be no more than {limit} characters")
    if not pattern.match(name):
        problems.append(message)
    return problems


def validate_name(info: ResourceInfo, name: str, field: str = "metadata.name") -> list[Cause]:
    """Causes for an invalid object name of `info`'s resource."""
    rule = _NAME_RULES.get((info.group, info.plural), "subdomain")
    return [_invalid(field, name, p) for p in name_problems(rule, name)]


def validate_labels(labels: dict[str, str], field: str) -> list[Cause]:
    """Label keys must be qualified names and values valid label values."""
    causes = []
    for key, value in labels.items():
        causes.extend(_qualified_name(key, field))
        if len(value) > 63:
            causes.append(_invalid(field, value, "must be no more than 63 characters"))
        elif not _LABEL_VALUE_RE.match(value):
            causes.append(_invalid(field, value, _LABEL_VALUE_MSG))
    return causes


def _qualified_name(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    causes = []
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN_RE.match(prefix)):
        causes.append(_invalid(field, key, "prefix part " + _SUBDOMAIN_MSG))
    if not name:
        causes.append(_invalid(field, key, "name part must be non-empty"))
    elif len(name) > 63:
        causes.append(_invalid(field, key, "name part must be no more than 63 characters"))
    elif not _QUALIFIED_NAME_RE.match(name):
        causes.append(_invalid(field, key, _QUALIFIED_MSG))
    return causes


def validate_object_meta(info: ResourceInfo, meta: dict[str, Any]) -> list[Cause]:
    """Name, labels, annotations and owner references of an object about to be stored."""
    causes: list[Cause] = []
    name = meta.get("name") or ""
    if not name:
        causes.append(
            Cause(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        )
    else:
        causes.extend(validate_name(info, name))
    causes.extend(validate_labels(meta.get("labels") or {}, "metadata.labels"))
    for key in meta.get("annotations") or {}:
        causes.extend(_qualified_name(key, "metadata.annotations"))
    size = sum(len(k) + len(v) for k, v in (meta.get("annotations") or {}).items())
    if size > 256 * 1024:
        causes.append(
            Cause(
                "FieldValueTooLong",
                "metadata.annotations",
                "Too long: must have at most 262144 bytes",
            )
        )
    controllers = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
    if len(controllers) > 1:
        causes.append(
            _invalid(
                "metadata.ownerReferences",
                controllers,
                "Only one reference can have Controller set to true",
            )
        )
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for req in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(req):
                causes.append(
                    Cause(
                        "FieldValueRequired" if req != "uid" else "FieldValueInvalid",
                        f"metadata.ownerReferences[{i}].{req}",
                        "Required value"
                        if req != "uid"
                        else 'Invalid value: "": uid must not be empty',
                    )
                )
    return causes


def _decode_error(info: ResourceInfo, detail: str) -> StatusError:
    return bad_request(
        f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: {detail}'
    )


def _unmarshal(info: ResourceInfo, value: Any, go_field: str, go_type: str) -> StatusError:
    got = _GO_TYPES.get(type(value), "value")
    return _decode_error(
        info, f"json: cannot unmarshal {got} into Go struct field {go_field} of type {go_type}"
    )


def check_metadata_types(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """Raise the real server's 400 decode error when metadata has wrong JSON types.

    Returns `obj["metadata"]` (created empty when absent)."""
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise _unmarshal(info, meta, f"{info.kind}.metadata", "v1.ObjectMeta")
    for key in ("name", "generateName", "namespace", "resourceVersion", "uid"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise _unmarshal(info, meta[key], f"ObjectMeta.metadata.{key}", "string")
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _unmarshal(info, value, f"ObjectMeta.metadata.{key}", "map[string]string")
        for item in value.values():
            if not isinstance(item, str):
                raise _unmarshal(info, item, f"ObjectMeta.metadata.{key}", "string")
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        raise _unmarshal(info, finalizers, "ObjectMeta.metadata.finalizers", "[]string")
    refs = meta.get("ownerReferences")
    if refs is not None and (
        not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs)
    ):
        raise _unmarshal(info, refs, "ObjectMeta.metadata.ownerReferences", "[]v1.OwnerReference")
    return meta


def check_kind(info: ResourceInfo, obj: dict[str, Any]) -> None:
    """400 when a body's apiVersion or kind is not the endpoint's (CRs: any version of the group)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if (
        api_version
        and api_version != info.api_version
        and not (info.custom and str(api_version).startswith(info.group + "/"))
    ):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({info.api_version})"
        )
    if kind and kind != info.kind:
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({info.kind})"
        )


def check_namespace(info: ResourceInfo, namespace: str, meta: dict[str, Any]) -> None:
    """Fill in the request's namespace (400 on a mismatch); cluster-scoped objects have none."""
    if not info.namespaced:
        meta.pop("namespace", None)
        return
    body_ns = meta.get("namespace")
    if body_ns and namespace and body_ns != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if not namespace and not body_ns:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = namespace or body_ns
