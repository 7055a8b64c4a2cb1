"""Serving custom resources from CustomResourceDefinitions (the apiextensions-apiserver part).

Creating a CRD serves its resource at every served version right away (the real server takes
a moment; clients poll the `Established` condition, which kubesim sets on create). The CRD gets
the `customresourcecleanup.apiextensions.k8s.io` finalizer; deleting it removes every instance
and then the CRD, after which the resource is no longer served.

Conversion between served versions uses the `None` strategy: only `apiVersion` changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubesim.apiserver.crds import printer_columns, served_versions, storage_version, validate_crd
from kubesim.apiserver.errors import Cause
from kubesim.apiserver.resources import ResourceInfo, ScalePaths

if TYPE_CHECKING:
    from kubesim.apiserver.cluster import Cluster

__all__ = ["CLEANUP_FINALIZER", "CrdRegistrar", "infos_for_crd"]

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def infos_for_crd(crd: dict[str, Any]) -> list[ResourceInfo]:
    """One ResourceInfo per served version, preferred version first."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
    storage = storage_version(crd)
    infos = []
    for version in served_versions(crd):
        sub = version.get("subresources") or {}
        subresources = {s for s in ("status", "scale") if s in sub}
        scale = None
        if "scale" in sub:
            spec_scale = sub["scale"] or {}
            scale = ScalePaths(
                spec_replicas=spec_scale.get("specReplicasPath", ".spec.replicas"),
                status_replicas=spec_scale.get("statusReplicasPath", ".status.replicas"),
                label_selector=spec_scale.get("labelSelectorPath"),
            )
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        infos.append(
            ResourceInfo(
                group=group,
                version=version["name"],
                kind=kind,
                plural=plural,
                singular=names.get("singular") or kind.lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                subresources=frozenset(subresources),
                categories=tuple(names.get("categories") or ()),
                custom=True,
                field_labels=tuple(
                    str(f.get("jsonPath", "")).lstrip(".")
                    for f in version.get("selectableFields") or []
                ),
                scale=scale,
                storage_version=storage or version["name"],
                extra={
                    "schema": schema,
                    "columns": printer_columns(crd, version["name"]),
                    "crd": crd["metadata"]["name"],
                },
            )
        )
    return infos


class CrdRegistrar:
    """Keeps the served resources of a `Cluster` in step with its CRDs."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        #: Called after the set of served resources changed (discovery, OpenAPI caches).
        self.on_change: list[Callable[[], None]] = []

    def validate(self, crd: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
        """KS-SCHEMA's CRD validation plus the name rule."""
        causes = [Cause(c.type, c.field, c.message) for c in validate_crd(crd)]
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
        name = crd["metadata"].get("name", "")
        if name != expected:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            )
        if not causes:
            infos = infos_for_crd(crd)
            if not infos:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        "spec.versions",
                        "Invalid value: []: must have exactly one version marked as storage version",
                    )
                )
            existing = (
                self._cluster.registry.get(spec.get("group", ""), infos[0].version, infos[0].plural)
                if infos
                else None
            )
            if existing is not None and not existing.custom:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        "spec.group",
                        f'Invalid value: "{spec.get("group")}": conflicts with a built-in resource',
                    )
                )
        return causes

    def prepare(self, crd: dict[str, Any]) -> None:
        """On create: the cleanup finalizer and an Established status."""
        meta = crd["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if CLEANUP_FINALIZER not in finalizers:
            meta["finalizers"] = [*finalizers, CLEANUP_FINALIZER]
        names = dict((crd.get("spec") or {}).get("names") or {})
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind', '')}List")
        now = self._cluster.now()
        crd["status"] = {
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
            "storedVersions": [storage_version(crd)],
        }

    def serve(self, crd: dict[str, Any]) -> None:
        """Serve (or re-serve after an update) every served version of the CRD."""
        if crd["metadata"].get("deletionTimestamp"):
            return
        infos = infos_for_crd(crd)
        if not infos:
            return
        first = infos[0]
        cluster = self._cluster
        cluster.registry.set_versions(first.group, first.plural, infos)
        storage = next((i for i in infos if i.version == i.storage_version), first)
        cluster.storage_infos[first.key] = storage
        cluster.engine.forget(first.group, first.plural)
        self._changed()

    def unserve(self, crd: dict[str, Any]) -> None:
        """Stop serving the CRD's resource (it was removed)."""
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        cluster = self._cluster
        cluster.registry.remove_resource(group, plural)
        cluster.engine.forget(group, plural)
        cluster.broadcaster.close_all((group, plural))
        self._changed()

    def cleanup(self, uid: str) -> None:
        """A CRD is being deleted: remove its instances, then the cleanup finalizer."""
        cluster = self._cluster
        found = cluster.by_uid(uid)
        if found is None:
            return
        crd_info, crd = found
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        info = cluster.storage_infos.get(key)
        if info is not None:
            for obj in list(cluster.iter_objects(info)):
                cluster.remove_now(info, obj)
        current = cluster.by_uid(uid)
        if current is None:
            return
        new = {**current[1], "metadata": {**current[1]["metadata"]}}
        new["metadata"]["finalizers"] = [
            f for f in new["metadata"].get("finalizers") or [] if f != CLEANUP_FINALIZER
        ]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        cluster.system_update(
            crd_info,
            current[1],
            new,
            user="system:apiextensions-apiserver",
            manager="kube-apiserver",
        )

    def _changed(self) -> None:
        for callback in list(self.on_change):
            callback()
