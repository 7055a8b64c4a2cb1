"""Fixtures for the RayCluster API tests: the shared samples and a small manifest builder."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# The seed and KubeRay samples, copied into the repository byte for byte (tests/golden/README.md).
SAMPLES = Path(__file__).resolve().parents[2] / "golden" / "samples"
SEED = SAMPLES / "seed-basic-ray-cluster.yaml"
KUBERAY_SAMPLES = sorted(SAMPLES.glob("ray-cluster.*.yaml"))

Manifest = dict[str, Any]


def load_raycluster(path: Path) -> Manifest:
    """The RayCluster document of a (possibly multi-document) sample file."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    (cluster,) = [doc for doc in docs if doc.get("kind") == "RayCluster"]
    return cluster


BASE: Manifest = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "rc", "namespace": "ns"},
    "spec": {
        "rayVersion": "2.52.0",
        "headGroupSpec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "ray-head",
                            "image": "rayproject/ray:2.52.0",
                            "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                        }
                    ]
                }
            }
        },
        "workerGroupSpecs": [
            {
                "groupName": "small",
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 3,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-worker",
                                "image": "rayproject/ray:2.52.0",
                                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                            }
                        ]
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def manifest() -> Callable[..., Manifest]:
    """A factory for a valid v1 manifest with one worker group, edited by a callback."""

    def make(edit: Callable[[Manifest], object] | None = None) -> Manifest:
        obj = copy.deepcopy(BASE)
        if edit is not None:
            edit(obj)
        return obj

    return make


@pytest.fixture
def load() -> Callable[[Path], Manifest]:
    """``load(path)``: the RayCluster document of a sample file."""
    return load_raycluster


@pytest.fixture
def seed() -> Manifest:
    """The seed manifest, as written."""
    return load_raycluster(SEED)
