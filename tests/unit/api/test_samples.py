"""The seed manifest and every KubeRay sample parse into the expected normalized cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.api import Problem, RayCluster, parse_raycluster
from controller.api.defaults import HEAD_RESOURCES, WORKER_RESOURCES

# The seed and KubeRay samples, copied into the repository byte for byte (tests/golden/README.md).
SAMPLES = Path(__file__).resolve().parents[2] / "golden" / "samples"
KUBERAY = SAMPLES


def _parse(load: Callable[[Path], dict[str, Any]], path: Path) -> tuple[RayCluster, list[Problem]]:
    result = parse_raycluster(load(path))
    assert result.problems == []
    assert result.cluster is not None
    return result.cluster, result.warnings


def test_every_kuberay_sample_is_present() -> None:
    """The samples the tests below rely on are all there (a missing one would hide a gap)."""
    names = sorted(path.name for path in KUBERAY.glob("ray-cluster.*.yaml"))
    assert len(names) == 9


@pytest.mark.parametrize("path", sorted(KUBERAY.glob("ray-cluster.*.yaml")), ids=lambda p: p.name)
def test_every_kuberay_sample_is_accepted(
    load: Callable[[Path], dict[str, Any]], path: Path
) -> None:
    """Each KubeRay sample parses with no problems into a v1 cluster whose Ray containers have images."""
    cluster, _ = _parse(load, path)
    assert cluster.api_version == "ray.io/v1"
    assert cluster.metadata.name == load(path)["metadata"]["name"]
    groups = [cluster.spec.head_group_spec, *cluster.spec.worker_group_specs]
    assert all(group.template["spec"]["containers"][0]["image"] for group in groups)


def test_seed_comes_up_from_defaults(load: Callable[[Path], dict[str, Any]]) -> None:
    """The template-less v1alpha1 seed gets a default head, images, resources and its own settings."""
    cluster, warnings = _parse(load, SAMPLES / "seed-basic-ray-cluster.yaml")
    assert warnings == []
    spec = cluster.spec
    assert cluster.metadata.name == "basic-ray-cluster"
    assert cluster.metadata.namespace == "default"
    assert spec.enable_in_tree_autoscaling is True
    assert spec.head_service_type == "ClusterIP"
    assert spec.head_service is None  # moved onto headGroupSpec.serviceType
    head = spec.head_group_spec
    assert head.template["spec"]["containers"] == [
        {"name": "ray-head", "image": "rayproject/ray:2.6.0", "resources": HEAD_RESOURCES}
    ]
    assert head.ray_start_params["no-monitor"] == "true"
    assert head.ray_start_params["dashboard-host"] == "0.0.0.0"
    (group,) = spec.worker_group_specs
    assert (group.group_name, group.replicas, group.min_replicas, group.max_replicas) == (
        "small-worker",
        2,
        1,
        3,
    )
    assert group.template["spec"]["containers"] == [
        {"name": "ray-worker", "image": "rayproject/ray:2.6.0", "resources": WORKER_RESOURCES}
    ]
    assert group.ray_start_params["num-gpus"] == "0"
    assert group.ray_start_params["dashboard-host"] == "0.0.0.0"
    # Under the in-tree autoscaler a group must drop exactly the pods it names: a Deployment.
    assert group.workload_kind == "Deployment"


def test_minimal_sample_keeps_its_template_and_runs_statefulsets(
    load: Callable[[Path], dict[str, Any]],
) -> None:
    """ray-cluster.sample.yaml keeps its containers as written; groups default to StatefulSets."""
    cluster, warnings = _parse(load, KUBERAY / "ray-cluster.sample.yaml")
    assert warnings == []
    head_container = cluster.spec.head_group_spec.template["spec"]["containers"][0]
    assert head_container["ports"][0] == {"containerPort": 6379, "name": "gcs-server"}
    assert head_container["resources"]["requests"] == {"cpu": "1", "memory": "5Gi"}
    (group,) = cluster.spec.worker_group_specs
    assert (group.group_name, group.replicas, group.min_replicas, group.max_replicas) == (
        "workergroup",
        1,
        1,
        5,
    )
    assert group.workload_kind == "StatefulSet"
    assert cluster.spec.enable_in_tree_autoscaling is False
    assert "no-monitor" not in cluster.spec.head_group_spec.ray_start_params


def test_autoscaler_samples_keep_their_options(load: Callable[[Path], dict[str, Any]]) -> None:
    """The autoscaler samples keep upscalingMode, idleTimeoutSeconds, version and resources."""
    v1, _ = _parse(load, KUBERAY / "ray-cluster.autoscaler.yaml")
    v2, _ = _parse(load, KUBERAY / "ray-cluster.autoscaler-v2.yaml")
    options = v1.spec.autoscaler_options
    assert options is not None
    assert (options.upscaling_mode, options.idle_timeout_seconds, options.version) == (
        "Default",
        60,
        None,
    )
    assert options.resources == {
        "limits": {"cpu": "500m", "memory": "512Mi"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    }
    assert v2.spec.autoscaler_options is not None
    assert v2.spec.autoscaler_options.version == "v2"
    assert v1.spec.head_group_spec.ray_start_params["num-cpus"] == "0"
    assert v1.spec.worker_group_specs[0].workload_kind == "Deployment"


def test_complete_sample_passes_unknown_template_fields_through(
    load: Callable[[Path], dict[str, Any]],
) -> None:
    """Volumes, mounts and template labels in ray-cluster.complete.yaml arrive untouched."""
    cluster, _ = _parse(load, KUBERAY / "ray-cluster.complete.yaml")
    head = cluster.spec.head_group_spec
    assert head.service_type == "ClusterIP"
    assert head.template["metadata"] == {"labels": {}}
    assert head.template["spec"]["volumes"] == [{"name": "ray-logs", "emptyDir": {}}]
    container = head.template["spec"]["containers"][0]
    assert container["volumeMounts"] == [{"mountPath": "/tmp/ray", "name": "ray-logs"}]


def test_external_redis_sample_keeps_gcs_fault_tolerance(
    load: Callable[[Path], dict[str, Any]],
) -> None:
    """The external-Redis sample's address and password secret reference are kept."""
    cluster, warnings = _parse(load, KUBERAY / "ray-cluster.external-redis.yaml")
    assert warnings == []
    options = cluster.spec.gcs_fault_tolerance_options
    assert options is not None
    assert options.redis_address == "redis:6379"
    assert options.redis_password is not None
    assert options.redis_password.value_from == {
        "secretKeyRef": {"name": "redis-password-secret", "key": "password"}
    }


