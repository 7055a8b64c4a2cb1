"""controller.scaledown.plan: which named pods get the deletion cost, which are deleted, and when."""

from __future__ import annotations

from typing import Any

from controller.api import RayCluster, parse_raycluster
from controller.builders import build_children
from controller.caches import ChildKey
from controller.diff import stamp
from controller.scaledown import GroupPlan, Handover, NotHonoured, PodRef, plan

NS = "default"
DEPLOYMENT = ChildKey("Deployment", "rc-g0-worker")
STATEFULSET = ChildKey("StatefulSet", "rc-g0-worker")


def _cluster(
    *,
    names: list[str] | None = None,
    kind: str | None = None,
    suspend: bool = False,
    hpa: bool = False,
) -> RayCluster:
    template = {"spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.9.0",
                                         "resources": {"requests": {"cpu": "1"}}}]}}  # fmt: skip
    groups = []
    for name in ("g0", "g1"):
        spec: dict[str, Any] = {"groupName": name, "replicas": 2, "minReplicas": 0,
                                "maxReplicas": 5, "template": template}  # fmt: skip
        if name == "g0":
            if names is not None:
                spec["scaleStrategy"] = {"workersToDelete": names}
            if kind:
                spec["workloadKind"] = kind
            if hpa:
                spec.update(minReplicas=1, horizontalPodAutoscaler={})
        groups.append(spec)
    result = parse_raycluster({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc", "namespace": NS, "uid": "rc-uid", "generation": 1},
        "spec": {"enableInTreeAutoscaling": not hpa, "headGroupSpec": {"template": template},
                 "workerGroupSpecs": groups, "suspend": suspend},
    })  # fmt: skip
    assert result.cluster is not None, result.problems
    return result.cluster


def _desired(cluster: RayCluster) -> dict[ChildKey, dict[str, Any]]:
    return {ChildKey(c["kind"], c["metadata"]["name"]): stamp(c) for c in build_children(cluster)}


def _observed(key: ChildKey, replicas: int) -> dict[ChildKey, dict[str, Any]]:
    return {key: {"metadata": {"name": key.name}, "spec": {"replicas": replicas}}}


def _pod(
    name: str, group: str = "g0", *, deleting: bool = False, phase: str = "Running"
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "uid": f"uid-{name}",
        "labels": {"ray.io/cluster": "rc", "ray.io/group": group,
                   "ray.io/node-type": "head" if group == "headgroup" else "worker"},
    }  # fmt: skip
    if deleting:
        meta["deletionTimestamp"] = "2026-11-25T17:00:00Z"
    return {"metadata": meta, "status": {"phase": phase}}


def _ref(name: str) -> PodRef:
    return PodRef(NS, name, f"uid-{name}")


PODS = [_pod("w-a"), _pod("w-b"), _pod("w-c"), _pod("rc-head-0", "headgroup"), _pod("x-1", "g1")]


def test_named_pod_gets_the_cost_before_replicas_drop() -> None:
    """Lowering 3 → 2 naming one live pod: annotate it, and hold at 3 should annotating fail."""
    cluster = _cluster(names=["w-b"])
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 3), pods=PODS)
    assert decided.groups == (
        GroupPlan("g0", DEPLOYMENT, annotate=(_ref("w-b"),), lowers=True, hold_at=3),
    )
    assert decided.unannotate == ()


def test_a_pod_already_annotated_is_not_written_again() -> None:
    """rayop's own earlier annotation is not repeated while the ReplicaSet catches up."""
    cluster = _cluster(names=["w-b"])
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 3),
                   pods=PODS, annotated={"uid-w-b"})  # fmt: skip
    assert decided.groups == (GroupPlan("g0", DEPLOYMENT, lowers=True, hold_at=3),)


def test_named_pod_left_after_the_replicaset_settled_is_deleted() -> None:
    """Replicas at 2 and 2 live pods, one of them named: the ReplicaSet kept it, so delete it."""
    cluster = _cluster(names=["w-b"])
    pods = [_pod("w-a"), _pod("w-b"), _pod("w-c", deleting=True)]
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 2), pods=pods)
    assert decided.groups == (GroupPlan("g0", DEPLOYMENT, delete=(_ref("w-b"),)),)


def test_nothing_is_deleted_while_the_replicaset_still_has_surplus() -> None:
    """Replicas already 2 but 3 pods live: the ReplicaSet is about to remove one; wait for it."""
    cluster = _cluster(names=["w-b"])
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 2),
                   pods=PODS, annotated={"uid-w-b"})  # fmt: skip
    assert decided.groups == (GroupPlan("g0", DEPLOYMENT),)


