"""Unit tests for controller.status: what a user reads in a RayCluster's status."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from controller.status import (
    ClusterShape,
    GroupShape,
    PodFacts,
    compute_status,
    container_resources,
    failed_status,
    pod_facts,
)

T0 = "2026-11-25T17:00:00Z"
T1 = "2026-11-25T17:05:00Z"

SHAPE = ClusterShape(
    name="c",
    generation=3,
    suspend=False,
    groups=[
        GroupShape(
            name="small",
            desired=2,
            min_replicas=1,
            max_replicas=3,
            pod_resources={"cpu": Decimal(1), "memory": Decimal(2**30)},
            replicas_for_resources=2,
        )
    ],
    head_resources={"cpu": Decimal(2), "memory": Decimal(4 * 2**30)},
)
SERVICE = {
    "metadata": {"name": "c-head-svc"},
    "spec": {
        "clusterIP": "10.0.0.9",
        "ports": [{"name": "gcs-server", "port": 6379}, {"name": "dashboard", "port": 8265}],
    },
}


def _pod(name: str, node_type: str, group: str, *, ready: bool = True, ip: str = "") -> PodFacts:
    return PodFacts(
        name=name, node_type=node_type, group=group, phase="Running", ready=ready, ip=ip
    )


HEAD = _pod("c-head-0", "head", "headgroup", ip="10.1.0.1")
W1 = _pod("c-small-worker-0", "worker", "small")
W2 = _pod("c-small-worker-1", "worker", "small")


def _cond(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status["conditions"] if c["type"] == type_), None)


def test_all_pods_ready_means_ready_state_and_condition() -> None:
    """With the head and both workers ready, state is ready and Ready is True."""
    status = compute_status(SHAPE, pods=[HEAD, W1, W2], head_service=SERVICE, previous=None, now=T0)
    assert status["state"] == "ready"
    assert _cond(status, "Ready")["status"] == "True"
    assert _cond(status, "HeadPodReady")["status"] == "True"
    assert _cond(status, "RayClusterProvisioned")["status"] == "True"
    assert _cond(status, "ReplicaFailure")["status"] == "False"
    assert status["reason"] == ""
    assert status["readyWorkerReplicas"] == 2
    assert status["desiredWorkerReplicas"] == 2
    assert (status["minWorkerReplicas"], status["maxWorkerReplicas"]) == (1, 3)
    assert status["desiredCPU"] == "4"
    assert status["desiredMemory"] == "6Gi"
    assert status["head"] == {
        "podName": "c-head-0",
        "podIP": "10.1.0.1",
        "serviceName": "c-head-svc",
        "serviceIP": "10.0.0.9",
    }
    assert status["endpoints"] == {"gcs-server": "6379", "dashboard": "8265"}
    assert status["observedGeneration"] == 3
    assert status["lastUpdateTime"] == T0


def test_one_worker_not_ready_is_not_ready() -> None:
    """A missing ready worker makes Ready False with a reason counting the workers."""
    not_ready = _pod("c-small-worker-1", "worker", "small", ready=False)
    status = compute_status(
        SHAPE, pods=[HEAD, W1, not_ready], head_service=SERVICE, previous=None, now=T0
    )
    assert status["state"] == ""
    assert status["reason"] == "1/2 workers ready"
    assert _cond(status, "Ready")["status"] == "False"
    assert status["availableWorkerReplicas"] == 2
    assert status["readyWorkerReplicas"] == 1


def test_unchanged_status_is_returned_as_is_without_a_new_timestamp() -> None:
    """Recomputing from the same observations gives back the previous status exactly."""
    first = compute_status(SHAPE, pods=[HEAD, W1, W2], head_service=SERVICE, previous=None, now=T0)
    again = compute_status(SHAPE, pods=[HEAD, W1, W2], head_service=SERVICE, previous=first, now=T1)
    assert again == first
    assert again["lastUpdateTime"] == T0


def test_head_outage_and_recovery_are_visible() -> None:
    """Losing the head flips HeadPodReady and Ready; Provisioned stays latched; recovery flips back."""
    ready = compute_status(SHAPE, pods=[HEAD, W1, W2], head_service=SERVICE, previous=None, now=T0)
    outage = compute_status(SHAPE, pods=[W1, W2], head_service=SERVICE, previous=ready, now=T1)
    assert outage["state"] == ""
    assert outage["reason"].startswith("head pod not found")
    head_cond = _cond(outage, "HeadPodReady")
    assert (head_cond["status"], head_cond["reason"], head_cond["lastTransitionTime"]) == (
        "False",
        "HeadPodNotFound",
        T1,
    )
    assert _cond(outage, "Ready")["status"] == "False"
    assert _cond(outage, "RayClusterProvisioned")["status"] == "True"
    assert outage["head"]["podName"] == ""
    assert outage["head"]["podIP"] == ""
    new_head = _pod("c-head-0", "head", "headgroup", ip="10.1.0.7")
    back = compute_status(
        SHAPE, pods=[new_head, W1, W2], head_service=SERVICE, previous=outage, now="T2"
    )
    assert back["state"] == "ready"
    assert back["head"]["podIP"] == "10.1.0.7"
    assert _cond(back, "Ready")["lastTransitionTime"] == "T2"
    assert back["stateTransitionTimes"]["ready"] == "T2"


def test_condition_transition_time_kept_while_status_unchanged() -> None:
    """A condition keeps its lastTransitionTime while its status stays the same."""
    first = compute_status(SHAPE, pods=[HEAD, W1], head_service=SERVICE, previous=None, now=T0)
    second = compute_status(SHAPE, pods=[HEAD], head_service=SERVICE, previous=first, now=T1)
    assert _cond(second, "Ready")["lastTransitionTime"] == T0
    assert second["lastUpdateTime"] == T1  # the reason changed, so the status did


def test_suspended_cluster_with_no_pods() -> None:
    """A suspended cluster whose pods are gone is state suspended and not provisioned."""
    shape = ClusterShape(name="c", generation=4, suspend=True, groups=SHAPE.groups)
    status = compute_status(shape, pods=[], head_service=SERVICE, previous=None, now=T0)
    assert status["state"] == "suspended"
    assert status["desiredWorkerReplicas"] == 0
    assert _cond(status, "RayClusterSuspended")["status"] == "True"
    assert _cond(status, "RayClusterProvisioned")["status"] == "False"
    assert _cond(status, "Ready")["reason"] == "Suspended"


def test_suspending_cluster_still_has_pods() -> None:
    """While pods of a suspended cluster still exist, it is not yet suspended."""
    shape = ClusterShape(name="c", generation=4, suspend=True, groups=SHAPE.groups)
    status = compute_status(shape, pods=[HEAD], head_service=SERVICE, previous=None, now=T0)
    assert status["state"] == ""
    assert _cond(status, "RayClusterSuspended")["reason"] == "RayClusterSuspending"


def test_failing_pods_show_replica_failure() -> None:
    """A crash-looping worker shows as ReplicaFailure naming the pod."""
    crashing = PodFacts(
        name="c-small-worker-1",
        node_type="worker",
        group="small",
        phase="Running",
        ready=False,
        failing="CrashLoopBackOff",
    )
    status = compute_status(
        SHAPE, pods=[HEAD, W1, crashing], head_service=SERVICE, previous=None, now=T0
    )
    failure = _cond(status, "ReplicaFailure")
    assert failure["status"] == "True"
    assert failure["reason"] == "WorkerPodFailing"
    assert "c-small-worker-1 (CrashLoopBackOff)" in failure["message"]


def test_every_condition_and_field_is_always_present() -> None:
    """Fields are never omitted, so a server never keeps a stale value rayop stopped sending."""
    status = compute_status(SHAPE, pods=[], head_service=None, previous=None, now=T0)
    assert [c["type"] for c in status["conditions"]] == [
        "HeadPodReady",
        "RayClusterProvisioned",
        "ReplicaFailure",
        "RayClusterSuspended",
        "Ready",
    ]
    assert status["head"] == {"podName": "", "podIP": "", "serviceName": "", "serviceIP": ""}
    assert status["endpoints"] == {}


def test_apply_error_shows_replica_failure() -> None:
    """A failure to write children is reported as ReplicaFailure."""
    status = compute_status(
        SHAPE, pods=[], head_service=None, previous=None, now=T0, apply_error="quota exceeded"
    )
    assert _cond(status, "ReplicaFailure")["message"] == "quota exceeded"


def test_terminating_pods_are_not_counted() -> None:
    """A pod being deleted is neither head nor worker for status."""
    dying = PodFacts(
        name="c-head-0",
        node_type="head",
        group="headgroup",
        phase="Running",
        ready=True,
        terminating=True,
    )
    status = compute_status(SHAPE, pods=[dying, W1, W2], head_service=None, previous=None, now=T0)
    assert _cond(status, "HeadPodReady")["reason"] == "HeadPodNotFound"


def test_headless_service_reports_head_pod_ip() -> None:
    """With a headless head service, the service IP shown is the head pod's IP."""
    headless = {"metadata": {"name": "c-head-svc"}, "spec": {"clusterIP": "None"}}
    status = compute_status(SHAPE, pods=[HEAD], head_service=headless, previous=None, now=T0)
    assert status["head"]["serviceIP"] == "10.1.0.1"