def test_embedded_gcs_sample_warns_that_rocksdb_is_unsupported(
    load: Callable[[Path], dict[str, Any]],
) -> None:
    """The RocksDB sample runs, with a specific warning that its GCS storage is not provided."""
    _, warnings = _parse(load, KUBERAY / "ray-cluster.embedded-gcs-ft.yaml")
    assert warnings == [
        Problem(
            "spec.gcsFaultToleranceOptions.backend",
            "rocksdb (KubeRay's alpha embedded GCS storage) is not supported by rayop: the "
            "cluster runs without GCS fault tolerance, and a head restart loses GCS state.",
        )
    ]


def test_tpu_multihost_sample_warns_about_num_of_hosts(
    load: Callable[[Path], dict[str, Any]],
) -> None:
    """numOfHosts: 4 is kept and named in a specific warning, never dropped silently."""
    cluster, warnings = _parse(load, KUBERAY / "ray-cluster.tpu-v6e-16-multihost.yaml")
    assert cluster.spec.worker_group_specs[0].num_of_hosts == 4
    assert [w.field for w in warnings] == ["spec.workerGroupSpecs[0].numOfHosts"]
    assert "multi-host groups are not supported by rayop" in warnings[0].message
    container = cluster.spec.worker_group_specs[0].template["spec"]["containers"][0]
    assert container["resources"]["limits"]["google.com/tpu"] == "4"


def test_kai_sample_without_ray_version_or_max_replicas(
    load: Callable[[Path], dict[str, Any]],
) -> None:
    """A sample without rayVersion and maxReplicas keeps its images, names and annotations."""
    cluster, warnings = _parse(load, KUBERAY / "ray-cluster.kai-gpu-sharing.yaml")
    assert warnings == []
    assert cluster.spec.ray_version is None
    assert cluster.metadata.labels == {"kai.scheduler/queue": "team-a"}
    head = cluster.spec.head_group_spec.template["spec"]["containers"][0]
    assert (head["name"], head["image"]) == ("head", "rayproject/ray:2.52.0")
    (group,) = cluster.spec.worker_group_specs
    assert (group.replicas, group.min_replicas, group.max_replicas) == (2, 2, 2147483647)
    assert group.template["metadata"] == {"annotations": {"gpu-fraction": "0.5"}}


def test_verl_sample_keeps_gpu_head(load: Callable[[Path], dict[str, Any]]) -> None:
    """The verl sample's GPU head resources and custom image are kept."""
    cluster, _ = _parse(load, KUBERAY / "ray-cluster.verl.yaml")
    head = cluster.spec.head_group_spec.template["spec"]["containers"][0]
    assert head["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert head["image"].startswith("hiyouga/verl:")
