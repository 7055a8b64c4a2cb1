"""Ray pod templates: env vars, probes, /dev/shm, init container, ports and labels."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from controller.api import RayCluster
from controller.builders import BuildConfig, build_children

from .conftest import MakeCluster


def workload(cluster: RayCluster, name: str, config: BuildConfig | None = None) -> dict[str, Any]:
    children = build_children(cluster, config=config or BuildConfig())
    return next(o for o in children if o["metadata"]["name"] == name and "template" in o["spec"])


def head_pod(cluster: RayCluster, config: BuildConfig | None = None) -> dict[str, Any]:
    return workload(cluster, "rc-head", config)["spec"]["template"]


def worker_pod(cluster: RayCluster, config: BuildConfig | None = None) -> dict[str, Any]:
    return workload(cluster, "rc-small-worker", config)["spec"]["template"]


def ray(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def set_worker(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set a key under the worker's Ray container."""
    doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0][path] = value


HEAD_FQDN = "rc-head-svc.ns.svc.cluster.local"


class TestEnv:
    """Env vars KubeRay sets, and how they meet the user's."""

    def test_worker_finds_the_head(self, make_cluster: MakeCluster) -> None:
        """Workers get FQ_RAY_IP, RAY_IP and RAY_ADDRESS pointing at the head Service."""
        got = env(ray(worker_pod(make_cluster())))
        assert got["FQ_RAY_IP"] == HEAD_FQDN
        assert got["RAY_IP"] == "rc-head-svc"
        assert got["RAY_ADDRESS"] == f"{HEAD_FQDN}:6379"
        assert got["RAY_PORT"] == "6379"

    def test_head_address_is_local(self, make_cluster: MakeCluster) -> None:
        """The head's RAY_ADDRESS is 127.0.0.1:<gcs port>, and it has no FQ_RAY_IP."""
        got = env(ray(head_pod(make_cluster())))
        assert got["RAY_ADDRESS"] == "127.0.0.1:6379"
        assert "FQ_RAY_IP" not in got

    @pytest.mark.parametrize("pod", [head_pod, worker_pod])
    def test_autoscaler_v2_identity(self, make_cluster: MakeCluster, pod: Any) -> None:
        """RAY_CLOUD_INSTANCE_ID is the pod name and RAY_NODE_TYPE_NAME the group label."""
        got = env(ray(pod(make_cluster())))
        assert got["RAY_CLOUD_INSTANCE_ID"] == {
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
        }
        assert got["RAY_NODE_TYPE_NAME"] == {
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['ray.io/group']"}
        }
        assert got["RAY_CLUSTER_NAMESPACE"] == {
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
        }

    def test_generated_command_is_exported(self, make_cluster: MakeCluster) -> None:
        """KUBERAY_GEN_RAY_START_CMD is exactly the ray start line the container runs."""
        container = ray(worker_pod(make_cluster()))
        line = env(container)["KUBERAY_GEN_RAY_START_CMD"]
        assert container["args"][0].endswith("; " + line)

    def test_user_cannot_override_managed_vars_but_can_override_defaults(
        self, make_cluster: MakeCluster
    ) -> None:
        """A user's RAY_CLUSTER_NAME is replaced; their RAY_ADDRESS is kept; no name repeats."""
        user = [
            {"name": "RAY_CLUSTER_NAME", "value": "spoof"},
            {"name": "RAY_ADDRESS", "value": "mine:1"},
            {"name": "KEEP", "value": "a"},
            {"name": "KEEP", "value": "b"},
        ]
        cluster = make_cluster(lambda d: set_worker(d, "env", user))
        container = ray(worker_pod(cluster))
        names = [e["name"] for e in container["env"]]
        assert len(names) == len(set(names))
        got = env(container)
        assert got["RAY_ADDRESS"] == "mine:1"
        assert got["KEEP"] == "b"
        assert "fieldRef" in got["RAY_CLUSTER_NAME"]