def test_failed_pods_do_not_count_as_live() -> None:
    """A Failed pod is not one the ReplicaSet keeps, so the named pod is deleted when the rest fit."""
    cluster = _cluster(names=["w-b"])
    pods = [_pod("w-a"), _pod("w-b"), _pod("w-c", phase="Failed")]
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 2), pods=pods)
    assert decided.groups == (GroupPlan("g0", DEPLOYMENT, delete=(_ref("w-b"),)),)


def test_pods_being_deleted_or_gone_need_nothing() -> None:
    """A named pod already terminating, or no longer listed, is done: no plan for the group."""
    cluster = _cluster(names=["w-b", "w-gone"])
    pods = [_pod("w-a"), _pod("w-b", deleting=True)]
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 2), pods=pods)
    assert decided.groups == ()
    assert decided.ignored == ()


def test_names_outside_the_group_are_ignored() -> None:
    """The head and another group's pod named in g0's list are reported and never acted on."""
    cluster = _cluster(names=["rc-head-0", "x-1", "nobody"])
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 3), pods=PODS)
    assert decided.groups == ()
    assert decided.ignored == (("g0", "rc-head-0"), ("g0", "x-1"))


def test_statefulset_group_reports_the_named_pods_it_keeps() -> None:
    """Scaling a StatefulSet to 2 removes ordinal 2: a named ordinal 0 is kept and reported."""
    cluster = _cluster(names=["rc-g0-worker-0", "rc-g0-worker-2"], kind="StatefulSet")
    pods = [_pod(f"rc-g0-worker-{i}") for i in range(3)]
    decided = plan(
        cluster, desired=_desired(cluster), observed=_observed(STATEFULSET, 3), pods=pods
    )
    assert decided.groups == ()
    assert decided.not_honoured == (
        NotHonoured("g0", named=("rc-g0-worker-0", "rc-g0-worker-2"), kept=("rc-g0-worker-0",)),
    )


def test_statefulset_group_naming_its_top_ordinal_needs_no_warning() -> None:
    """When the named pod is the one the StatefulSet removes anyway, nothing is reported."""
    cluster = _cluster(names=["rc-g0-worker-2"], kind="StatefulSet")
    pods = [_pod(f"rc-g0-worker-{i}") for i in range(3)]
    decided = plan(
        cluster, desired=_desired(cluster), observed=_observed(STATEFULSET, 3), pods=pods
    )
    assert decided.not_honoured == ()


def test_a_pod_no_longer_named_loses_rayops_cost() -> None:
    """A live pod rayop annotated that the list no longer names is to be un-annotated."""
    cluster = _cluster(names=[])
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 2),
                   pods=PODS, annotated={"uid-w-b"})  # fmt: skip
    assert decided.unannotate == (_ref("w-b"),)
    assert decided.groups == ()


def test_suspended_cluster_acts_on_nothing() -> None:
    """A suspended cluster's groups go to zero anyway: no annotation, no delete."""
    cluster = _cluster(names=["w-b"], suspend=True)
    decided = plan(cluster, desired=_desired(cluster), observed=_observed(DEPLOYMENT, 3), pods=PODS)
    assert decided.groups == ()


def test_a_running_group_switching_to_an_hpa_hands_its_replicas_over() -> None:
    """Workload running with 3, HPA not yet there: hand 3 over before rayop stops applying it."""
    cluster = _cluster(hpa=True)
    decided = plan(
        cluster, desired=_desired(cluster), observed=_observed(STATEFULSET, 3), pods=PODS
    )
    hpa = ChildKey("HorizontalPodAutoscaler", "rc-g0-worker")
    assert decided.handover == (Handover(STATEFULSET, hpa, 3),)


def test_no_hand_over_once_the_hpa_runs() -> None:
    """With the HPA in the cache the field is the HPA's: nothing to hand over."""
    cluster = _cluster(hpa=True)
    observed = {
        **_observed(STATEFULSET, 3),
        ChildKey("HorizontalPodAutoscaler", "rc-g0-worker"): {"spec": {}},
    }
    decided = plan(cluster, desired=_desired(cluster), observed=observed, pods=PODS)
    assert decided.handover == ()


def test_a_group_under_an_hpa_ignores_workers_to_delete() -> None:
    """The HPA owns the size: naming pods neither annotates, deletes nor warns."""
    cluster = _cluster(hpa=True, names=["rc-g0-worker-0"])
    pods = [_pod(f"rc-g0-worker-{i}") for i in range(3)]
    decided = plan(
        cluster, desired=_desired(cluster), observed=_observed(STATEFULSET, 3), pods=pods
    )
    assert (decided.groups, decided.not_honoured) == ((), ())