def test_invalid_spec_status_is_failed_and_stable() -> None:
    """An invalid spec gives state failed with the message, and recomputing changes nothing."""
    first = failed_status(generation=5, message="spec.x: bad", previous=None, now=T0)
    assert (first["state"], first["reason"], first["observedGeneration"]) == (
        "failed",
        "spec.x: bad",
        5,
    )
    assert _cond(first, "Ready")["reason"] == "InvalidSpec"
    again = failed_status(generation=5, message="spec.x: bad", previous=first, now=T1)
    assert again == first


def test_pod_facts_reads_readiness_and_failures() -> None:
    """pod_facts extracts readiness, container failure reasons and eviction."""
    pod = {
        "metadata": {"name": "p", "labels": {"ray.io/node-type": "worker", "ray.io/group": "g"}},
        "status": {
            "phase": "Running",
            "podIP": "10.2.0.3",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [
                {
                    "ready": False,
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                }
            ],
        },
    }
    facts = pod_facts(pod)
    assert (facts.ready, facts.failing, facts.ready_reason, facts.group) == (
        False,
        "CrashLoopBackOff",
        "CrashLoopBackOff",
        "g",
    )
    evicted = pod_facts(
        {"metadata": {"name": "e"}, "status": {"phase": "Failed", "reason": "Evicted"}}
    )
    assert evicted.failing == "Evicted"


