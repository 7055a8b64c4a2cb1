"""The Deployment controller: one ReplicaSet per pod template, rolled by strategy.

The new ReplicaSet is `<deploy>-<pod-template-hash>` with the hash label added to its selector
and template, and the annotations `deployment.kubernetes.io/revision`, `desired-replicas` and
`max-replicas`. RollingUpdate follows NewRSNewReplicas / reconcileOldReplicaSets (maxSurge
rounds up, maxUnavailable down); Recreate scales old sets to zero and waits for their pods to
go before scaling the new one up. Status and the Available/Progressing conditions are what
`kubectl rollout status deploy` reads, including ProgressDeadlineExceeded. (`kubectl rollout
undo` works: it is a template change.) Not simulated: proportional scaling of several live
ReplicaSets, and the `deployment.kubernetes.io/revision`
annotation on the Deployment itself: upstream writes it through /status (whose strategy keeps
annotation changes for Deployments); kubesim's /status keeps only status, and a main-endpoint
write would bump the Deployment's generation, which a real cluster does not do.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock, parse_time
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, controller_uid, is_active, owner_reference
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller
from kubesim.controllers.revision import go_template, pod_template_hash

__all__ = ["DeploymentController", "resolve_fenceposts"]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
HISTORY = "deployment.kubernetes.io/revision-history"


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def resolve_fenceposts(strategy: dict[str, Any], replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; both zero would deadlock, so unavailable becomes 1."""
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """EqualIgnoreHash's view of a template: Go-normalized, without pod-template-hash."""
    out = go_template(template)
    labels = (out.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return out


class DeploymentController(Controller):
    """Rolls Deployments through their ReplicaSets."""

    name = "deployment-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        deployments: Cache,
        sets: Cache,
        pods: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.deployments = deployments
        self.sets = sets
        self.pods = pods
        self.watch_owners(deployments)
        self.watch_children(sets)
        # ReplicaSet uid → Deployment key, so a vanished pod wakes its Deployment (Recreate
        # waits for old pods to be gone, which changes no ReplicaSet).
        self._rs_owner: dict[str, ObjectKey] = {}
        sets.add_handler(self._on_set)
        pods.add_handler(self._on_pod)

    def _on_set(self, event: str, old: dict[str, Any] | None, rs: dict[str, Any]) -> None:
        uid = str(rs["metadata"]["uid"])
        owner = controller_uid(rs)
        key = self._owner_keys.get(owner) if owner else None
        if event == "DELETED" or key is None:
            self._rs_owner.pop(uid, None)
        else:
            self._rs_owner[uid] = key

    def _on_pod(self, event: str, old: dict[str, Any] | None, pod: dict[str, Any]) -> None:
        if event != "DELETED":
            return
        owner = controller_uid(pod)
        key = self._rs_owner.get(owner) if owner else None
        if key is not None:
            self.queue.add(key)

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, key: ObjectKey) -> float | None:
        """Find or create the new ReplicaSet, scale by strategy, write status."""
        deploy = self.deployments.get(key)
        if deploy is None or deploy["metadata"].get("deletionTimestamp"):
            return None
        spec = deploy.get("spec") or {}
        owned = sorted(
            self.sets.owned_by(deploy["metadata"]["uid"]),
            key=lambda rs: (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"]),
        )
        new_rs = next((rs for rs in owned if self._matches(deploy, rs)), None)
        olds = [rs for rs in owned if rs is not new_rs]
        if not spec.get("paused"):
            if new_rs is None:
                new_rs = self._create_new(deploy, olds)
            if new_rs is not None:
                new_rs = self._bump_revision(new_rs, olds)
                if (spec.get("strategy") or {}).get("type") == "Recreate":
                    self._recreate(deploy, new_rs, olds)
                else:
                    self._rolling(deploy, new_rs, olds)
                self._cleanup(deploy, olds)
        return self._write_status(deploy, new_rs, olds)

    def _bump_revision(self, rs: dict[str, Any], olds: list[dict[str, Any]]) -> dict[str, Any]:
        """An old ReplicaSet that becomes the new one again (rollback) takes the next revision,
        and remembers its previous ones in `revision-history`."""
        annotations = dict(rs["metadata"].get("annotations") or {})
        current = int(annotations.get(REVISION, 0) or 0)
        newest = max((_revision(o) for o in olds), default=0)
        if current > newest:
            return rs
        history = [h for h in str(annotations.get(HISTORY, "")).split(",") if h]
        annotations[HISTORY] = ",".join([*history, str(current)])
        annotations[REVISION] = str(newest + 1)
        body = {**rs, "metadata": {**rs["metadata"], "annotations": annotations}}
        try:
            return self.cluster.update(
                self.sets.resource,
                rs["metadata"]["namespace"],
                rs["metadata"]["name"],
                body,
                user=self.user,
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
            return rs

    def _matches(self, deploy: dict[str, Any], rs: dict[str, Any]) -> bool:
        template = (rs.get("spec") or {}).get("template") or {}
        return _template_without_hash(template) == _template_without_hash(
            (deploy.get("spec") or {}).get("template") or {}
        )

    def _create_new(
        self, deploy: dict[str, Any], olds: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        spec = deploy.get("spec") or {}
        collisions = int((deploy.get("status") or {}).get("collisionCount") or 0)
        template = copy.deepcopy(spec.get("template") or {})
        hash_ = pod_template_hash(template, collisions or None)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        revision = 1 + max(
            (int((rs["metadata"].get("annotations") or {}).get(REVISION, 0)) for rs in olds),
            default=0,
        )
        replicas = int(spec.get("replicas", 1))
        surge, _ = resolve_fenceposts(spec.get("strategy") or {}, replicas)
        initial = 0
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            current = sum(int((rs.get("spec") or {}).get("replicas", 0)) for rs in olds)
            initial = max(0, min(replicas + surge - current, replicas))
        name = f"{deploy['metadata']['name']}-{hash_}"
        annotations = dict(deploy["metadata"].get("annotations") or {})
        annotations.pop(REVISION, None)
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        annotations.update(
            {REVISION: str(revision), DESIRED: str(replicas), MAX: str(replicas + surge)}
        )
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": deploy["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [
                    owner_reference(deploy, kind="Deployment", api_version="apps/v1")
                ],
            },
            "spec": {
                "replicas": initial,
                "minReadySeconds": int(spec.get("minReadySeconds", 0) or 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = self.cluster.create(
                self.sets.resource, deploy["metadata"]["namespace"], rs, user=self.user, owned=True
            )
        except StatusError as exc:
            if exc.code != 409:
                raise
            existing = self.sets.get(ObjectKey(deploy["metadata"]["namespace"], name))
            if existing is not None and self._matches(deploy, existing):
                return existing
            # A different template hashed to the same name: bump collisionCount and retry.
            status = {**(deploy.get("status") or {}), "collisionCount": collisions + 1}
            self.write_status(self.deployments.resource, deploy, status)
            return None
        if initial > 0:  # upstream records the scale-up only when the new set starts above 0
            self.events.normal(
                deploy, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {initial}"
            )
        return created

    # ------------------------------------------------------------------ strategies

    def _rolling(
        self, deploy: dict[str, Any], new_rs: dict[str, Any], olds: list[dict[str, Any]]
    ) -> None:
        spec = deploy.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        surge, unavailable = resolve_fenceposts(spec.get("strategy") or {}, replicas)
        new_count = _replicas(new_rs)
        everything = [new_rs, *olds]
        if new_count > replicas:
            self._scale(deploy, new_rs, replicas)
        elif new_count < replicas:
            total = sum(_replicas(rs) for rs in everything)
            room = replicas + surge - total
            if room > 0:
                self._scale(deploy, new_rs, new_count + min(room, replicas - new_count))
        live_olds = [rs for rs in olds if _replicas(rs) > 0]
        if not live_olds:
            return
        fresh_new = (
            self.sets.get(ObjectKey(new_rs["metadata"]["namespace"], new_rs["metadata"]["name"]))
            or new_rs
        )
        all_count = sum(_replicas(rs) for rs in [fresh_new, *olds])
        min_available = replicas - unavailable
        new_unavailable = _replicas(fresh_new) - _available(fresh_new)
        budget = all_count - min_available - new_unavailable
        if budget <= 0:
            return
        # cleanupUnhealthyReplicas: unavailable old pods go first.
        for rs in live_olds:
            if budget <= 0:
                break
            unhealthy = _replicas(rs) - _available(rs)
            cut = min(unhealthy, budget)
            if cut > 0:
                self._scale(deploy, rs, _replicas(rs) - cut)
                budget -= cut
        refreshed = [
            self.sets.get(ObjectKey(rs["metadata"]["namespace"], rs["metadata"]["name"])) or rs
            for rs in olds
        ]
        available_total = _available(fresh_new) + sum(_available(rs) for rs in refreshed)
        remaining = min(available_total - min_available, budget)
        for rs in refreshed:
            if remaining <= 0:
                break
            cut = min(_replicas(rs), remaining)
            if cut > 0:
                self._scale(deploy, rs, _replicas(rs) - cut)
                remaining -= cut

    def _recreate(
        self, deploy: dict[str, Any], new_rs: dict[str, Any], olds: list[dict[str, Any]]
    ) -> None:
        for rs in olds:
            if _replicas(rs) > 0:
                self._scale(deploy, rs, 0)
        still_running = any(
            is_active(p) or (p.get("status") or {}).get("phase") == "Running"
            for rs in olds
            for p in self.pods.owned_by(rs["metadata"]["uid"])
        )
        if still_running:
            return
        replicas = int((deploy.get("spec") or {}).get("replicas", 1))
        if _replicas(new_rs) != replicas:
            self._scale(deploy, new_rs, replicas)

    def _scale(self, deploy: dict[str, Any], rs: dict[str, Any], replicas: int) -> None:
        before = _replicas(rs)
        if before == replicas:
            return
        spec = deploy.get("spec") or {}
        want = int(spec.get("replicas", 1))
        surge, _ = resolve_fenceposts(spec.get("strategy") or {}, want)
        annotations = dict(rs["metadata"].get("annotations") or {})
        annotations.update({DESIRED: str(want), MAX: str(want + surge)})
        body = {
            **rs,
            "metadata": {**rs["metadata"], "annotations": annotations},
            "spec": {**rs["spec"], "replicas": replicas},
        }
        try:
            self.cluster.update(
                self.sets.resource,
                rs["metadata"]["namespace"],
                rs["metadata"]["name"],
                body,
                user=self.user,
            )
        except StatusError as exc:
            if exc.code in (404, 409):
                self.queue.add(
                    ObjectKey(deploy["metadata"]["namespace"], deploy["metadata"]["name"])
                )
                return
            raise
        direction = "up" if replicas > before else "down"
        self.events.normal(
            deploy,
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {replicas}",
        )

    def _cleanup(self, deploy: dict[str, Any], olds: list[dict[str, Any]]) -> None:
        limit = int((deploy.get("spec") or {}).get("revisionHistoryLimit", 10))
        dead = [
            rs
            for rs in olds
            if _replicas(rs) == 0 and not int((rs.get("status") or {}).get("replicas", 0))
        ]
        for rs in dead[: max(0, len(dead) - limit)]:
            self.delete_quietly(self.sets.resource, rs)

    # ------------------------------------------------------------------ status

    def _write_status(
        self, deploy: dict[str, Any], new_rs: dict[str, Any] | None, olds: list[dict[str, Any]]
    ) -> float | None:
        """Write status and conditions; seconds until the progress deadline check, if rolling."""
        spec = deploy.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        _, unavailable = resolve_fenceposts(spec.get("strategy") or {}, replicas)
        sets = [s for s in [new_rs, *olds] if s is not None]
        sets = [
            self.sets.get(ObjectKey(s["metadata"]["namespace"], s["metadata"]["name"])) or s
            for s in sets
        ]
        fresh_new = sets[0] if new_rs is not None else None
        total = sum(int((s.get("status") or {}).get("replicas", 0)) for s in sets)
        ready = sum(int((s.get("status") or {}).get("readyReplicas", 0)) for s in sets)
        avail = sum(_available(s) for s in sets)
        updated = (
            int((fresh_new.get("status") or {}).get("replicas", 0)) if fresh_new is not None else 0
        )
        status: dict[str, Any] = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": total,
        }
        if updated:
            status["updatedReplicas"] = updated
        if ready:
            status["readyReplicas"] = ready
        if avail:
            status["availableReplicas"] = avail
        if replicas - avail > 0:
            status["unavailableReplicas"] = replicas - avail
        old_status = deploy.get("status") or {}
        if "collisionCount" in old_status:
            status["collisionCount"] = old_status["collisionCount"]
        previous = {c.get("type"): c for c in old_status.get("conditions") or ()}
        now = self.clock.rfc3339()
        if avail >= replicas - unavailable:
            available_cond = (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            available_cond = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        conditions = [self._condition(previous, "Available", *available_cond, now=now)]
        requeue: float | None = None
        if fresh_new is not None:
            rs_name = fresh_new["metadata"]["name"]
            complete = (
                updated == replicas
                and avail >= replicas
                and total == updated
                and int((fresh_new.get("spec") or {}).get("replicas", 0)) == replicas
            )
            prior = previous.get("Progressing") or {}
            deadline = float(spec.get("progressDeadlineSeconds", 600))
            since = parse_time(prior.get("lastUpdateTime"))
            # Progress, or a rollout that just started, refreshes lastUpdateTime, which restarts
            # the progress deadline (DeploymentProgressing / DeploymentTimedOut).
            fresh = (
                _progressed(old_status, status)
                or since is None
                or prior.get("reason") == "NewReplicaSetAvailable"
                or f'"{rs_name}"' not in str(prior.get("message", ""))
            )
            updating = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            if complete:
                progressing = (
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                )
            elif fresh:
                progressing = updating
            elif prior.get("reason") == "ProgressDeadlineExceeded" or (
                since is not None and since + deadline <= self.clock.now()
            ):
                progressing = (
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                )
            else:
                progressing = updating
                assert since is not None
                requeue = since + deadline - self.clock.now()
            conditions.append(
                self._condition(
                    previous, "Progressing", *progressing, now=now, touch=fresh and not complete
                )
            )
            if progressing[1] == "ReplicaSetUpdated" and requeue is None:
                requeue = deadline
        status["conditions"] = conditions
        self.write_status(self.deployments.resource, deploy, status)
        return requeue

    @staticmethod
    def _condition(
        previous: dict[Any, dict[str, Any]],
        kind: str,
        status: str,
        reason: str,
        message: str,
        *,
        now: str,
        touch: bool = False,
    ) -> dict[str, Any]:
        prior = previous.get(kind) or {}
        same = (
            not touch
            and prior.get("status") == status
            and prior.get("reason") == reason
            and prior.get("message") == message
        )
        return {
            "type": kind,
            "status": status,
            "lastUpdateTime": prior.get("lastUpdateTime", now) if same else now,
            "lastTransitionTime": prior.get("lastTransitionTime", now)
            if prior.get("status") == status
            else now,
            "reason": reason,
            "message": message,
        }


def _progressed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """DeploymentProgressing: more updated, ready or available pods, or fewer old ones."""

    def count(status: dict[str, Any], field: str) -> int:
        return int(status.get(field, 0) or 0)

    if any(
        count(new, f) > count(old, f)
        for f in ("updatedReplicas", "readyReplicas", "availableReplicas")
    ):
        return True
    old_left = count(old, "replicas") - count(old, "updatedReplicas")
    new_left = count(new, "replicas") - count(new, "updatedReplicas")
    return new_left < old_left


def _revision(rs: dict[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0) or 0)
    except ValueError:
        return 0


def _replicas(rs: dict[str, Any]) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _available(rs: dict[str, Any]) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))
