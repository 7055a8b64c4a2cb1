"""Delete verbs (§6.1): preconditions, graceful pods, finalizers, propagation, response forms.

`Deletion` is the delete half of `Cluster`'s verbs, over its `Store`:

* a pod with a grace period (and a kubelet to finish it) gets `deletionTimestamp = now + grace`
  and stays; grace is 0 when the pod is unscheduled, finished, or no kubelet runs;
* finalizers (including the GC's `foregroundDeletion` and `orphan`, added per
  `propagationPolicy`) keep the object, marked with `deletionTimestamp`, until removed;
* otherwise the object goes at once, and DELETE answers with it (pods, serviceaccounts) or with
  a `Success` Status naming the resource;
* a namespace turns Terminating; the namespace controller in `kubesim.apiserver.gc` empties and removes it.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.errors import Cause, StatusError
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.store import INITIAL_NAMESPACES, Store, rfc3339
from kubesim.apiserver.watch import DELETED, MODIFIED

__all__ = ["Deletion"]


class Deletion:
    """`delete` and `delete_collection` with kube-apiserver's semantics."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def delete(
        self,
        res: ResourceInfo | str,
        namespace: str | None,
        name: str,
        *,
        user: str = "kubesim",
        user_agent: str = "",
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE: the removed object (pods), the terminating object, or a Success Status."""
        info = self._store.info_of(res)
        try:
            result = self._delete(
                info,
                namespace or "",
                name,
                propagation=propagation_policy,
                grace=grace_period_seconds,
                preconditions=preconditions,
                dry_run=dry_run,
            )
        except StatusError as exc:
            self._store.audit_request(
                "delete", info, namespace, name, exc.code, user=user, user_agent=user_agent
            )
            raise
        self._store.audit_request(
            "delete", info, namespace, name, 200, user=user, user_agent=user_agent
        )
        return result if result.get("kind") == "Status" else self._store.present(info, result)

    def _delete(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        *,
        propagation: str | None,
        grace: int | None,
        preconditions: dict[str, Any] | None,
        dry_run: bool,
    ) -> dict[str, Any]:
        if propagation not in (None, "Foreground", "Background", "Orphan"):
            raise errors.invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "FieldValueNotSupported",
                        "propagationPolicy",
                        f'Unsupported value: "{propagation}": supported values: "Foreground", "Background", "Orphan", "nil"',
                    )
                ],
            )
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
            raise errors.bad_request("gracePeriodSeconds must be an integer")
        old = self._store.stored(info, namespace, name)
        meta = old["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != meta.get(field):
                detail = f"the {label} in the precondition ({wanted}) does not match the {label} in record ({meta.get(field)}). "
                detail += (
                    "The object might have been deleted and then recreated"
                    if field == "uid"
                    else "The object might have been modified"
                )
                # rest.BeforeDelete names the Kind, not the resource (upstream registry/rest/delete.go)
                raise errors.conflict(info.kind, info.group, name, detail)
        grace_s = self._pod_grace(old, grace) if info.key == ("", "pods") else 0
        finalizers = list(meta.get("finalizers") or [])
        deleting = bool(meta.get("deletionTimestamp"))
        if not deleting:
            wanted = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(propagation or "")
            if propagation == "Background":
                finalizers = [f for f in finalizers if f not in ("orphan", "foregroundDeletion")]
            elif wanted:
                finalizers = [
                    f for f in finalizers if f not in ("orphan", "foregroundDeletion")
                ] + [wanted]
        if info.key == ("", "namespaces"):
            return self._terminate_namespace(info, old, dry_run=dry_run)
        if deleting:
            return self._delete_again(info, old, grace_s, dry_run=dry_run)
        if finalizers or grace_s > 0:
            new = {**old, "metadata": dict(meta)}
            new_meta = new["metadata"]
            new_meta["deletionTimestamp"] = rfc3339(self._store.clock() + grace_s)
            new_meta["deletionGracePeriodSeconds"] = grace_s
            if finalizers:
                new_meta["finalizers"] = finalizers
            if "generation" in new_meta:
                new_meta["generation"] = int(new_meta["generation"]) + 1
            if dry_run:
                return new
            return self._store.commit(info, new, old, MODIFIED)
        if dry_run:
            return self._deleted_response(info, old)
        final = self._store.commit(info, old, old, DELETED)
        return self._deleted_response(info, final)

    def _delete_again(
        self, info: ResourceInfo, old: dict[str, Any], grace_s: int, *, dry_run: bool
    ) -> dict[str, Any]:
        """A DELETE of an object already terminating: may only shorten a pod's grace period."""
        meta = old["metadata"]
        current = meta.get("deletionGracePeriodSeconds") or 0
        if info.key != ("", "pods") or grace_s >= current:
            return old
        if grace_s == 0 and not meta.get("finalizers"):
            if dry_run:
                return old
            return self._deleted_response(info, self._store.commit(info, old, old, DELETED))
        new = {
            **old,
            "metadata": {
                **meta,
                "deletionGracePeriodSeconds": grace_s,
                "deletionTimestamp": rfc3339(self._store.clock() + grace_s),
            },
        }
        return new if dry_run else self._store.commit(info, new, old, MODIFIED)

    def _terminate_namespace(
        self, info: ResourceInfo, old: dict[str, Any], *, dry_run: bool
    ) -> dict[str, Any]:
        if old["metadata"]["name"] in INITIAL_NAMESPACES[:3]:
            raise errors.forbidden(
                "namespaces", "", old["metadata"]["name"], "this namespace may not be deleted"
            )
        if old["metadata"].get("deletionTimestamp"):
            return old
        new = {
            **old,
            "metadata": {
                **old["metadata"],
                "deletionTimestamp": self._store.now(),
                "deletionGracePeriodSeconds": 0,
            },
            "status": {"phase": "Terminating"},
        }
        if dry_run:
            return new
        return self._store.commit(info, new, old, MODIFIED)

    def _pod_grace(self, pod: dict[str, Any], requested: int | None) -> int:
        """The grace period of a pod deletion (§6.1); 0 when no kubelet will finish it."""
        if not self._store.graceful_pod_deletion:
            return 0
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = (
            requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
        )
        grace = int(grace or 0)
        return 1 if grace < 0 else grace

    @staticmethod
    def _deleted_response(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        if info.return_deleted_object:
            return obj
        meta = obj["metadata"]
        details = {
            "name": meta["name"],
            "group": info.group,
            "kind": info.plural,
            "uid": meta["uid"],
        }
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {k: v for k, v in details.items() if v},
        }

    def delete_collection(
        self,
        res: ResourceInfo | str,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        user: str = "kubesim",
        user_agent: str = "",
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE on a collection: deletes every match, returns them as a List."""
        info = self._store.info_of(res)
        if "deletecollection" not in info.verbs:
            raise errors.method_not_allowed(info.plural, info.group, "deletecollection")
        items, _ = self._store.list(
            info, namespace, label_selector=label_selector, field_selector=field_selector
        )
        deleted = []
        for obj in list(items):
            meta = obj["metadata"]
            try:
                result = self.delete(
                    info,
                    meta.get("namespace"),
                    meta["name"],
                    user=user,
                    user_agent=user_agent,
                    propagation_policy=propagation_policy,
                    grace_period_seconds=grace_period_seconds,
                    dry_run=dry_run,
                )
            except StatusError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(obj if result.get("kind") == "Status" else result)
        self._store.audit_request(
            "deletecollection", info, namespace, None, 200, user=user, user_agent=user_agent
        )
        return {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": {"resourceVersion": str(self._store.resource_version)},
            "items": deleted,
        }
