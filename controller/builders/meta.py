"""Object metadata every child carries: name, namespace, labels, and the owner reference.

The controller ownerReference (``controller: true``, ``blockOwnerDeletion: true``) is what makes
deleting a RayCluster garbage-collect everything it became, and what tells rayop which
RayCluster to reconcile when a child changes. It needs the RayCluster's uid, which only the API
server knows: `rayop render` builds from a manifest that has none, so its objects carry no
ownerReference (they could not point at anything real).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from controller.api.constants import API_VERSION, KIND
from controller.builders.canonical import prune
from controller.builders.labels import object_labels

__all__ = ["Owner", "object_meta", "owned_object"]


class Owner(NamedTuple):
    """The RayCluster a child belongs to."""

    name: str
    namespace: str
    uid: str | None


def object_meta(
    owner: Owner,
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Metadata of a child named `name`: rayop's labels plus `labels`, and the owner reference."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": {**object_labels(owner.name), **(labels or {})},
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owner.uid:
        metadata["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return metadata


def owned_object(
    api_version: str, kind: str, metadata: dict[str, Any], **body: Any
) -> dict[str, Any]:
    """A complete object for server-side apply: apiVersion, kind, metadata, then `body`.

    The result shares nothing with its inputs (the model's raw dicts stay untouched) and is in
    the server's stored form (`controller.builders.canonical.prune`).
    """
    obj: dict[str, Any] = prune(
        {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
    )
    return obj
