"""The generated CRD: up to date, valid, structural, lossless across versions, with working rules."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import celpy
import kubernetes_validate
import pytest
import yaml

from controller.api import parse_raycluster
from controller.api.crd import CRD_PATH, build_crd, main, render_crd
from kubesim.apiserver.structural import prune_and_default

# The seed and KubeRay samples, copied into the repository byte for byte (tests/golden/README.md).
SAMPLES = Path(__file__).resolve().parents[2] / "golden" / "samples"
ALL_SAMPLES = [
    SAMPLES / "seed-basic-ray-cluster.yaml",
    *sorted(SAMPLES.glob("ray-cluster.*.yaml")),
]
Manifest = dict[str, Any]

# Every field of the API at once: KubeRay's, the seed's and rayop's own.
EVERYTHING: Manifest = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "full", "namespace": "ns"},
    "spec": {
        "rayVersion": "2.52.0",
        "enableInTreeAutoscaling": False,
        "suspend": False,
        "managedBy": "ray.io/kuberay-operator",
        "upgradeStrategy": {"type": "None"},
        "headServiceAnnotations": {"a": "b"},
        "headService": {"type": "NodePort"},
        "autoscalerOptions": {
            "upscalingMode": "Conservative",
            "idleTimeoutSeconds": 120,
            "idleTimeoutMinutes": 2,
            "upscalingSpeed": 1.0,
            "version": "v2",
            "image": "autoscaler:1",
            "imagePullPolicy": "Always",
            "resources": {"limits": {"cpu": "1"}},
            "env": [{"name": "X", "value": "1"}],
            "envFrom": [{"configMapRef": {"name": "cm"}}],
            "volumeMounts": [{"name": "v", "mountPath": "/v"}],
            "securityContext": {"runAsUser": 1000},
            "command": ["sh"],
            "args": ["-c", "true"],
        },
        "gcsFaultToleranceOptions": {
            "backend": "redis",
            "redisAddress": "redis:6379",
            "redisUsername": {"value": "user"},
            "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            "externalStorageNamespace": "space",
        },
        "headGroupSpec": {
            "serviceType": "NodePort",
            "headService": {"metadata": {"annotations": {"x": "y"}}},
            "enableIngress": False,
            "ingressOptions": {"path": "/"},
            "rayStartParams": {"num-cpus": "0"},
            "labels": {"zone": "a"},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {}}}],
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete",
                "whenScaled": "Retain",
            },
            "template": {"spec": {"containers": [{"name": "ray-head", "futureField": {"x": 1}}]}},
        },
        "workerGroupSpecs": [
            {
                "groupName": "g",
                "replicas": 1,
                "minReplicas": 1,
                "maxReplicas": 4,
                "numOfHosts": 1,
                "idleTimeoutSeconds": 30,
                "priority": 0,
                "suspend": False,
                "resources": {"CPU": "1"},
                "labels": {"kind": "cpu"},
                "rayStartParams": {},
                "scaleStrategy": {"workersToDelete": ["full-g-worker-0"]},
                "workloadKind": "StatefulSet",
                "horizontalPodAutoscaler": {"metrics": [{"type": "Resource"}], "behavior": {}},
                "volumeClaimTemplates": [{"metadata": {"name": "spill"}}],
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain"},
                "template": {
                    "metadata": {"labels": {"l": "v"}},
                    "spec": {"containers": [{"name": "w"}]},
                },
            }
        ],
    },
    "status": {
        "state": "ready",
        "reason": "",
        "desiredWorkerReplicas": 1,
        "availableWorkerReplicas": 1,
        "readyWorkerReplicas": 1,
        "minWorkerReplicas": 1,
        "maxWorkerReplicas": 4,
        "desiredCPU": "2",
        "desiredMemory": "3Gi",
        "desiredGPU": "0",
        "desiredTPU": 0,
        "endpoints": {"dashboard": "8265"},
        "head": {
            "podIP": "10.0.0.1",
            "podName": "full-head-0",
            "serviceIP": "10.1.0.1",
            "serviceName": "full-head-svc",
        },
        "lastUpdateTime": "2026-11-25T17:00:00Z",
        "stateTransitionTimes": {"ready": "2026-11-25T17:00:00Z"},
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "HeadPodReady",
                "status": "True",
                "reason": "HeadPodRunningAndReady",
                "message": "",
                "lastTransitionTime": "2026-11-25T17:00:00Z",
                "observedGeneration": 3,
            }
        ],
    },
}


@functools.cache
def _crd_cached() -> Manifest:
    crd: Manifest = yaml.load(
        CRD_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    return crd


def _crd() -> Manifest:
    return copy.deepcopy(_crd_cached())


def _schema(version: str) -> Manifest:
    (entry,) = [v for v in _crd_cached()["spec"]["versions"] if v["name"] == version]
    schema: Manifest = entry["schema"]["openAPIV3Schema"]
    return schema


def _schema_nodes(node: Manifest, path: str = "") -> Iterator[tuple[str, Manifest]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _schema_nodes(node["additionalProperties"], f"{path}{{}}")


def _leaves(obj: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], object]]:
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(obj, list) and obj:
        for index, value in enumerate(obj):
            yield from _leaves(value, (*path, index))
    else:
        yield path, obj


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def _load(path: Path) -> Manifest:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    (cluster,) = [doc for doc in docs if doc.get("kind") == "RayCluster"]
    return cluster


def test_committed_crd_matches_the_models(tmp_path: Path) -> None:
    """The committed CRD is exactly what the generator produces from the models now."""
    assert CRD_PATH.read_text() == render_crd()
    assert main(["--check"]) == 0
    stale = tmp_path / "crd.yaml"
    stale.write_text("# old\n")
    assert main(["--check", "-o", str(stale)]) == 1
    assert main(["-o", str(stale)]) == 0
    assert stale.read_text() == render_crd()


def test_crd_validates_against_the_kubernetes_schema() -> None:
    """The CRD document is a valid apiextensions.k8s.io/v1 CustomResourceDefinition."""
    kubernetes_validate.validate(_crd(), "1.32", strict=True)


def test_crd_versions_and_subresources() -> None:
    """v1 is served and stored, v1alpha1 is served; both share one schema and a status subresource."""
    versions = {v["name"]: v for v in _crd()["spec"]["versions"]}
    assert (versions["v1"]["served"], versions["v1"]["storage"]) == (True, True)
    assert (versions["v1alpha1"]["served"], versions["v1alpha1"]["storage"]) == (True, False)
    assert versions["v1"]["schema"] == versions["v1alpha1"]["schema"]
    assert versions["v1"]["subresources"] == {"status": {}}
    assert _crd()["metadata"]["name"] == "rayclusters.ray.io"


def test_crd_schema_is_structural() -> None:
    """Every schema node has a type (or is int-or-string) and never mixes properties with additionalProperties."""
    for path, node in _schema_nodes(_schema("v1")):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not ("properties" in node and "additionalProperties" in node), path


def test_crd_stays_small() -> None:
    """The CRD is a small fraction of KubeRay's 17,580 lines."""
    assert len(CRD_PATH.read_text().splitlines()) < 2000


