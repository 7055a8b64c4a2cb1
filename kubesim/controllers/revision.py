"""Revision hashes: StatefulSet ControllerRevisions and Deployment pod-template-hash.

StatefulSet (pkg/controller/history): the revision's data is the strategic-merge patch
`{"spec":{"template":{...,"$patch":"replace"}}}` encoded by Go's encoding/json (sorted keys,
compact, HTML characters escaped); its hash is FNV-1 (32-bit, *not* 1a) over those bytes followed
by the decimal collision count, printed in decimal and passed through `rand.SafeEncodeString`.
Given a template equal to what a real API server stores, the names match a real cluster.

Deployment: the real `pod-template-hash` is FNV-1a over a go-spew dump of the Go struct, which
cannot be reproduced from JSON. kubesim hashes the same canonical JSON with FNV-1a and the same
safe encoding instead: names have the real shape (`web-7d4b9c8f5`) and change exactly when the
template changes, but their values differ from a real cluster's.
"""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = [
    "HASH_LABEL",
    "REVISION_HASH_LABEL",
    "controller_revision_name",
    "fnv1_32",
    "fnv1a_32",
    "go_json",
    "go_template",
    "new_controller_revision",
    "pod_template_hash",
    "revision_hash",
    "safe_encode",
    "statefulset_patch",
]

# Label on StatefulSet pods: the name of the ControllerRevision they were made from.
REVISION_HASH_LABEL = "controller-revision-hash"
# Label on ControllerRevisions: the bare hash.
HASH_LABEL = "controller.kubernetes.io/hash"

_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1_32(data: bytes) -> int:
    """FNV-1, 32 bit (Go's hash/fnv New32)."""
    h = _FNV_OFFSET
    for byte in data:
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bit (Go's hash/fnv New32a)."""
    h = _FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """apimachinery rand.SafeEncodeString: map each byte onto an alphabet without vowels."""
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in text.encode())


def go_json(value: Any) -> bytes:
    """Go's json.Marshal of a map[string]interface{}: sorted keys, compact, HTML-safe."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode()


def go_template(template: dict[str, Any]) -> dict[str, Any]:
    """The template as Go's typed encoder writes it: struct fields that are never omitted
    (`metadata.creationTimestamp: null`, containers' `resources: {}`). Two templates that are
    equal this way are equal to Go, whichever of them a client sent with explicit nulls."""
    out = copy.deepcopy(template)
    metadata = out.setdefault("metadata", {})
    metadata.setdefault("creationTimestamp", None)
    spec = out.setdefault("spec", {})
    for list_name in ("initContainers", "containers"):
        for container in spec.get(list_name) or ():
            container.setdefault("resources", {})
    return out


def statefulset_patch(sts: dict[str, Any]) -> dict[str, Any]:
    """The data of a StatefulSet ControllerRevision (getPatch)."""
    template = go_template(sts["spec"]["template"])
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_hash(data: dict[str, Any], collision_count: int = 0) -> str:
    """HashControllerRevision(revision, &collisionCount)."""
    raw = go_json(data) + str(collision_count).encode()
    return safe_encode(str(fnv1_32(raw)))


def controller_revision_name(prefix: str, hash_: str) -> str:
    """`<prefix>-<hash>`, the prefix truncated so the name stays a 63-character label value."""
    room = 63 - len(hash_) - 1
    return f"{prefix[:room]}-{hash_}"


def new_controller_revision(
    sts: dict[str, Any], *, revision: int, collision_count: int = 0
) -> dict[str, Any]:
    """The ControllerRevision the StatefulSet controller creates for the set's current template."""
    data = statefulset_patch(sts)
    hash_ = revision_hash(data, collision_count)
    meta = sts["metadata"]
    labels = dict((sts["spec"]["template"].get("metadata") or {}).get("labels") or {})
    labels[HASH_LABEL] = hash_
    revision_meta: dict[str, Any] = {
        "name": controller_revision_name(meta["name"], hash_),
        "namespace": meta.get("namespace", "default"),
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if meta.get("annotations"):
        revision_meta["annotations"] = dict(meta["annotations"])
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": revision_meta,
        "data": data,
        "revision": revision,
    }


def pod_template_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    """A Deployment's `pod-template-hash` label value (see the module docstring on fidelity)."""
    raw = go_json(go_template(template))
    if collision_count is not None:
        raw += (collision_count & 0xFFFFFFFF).to_bytes(4, "little")
    return safe_encode(str(fnv1a_32(raw)))
