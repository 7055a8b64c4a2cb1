"""In-tree autoscaling (sidecar, RBAC, flags) and GCS fault tolerance with external Redis."""

from __future__ import annotations

import shlex
from typing import Any

from controller.builders import (
    autoscaler_rbac,
    build_children,
    build_warnings,
    head_statefulset,
    worker_workload,
)

from .conftest import UID, MakeCluster


def head_spec(cluster: Any) -> dict[str, Any]:
    spec: dict[str, Any] = head_statefulset(cluster)["spec"]["template"]["spec"]
    return spec


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def ray_words(container: dict[str, Any]) -> list[str]:
    return shlex.split(container["args"][0])


class TestAutoscaler:
    """The autoscaler sidecar on the head, and what it runs with."""

    def test_sidecar_and_no_monitor(self, make_cluster: MakeCluster) -> None:
        """The head runs ray start --no-monitor and an autoscaler sidecar with the Ray image."""
        spec = head_spec(make_cluster(enableInTreeAutoscaling=True))
        ray, sidecar = spec["containers"]
        assert "--no-monitor" in ray_words(ray)
        assert sidecar["name"] == "autoscaler"
        assert sidecar["image"] == ray["image"]
        assert sidecar["args"] == [
            "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
            "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
        ]
        assert sidecar["resources"] == {
            "limits": {"cpu": "500m", "memory": "512Mi"},
            "requests": {"cpu": "500m", "memory": "512Mi"},
        }
        got = env(sidecar)
        assert got["KUBERAY_CRD_VER"] == "v1"
        assert got["RAY_HEAD_POD_NAME"] == {
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
        }
        assert spec["serviceAccountName"] == "rc"

    def test_logs_are_shared_through_tmp_ray(self, make_cluster: MakeCluster) -> None:
        """Ray and the sidecar mount the same volume at /tmp/ray."""
        spec = head_spec(make_cluster(enableInTreeAutoscaling=True))
        mounts = [
            {m["mountPath"]: m["name"] for m in c["volumeMounts"]} for c in spec["containers"]
        ]
        assert mounts[0]["/tmp/ray"] == mounts[1]["/tmp/ray"] == "ray-logs"
        assert {"name": "ray-logs", "emptyDir": {}} in spec["volumes"]

    def test_existing_tmp_ray_volume_is_reused(self, make_cluster: MakeCluster) -> None:
        """If the Ray container already mounts /tmp/ray, the sidecar mounts that volume."""

        def edit(doc: dict[str, Any]) -> None:
            template = doc["spec"]["headGroupSpec"]["template"]["spec"]
            template["containers"][0]["volumeMounts"] = [{"name": "logs", "mountPath": "/tmp/ray"}]
            template["volumes"] = [{"name": "logs", "emptyDir": {}}]

        spec = head_spec(make_cluster(edit, enableInTreeAutoscaling=True))
        assert {"name": "logs", "mountPath": "/tmp/ray"} in spec["containers"][1]["volumeMounts"]
        assert [v["name"] for v in spec["volumes"]] == ["logs", "shared-mem"]

    def test_options_override_the_sidecar(self, make_cluster: MakeCluster) -> None:
        """autoscalerOptions image, pull policy, resources and env reach the sidecar."""
        options = {
            "image": "my/autoscaler:1",
            "imagePullPolicy": "Always",
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
            "env": [{"name": "AUTOSCALER_UPDATE_INTERVAL_S", "value": "2"}],
            "securityContext": {"runAsNonRoot": True},
        }
        spec = head_spec(make_cluster(enableInTreeAutoscaling=True, autoscalerOptions=options))
        sidecar = spec["containers"][1]
        assert sidecar["image"] == "my/autoscaler:1"
        assert sidecar["imagePullPolicy"] == "Always"
        assert sidecar["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}}
        assert sidecar["securityContext"] == {"runAsNonRoot": True}
        assert env(sidecar)["AUTOSCALER_UPDATE_INTERVAL_S"] == "2"

    def test_version_sets_ray_env(self, make_cluster: MakeCluster) -> None:
        """autoscalerOptions.version v2/v1 sets RAY_enable_autoscaler_v2 on the Ray head; unset leaves it."""
        for version, expected in (("v2", "true"), ("v1", "false")):
            spec = head_spec(
                make_cluster(enableInTreeAutoscaling=True, autoscalerOptions={"version": version})
            )
            assert env(spec["containers"][0])["RAY_enable_autoscaler_v2"] == expected
        spec = head_spec(make_cluster(enableInTreeAutoscaling=True))
        assert "RAY_enable_autoscaler_v2" not in env(spec["containers"][0])

    def test_role_grants_exactly_what_the_autoscaler_uses(self, make_cluster: MakeCluster) -> None:
        """pods get/list/watch/patch, pods/resize patch, get/patch of its own RayCluster only
        (resourceNames), bound to <cluster>."""
        sa, role, binding = autoscaler_rbac(make_cluster(enableInTreeAutoscaling=True))
        assert sa["kind"] == "ServiceAccount"
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
            {
                "apiGroups": ["ray.io"],
                "resources": ["rayclusters"],
                "resourceNames": ["rc"],
                "verbs": ["get", "patch"],
            },
        ]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "rc",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rc", "namespace": "ns"}]

    def test_user_service_account_is_used_but_never_bound(self, make_cluster: MakeCluster) -> None:
        """A ServiceAccount named in the head template runs the head, but the autoscaler's Role
        is bound only to rayop's own account, and a warning says so (issue 16)."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "mine"

        cluster = make_cluster(edit, enableInTreeAutoscaling=True)
        objects = autoscaler_rbac(cluster)
        assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding"]
        assert objects[2]["subjects"] == [
            {"kind": "ServiceAccount", "name": "rc", "namespace": "ns"}
        ]
        assert head_spec(cluster)["serviceAccountName"] == "mine"
        (warning,) = [w for w in build_warnings(cluster) if "serviceAccountName" in w.field]
        assert "'mine', which rayop did not create" in str(warning)

    def test_no_autoscaler_no_sidecar_no_rbac(self, make_cluster: MakeCluster) -> None:
        """Without in-tree autoscaling there is no sidecar, no RBAC and no --no-monitor."""
        cluster = make_cluster()
        spec = head_spec(cluster)
        assert [c["name"] for c in spec["containers"]] == ["ray-head"]
        assert autoscaler_rbac(cluster) == []
        assert "--no-monitor" not in ray_words(spec["containers"][0])


REDIS_OPTIONS: dict[str, Any] = {
    "redisAddress": "redis:6379",
    "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}},
}


class TestGcsFaultTolerance:
    """GCS FT with external Redis, in both the current and the legacy annotation form."""

    OPTIONS = REDIS_OPTIONS

    def test_head_gets_redis_env_and_annotations(self, make_cluster: MakeCluster) -> None:
        """RAY_REDIS_ADDRESS, REDIS_PASSWORD from the secret, the storage namespace = uid."""
        template = head_statefulset(make_cluster(gcsFaultToleranceOptions=self.OPTIONS))["spec"][
            "template"
        ]
        got = env(template["spec"]["containers"][0])
        assert got["RAY_REDIS_ADDRESS"] == "redis:6379"
        assert got["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis", "key": "password"}}
        assert got["RAY_external_storage_namespace"] == UID
        assert template["metadata"]["annotations"] == {
            "ray.io/ft-enabled": "true",
            "ray.io/external-storage-namespace": UID,
        }

    def test_password_reaches_ray_start_through_the_env_only(
        self, make_cluster: MakeCluster
    ) -> None:
        """ray start gets --redis-password="${REDIS_PASSWORD}", expanded by bash, never the secret."""
        ray = head_spec(make_cluster(gcsFaultToleranceOptions=self.OPTIONS))["containers"][0]
        assert '--redis-password="${REDIS_PASSWORD}"' in ray["args"][0]

    def test_explicit_storage_namespace_wins(self, make_cluster: MakeCluster) -> None:
        """externalStorageNamespace is used instead of the uid."""
        options = {**self.OPTIONS, "externalStorageNamespace": "shared"}
        ray = head_spec(make_cluster(gcsFaultToleranceOptions=options))["containers"][0]
        assert env(ray)["RAY_external_storage_namespace"] == "shared"

    def test_workers_survive_a_head_restart(self, make_cluster: MakeCluster) -> None:
        """Workers wait 600 s for the GCS to come back instead of Ray's 60 s."""
        cluster = make_cluster(gcsFaultToleranceOptions=self.OPTIONS)
        ray = worker_workload(cluster, "small")["spec"]["template"]["spec"]["containers"][0]
        assert env(ray)["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"

    def test_legacy_annotation_form(self, make_cluster: MakeCluster) -> None:
        """ray.io/ft-enabled: "true" turns FT on: storage namespace, annotation, worker timeout."""

        def edit(doc: dict[str, Any]) -> None:
            doc["metadata"]["annotations"] = {"ray.io/ft-enabled": "true"}
            head = doc["spec"]["headGroupSpec"]
            head["template"]["spec"]["containers"][0]["env"] = [
                {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}
            ]

        cluster = make_cluster(edit)
        head = head_statefulset(cluster)["spec"]["template"]
        assert head["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
        assert env(head["spec"]["containers"][0])["RAY_external_storage_namespace"] == UID
        worker = worker_workload(cluster, "small")["spec"]["template"]["spec"]["containers"][0]
        assert env(worker)["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"

    def test_without_ft_nothing_is_added(self, make_cluster: MakeCluster) -> None:
        """Without FT the head says ft-enabled false and workers keep Ray's default timeout."""
        objects = build_children(make_cluster())
        head = objects[2]["spec"]["template"]
        assert head["metadata"]["annotations"] == {"ray.io/ft-enabled": "false"}
        worker = objects[3]["spec"]["template"]["spec"]["containers"][0]
        assert "RAY_gcs_rpc_server_reconnect_timeout_s" not in env(worker)
        assert "RAY_REDIS_ADDRESS" not in env(head["spec"]["containers"][0])
