"""The write-back that lets the Ray autoscaler see the seed's idle timeout and upscaling speed."""

from __future__ import annotations

import copy
from typing import Any

from controller.api import parse_raycluster
from controller.api.compat import autoscaler_compat_apply

Manifest = dict[str, Any]


def _compat(obj: Manifest) -> Manifest | None:
    cluster = parse_raycluster(obj).cluster
    assert cluster is not None
    return autoscaler_compat_apply(obj, cluster)


def test_seed_names_are_written_as_kuberay_names(seed: Manifest) -> None:
    """idleTimeoutMinutes and upscalingSpeed produce an apply of idleTimeoutSeconds and upscalingMode."""
    seed["metadata"]["namespace"] = "team"
    seed["spec"]["autoscalerOptions"] = {"idleTimeoutMinutes": 5, "upscalingSpeed": 1}
    assert _compat(seed) == {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "basic-ray-cluster", "namespace": "team"},
        "spec": {"autoscalerOptions": {"idleTimeoutSeconds": 300, "upscalingMode": "Conservative"}},
    }


def test_nothing_to_write_once_the_object_agrees(seed: Manifest) -> None:
    """After the write-back is applied, the same object asks for no further write."""
    seed["spec"]["autoscalerOptions"] = {"idleTimeoutMinutes": 5, "upscalingSpeed": 1000}
    body = _compat(seed)
    assert body is not None
    applied = copy.deepcopy(seed)
    applied["spec"]["autoscalerOptions"].update(body["spec"]["autoscalerOptions"])
    assert _compat(applied) is None


def test_changed_minutes_are_written_again(seed: Manifest) -> None:
    """When the user changes idleTimeoutMinutes, the KubeRay name follows."""
    seed["spec"]["autoscalerOptions"] = {"idleTimeoutMinutes": 10, "idleTimeoutSeconds": 300}
    body = _compat(seed)
    assert body is not None
    assert body["spec"]["autoscalerOptions"] == {"idleTimeoutSeconds": 600}


def test_kuberay_manifests_and_unscaled_clusters_need_no_write(
    seed: Manifest, manifest: Any
) -> None:
    """A manifest with only KubeRay's names, or without in-tree autoscaling, is left alone."""
    seed["spec"]["autoscalerOptions"] = {"idleTimeoutSeconds": 30, "upscalingMode": "Default"}
    assert _compat(seed) is None
    assert _compat(seed | {"spec": {**seed["spec"], "enableInTreeAutoscaling": False}}) is None
    assert _compat(manifest()) is None


def test_managed_by_another_controller_is_not_ours(manifest: Any) -> None:
    """A cluster handed to MultiKueue is reported as not rayop's, with a warning saying so."""
    result = parse_raycluster(
        manifest(lambda o: o["spec"].update(managedBy="kueue.x-k8s.io/multikueue"))
    )
    assert result.cluster is not None
    assert result.cluster.spec.managed_by_rayop is False
    assert [w.field for w in result.warnings] == ["spec.managedBy"]
    ours = parse_raycluster(manifest()).cluster
    assert ours is not None
    assert ours.spec.managed_by_rayop is True
