"""ray.io/v1alpha1 (as the seed writes it) and ray.io/v1 normalize to the same v1 cluster."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from controller.api import Problem, parse_raycluster

Manifest = dict[str, Any]


def _seed_with(seed: Manifest, **autoscaler_options: Any) -> Manifest:
    obj = copy.deepcopy(seed)
    obj["spec"]["autoscalerOptions"] = autoscaler_options
    return obj


def test_seed_reads_the_same_at_both_versions(seed: Manifest) -> None:
    """The seed parsed as v1alpha1 and as v1 gives one and the same normalized cluster."""
    as_v1 = copy.deepcopy(seed)
    as_v1["apiVersion"] = "ray.io/v1"
    assert parse_raycluster(seed).cluster == parse_raycluster(as_v1).cluster


def test_unsupported_api_version_is_one_clear_problem(seed: Manifest) -> None:
    """An apiVersion rayop does not serve is named in a single problem."""
    seed["apiVersion"] = "ray.io/v2"
    result = parse_raycluster(seed)
    assert result.cluster is None
    assert result.problems == [
        Problem("apiVersion", "must be ray.io/v1 or ray.io/v1alpha1, not 'ray.io/v2'.")
    ]


def test_seed_head_service_type_becomes_service_type(seed: Manifest) -> None:
    """spec.headService.type (v1alpha1) is the head Service's type."""
    seed["spec"]["headService"]["type"] = "NodePort"
    cluster = parse_raycluster(seed).cluster
    assert cluster is not None
    assert cluster.spec.head_group_spec.service_type == "NodePort"
    assert cluster.spec.head_service_type == "NodePort"
    assert cluster.spec.head_service is None


def test_conflicting_service_types_are_a_problem(seed: Manifest) -> None:
    """headService.type and headGroupSpec.serviceType that disagree are reported, not guessed."""
    seed["spec"]["headGroupSpec"] = {"serviceType": "LoadBalancer"}
    result = parse_raycluster(seed)
    assert result.problems == [
        Problem(
            "spec.headService.type",
            "is ClusterIP but spec.headGroupSpec.serviceType is LoadBalancer; set only one of them.",
        )
    ]


def test_idle_timeout_minutes_become_seconds(seed: Manifest) -> None:
    """idleTimeoutMinutes × 60 is the idleTimeoutSeconds the Ray autoscaler reads."""
    cluster = parse_raycluster(_seed_with(seed, idleTimeoutMinutes=5)).cluster
    assert cluster is not None
    options = cluster.spec.autoscaler_options
    assert options is not None
    assert (options.idle_timeout_seconds, options.idle_timeout_minutes) == (300, None)


def test_idle_timeout_minutes_win_over_seconds_with_a_warning(seed: Manifest) -> None:
    """When both idle timeouts are set and differ, minutes win and the user is told."""
    result = parse_raycluster(_seed_with(seed, idleTimeoutMinutes=2, idleTimeoutSeconds=60))
    assert result.cluster is not None
    assert result.cluster.spec.autoscaler_options is not None
    assert result.cluster.spec.autoscaler_options.idle_timeout_seconds == 120
    assert result.warnings == [
        Problem(
            "spec.autoscalerOptions.idleTimeoutSeconds",
            "is 60 but idleTimeoutMinutes 2 asks for 120 seconds; idleTimeoutMinutes wins.",
        )
    ]


@pytest.mark.parametrize(
    ("speed", "mode", "warned"),
    [
        (1, "Conservative", False),
        (1000, "Default", False),
        (0.5, "Conservative", True),
        (2.0, "Conservative", True),
        (31, "Conservative", True),
        (32, "Default", True),
        (5000, "Default", True),
    ],
)
def test_upscaling_speed_maps_to_the_nearest_mode(
    seed: Manifest, speed: float, mode: str, warned: bool
) -> None:
    """upscalingSpeed becomes Conservative (1) or Default (1000), whichever is nearer; inexact speeds warn."""
    result = parse_raycluster(_seed_with(seed, upscalingSpeed=speed))
    assert result.cluster is not None
    options = result.cluster.spec.autoscaler_options
    assert options is not None
    assert (options.upscaling_mode, options.upscaling_speed) == (mode, None)
    fields = [w.field for w in result.warnings]
    assert fields == (["spec.autoscalerOptions.upscalingSpeed"] if warned else [])


def test_inexact_upscaling_speed_warning_names_both_speeds(seed: Manifest) -> None:
    """The warning for an inexact speed says which speeds exist and which one was chosen."""
    result = parse_raycluster(_seed_with(seed, upscalingSpeed=2))
    assert result.warnings == [
        Problem(
            "spec.autoscalerOptions.upscalingSpeed",
            "2 cannot be honoured exactly: the Ray autoscaler in KubeRay mode only has speed 1 "
            "(upscalingMode Conservative) and 1000 (Default); Conservative is the nearer one.",
        )
    ]


def test_upscaling_speed_wins_over_a_different_mode(seed: Manifest) -> None:
    """upscalingSpeed and an upscalingMode of another speed: the seed's speed wins, with a warning."""
    result = parse_raycluster(_seed_with(seed, upscalingSpeed=1, upscalingMode="Aggressive"))
    assert result.cluster is not None
    assert result.cluster.spec.autoscaler_options is not None
    assert result.cluster.spec.autoscaler_options.upscaling_mode == "Conservative"
    assert result.warnings == [
        Problem(
            "spec.autoscalerOptions.upscalingMode",
            "is Aggressive but upscalingSpeed 1 means Conservative; upscalingSpeed wins.",
        )
    ]


def test_same_speed_modes_do_not_warn(seed: Manifest) -> None:
    """upscalingSpeed 1000 with upscalingMode Aggressive agree (both speed 1000): no warning."""
    result = parse_raycluster(_seed_with(seed, upscalingSpeed=1000, upscalingMode="Aggressive"))
    assert result.warnings == []
    assert result.cluster is not None
    assert result.cluster.spec.autoscaler_options is not None
    assert result.cluster.spec.autoscaler_options.upscaling_mode == "Aggressive"


def test_v1_manifest_dumps_back_to_kuberay_names(manifest: Callable[..., Manifest]) -> None:
    """A parsed cluster dumps with KubeRay's camelCase names and reparses to itself."""
    cluster = parse_raycluster(manifest()).cluster
    assert cluster is not None
    dumped = cluster.model_dump(by_alias=True, exclude_none=True)
    assert dumped["spec"]["workerGroupSpecs"][0]["groupName"] == "small"
    assert "minReplicas" in dumped["spec"]["workerGroupSpecs"][0]
    again = parse_raycluster(dumped)
    assert again.problems == []
    assert again.cluster == cluster