class TestProbes:
    """Liveness and readiness probes by Ray version (kuberay.md §2.4)."""

    def test_new_ray_uses_healthz_endpoint(self, make_cluster: MakeCluster) -> None:
        """Ray >= 2.53 is probed with GET /api/healthz on the dashboard agent port."""
        container = ray(head_pod(make_cluster(rayVersion="2.53.0")))
        for probe in (container["livenessProbe"], container["readinessProbe"]):
            assert probe["httpGet"] == {"path": "/api/healthz", "port": 52365, "scheme": "HTTP"}

    def test_agent_port_follows_the_flag(self, make_cluster: MakeCluster) -> None:
        """A custom dashboard-agent-listen-port is the port probed."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["workerGroupSpecs"][0]["rayStartParams"] = {
                "dashboard-agent-listen-port": "9999"
            }

        container = ray(worker_pod(make_cluster(edit, rayVersion="2.60.0")))
        assert container["livenessProbe"]["httpGet"]["port"] == 9999

    def test_old_ray_head_checks_raylet_and_gcs(self, make_cluster: MakeCluster) -> None:
        """Before 2.53 the head runs wget on the raylet and GCS health endpoints."""
        probe = ray(head_pod(make_cluster()))["livenessProbe"]
        script = probe["exec"]["command"][2]
        assert "api/local_raylet_healthz" in script
        assert "api/gcs_healthz" in script
        assert probe["failureThreshold"] == 120
        assert probe["timeoutSeconds"] == 5

    def test_old_ray_worker_checks_raylet_only(self, make_cluster: MakeCluster) -> None:
        """Before 2.53 a worker checks only its raylet, with a 2 s timeout."""
        probe = ray(worker_pod(make_cluster()))["readinessProbe"]
        assert "gcs_healthz" not in probe["exec"]["command"][2]
        assert probe["timeoutSeconds"] == 2
        assert probe["failureThreshold"] == 10

    def test_unparseable_version_uses_wget(self, make_cluster: MakeCluster) -> None:
        """A rayVersion like "nightly" gets the wget form every Ray version answers."""
        assert "exec" in ray(head_pod(make_cluster(rayVersion="nightly")))["livenessProbe"]

    def test_user_probe_is_kept(self, make_cluster: MakeCluster) -> None:
        """A probe the user wrote is left exactly as written; the other one is still added."""
        mine = {"tcpSocket": {"port": 6379}, "periodSeconds": 7}
        container = ray(worker_pod(make_cluster(lambda d: set_worker(d, "livenessProbe", mine))))
        assert container["livenessProbe"] == mine
        assert "readinessProbe" in container

    def test_probes_can_be_turned_off(self, make_cluster: MakeCluster) -> None:
        """BuildConfig(inject_probes=False) adds no probes."""
        container = ray(worker_pod(make_cluster(), BuildConfig(inject_probes=False)))
        assert "livenessProbe" not in container
        assert "readinessProbe" not in container


class TestSharedMemory:
    """/dev/shm is a memory-backed emptyDir sized like the Ray container's memory."""

    def test_sized_from_memory_limit(self, make_cluster: MakeCluster) -> None:
        """sizeLimit is the memory limit as written, mounted at /dev/shm."""
        pod = worker_pod(make_cluster())
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "shared-mem")
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
        assert {"name": "shared-mem", "mountPath": "/dev/shm"} in ray(pod)["volumeMounts"]

    def test_falls_back_to_memory_request(self, make_cluster: MakeCluster) -> None:
        """Without a memory limit, the request sizes /dev/shm."""
        resources = {"requests": {"cpu": "1", "memory": "3Gi"}}
        pod = worker_pod(make_cluster(lambda d: set_worker(d, "resources", resources)))
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "shared-mem")
        assert volume["emptyDir"]["sizeLimit"] == "3Gi"

    def test_user_shm_mount_wins(self, make_cluster: MakeCluster) -> None:
        """A user mount at /dev/shm means rayop adds none."""
        mounts = [{"name": "mine", "mountPath": "/dev/shm"}]

        def edit(doc: dict[str, Any]) -> None:
            set_worker(doc, "volumeMounts", mounts)
            doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["volumes"] = [
                {"name": "mine", "emptyDir": {}}
            ]

        pod = worker_pod(make_cluster(edit))
        assert [v["name"] for v in pod["spec"]["volumes"]] == ["mine"]
        assert ray(pod)["volumeMounts"] == mounts

    def test_plasma_directory_skips_shm(self, make_cluster: MakeCluster) -> None:
        """With a plasma-directory flag the object store lives elsewhere: no /dev/shm volume."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["workerGroupSpecs"][0]["rayStartParams"] = {"plasma-directory": "/data"}

        pod = worker_pod(make_cluster(edit))
        assert "volumes" not in pod["spec"]


class TestWaitForGcs:
    """Workers wait for the head's GCS in an init container."""

    def test_worker_waits_for_gcs(self, make_cluster: MakeCluster) -> None:
        """wait-gcs-ready health-checks the head address with the Ray image, 200m/256Mi."""
        pod = worker_pod(make_cluster())
        (init,) = pod["spec"]["initContainers"]
        assert init["name"] == "wait-gcs-ready"
        assert init["image"] == "rayproject/ray:2.52.0"
        assert f"ray health-check --address {HEAD_FQDN}:6379" in init["args"][0]
        assert init["resources"]["limits"] == {"cpu": "200m", "memory": "256Mi"}
        assert init["resources"]["requests"] == {"cpu": "200m", "memory": "256Mi"}

    def test_head_has_no_init_container(self, make_cluster: MakeCluster) -> None:
        """The head does not wait for itself."""
        assert "initContainers" not in head_pod(make_cluster())["spec"]

    def test_user_init_containers_run_first(self, make_cluster: MakeCluster) -> None:
        """wait-gcs-ready is appended after the user's init containers."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["initContainers"] = [
                {"name": "setup", "image": "busybox"}
            ]

        names = [c["name"] for c in worker_pod(make_cluster(edit))["spec"]["initContainers"]]
        assert names == ["setup", "wait-gcs-ready"]

    def test_can_be_turned_off(self, make_cluster: MakeCluster) -> None:
        """BuildConfig(inject_wait_for_gcs=False) adds no init container."""
        pod = worker_pod(make_cluster(), BuildConfig(inject_wait_for_gcs=False))
        assert "initContainers" not in pod["spec"]

    def test_cluster_domain_is_configurable(self, make_cluster: MakeCluster) -> None:
        """The head FQDN uses BuildConfig.cluster_domain."""
        pod = worker_pod(make_cluster(), BuildConfig(cluster_domain="corp.example"))
        assert "--address=rc-head-svc.ns.svc.corp.example:6379" in shlex.split(ray(pod)["args"][0])


class TestPortsAndLabels:
    """Container ports, restart policy and the labels users cannot override."""

    def test_head_container_ports(self, make_cluster: MakeCluster) -> None:
        """The head's Ray container declares GCS, dashboard, client, metrics and serve, TCP."""
        ports = ray(head_pod(make_cluster()))["ports"]
        assert [(p["name"], p["containerPort"], p["protocol"]) for p in ports] == [
            ("gcs-server", 6379, "TCP"),
            ("dashboard", 8265, "TCP"),
            ("client", 10001, "TCP"),
            ("metrics", 8080, "TCP"),
            ("serve", 8000, "TCP"),
        ]

    def test_user_ports_are_not_duplicated(self, make_cluster: MakeCluster) -> None:
        """A user port on 8080 under another name is kept and no second 8080 is added."""
        cluster = make_cluster(
            lambda d: set_worker(d, "ports", [{"name": "prom", "containerPort": 8080}])
        )
        ports = ray(worker_pod(cluster))["ports"]
        assert ports == [{"name": "prom", "containerPort": 8080, "protocol": "TCP"}]

    def test_restart_policy_is_always(self, make_cluster: MakeCluster) -> None:
        """Workload pods always restart in place (the only policy StatefulSets accept)."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["restartPolicy"] = "Never"

        assert worker_pod(make_cluster(edit))["spec"]["restartPolicy"] == "Always"

    def test_pod_labels(self, make_cluster: MakeCluster) -> None:
        """Every Ray pod carries the KubeRay and app.kubernetes.io labels of DESIGN.md."""
        labels = worker_pod(make_cluster())["metadata"]["labels"]
        assert labels == {
            "ray.io/cluster": "rc",
            "ray.io/node-type": "worker",
            "ray.io/group": "small",
            "ray.io/identifier": "rc-worker",
            "ray.io/is-ray-node": "yes",
            "app.kubernetes.io/name": "ray",
            "app.kubernetes.io/instance": "rc",
            "app.kubernetes.io/component": "worker",
            "app.kubernetes.io/managed-by": "rayop",
        }
        head = head_pod(make_cluster())["metadata"]["labels"]
        assert head["ray.io/group"] == "headgroup"
        assert head["ray.io/node-type"] == "head"

    def test_user_labels_are_added_but_cannot_override(self, make_cluster: MakeCluster) -> None:
        """A user's own label is kept; their ray.io/cluster and managed-by are replaced."""

        def edit(doc: dict[str, Any]) -> None:
            doc["spec"]["workerGroupSpecs"][0]["template"]["metadata"] = {
                "labels": {
                    "team": "ml",
                    "ray.io/cluster": "other",
                    "app.kubernetes.io/managed-by": "me",
                }
            }

        labels = worker_pod(make_cluster(edit))["metadata"]["labels"]
        assert labels["team"] == "ml"
        assert labels["ray.io/cluster"] == "rc"
        assert labels["app.kubernetes.io/managed-by"] == "rayop"

    def test_sidecars_stay_after_the_ray_container(self, make_cluster: MakeCluster) -> None:
        """The Ray container stays first; the user's sidecars follow untouched."""

        def edit(doc: dict[str, Any]) -> None:
            containers = doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"]
            containers.append({"name": "log-shipper", "image": "fluent", "futureField": 1})

        containers = worker_pod(make_cluster(edit))["spec"]["containers"]
        assert [c["name"] for c in containers] == ["ray-worker", "log-shipper"]
        assert containers[1] == {"name": "log-shipper", "image": "fluent", "futureField": 1}