def test_printer_columns() -> None:
    """kubectl get shows workers, CPUs, memory, GPUs, status and age; -o wide adds TPUs and head IPs."""
    columns = _crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    default = [c["name"] for c in columns if not c.get("priority")]
    wide = [c["name"] for c in columns if c.get("priority") == 1]
    assert default == [
        "desired workers",
        "available workers",
        "cpus",
        "memory",
        "gpus",
        "status",
        "age",
    ]
    assert wide == ["tpus", "head pod IP", "head service IP"]
    by_name = {c["name"]: c["jsonPath"] for c in columns}
    assert by_name["head service IP"] == ".status.head.serviceIP"


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize(("written", "read"), [("v1", "v1alpha1"), ("v1alpha1", "v1")])
def test_samples_read_back_at_the_other_version_with_nothing_lost(
    path: Path, written: str, read: str
) -> None:
    """A sample stored through one version's schema keeps every field when read at the other."""
    obj = copy.deepcopy(_load(path))
    obj["apiVersion"] = f"ray.io/{written}"
    stored = prune_and_default(_schema(written), obj)
    read_back = prune_and_default(_schema(read), {**stored, "apiVersion": f"ray.io/{read}"})
    for leaf_path, value in _leaves(obj):
        if leaf_path != ("apiVersion",):
            assert _get(read_back, leaf_path) == value, leaf_path


