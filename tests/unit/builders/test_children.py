"""The objects a RayCluster becomes: kinds, names, owners, replicas, HPAs, rollouts, suspend."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import RayCluster
from controller.builders import (
    build_children,
    build_warnings,
    head_service,
    head_statefulset,
    worker_hpa,
    worker_service,
    worker_workload,
)

from .conftest import UID, MakeCluster


def kinds(cluster: RayCluster) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in build_children(cluster)]


def group(doc: dict[str, Any], **fields: Any) -> None:
    doc["spec"]["workerGroupSpecs"][0].update(fields)


class TestObjects:
    """Which objects exist, in which order, with which metadata."""

    def test_plain_cluster(self, make_cluster: MakeCluster) -> None:
        """Without autoscaling: head Service, worker Service, head StatefulSet, worker StatefulSet."""
        assert kinds(make_cluster()) == [
            ("Service", "rc-head-svc"),
            ("Service", "rc-workers"),
            ("StatefulSet", "rc-head"),
            ("StatefulSet", "rc-small-worker"),
        ]

    def test_autoscaling_cluster(self, make_cluster: MakeCluster) -> None:
        """With in-tree autoscaling: RBAC first, and the group defaults to a Deployment."""
        assert kinds(make_cluster(enableInTreeAutoscaling=True)) == [
            ("ServiceAccount", "rc"),
            ("Role", "rc"),
            ("RoleBinding", "rc"),
            ("Service", "rc-head-svc"),
            ("Service", "rc-workers"),
            ("StatefulSet", "rc-head"),
            ("Deployment", "rc-small-worker"),
        ]

    def test_every_child_is_owned_by_the_cluster(self, make_cluster: MakeCluster) -> None:
        """Each child has the namespace, rayop's labels and one controller ownerReference."""
        for obj in build_children(make_cluster(enableInTreeAutoscaling=True)):
            meta = obj["metadata"]
            assert meta["namespace"] == "ns"
            assert meta["labels"]["ray.io/cluster"] == "rc"
            assert meta["labels"]["app.kubernetes.io/managed-by"] == "rayop"
            assert meta["ownerReferences"] == [
                {
                    "apiVersion": "ray.io/v1",
                    "kind": "RayCluster",
                    "name": "rc",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]

    def test_no_owner_reference_without_uid(self, make_cluster: MakeCluster) -> None:
        """A manifest that was never stored (rayop render) has no uid to point at."""
        cluster = make_cluster(lambda d: d["metadata"].pop("uid"))
        assert all("ownerReferences" not in o["metadata"] for o in build_children(cluster))

    def test_per_kind_functions_match_build_children(self, make_cluster: MakeCluster) -> None:
        """The public one-kind builders return exactly what build_children includes."""
        cluster = make_cluster()
        assert build_children(cluster) == [
            head_service(cluster),
            worker_service(cluster),
            head_statefulset(cluster),
            worker_workload(cluster, "small"),
        ]
        assert worker_hpa(cluster, "small") is None

    def test_long_names_are_shortened_within_limits(self, make_cluster: MakeCluster) -> None:
        """A 63-character cluster and group still give valid, distinct, bounded names."""
        cluster_name = "c" * 63
        group_name = "g" * 63

        def edit(doc: dict[str, Any]) -> None:
            doc["metadata"]["name"] = cluster_name
            group(doc, groupName=group_name)

        objects = build_children(make_cluster(edit))
        limits = {"StatefulSet": 52, "Deployment": 52, "Service": 63}
        names = [o["metadata"]["name"] for o in objects]
        assert len(set(names)) == len(names)
        for obj in objects:
            assert len(obj["metadata"]["name"]) <= limits[obj["kind"]]
        template_labels = objects[2]["spec"]["template"]["metadata"]["labels"]
        assert len(template_labels["ray.io/identifier"]) <= 63


class TestHead:
    """The head StatefulSet and Service."""

    def test_head_statefulset(self, make_cluster: MakeCluster) -> None:
        """One replica, governed by the head Service, Parallel, selecting the head group."""
        spec = head_statefulset(make_cluster())["spec"]
        assert spec["replicas"] == 1
        assert spec["serviceName"] == "rc-head-svc"
        assert spec["podManagementPolicy"] == "Parallel"
        assert spec["selector"] == {
            "matchLabels": {
                "ray.io/cluster": "rc",
                "ray.io/node-type": "head",
                "ray.io/group": "headgroup",
            }
        }
        assert spec["updateStrategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"partition": 0},
        }

    def test_head_service_ports_and_type(self, make_cluster: MakeCluster) -> None:
        """ClusterIP by default, the five Ray ports, selecting the head pod."""
        svc = head_service(make_cluster())
        assert svc["spec"]["type"] == "ClusterIP"
        assert svc["spec"]["selector"]["ray.io/node-type"] == "head"
        assert [
            (p["name"], p["port"], p["targetPort"], p["protocol"]) for p in svc["spec"]["ports"]
        ] == [
            ("gcs-server", 6379, 6379, "TCP"),
            ("dashboard", 8265, 8265, "TCP"),
            ("client", 10001, 10001, "TCP"),
            ("metrics", 8080, 8080, "TCP"),
            ("serve", 8000, 8000, "TCP"),
        ]

    def test_head_service_follows_spec(self, make_cluster: MakeCluster) -> None:
        """serviceType, headServiceAnnotations and a custom dashboard port reach the Service."""

        def edit(doc: dict[str, Any]) -> None:
            head = doc["spec"]["headGroupSpec"]
            head["serviceType"] = "NodePort"
            head["rayStartParams"] = {"dashboard-port": "9265", "port": "6380"}
            doc["spec"]["headServiceAnnotations"] = {"a": "b"}

        svc = head_service(make_cluster(edit))
        assert svc["spec"]["type"] == "NodePort"
        assert svc["metadata"]["annotations"] == {"a": "b"}
        ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
        assert ports["dashboard"] == 9265
        assert ports["gcs-server"] == 6380

    def test_extra_named_head_ports_are_exposed(self, make_cluster: MakeCluster) -> None:
        """A named port the head's Ray container declares beyond Ray's is on the Service too."""

        def edit(doc: dict[str, Any]) -> None:
            container = doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
            container["ports"] = [
                {"name": "grpc", "containerPort": 8888},
                {"name": "gcs", "containerPort": 6379},
            ]

        names = [p["name"] for p in head_service(make_cluster(edit))["spec"]["ports"]]
        assert names == ["gcs-server", "dashboard", "client", "metrics", "serve", "grpc"]

    def test_head_service_starts_from_user_service(self, make_cluster: MakeCluster) -> None:
        """headGroupSpec.headService's labels, annotations, ports and spec fields are kept."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["headGroupSpec"]["headService"] = {
                "metadata": {"labels": {"team": "ml"}, "annotations": {"lb": "internal"}},
                "spec": {"sessionAffinity": "ClientIP", "ports": [{"name": "extra", "port": 9999}]},
            }

        svc = head_service(make_cluster(edit))
        assert svc["metadata"]["labels"]["team"] == "ml"
        assert svc["metadata"]["labels"]["ray.io/cluster"] == "rc"
        assert svc["metadata"]["annotations"] == {"lb": "internal"}
        assert svc["spec"]["sessionAffinity"] == "ClientIP"
        assert svc["spec"]["ports"][0] == {
            "name": "extra",
            "protocol": "TCP",
            "port": 9999,
            "targetPort": 9999,
        }
        assert svc["spec"]["selector"]["ray.io/node-type"] == "head"

    def test_worker_service_is_headless(self, make_cluster: MakeCluster) -> None:
        """<cluster>-workers is headless and selects the cluster's workers."""
        spec = worker_service(make_cluster())["spec"]
        assert spec["clusterIP"] == "None"
        assert spec["selector"] == {"ray.io/cluster": "rc", "ray.io/node-type": "worker"}


class TestWorkers:
    """Worker workloads: kind, replicas, HPA, storage, rollouts."""

    def test_statefulset_by_default(self, make_cluster: MakeCluster) -> None:
        """Without the autoscaler a group is a Parallel StatefulSet governed by <cluster>-workers."""
        obj = worker_workload(make_cluster(), "small")
        assert obj["kind"] == "StatefulSet"
        assert obj["spec"]["serviceName"] == "rc-workers"
        assert obj["spec"]["podManagementPolicy"] == "Parallel"
        assert obj["spec"]["replicas"] == 2

    def test_statefulset_can_be_chosen_under_autoscaler(self, make_cluster: MakeCluster) -> None:
        """workloadKind: StatefulSet is honoured under the autoscaler (with a warning from the API)."""
        cluster = make_cluster(
            lambda d: group(d, workloadKind="StatefulSet"), enableInTreeAutoscaling=True
        )
        assert worker_workload(cluster, "small")["kind"] == "StatefulSet"

    def test_deployment_rolls_without_surge(self, make_cluster: MakeCluster) -> None:
        """A Deployment never runs more pods than replicas during a rollout."""
        obj = worker_workload(make_cluster(enableInTreeAutoscaling=True), "small")
        assert obj["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "25%"},
        }
        assert "serviceName" not in obj["spec"]

    @pytest.mark.parametrize(("replicas", "expected"), [(0, 1), (3, 3), (9, 5)])
    def test_replicas_clamped_to_min_max(
        self, make_cluster: MakeCluster, replicas: int, expected: int
    ) -> None:
        """replicas outside [minReplicas, maxReplicas] runs the nearest bound."""
        cluster = make_cluster(lambda d: group(d, replicas=replicas))
        assert worker_workload(cluster, "small")["spec"]["replicas"] == expected

    def test_num_of_hosts_multiplies_pods(self, make_cluster: MakeCluster) -> None:
        """Each replica of a numOfHosts: 2 group is two worker pods."""
        cluster = make_cluster(lambda d: group(d, numOfHosts=2))
        assert worker_workload(cluster, "small")["spec"]["replicas"] == 4

    def test_hpa_owns_replicas(self, make_cluster: MakeCluster) -> None:
        """With an HPA the workload has no replicas; the HPA targets it with min/max and CPU 80%."""
        cluster = make_cluster(lambda d: group(d, horizontalPodAutoscaler={}))
        obj = worker_workload(cluster, "small")
        assert "replicas" not in obj["spec"]
        hpa = worker_hpa(cluster, "small")
        assert hpa is not None
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["metadata"]["name"] == "rc-small-worker"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "rc-small-worker",
        }
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 5)
        assert hpa["spec"]["metrics"] == [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]

    def test_hpa_metrics_and_behavior_pass_through(self, make_cluster: MakeCluster) -> None:
        """The user's metrics and behavior are the HPA's."""
        metrics = [
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            }
        ]
        behavior = {"scaleDown": {"stabilizationWindowSeconds": 60}}
        cluster = make_cluster(
            lambda d: group(d, horizontalPodAutoscaler={"metrics": metrics, "behavior": behavior})
        )
        hpa = worker_hpa(cluster, "small")
        assert hpa is not None
        assert hpa["spec"]["metrics"] == metrics
        assert hpa["spec"]["behavior"] == behavior

    def test_volume_claims_and_retention(self, make_cluster: MakeCluster) -> None:
        """volumeClaimTemplates and the retention policy reach the StatefulSet as written."""
        claim = {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
        cluster = make_cluster(
            lambda d: group(
                d,
                volumeClaimTemplates=[claim],
                persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"},
            )
        )
        spec = worker_workload(cluster, "small")["spec"]
        assert spec["volumeClaimTemplates"] == [claim]
        assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete"}

    def test_upgrade_strategy_none_keeps_running_pods(self, make_cluster: MakeCluster) -> None:
        """upgradeStrategy None makes StatefulSets OnDelete, head included."""
        cluster = make_cluster(upgradeStrategy={"type": "None"})
        assert worker_workload(cluster, "small")["spec"]["updateStrategy"] == {"type": "OnDelete"}
        assert head_statefulset(cluster)["spec"]["updateStrategy"] == {"type": "OnDelete"}
        assert build_warnings(cluster) == []

    def test_upgrade_strategy_none_on_deployment_warns(self, make_cluster: MakeCluster) -> None:
        """A Deployment cannot hold back a rollout: it still rolls, and a warning says so."""
        cluster = make_cluster(enableInTreeAutoscaling=True, upgradeStrategy={"type": "None"})
        assert worker_workload(cluster, "small")["spec"]["strategy"]["type"] == "RollingUpdate"
        (warning,) = build_warnings(cluster)
        assert warning.field == "spec.workerGroupSpecs[0].workloadKind"

    def test_recreate_replaces_deployment_pods_at_once(self, make_cluster: MakeCluster) -> None:
        """upgradeStrategy Recreate gives Deployments the Recreate strategy."""
        cluster = make_cluster(enableInTreeAutoscaling=True, upgradeStrategy={"type": "Recreate"})
        assert worker_workload(cluster, "small")["spec"]["strategy"] == {"type": "Recreate"}


class TestSuspend:
    """spec.suspend and per-group suspend."""

    def test_suspend_scales_everything_to_zero_and_keeps_services(
        self, make_cluster: MakeCluster
    ) -> None:
        """Suspended: head and workers at 0 replicas, no HPA, both Services still desired."""
        cluster = make_cluster(suspend=True, enableInTreeAutoscaling=True)
        objects = {(o["kind"], o["metadata"]["name"]): o for o in build_children(cluster)}
        assert objects[("StatefulSet", "rc-head")]["spec"]["replicas"] == 0
        assert objects[("Deployment", "rc-small-worker")]["spec"]["replicas"] == 0
        assert ("Service", "rc-head-svc") in objects
        assert ("Service", "rc-workers") in objects

    def test_suspended_hpa_group_has_zero_replicas_and_no_hpa(
        self, make_cluster: MakeCluster
    ) -> None:
        """While suspended an HPA group gets replicas 0 back and its HPA is not desired."""
        cluster = make_cluster(lambda d: group(d, horizontalPodAutoscaler={}), suspend=True)
        assert worker_workload(cluster, "small")["spec"]["replicas"] == 0
        assert worker_hpa(cluster, "small") is None

    def test_group_suspend(self, make_cluster: MakeCluster) -> None:
        """A suspended group has 0 replicas; the head keeps running."""
        cluster = make_cluster(lambda d: group(d, suspend=True))
        assert worker_workload(cluster, "small")["spec"]["replicas"] == 0
        assert head_statefulset(cluster)["spec"]["replicas"] == 1


class TestWarnings:
    """What build_warnings tells a user about how their children differ from the spec."""

    def test_clean_cluster_has_none(self, make_cluster: MakeCluster) -> None:
        """A plain cluster builds exactly as asked: no warnings."""
        assert build_warnings(make_cluster()) == []

    def test_worker_group_named_headgroup(self, make_cluster: MakeCluster) -> None:
        """A worker group named headgroup would look like the head to the Ray autoscaler."""
        (warning,) = build_warnings(make_cluster(lambda d: group(d, groupName="headgroup")))
        assert warning.field == "spec.workerGroupSpecs[0].groupName"

    def test_restart_policy_never_is_reported(self, make_cluster: MakeCluster) -> None:
        """restartPolicy Never cannot be honoured by a workload, and the user is told."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["restartPolicy"] = "Never"

        (warning,) = build_warnings(make_cluster(edit))
        assert warning.field == "spec.workerGroupSpecs[0].template.spec.restartPolicy"

    def test_custom_head_service_name_is_reported(self, make_cluster: MakeCluster) -> None:
        """A headService name rayop does not use is reported, not silently dropped."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["headGroupSpec"]["headService"] = {"metadata": {"name": "mine"}}

        (warning,) = build_warnings(make_cluster(edit))
        assert warning.field == "spec.headGroupSpec.headService.metadata.name"

    def test_batch_scheduler_label_is_reported(self, make_cluster: MakeCluster) -> None:
        """KubeRay's batch-scheduler queue label has no effect here, and the user is told."""
        cluster = make_cluster(lambda d: d["metadata"].update(labels={"kai.scheduler/queue": "a"}))
        (warning,) = build_warnings(cluster)
        assert warning.field == "metadata.labels.kai.scheduler/queue"
