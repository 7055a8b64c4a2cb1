"""Scale-down of named pods: remove exactly the workers the Ray autoscaler asks for.

The Ray autoscaler scales a group down with one JSON patch that lowers
``workerGroupSpecs[i].replicas`` and sets ``scaleStrategy.workersToDelete`` to the pods it has
drained. It then waits until none of those pods is listed (pods being deleted count as gone)
and, in v1, clears the list itself. So rayop must make *those* pods go away, and must never
remove another busy worker in their place (KubeRay's bugs #1192 and #1238 did both).

**Deployment-backed groups** (the default under the in-tree autoscaler), per reconcile:

1. Every named live pod of the group gets the annotation
   ``controller.kubernetes.io/pod-deletion-cost: "-2147483648"`` — the minimum int32, so no
   other pod can rank below it, whatever costs users set themselves (KEP-2255: the value is an
   int32 and lower costs are deleted first). The write is a server-side apply of that one
   annotation as field manager ``rayop``: pods are the ReplicaSet's, and the apply touches
   nothing else on them.
2. Only once the apply answered (the server stored the annotation, so anything that reads pods
   after that sees it) does the workload's lower ``replicas`` go out. If an annotation could
   not be written, the workload keeps its current replicas this round (:meth:`ScaleDown.run`
   returns the held object) and the reconcile retries.
3. The ReplicaSet removes the lowest-ranked pods: unscheduled, pending and not-ready pods come
   before any ready one (so such a pod may go instead of a named one, never a ready worker),
   and among ready pods the annotated ones go first.
4. Once the ReplicaSet has settled (the workload's replicas are at or below the group's
   desired count and no more pods of the group are live than that), a named pod still
   present is deleted directly; its ReplicaSet then creates a fresh replacement with a new
   name, so the group keeps its size and the named pod is gone, as the autoscaler expects.

Known gap: during a rolling update the Deployment has two ReplicaSets and splits a scale-down
between them by size, so the one without the named pod may remove one of its own pods.

rayop never edits ``workersToDelete``: the autoscaler owns it (kuberay#733). Names that are not
pods of the group (the head, another group's pod, a typo) are ignored with a debug log; names
of pods already gone are simply done.

**The annotation afterwards.** A named pod is deleted, so its annotation goes with it. A pod
that carries rayop's cost but is no longer named (the autoscaler or a user changed the list
before the scale-down happened) gets the annotation removed by applying rayop's empty intent
for it, so a later, unrelated scale-down does not pick it first. rayop remembers which pods it
annotated in memory only: after an operator restart, a pod annotated by the previous process
and then dropped from the list keeps the cost until it is deleted (the pod cache keeps no
annotations, so the new process cannot see it). That costs nothing but a bias in a later
count-based scale-down of that group.

**StatefulSet-backed groups** (``workloadKind: StatefulSet`` under the autoscaler) cannot
remove a chosen pod: a StatefulSet removes its highest ordinals and would recreate a deleted
pod under the same name. Such groups scale by count, and a Warning event
(``WorkersToDeleteNotHonoured``) names the pods that stay, once per change of the list.

Groups whose replicas an HPA owns, and suspended groups, are left alone.

**Handing replicas to an HPA.** rayop's apply of an HPA-managed workload omits ``replicas``.
When a running group switches to an HPA, that apply would leave ``spec.replicas`` with no
manager at all, and the API server removes such a field: the workload would fall to its
default of 1 replica (killing workers) until the HPA raised it again (the Kubernetes docs'
"migrating to horizontal autoscaling" caveat). So, in that first reconcile only (the HPA is not
yet in the cache and the workload is about to be applied), rayop first applies the *observed*
replicas as a second field manager, ``rayop-handover``, without force: the field keeps an owner
and its value when ``rayop`` lets go, and the HPA's first ``/scale`` update takes it over. If
the HPA got there first (a conflict), there is nothing to hand over. If the hand-over fails,
rayop keeps applying the observed replicas this round instead of dropping them.

:func:`plan` is the pure decision (a function of the spec, the cached children and pods, and
what rayop annotated); :class:`ScaleDown` carries it out through :class:`KubeClient`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import structlog

from controller.api.constants import LABEL_GROUP, LABEL_NODE_TYPE, EventReason
from controller.api.models import RayCluster, WorkerGroupSpec
from controller.api.names import hpa_name, worker_workload_name
from controller.builders.workloads import group_suspended
from controller.caches import ChildKey
from controller.diff import HASH_ANNOTATION, needs_apply, stamp
from controller.events import EventRecorder
from controller.kube import APPLY_CONTENT_TYPE, Conflict, Invalid, KubeClient, KubeError, NotFound
from controller.kube.resources import object_path, resource_for

__all__ = [
    "DELETION_COST",
    "DELETION_COST_ANNOTATION",
    "HANDOVER_MANAGER",
    "GroupPlan",
    "Handover",
    "NotHonoured",
    "PodRef",
    "ScaleDown",
    "ScaleDownPlan",
    "plan",
]

log = structlog.get_logger(__name__)

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
DELETION_COST = str(-(2**31))
"""The minimum int32: a named pod ranks below every other ready pod, whatever users set."""

HANDOVER_MANAGER = "rayop-handover"
"""Field manager that keeps a workload's replicas while an HPA takes them over."""


