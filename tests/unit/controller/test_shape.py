"""Unit tests for controller.shape: what a parsed RayCluster asks of status."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml

from controller.api import parse_raycluster
from controller.api.defaults import desired_replicas
from controller.shape import shape_of

SEED = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "seed-basic-ray-cluster.yaml"


def test_desired_replicas_are_clamped_and_default_to_min() -> None:
    """KubeRay's rule: unset → minReplicas; outside [min, max] → clamped; suspended → 0."""
    assert desired_replicas(None, 1, 3) == 1
    assert desired_replicas(9, 1, 3) == 3
    assert desired_replicas(0, 1, 3) == 1
    assert desired_replicas(2, 1, 3, suspended=True) == 0


def _seed(**spec: object) -> dict:
    manifest = yaml.safe_load(SEED.read_text())
    manifest["metadata"].update(namespace="default", uid="u", generation=3)
    manifest["spec"].update(spec)
    return manifest


def test_seed_shape() -> None:
    """The seed: one group of 2 (1..3), generation 3, resources from the defaulted templates."""
    parsed = parse_raycluster(_seed())
    assert parsed.cluster is not None
    shape = shape_of(parsed.cluster)
    assert (shape.generation, shape.suspend) == (3, False)
    [group] = shape.groups
    assert (group.name, group.desired, group.min_replicas, group.max_replicas) == (
        "small-worker",
        2,
        1,
        3,
    )
    assert shape.head_resources["cpu"] > Decimal(0)


def test_suspended_cluster_wants_no_pods() -> None:
    """spec.suspend: every group's desired count and the head's resources drop to zero."""
    parsed = parse_raycluster(_seed(suspend=True))
    assert parsed.cluster is not None
    shape = shape_of(parsed.cluster)
    assert shape.suspend
    assert [g.desired for g in shape.groups] == [0]
    assert shape.head_resources == {}


def test_hpa_replicas_override_the_spec_for_hpa_groups_only() -> None:
    """Observed HPA decisions count only for groups that have an HPA."""
    parsed = parse_raycluster(_seed())
    assert parsed.cluster is not None
    shape = shape_of(parsed.cluster, hpa_replicas={"small-worker": 3})
    assert shape.groups[0].desired == 2  # the seed's group has no HPA
