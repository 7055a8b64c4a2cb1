"""The StatefulSet controller (pkg/controller/statefulset), as an operator observes it.

Per sync: resolve ControllerRevisions (current and update), then walk ordinals: recreate failed
pods, create missing ones (PVCs first), and under OrderedReady stop at the first pod that is not
Running+Ready (or is terminating); then delete condemned pods from the highest ordinal; then roll
the highest out-of-date ordinal ≥ partition. The status is written only when it changed.
Not simulated: adopting orphaned pods that match the selector, and the MaxUnavailable gate.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock, parse_time
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import (
    ObjectKey,
    is_failed,
    is_running_and_ready,
    is_terminating,
    owner_reference,
    ready_since,
)
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller
from kubesim.controllers.claims import ClaimManager, claim_name
from kubesim.controllers.revision import REVISION_HASH_LABEL, new_controller_revision

__all__ = ["POD_INDEX_LABEL", "POD_NAME_LABEL", "StatefulSetController", "ordinal_of"]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(set_name: str, pod_name: str) -> int | None:
    """The ordinal in `<set>-<n>`, or None when the name does not belong to the set."""
    prefix = f"{set_name}-"
    if not pod_name.startswith(prefix):
        return None
    tail = pod_name[len(prefix) :]
    return int(tail) if tail.isdigit() and (tail == "0" or not tail.startswith("0")) else None


class StatefulSetController(Controller):
    """Creates, deletes and updates the pods (and claims) of StatefulSets."""

    name = "statefulset-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        sets: Cache,
        pods: Cache,
        revisions: Cache,
        claims: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.sets = sets
        self.pods = pods
        self.revisions = revisions
        self.claims = claims
        self._claims = ClaimManager(claims, self)
        self.watch_owners(sets)
        self.watch_children(pods)
        self.watch_children(revisions)
        # uid → ((generation, collisionCount, revision number), candidate revision): hashing the
        # template is the costliest step of a sync, and the template only changes with the
        # generation. Candidates are read-only (created through a copying `create`).
        self._candidates: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        sets.add_handler(self._forget_candidate)

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, key: ObjectKey) -> float | None:
        """One pass of updateStatefulSet plus the status write."""
        sts = self.sets.get(key)
        if sts is None or is_terminating(sts):
            return None
        uid = sts["metadata"]["uid"]
        revisions = sorted(self.revisions.owned_by(uid), key=lambda r: int(r.get("revision", 0)))
        current, update, collisions = self._revisions(sts, revisions)
        requeue = self._sync_pods(sts, current, update)
        not_yet_available = self._write_status(sts, current, update, collisions)
        if not_yet_available is not None:
            requeue = not_yet_available if requeue is None else min(requeue, not_yet_available)
        self._truncate_history(sts, current, update)
        return requeue

    # ------------------------------------------------------------------ revisions

    def _revisions(
        self, sts: dict[str, Any], revisions: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any], int]:
        """(currentRevision, updateRevision, collisionCount), creating the update one if new."""
        status = sts.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        next_number = int(revisions[-1].get("revision", 0)) + 1 if revisions else 1
        while True:
            candidate = self._candidate(sts, next_number, collisions)
            name = candidate["metadata"]["name"]
            existing = next((r for r in revisions if r["metadata"]["name"] == name), None)
            if existing is not None and existing.get("data") == candidate["data"]:
                update = existing
                if revisions and existing is not revisions[-1]:
                    update = self._renumber(existing, next_number)
                break
            if existing is None:
                try:
                    update = self.cluster.create(
                        self.revisions.resource,
                        candidate["metadata"]["namespace"],
                        candidate,
                        user=self.user,
                    )
                    break
                except StatusError as exc:
                    if exc.code != 409:
                        raise
            collisions += 1
        current_name = status.get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == current_name), update)
        return current, update, collisions

    def _candidate(self, sts: dict[str, Any], number: int, collisions: int) -> dict[str, Any]:
        uid = str(sts["metadata"]["uid"])
        key = (int(sts["metadata"].get("generation", 0)), collisions, number)
        cached = self._candidates.get(uid)
        if cached is not None and cached[0] == key:
            return cached[1]
        candidate = new_controller_revision(sts, revision=number, collision_count=collisions)
        self._candidates[uid] = (key, candidate)
        return candidate

    def _forget_candidate(
        self, event: str, old: dict[str, Any] | None, sts: dict[str, Any]
    ) -> None:
        if event == "DELETED":
            self._candidates.pop(str(sts["metadata"]["uid"]), None)

    def _renumber(self, revision: dict[str, Any], number: int) -> dict[str, Any]:
        body = {**revision, "metadata": dict(revision["metadata"]), "revision": number}
        return self.cluster.update(
            self.revisions.resource,
            revision["metadata"]["namespace"],
            revision["metadata"]["name"],
            body,
            user=self.user,
            owned=True,
        )

    def _truncate_history(
        self, sts: dict[str, Any], current: dict[str, Any], update: dict[str, Any]
    ) -> None:
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10))
        live = {current["metadata"]["name"], update["metadata"]["name"]}
        live.update(
            (p["metadata"].get("labels") or {}).get(REVISION_HASH_LABEL, "")
            for p in self.pods.owned_by(sts["metadata"]["uid"])
        )
        history = sorted(
            (
                r
                for r in self.revisions.owned_by(sts["metadata"]["uid"])
                if r["metadata"]["name"] not in live
            ),
            key=lambda r: int(r.get("revision", 0)),
        )
        for old in history[: max(0, len(history) - limit)]:
            self.delete_quietly(self.revisions.resource, old)

    # ------------------------------------------------------------------ pods

    def _sync_pods(
        self, sts: dict[str, Any], current: dict[str, Any], update: dict[str, Any]
    ) -> float | None:
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        start = int((spec.get("ordinals") or {}).get("start", 0))
        count = self.within_budget(sts, "StatefulSet", int(spec.get("replicas", 1)))
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        min_ready = float(spec.get("minReadySeconds", 0) or 0)
        replicas: dict[int, dict[str, Any] | None] = dict.fromkeys(range(start, start + count))
        condemned: list[tuple[int, dict[str, Any]]] = []
        for owned in self.pods.owned_by(sts["metadata"]["uid"]):
            index = ordinal_of(name, owned["metadata"]["name"])
            if index is None:
                continue
            if index in replicas:
                replicas[index] = owned
            else:
                condemned.append((index, owned))
        condemned.sort(key=lambda item: item[0], reverse=True)
        requeue: float | None = None
        for ordinal in sorted(replicas):
            pod = replicas[ordinal]
            if pod is not None and (
                is_failed(pod) or (pod.get("status") or {}).get("phase") == "Succeeded"
            ):
                if not is_terminating(pod):
                    self.events.warning(
                        sts,
                        "RecreatingFailedPod",
                        f"StatefulSet {sts['metadata']['namespace']}/{name} is recreating failed Pod {pod['metadata']['name']}",
                    )
                    self._delete_pod(sts, pod)
                if (
                    self.pods.get(ObjectKey(pod["metadata"]["namespace"], pod["metadata"]["name"]))
                    is not None
                ):
                    if monotonic:
                        return None
                    continue
                pod = None
            if pod is None:
                self._create_pod(sts, ordinal, current, update)
                if monotonic:
                    return None
                continue
            if is_terminating(pod) and monotonic:
                return None
            if monotonic:
                wait = self._unavailable_for(pod, min_ready)
                if wait is None:
                    return None
                if wait > 0:
                    return wait
        self._claims.apply_retention(sts, condemned)
        for _, pod in condemned:
            if is_terminating(pod):
                if monotonic:
                    return None
                continue
            if (
                monotonic
                and not is_running_and_ready(pod)
                and pod is not self._first_unhealthy(condemned)
            ):
                return None
            self._delete_pod(sts, pod)
            if monotonic:
                return None
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return requeue
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0) or 0)
        update_name = update["metadata"]["name"]
        for ordinal in sorted(replicas, reverse=True):
            if ordinal - start < partition:
                break
            pod = replicas[ordinal]
            if pod is None:
                return requeue
            if _revision_of(pod) != update_name and not is_terminating(pod):
                self._delete_pod(sts, pod)
                return None
            if not is_running_and_ready(pod) or is_terminating(pod):
                return requeue
        return requeue

    def _unavailable_for(self, pod: dict[str, Any], min_ready: float) -> float | None:
        """None when not Running+Ready, seconds until Available, or 0 when Available."""
        if not is_running_and_ready(pod):
            return None
        if min_ready <= 0:
            return 0.0
        since = parse_time(ready_since(pod))
        if since is None:
            return 0.0
        return max(0.0, since + min_ready - self.clock.now())

    @staticmethod
    def _first_unhealthy(condemned: list[tuple[int, dict[str, Any]]]) -> dict[str, Any] | None:
        for _, pod in sorted(condemned, key=lambda item: item[0]):
            if not is_running_and_ready(pod):
                return pod
        return None

    def _create_pod(
        self, sts: dict[str, Any], ordinal: int, current: dict[str, Any], update: dict[str, Any]
    ) -> None:
        spec = sts.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0) or 0)
        start = int((spec.get("ordinals") or {}).get("start", 0))
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        revision = current if rolling and ordinal - start < partition else update
        pod = self._new_pod(sts, ordinal, revision)
        self._claims.create_for(sts, pod)
        name = sts["metadata"]["name"]
        try:
            self.cluster.create(
                self.pods.resource, sts["metadata"]["namespace"], pod, user=self.user, owned=True
            )
        except StatusError as exc:
            # Upstream returns the error, AlreadyExists included (a pod of a deleted set that
            # still holds the name): the set is retried with back-off until the name is free.
            # The old pod's deletion cannot wake this set, which does not own it.
            self.events.warning(
                sts,
                "FailedCreate",
                f"create Pod {pod['metadata']['name']} in StatefulSet {name} failed error: {exc.message}",
            )
            raise
        self.events.normal(
            sts,
            "SuccessfulCreate",
            f"create Pod {pod['metadata']['name']} in StatefulSet {name} successful",
        )

    def _new_pod(
        self, sts: dict[str, Any], ordinal: int, revision: dict[str, Any]
    ) -> dict[str, Any]:
        """newVersionedStatefulSetPod: the template of `revision` with the pod's identity."""
        set_name = sts["metadata"]["name"]
        template = copy.deepcopy(revision["data"]["spec"]["template"])
        template.pop("$patch", None)
        meta = template.get("metadata") or {}
        pod_name = f"{set_name}-{ordinal}"
        labels = dict(meta.get("labels") or {})
        labels[POD_NAME_LABEL] = pod_name
        labels[POD_INDEX_LABEL] = str(ordinal)
        labels[REVISION_HASH_LABEL] = revision["metadata"]["name"]
        pod_meta: dict[str, Any] = {
            "name": pod_name,
            "generateName": f"{set_name}-",
            "namespace": sts["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(sts, kind="StatefulSet", api_version="apps/v1")],
        }
        if meta.get("annotations"):
            pod_meta["annotations"] = dict(meta["annotations"])
        pod_spec = template.get("spec") or {}
        pod_spec["hostname"] = pod_name
        pod_spec["subdomain"] = (sts.get("spec") or {}).get("serviceName", "")
        claims = [
            {
                "name": t["metadata"]["name"],
                "persistentVolumeClaim": {"claimName": claim_name(t, set_name, ordinal)},
            }
            for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or ()
        ]
        if claims:
            names = {c["name"] for c in claims}
            pod_spec["volumes"] = [
                v for v in pod_spec.get("volumes") or () if v.get("name") not in names
            ] + claims
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}

    def _delete_pod(self, sts: dict[str, Any], pod: dict[str, Any]) -> None:
        if self.delete_quietly(self.pods.resource, pod):
            self.events.normal(
                sts,
                "SuccessfulDelete",
                f"delete Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} successful",
            )

    # ------------------------------------------------------------------ status

    def _write_status(
        self, sts: dict[str, Any], current: dict[str, Any], update: dict[str, Any], collisions: int
    ) -> float | None:
        """Write the status if it changed; seconds until the next pod becomes Available, if any."""
        spec = sts.get("spec") or {}
        min_ready = float(spec.get("minReadySeconds", 0) or 0)
        soonest: float | None = None
        current_name, update_name = current["metadata"]["name"], update["metadata"]["name"]
        counts = {
            "replicas": 0,
            "readyReplicas": 0,
            "currentReplicas": 0,
            "updatedReplicas": 0,
            "availableReplicas": 0,
        }
        for pod in self.pods.owned_by(sts["metadata"]["uid"]):
            counts["replicas"] += 1
            if is_running_and_ready(pod):
                counts["readyReplicas"] += 1
                wait = self._unavailable_for(pod, min_ready)
                if wait == 0:
                    counts["availableReplicas"] += 1
                elif wait is not None:
                    soonest = wait if soonest is None else min(soonest, wait)
            if not is_terminating(pod):
                revision = _revision_of(pod)
                counts["currentReplicas"] += revision == current_name
                counts["updatedReplicas"] += revision == update_name
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        if rolling and counts["updatedReplicas"] == counts["replicas"] == counts["readyReplicas"]:
            counts["currentReplicas"] = counts["updatedReplicas"]
            current_name = update_name
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": counts["replicas"],
        }
        for field in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if counts[field]:
                status[field] = counts[field]
        status["currentRevision"] = current_name
        status["updateRevision"] = update_name
        status["collisionCount"] = collisions
        status["availableReplicas"] = counts["availableReplicas"]
        old_conditions = (sts.get("status") or {}).get("conditions")
        if old_conditions:
            status["conditions"] = old_conditions
        self.write_status(self.sets.resource, sts, status)
        return soonest


def _revision_of(pod: dict[str, Any]) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_HASH_LABEL, ""))
