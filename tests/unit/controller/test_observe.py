"""Unit tests for controller.observe: reading dead pods, the head Service and HPA decisions."""

from __future__ import annotations

from controller.caches import ChildKey, slim_pod
from controller.observe import dead_pod_reason, head_service, hpa_replicas


def _pod(phase: str, **extra: object) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "ray"}]},
            "status": {"phase": phase, **extra}}  # fmt: skip


def test_failed_and_evicted_pods_are_dead() -> None:
    """Failed (including Evicted) and Succeeded pods will never run again."""
    assert dead_pod_reason(_pod("Failed", reason="Evicted")) == "Evicted"
    assert dead_pod_reason(_pod("Failed")) == "Failed"
    assert dead_pod_reason(_pod("Succeeded")) == "Succeeded"


def test_running_and_pending_pods_are_left_to_the_kubelet() -> None:
    """Crash-looping or starting pods are the kubelet's to restart, not rayop's to delete."""
    crashing = _pod("Running", containerStatuses=[{"name": "ray", "state": {"terminated": {}}}])
    assert dead_pod_reason(crashing) == ""
    assert dead_pod_reason(_pod("Pending")) == ""


def test_terminated_ray_container_with_restart_policy_never_is_dead() -> None:
    """With restartPolicy Never, a terminated Ray container (container 0) means a dead pod."""
    pod = _pod("Running", containerStatuses=[{"name": "ray", "state": {"terminated": {}}}])
    pod["spec"]["restartPolicy"] = "Never"
    assert "restartPolicy is Never" in dead_pod_reason(pod)
    sidecar_only = _pod(
        "Running", containerStatuses=[{"name": "autoscaler", "state": {"terminated": {}}}]
    )
    sidecar_only["spec"]["restartPolicy"] = "Never"
    assert dead_pod_reason(sidecar_only) == ""


def test_pods_being_deleted_are_not_deleted_again() -> None:
    """A pod with a deletionTimestamp is already going."""
    pod = _pod("Failed")
    pod["metadata"]["deletionTimestamp"] = "2026-11-25T17:00:00Z"
    assert dead_pod_reason(pod) == ""


def test_head_service_is_found_by_its_head_selector() -> None:
    """The observed head Service is the desired Service selecting the head node type."""
    head_key, workers_key = ChildKey("Service", "c-head-svc"), ChildKey("Service", "c-workers")
    desired = {
        workers_key: {"spec": {"selector": {"ray.io/node-type": "worker"}}},
        head_key: {"spec": {"selector": {"ray.io/node-type": "head"}}},
    }
    observed = {head_key: {"metadata": {"name": "c-head-svc"}}}
    assert head_service(desired, observed) == {"metadata": {"name": "c-head-svc"}}
    assert head_service(desired, {}) is None


def test_hpa_replicas_are_read_from_workloads_rayop_leaves_to_the_hpa() -> None:
    """Groups whose workload rayop applies without replicas report the observed replicas."""
    hpa, fixed = ChildKey("Deployment", "c-a-worker"), ChildKey("StatefulSet", "c-b-worker")
    desired = {
        hpa: {"spec": {"selector": {"matchLabels": {"ray.io/group": "a"}}}},
        fixed: {"spec": {"replicas": 2, "selector": {"matchLabels": {"ray.io/group": "b"}}}},
    }
    observed = {hpa: {"spec": {"replicas": 7}}, fixed: {"spec": {"replicas": 2}}}
    assert hpa_replicas(desired, observed) == {"a": 7}


def test_slim_pod_keeps_what_status_reads_and_is_idempotent() -> None:
    """The pod transform keeps labels, phase, readiness and container states; twice = once."""
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"ray.io/cluster": "c"},
                     "managedFields": [{"manager": "x"}], "annotations": {"big": "x" * 100}},
        "spec": {"containers": [{"name": "ray", "image": "i", "env": [{"name": "A"}]}],
                 "restartPolicy": "Always", "nodeName": "n"},
        "status": {"phase": "Running", "podIP": "1.2.3.4",
                   "conditions": [{"type": "Ready", "status": "True"},
                                  {"type": "PodScheduled", "status": "True"},
                                  {"type": "Initialized", "status": "True"}],
                   "containerStatuses": [{"name": "ray", "ready": True, "restartCount": 0,
                                          "state": {"running": {}}, "imageID": "sha"}]},
    }  # fmt: skip
    slim = slim_pod(pod)
    assert slim["metadata"] == {"name": "p", "namespace": "ns", "labels": {"ray.io/cluster": "c"}}
    assert slim["spec"] == {
        "restartPolicy": "Always",
        "nodeName": "n",
        "containers": [{"name": "ray"}],
    }
    assert slim["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "PodScheduled", "status": "True"},
    ]
    assert slim["status"]["containerStatuses"] == [
        {"name": "ray", "ready": True, "restartCount": 0, "state": {"running": {}}}
    ]
    assert slim_pod(slim) == slim