class Handover(NamedTuple):
    """A running workload whose replicas its new HPA is about to own."""

    workload: ChildKey
    hpa: ChildKey
    replicas: int
    """The observed replicas, kept through the hand-over."""


class PodRef(NamedTuple):
    """One pod by namespace, name and uid (the uid guards every write against a successor)."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class GroupPlan:
    """What to do for one Deployment-backed group that names pods."""

    group: str
    workload: ChildKey
    annotate: tuple[PodRef, ...] = ()
    """Named live pods to give the deletion cost before replicas drop."""
    delete: tuple[PodRef, ...] = ()
    """Named pods still present after the ReplicaSet settled: delete them directly."""
    lowers: bool = False
    """The desired replicas are below the workload's observed replicas."""
    hold_at: int | None = None
    """The observed replicas, to keep if annotating fails (None when nothing to hold)."""


@dataclass(frozen=True)
class NotHonoured:
    """A StatefulSet-backed group asked to remove pods it cannot choose."""

    group: str
    named: tuple[str, ...]
    """The group's whole workersToDelete list (what a warning is remembered by)."""
    kept: tuple[str, ...]
    """Those of them the StatefulSet keeps (it removes the highest ordinals instead)."""


@dataclass(frozen=True)
class ScaleDownPlan:
    """Every scale-down action one reconcile of one RayCluster takes."""

    groups: tuple[GroupPlan, ...] = ()
    unannotate: tuple[PodRef, ...] = ()
    """Pods carrying rayop's cost that are no longer named: remove the annotation."""
    not_honoured: tuple[NotHonoured, ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()
    """(group, name) pairs named in workersToDelete that are not pods of that group."""
    handover: tuple[Handover, ...] = ()
    """Workloads switching to an HPA now."""


def plan(
    cluster: RayCluster,
    *,
    desired: Mapping[ChildKey, Mapping[str, Any]],
    observed: Mapping[ChildKey, Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    annotated: Collection[str] = (),
) -> ScaleDownPlan:
    """Decide the scale-down actions for ``cluster`` (module docstring); pure.

    ``pods`` are the cluster's cached Ray pods; ``annotated`` the uids of pods rayop gave the
    deletion cost earlier.
    """
    by_name = {str(p["metadata"]["name"]): p for p in pods}
    groups: list[GroupPlan] = []
    not_honoured: list[NotHonoured] = []
    ignored: list[tuple[str, str]] = []
    named_uids: set[str] = set()
    handover: list[Handover] = []
    for group in cluster.spec.worker_group_specs:
        if (found_handover := _handover(cluster, group, desired, observed)) is not None:
            handover.append(found_handover)
        names = list(dict.fromkeys(group.scale_strategy.workers_to_delete))
        mine = {n: by_name[n] for n in names if n in by_name and _in_group(by_name[n], group)}
        ignored += [(group.group_name, n) for n in names if n in by_name and n not in mine]
        live = [_ref(p) for p in mine.values() if _live(p)]
        named_uids.update(ref.uid for ref in live)
        if not live or _left_alone(cluster, group):
            continue
        key = ChildKey(
            group.workload_kind or "StatefulSet",
            worker_workload_name(cluster.metadata.name, group.group_name),
        )
        want = _replicas(desired.get(key))
        if want is None:
            continue
        group_pods = [p for p in pods if _in_group(p, group)]
        if key.kind == "StatefulSet":
            found = _not_honoured(group.group_name, tuple(names), key.name, want, live)
            if found is not None:
                not_honoured.append(found)
            continue
        groups.append(_deployment_plan(group.group_name, key, want, observed, group_pods, live,
                                       annotated))  # fmt: skip
    unannotate = tuple(
        _ref(p) for p in pods if _uid(p) in annotated and _uid(p) not in named_uids and _live(p)
    )
    return ScaleDownPlan(
        tuple(groups), unannotate, tuple(not_honoured), tuple(ignored), tuple(handover)
    )


def _handover(
    cluster: RayCluster,
    group: WorkerGroupSpec,
    desired: Mapping[ChildKey, Mapping[str, Any]],
    observed: Mapping[ChildKey, Mapping[str, Any]],
) -> Handover | None:
    """The hand-over to the group's new HPA, if the group is switching to it now."""
    if group.horizontal_pod_autoscaler is None:
        return None
    name = cluster.metadata.name
    key = ChildKey(
        group.workload_kind or "StatefulSet", worker_workload_name(name, group.group_name)
    )
    want, have = desired.get(key), observed.get(key)
    replicas = _replicas(have)
    if want is None or have is None or replicas is None or "replicas" in (want.get("spec") or {}):
        return None
    hpa = ChildKey("HorizontalPodAutoscaler", hpa_name(name, group.group_name))
    if hpa in observed:
        return None  # the HPA runs already: the field is its own
    return Handover(key, hpa, replicas) if needs_apply(want, have) else None


def _deployment_plan(
    group: str,
    key: ChildKey,
    want: int,
    observed: Mapping[ChildKey, Mapping[str, Any]],
    group_pods: Sequence[Mapping[str, Any]],
    live: Sequence[PodRef],
    annotated: Collection[str],
) -> GroupPlan:
    have = _replicas(observed.get(key))
    active = sum(1 for p in group_pods if _live(p))
    # Settled: the ReplicaSet has nothing left to remove, so a named pod that is still here
    # was not (or will not be) picked by it. Deleting it now cannot take another pod's place.
    if have is not None and have <= want and active <= have:
        return GroupPlan(group, key, delete=tuple(live))
    lowers = have is not None and want < have
    return GroupPlan(
        group,
        key,
        annotate=tuple(ref for ref in live if ref.uid not in annotated),
        lowers=lowers,
        hold_at=have if lowers else None,
    )


def _not_honoured(
    group: str, named: tuple[str, ...], workload: str, want: int, live: Sequence[PodRef]
) -> NotHonoured | None:
    """The named pods a StatefulSet scaled to ``want`` keeps (it keeps ordinals below ``want``)."""
    prefix = f"{workload}-"
    kept = []
    for ref in live:
        ordinal = ref.name.removeprefix(prefix)
        if not (ref.name.startswith(prefix) and ordinal.isdigit() and int(ordinal) >= want):
            kept.append(ref.name)
    if not kept:
        return None
    return NotHonoured(group, named, tuple(kept))


def _left_alone(cluster: RayCluster, group: WorkerGroupSpec) -> bool:
    """An HPA owns the group's size, or the group is going to zero anyway."""
    return group.horizontal_pod_autoscaler is not None or group_suspended(cluster, group)


def _in_group(pod: Mapping[str, Any], group: WorkerGroupSpec) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return bool(
        labels.get(LABEL_GROUP) == group.group_name and labels.get(LABEL_NODE_TYPE) == "worker"
    )


def _live(pod: Mapping[str, Any]) -> bool:
    """Counted by its ReplicaSet: not being deleted and not finished."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded")


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def _ref(pod: Mapping[str, Any]) -> PodRef:
    meta = pod["metadata"]
    return PodRef(str(meta.get("namespace") or ""), str(meta["name"]), _uid(pod))


def _replicas(obj: Mapping[str, Any] | None) -> int | None:
    if obj is None:
        return None
    value = (obj.get("spec") or {}).get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------- carrying it out


@dataclass
class _Memory:
    """What rayop did for one RayCluster that the caches cannot show it."""

    annotated: set[str] = field(default_factory=set)
    warned: dict[str, tuple[str, ...]] = field(default_factory=dict)


class ScaleDown:
    """Carries out :func:`plan` for each reconcile; remembers which pods it annotated."""

    def __init__(self, client: KubeClient, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder
        self._memory: dict[tuple[str, str], _Memory] = {}

    async def run(
        self,
        involved: Mapping[str, Any],
        cluster: RayCluster,
        desired: Mapping[ChildKey, dict[str, Any]],
        observed: Mapping[ChildKey, Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
    ) -> tuple[dict[ChildKey, dict[str, Any]], list[KubeError]]:
        """Annotate, un-annotate and delete named pods; return the desired children to apply.

        Call before applying the children: a workload whose named pods could not be annotated
        comes back holding its observed replicas. The errors are those to retry on.
        """
        key = (cluster.metadata.namespace or "", cluster.metadata.name)
        memory = self._memory.setdefault(key, _Memory())
        memory.annotated &= {_uid(p) for p in pods if _live(p)}
        decided = plan(cluster, desired=desired, observed=observed, pods=pods,
                       annotated=memory.annotated)  # fmt: skip
        for group, name in decided.ignored:
            log.debug("workersToDelete names a pod outside its group; ignored",
                      group=group, pod=name)  # fmt: skip
        self._warn_not_honoured(involved, memory, decided.not_honoured)
        errors: list[KubeError] = []
        result = dict(desired)
        for handover in decided.handover:
            if not await self._hand_over(handover, cluster.metadata.namespace or "", errors):
                # Keep owning replicas, and keep the HPA away so the next round tries again.
                result[handover.workload] = _hold(desired[handover.workload], handover.replicas)
                result.pop(handover.hpa, None)
        for group_plan in decided.groups:
            failed = await self._annotate(group_plan, memory, errors)
            if failed and group_plan.hold_at is not None:
                result[group_plan.workload] = _hold(desired[group_plan.workload],
                                                    group_plan.hold_at)  # fmt: skip
            await self._delete(involved, group_plan, errors)
        for ref in decided.unannotate:
            if await self._set_cost(ref, None, errors):
                memory.annotated.discard(ref.uid)
                log.info("deletion cost removed; pod no longer named", pod=ref.name)
        if not memory.annotated and not memory.warned:
            self._memory.pop(key, None)
        return result, errors

    async def _hand_over(self, handover: Handover, namespace: str, errors: list[KubeError]) -> bool:
        """Apply ``replicas`` as :data:`HANDOVER_MANAGER` (no force); True if rayop may let go."""
        workload, replicas = handover.workload, handover.replicas
        ref = resource_for("apps/v1", workload.kind)
        body = {
            "apiVersion": "apps/v1",
            "kind": workload.kind,
            "metadata": {"name": workload.name, "namespace": namespace},
            "spec": {"replicas": replicas},
        }
        try:
            await self.client.request(
                "PATCH",
                object_path(ref, namespace, workload.name),
                query={"fieldManager": HANDOVER_MANAGER},
                body=body,
                content_type=APPLY_CONTENT_TYPE,
            )
        except Conflict:
            return True  # another manager (the HPA) changed replicas already: it owns them
        except KubeError as exc:
            log.warning("could not hand replicas over to the HPA", workload=workload.name,
                        error=exc.message)  # fmt: skip
            errors.append(exc)
            return False
        log.info("replicas handed over to the HPA", workload=workload.name, replicas=replicas)
        return True

    async def _annotate(
        self, group_plan: GroupPlan, memory: _Memory, errors: list[KubeError]
    ) -> bool:
        """Give each named pod the cost; True when any write failed (replicas must wait)."""
        failed = False
        for ref in group_plan.annotate:
            if await self._set_cost(ref, DELETION_COST, errors):
                memory.annotated.add(ref.uid)
                log.info("deletion cost set on named pod", group=group_plan.group, pod=ref.name)
            else:
                failed = True
        return failed

    async def _set_cost(self, ref: PodRef, cost: str | None, errors: list[KubeError]) -> bool:
        """Apply rayop's intent for the pod's annotations (the cost, or none); True on success.

        A pod that is gone (or replaced by a namesake: the uid precondition fails) needs
        nothing, which also counts as success.
        """
        meta: dict[str, Any] = {"name": ref.name, "namespace": ref.namespace, "uid": ref.uid}
        if cost is not None:
            meta["annotations"] = {DELETION_COST_ANNOTATION: cost}
        try:
            stored = await self.client.apply({"apiVersion": "v1", "kind": "Pod", "metadata": meta})
        except (NotFound, Conflict, Invalid):
            # Invalid: an apply to a vanished pod would create one without a spec.
            return True
        except KubeError as exc:
            log.warning("could not write the deletion cost", pod=ref.name, error=exc.message)
            errors.append(exc)
            return False
        # The stored pod is what the ReplicaSet ranks: only lower replicas once it has our cost
        # (a mutating webhook could have dropped it).
        seen = ((stored.get("metadata") or {}).get("annotations") or {}).get(
            DELETION_COST_ANNOTATION
        )
        return cost is None or seen == cost

    async def _delete(
        self, involved: Mapping[str, Any], group_plan: GroupPlan, errors: list[KubeError]
    ) -> None:
        for ref in group_plan.delete:
            try:
                deleted = await self.client.delete("v1", "Pod", ref.namespace, ref.name,
                                                   uid=ref.uid)  # fmt: skip
            except Conflict:
                continue  # a namesake replaced it: the named pod is gone already
            except KubeError as exc:
                errors.append(exc)
                continue
            if deleted:
                log.info("deleted named worker pod", group=group_plan.group, pod=ref.name)
                self.recorder.normal(
                    involved,
                    EventReason.DELETED_WORKER_POD,
                    f"Deleted pod {ref.name}: named in workersToDelete of group {group_plan.group}",
                )

    def _warn_not_honoured(
        self, involved: Mapping[str, Any], memory: _Memory, found: Sequence[NotHonoured]
    ) -> None:
        """One Warning per change of a StatefulSet-backed group's named pods."""
        current = {item.group: item for item in found}
        for group in list(memory.warned):
            if group not in current:
                del memory.warned[group]
        for group, item in current.items():
            if memory.warned.get(group) == item.named:
                continue
            memory.warned[group] = item.named
            self.recorder.warning(
                involved,
                EventReason.WORKERS_TO_DELETE_NOT_HONOURED,
                f"Worker group {group} is a StatefulSet, which removes its highest-numbered "
                f"pods: it scales by count, so {', '.join(item.kept)} named in "
                "workersToDelete will keep running (use workloadKind: Deployment to remove "
                "exactly the named pods)",
            )


def _hold(stamped: Mapping[str, Any], replicas: int) -> dict[str, Any]:
    """The desired workload with ``replicas`` kept, re-stamped so its hash matches its content."""
    meta = dict(stamped["metadata"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != HASH_ANNOTATION}  # fmt: skip
    meta["annotations"] = annotations
    if not annotations:
        del meta["annotations"]
    return stamp({**stamped, "metadata": meta, "spec": {**stamped["spec"], "replicas": replicas}})
