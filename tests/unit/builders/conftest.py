"""Fixtures for the builder tests: RayClusters from small manifests, parsed like the operator does."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from controller.api import RayCluster, parse_raycluster

UID = "5f1c3a2e-0000-4000-8000-000000000001"

BASE: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "rc", "namespace": "ns", "uid": UID},
    "spec": {
        "rayVersion": "2.52.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ray-head",
                            "image": "rayproject/ray:2.52.0",
                            "resources": {
                                "limits": {"cpu": "2", "memory": "4Gi"},
                                "requests": {"cpu": "2", "memory": "4Gi"},
                            },
                        }
                    ]
                }
            },
        },
        "workerGroupSpecs": [
            {
                "groupName": "small",
                "replicas": 2,
                "minReplicas": 1,
                "maxReplicas": 5,
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-worker",
                                "image": "rayproject/ray:2.52.0",
                                "resources": {
                                    "limits": {"cpu": "1", "memory": "1Gi"},
                                    "requests": {"cpu": "1", "memory": "1Gi"},
                                },
                            }
                        ]
                    }
                },
            }
        ],
    },
}

MakeCluster = Callable[..., RayCluster]


def manifest(**spec: Any) -> dict[str, Any]:
    """The base manifest with top-level spec fields replaced."""
    doc = copy.deepcopy(BASE)
    doc["spec"].update(copy.deepcopy(spec))
    return doc


def parsed(doc: dict[str, Any]) -> RayCluster:
    """Parse a manifest that must be valid."""
    result = parse_raycluster(doc)
    assert result.cluster is not None, result.problems
    return result.cluster


@pytest.fixture
def make_cluster() -> MakeCluster:
    """Build a RayCluster from the base manifest; `edit` may change the raw manifest first."""

    def make(edit: Callable[[dict[str, Any]], None] | None = None, **spec: Any) -> RayCluster:
        doc = manifest(**spec)
        if edit is not None:
            edit(doc)
        return parsed(doc)

    return make