def test_container_resources_prefer_requests_over_limits() -> None:
    """Per container, a request wins over a limit; containers add up."""
    template = {
        "spec": {
            "containers": [
                {
                    "resources": {
                        "requests": {"cpu": "500m"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    }
                },
                {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
            ]
        }
    }
    assert container_resources(template) == {
        "cpu": Decimal("0.5"),
        "memory": Decimal(2**30),
        "nvidia.com/gpu": Decimal(1),
    }


def test_unschedulable_pods_say_why_in_the_reason() -> None:
    """A pending head or worker that cannot be scheduled shows the scheduler's message."""
    pending = {
        "metadata": {"name": "c-head-0", "labels": {"ray.io/node-type": "head"}},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient cpu.",
                }
            ],
        },
    }
    status = compute_status(
        SHAPE, pods=[pod_facts(pending)], head_service=None, previous=None, now=T0
    )
    assert status["reason"] == (
        "head pod c-head-0 cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu.; "
        "0/2 workers ready"
    )
    assert _cond(status, "HeadPodReady")["reason"] == "Unschedulable"


def test_fields_and_conditions_left_by_other_writers_do_not_cause_writes() -> None:
    """A migrated KubeRay status with an extra condition is 'unchanged' once rayop's fields match."""
    first = compute_status(SHAPE, pods=[HEAD, W1, W2], head_service=SERVICE, previous=None, now=T0)
    migrated = {
        **first,
        "conditions": [
            *first["conditions"],
            {"type": "RayClusterSuspending", "status": "False", "reason": "x", "message": ""},
        ],
    }
    again = compute_status(
        SHAPE, pods=[HEAD, W1, W2], head_service=SERVICE, previous=migrated, now=T1
    )
    assert again == migrated


def test_not_ready_without_every_child_the_head_service_included() -> None:
    """All pods ready but the head Service (or another child) missing: not ready, and the
    reason names what is missing (issue 16)."""
    no_service = compute_status(
        SHAPE, pods=[HEAD, W1, W2], head_service=None, previous=None, now=T0
    )
    assert no_service["state"] != "ready"
    assert no_service["reason"] == "waiting for child objects: the head Service"
    missing = compute_status(
        SHAPE, pods=[HEAD, W1, W2], head_service=SERVICE, previous=None, now=T0,
        missing=["HorizontalPodAutoscaler/rc-g"],
    )  # fmt: skip
    assert missing["state"] != "ready"
    assert "HorizontalPodAutoscaler/rc-g" in missing["reason"]
    ready = {c["type"]: c["status"] for c in missing["conditions"]}
    assert ready["Ready"] == "False"