def test_every_api_field_survives_the_schema() -> None:
    """No field of the API (KubeRay's, the seed's, rayop's, status) is pruned by the CRD schema."""
    stored = prune_and_default(_schema("v1"), copy.deepcopy(EVERYTHING))
    for leaf_path, value in _leaves(EVERYTHING):
        assert _get(stored, leaf_path) == value, leaf_path


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: p.name)
def test_schema_defaults_agree_with_the_models(path: Path) -> None:
    """A sample as the API server stores it (schema defaults applied) parses to the same cluster."""
    obj = _load(path)
    version = obj["apiVersion"].split("/")[1]
    stored = prune_and_default(_schema(version), copy.deepcopy(obj))
    assert parse_raycluster(stored).cluster == parse_raycluster(obj).cluster


def test_seed_as_stored_has_what_the_ray_autoscaler_reads(seed: Manifest) -> None:
    """The stored seed has headGroupSpec, containers[0].resources, min/max/replicas and scaleStrategy."""
    stored = prune_and_default(_schema("v1alpha1"), seed)
    head = stored["spec"]["headGroupSpec"]
    assert head["rayStartParams"] == {}
    assert head["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"
    group = stored["spec"]["workerGroupSpecs"][0]
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (2, 1, 3)
    assert group["scaleStrategy"] == {"workersToDelete": []}


# ------------------------------------------------------------------------------ CEL rules
def _rules(node: Manifest) -> list[Callable[..., bool]]:
    env = celpy.Environment()
    programs = []
    for rule in node.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))

        def run(self: object, old: object = None, program: Any = program) -> bool:
            activation = {"self": celpy.json_to_cel(self)}
            if old is not None:
                activation["oldSelf"] = celpy.json_to_cel(old)
            return bool(program.evaluate(activation))

        programs.append(run)
    return programs


def test_cel_rule_rejects_min_above_max() -> None:
    """The CRD's group rule accepts min <= max and rejects min > max."""
    group_schema = _schema("v1")["properties"]["spec"]["properties"]["workerGroupSpecs"]["items"]
    (rule,) = _rules(group_schema)
    assert rule({"groupName": "g", "minReplicas": 1, "maxReplicas": 1})
    assert not rule({"groupName": "g", "minReplicas": 2, "maxReplicas": 1})


def test_cel_rule_rejects_duplicate_group_names() -> None:
    """The CRD's spec rule accepts unique group names and rejects a repeated one."""
    (rule,) = _rules(_schema("v1")["properties"]["spec"])
    assert rule({})
    assert rule({"workerGroupSpecs": [{"groupName": "a"}, {"groupName": "b"}]})
    assert not rule(
        {"workerGroupSpecs": [{"groupName": "a"}, {"groupName": "b"}, {"groupName": "a"}]}
    )


def test_cel_rule_keeps_managed_by_immutable() -> None:
    """managedBy cannot change once set."""
    (rule,) = _rules(_schema("v1")["properties"]["spec"]["properties"]["managedBy"])
    assert rule("ray.io/kuberay-operator", "ray.io/kuberay-operator")
    assert not rule("kueue.x-k8s.io/multikueue", "ray.io/kuberay-operator")


def test_build_crd_is_deterministic() -> None:
    """Two generations give the same document (no ordering or identity noise)."""
    assert build_crd() == build_crd()


def test_cluster_without_groups_stores_an_empty_group_list(
    manifest: Callable[..., Manifest],
) -> None:
    """A head-only cluster is stored with workerGroupSpecs: [], which the Ray autoscaler indexes."""
    obj = manifest(lambda o: o["spec"].pop("workerGroupSpecs"))
    stored = prune_and_default(_schema("v1"), obj)
    assert stored["spec"]["workerGroupSpecs"] == []
