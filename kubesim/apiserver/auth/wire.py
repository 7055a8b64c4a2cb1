"""Protobuf bodies of the requests kubectl's `auth` and `create token` commands send.

kubectl sends these through typed clients, which encode protobuf (kubesim otherwise answers
protobuf bodies with 415). Their answers depend on a few fields only, so this reads the
protobuf wire format for those fields and nothing else: the `k8s\\0` envelope (`Unknown`: 1
typeMeta, 2 raw) and, inside the object (2 spec), SelfSubjectAccessReviewSpec (1
resourceAttributes: 1 namespace, 2 verb, 3 group, 4 version, 5 resource, 6 subresource, 7 name;
2 nonResourceAttributes: 1 path, 2 verb), SelfSubjectRulesReviewSpec (1 namespace) and
TokenRequestSpec (1 audiences, 3 boundObjectRef: 1 kind, 2 apiVersion, 3 name, 4 uid; 4
expirationSeconds) — field numbers as observed in kubectl v1.32's requests. Responses are JSON,
which kubectl accepts.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import errors

__all__ = ["decode_review"]

_MAGIC = b"k8s\x00"
_RESOURCE_ATTRIBUTES = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"}  # fmt: skip
_NON_RESOURCE = {1: "path", 2: "verb"}
_BOUND_REF = {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, varint value or length-delimited bytes), in order."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    return {
        names[n]: v.decode() for n, v in _fields(data) if n in names and isinstance(v, bytes) and v
    }


def _message(data: bytes, number: int) -> bytes | None:
    return next((v for n, v in _fields(data) if n == number and isinstance(v, bytes)), None)


def _spec(kind: str, spec: bytes) -> dict[str, Any]:
    if kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        out: dict[str, Any] = {}
        resource, non_resource = _message(spec, 1), _message(spec, 2)
        if resource is not None:
            out["resourceAttributes"] = _strings(resource, _RESOURCE_ATTRIBUTES)
        if non_resource is not None:
            out["nonResourceAttributes"] = _strings(non_resource, _NON_RESOURCE)
        return out
    if kind == "SelfSubjectRulesReview":
        return _strings(spec, {1: "namespace"})
    if kind == "TokenRequest":
        fields = _fields(spec)
        token: dict[str, Any] = {
            "audiences": [v.decode() for n, v in fields if n == 1 and isinstance(v, bytes)]
        }
        for number, value in fields:
            if number == 3 and isinstance(value, bytes):
                token["boundObjectRef"] = _strings(value, _BOUND_REF)
            elif number == 4 and isinstance(value, int):
                token["expirationSeconds"] = value
        return token
    return {}


def decode_review(raw: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf review or TokenRequest body (400 if it is not one)."""
    try:
        if not raw.startswith(_MAGIC):
            raise ValueError("no protobuf envelope")
        envelope = raw[len(_MAGIC) :]
        type_meta = _strings(_message(envelope, 1) or b"", {1: "apiVersion", 2: "kind"})
        obj = _message(envelope, 2) or b""
        kind = type_meta.get("kind", "")
        spec = _message(obj, 2)
        body: dict[str, Any] = {**type_meta}
        if spec is not None and kind != "SelfSubjectReview":
            body["spec"] = _spec(kind, spec)
        return body
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"cannot decode the protobuf body: {exc}")
