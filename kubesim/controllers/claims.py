"""PersistentVolumeClaims of StatefulSets: creation from volumeClaimTemplates, and retention.

Claims are `<template>-<set>-<ordinal>`, labelled with the template's labels plus the set's
matchLabels, and are Bound at once (kubesim plays the dynamic provisioner).
`persistentVolumeClaimRetentionPolicy` is carried out the way upstream does it, through owner
references: `whenDeleted: Delete` makes the set an owner; `whenScaled: Delete` adds the condemned
pod as an owner before the pod is deleted. Kubesim's garbage collector does the rest.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.common.api import StatusError
from kubesim.common.podutil import ObjectKey, owner_reference
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller

__all__ = ["ClaimManager", "claim_name"]


def claim_name(template: dict[str, Any], set_name: str, ordinal: int) -> str:
    """The name of the claim for `template` and pod `<set>-<ordinal>`."""
    return f"{template['metadata']['name']}-{set_name}-{ordinal}"


class ClaimManager:
    """Writes a StatefulSet's claims on behalf of its controller."""

    def __init__(self, claims: Cache, controller: Controller) -> None:
        self.claims = claims
        self._ctrl = controller

    def create_for(self, sts: dict[str, Any], pod: dict[str, Any]) -> None:
        """Create (and bind) the claims of `pod` that do not exist yet; PVCs come before pods."""
        set_name = sts["metadata"]["name"]
        namespace = sts["metadata"]["namespace"]
        ordinal = int(pod["metadata"]["name"].rsplit("-", 1)[1])
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        selector_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or ():
            name = claim_name(template, set_name, ordinal)
            if self.claims.get(ObjectKey(namespace, name)) is not None:
                continue
            labels = {**((template.get("metadata") or {}).get("labels") or {}), **selector_labels}
            claim: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            if (template.get("metadata") or {}).get("annotations"):
                claim["metadata"]["annotations"] = dict(template["metadata"]["annotations"])
            if policy.get("whenDeleted") == "Delete":
                claim["metadata"]["ownerReferences"] = [
                    owner_reference(sts, kind="StatefulSet", api_version="apps/v1")
                ]
            try:
                created = self._ctrl.cluster.create(
                    self.claims.resource, namespace, claim, user=self._ctrl.user, owned=True
                )
            except StatusError as exc:
                if exc.code == 409:
                    continue
                self._ctrl.events.warning(
                    sts,
                    "FailedCreate",
                    f"create Claim {name} for Pod {pod['metadata']['name']} in StatefulSet {set_name} failed error: {exc}",
                )
                raise
            self._ctrl.events.normal(
                sts,
                "SuccessfulCreate",
                f"create Claim {name} Pod {pod['metadata']['name']} in StatefulSet {set_name} success",
            )
            self._bind(created)

    def _bind(self, claim: dict[str, Any]) -> None:
        """Play the dynamic provisioner: the claim is Bound at the size it asked for."""
        spec = claim.get("spec") or {}
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        status = {
            "phase": "Bound",
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": storage},
        }
        self._ctrl.write_status(self.claims.resource, claim, status)

    def apply_retention(
        self, sts: dict[str, Any], condemned: list[tuple[int, dict[str, Any]]]
    ) -> None:
        """whenScaled: Delete — claims of condemned pods get the pod as owner, so GC follows it."""
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete" or not condemned:
            return
        namespace = sts["metadata"]["namespace"]
        for ordinal, pod in condemned:
            for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or ():
                claim = self.claims.get(
                    ObjectKey(namespace, claim_name(template, sts["metadata"]["name"], ordinal))
                )
                if claim is None:
                    continue
                refs = list(claim["metadata"].get("ownerReferences") or ())
                if any(r.get("uid") == pod["metadata"]["uid"] for r in refs):
                    continue
                refs.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": pod["metadata"]["name"],
                        "uid": pod["metadata"]["uid"],
                    }
                )
                body = {**claim, "metadata": {**claim["metadata"], "ownerReferences": refs}}
                try:
                    self._ctrl.cluster.update(
                        self.claims.resource,
                        namespace,
                        claim["metadata"]["name"],
                        body,
                        user=self._ctrl.user,
                    )
                except StatusError as exc:
                    if exc.code not in (404, 409):
                        raise
