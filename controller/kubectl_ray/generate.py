"""A RayCluster from ``create cluster`` flags, or from a KubeRay plugin config file (``--file``).

The object is the one KubeRay's plugin generates (containers ``ray-head``/``ray-worker``,
requests and limits, the head's gcs-server/dashboard/client ports, group ``default-group``),
and the file format is its format (``ray-version``, ``image``, ``head:``, ``worker-groups:``
with kebab-case keys; unknown keys are refused). Every quantity is checked before anything is
sent, and the result is checked with rayop's own RayCluster parser, so a mistake is one line
naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.api import API_VERSION, KIND, parse_raycluster
from controller.kubectl_ray.connect import PluginError
from controller.quantity import parse_quantity

__all__ = ["RAY_VERSION", "ClusterConfig", "GroupConfig", "from_file", "to_raycluster"]

#: KubeRay's plugin default (its util.RayVersion).
RAY_VERSION = "2.52.0"
GPU, TPU = "nvidia.com/gpu", "google.com/tpu"
_HEAD_KEYS = {"cpu", "gpu", "memory", "ephemeral-storage", "ray-start-params", "node-selectors"}
_GROUP_KEYS = _HEAD_KEYS | {"name", "tpu", "num-of-hosts", "replicas"}
_TOP_KEYS = {
    "namespace", "name", "labels", "annotations", "ray-version", "image", "service-account",
    "head", "worker-groups", "autoscaler",
}  # fmt: skip


@dataclass
class GroupConfig:
    """Resources and settings of the head or of one worker group (strings as typed)."""

    cpu: str = "2"
    memory: str = "4Gi"
    gpu: str = "0"
    tpu: str = "0"
    ephemeral_storage: str = ""
    ray_start_params: dict[str, str] = field(default_factory=dict)
    node_selectors: dict[str, str] = field(default_factory=dict)
    name: str = "default-group"
    replicas: int = 1
    num_of_hosts: int = 1


@dataclass
class ClusterConfig:
    """Everything ``create cluster`` needs; the defaults are KubeRay's plugin's."""

    name: str = ""
    namespace: str = ""
    ray_version: str = RAY_VERSION
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    service_account: str = ""
    autoscaler: str = ""
    head: GroupConfig = field(default_factory=GroupConfig)
    workers: list[GroupConfig] = field(default_factory=lambda: [GroupConfig()])


def from_file(path: str) -> ClusterConfig:
    """Read a KubeRay plugin config file; unknown keys and bad values are errors."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise PluginError(f"config file {path} does not exist") from None
    except (OSError, yaml.YAMLError) as exc:
        raise PluginError(f"failed to parse config file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise PluginError(f"config file {path}: expected a mapping of settings")
    _no_unknown(raw, _TOP_KEYS, "")
    config = ClusterConfig(
        name=_text(raw, "name", ""), namespace=_text(raw, "namespace", ""),
        ray_version=_text(raw, "ray-version", RAY_VERSION), image=_text(raw, "image", ""),
        labels=_map(raw, "labels"), annotations=_map(raw, "annotations"),
        service_account=_text(raw, "service-account", ""),
        autoscaler=_text(raw.get("autoscaler") or {}, "version", ""),
    )  # fmt: skip
    config.head = _group(raw.get("head") or {}, "head", worker=False)
    groups = raw.get("worker-groups")
    if groups is not None:
        if not isinstance(groups, list):
            raise PluginError("worker-groups: expected a list")
        config.workers = [
            _group(g, f"worker-groups[{i}]", worker=True, index=i) for i, g in enumerate(groups)
        ]
    return config


def _group(raw: object, path: str, *, worker: bool, index: int = 0) -> GroupConfig:
    if not isinstance(raw, dict):
        raise PluginError(f"{path}: expected a mapping")
    _no_unknown(raw, _GROUP_KEYS if worker else _HEAD_KEYS, path + ".")
    default = "default-group" if index == 0 else f"default-group-{index}"
    return GroupConfig(
        cpu=_text(raw, "cpu", "2"), memory=_text(raw, "memory", "4Gi"),
        gpu=_text(raw, "gpu", "0"), tpu=_text(raw, "tpu", "0"),
        ephemeral_storage=_text(raw, "ephemeral-storage", ""),
        ray_start_params=_map(raw, "ray-start-params"), node_selectors=_map(raw, "node-selectors"),
        name=_text(raw, "name", default), replicas=_count(raw, "replicas", path, 1),
        num_of_hosts=_count(raw, "num-of-hosts", path, 1),
    )  # fmt: skip


def _no_unknown(raw: Mapping[str, Any], known: set[str], prefix: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PluginError(f"{prefix}{unknown[0]}: unknown field in the config file")


def _text(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key)
    return default if value is None else str(value)


def _map(raw: Mapping[str, Any], key: str) -> dict[str, str]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise PluginError(f"{key}: expected a mapping of strings")
    return {str(k): str(v) for k, v in value.items()}


def _count(raw: Mapping[str, Any], key: str, path: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PluginError(f"{path}.{key}: expected a non-negative integer, got {value!r}")
    return value


def check_quantities(config: ClusterConfig) -> None:
    """Every resource value parses as a Kubernetes quantity and is not negative."""
    named = [("head", config.head), *((f"worker group {g.name}", g) for g in config.workers)]
    for where, group in named:
        for flag, value in (("cpu", group.cpu), ("memory", group.memory), ("gpu", group.gpu),
                            ("tpu", group.tpu), ("ephemeral-storage", group.ephemeral_storage)):  # fmt: skip
            if value == "":
                continue
            amount = parse_quantity(value)
            if amount is None or amount < 0:
                raise PluginError(f"{where} {flag}: {value!r} is not a valid resource quantity")


def _resources(group: GroupConfig, *, tpu: bool) -> dict[str, dict[str, str]]:
    """Requests (cpu, memory, storage, accelerators) and limits (all but cpu); zeros left out."""
    wanted = {"cpu": group.cpu, "memory": group.memory, "ephemeral-storage": group.ephemeral_storage,
              GPU: group.gpu, TPU: group.tpu if tpu else ""}  # fmt: skip
    requests = {k: v for k, v in wanted.items() if v and parse_quantity(v)}
    limits = {k: v for k, v in requests.items() if k != "cpu"}
    return {"requests": requests, "limits": limits}


def _pod(group: GroupConfig, *, container: dict[str, Any], account: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [container]}
    if group.node_selectors:
        spec["nodeSelector"] = dict(group.node_selectors)
    if account:
        spec["serviceAccountName"] = account
    return {"spec": spec}


def to_raycluster(config: ClusterConfig) -> dict[str, Any]:
    """The RayCluster manifest, checked by rayop's parser (problems become one line)."""
    check_quantities(config)
    image = config.image or f"rayproject/ray:{config.ray_version}"
    head = {
        "name": "ray-head", "image": image, "resources": _resources(config.head, tpu=False),
        "ports": [{"containerPort": 6379, "name": "gcs-server"},
                  {"containerPort": 8265, "name": "dashboard"},
                  {"containerPort": 10001, "name": "client"}],
    }  # fmt: skip
    workers = [
        {
            "groupName": group.name,
            "replicas": group.replicas,
            "numOfHosts": group.num_of_hosts,
            "rayStartParams": dict(group.ray_start_params),
            "template": _pod(
                group,
                account=config.service_account,
                container={
                    "name": "ray-worker",
                    "image": image,
                    "resources": _resources(group, tpu=True),
                },
            ),
        }
        for group in config.workers
    ]
    spec: dict[str, Any] = {
        "rayVersion": config.ray_version,
        "headGroupSpec": {
            "rayStartParams": dict(config.head.ray_start_params),
            "template": _pod(config.head, container=head, account=config.service_account),
        },
        "workerGroupSpecs": workers,
    }
    if config.autoscaler:
        spec["enableInTreeAutoscaling"] = True
        spec["autoscalerOptions"] = {"version": config.autoscaler}
    metadata: dict[str, Any] = {"name": config.name, "namespace": config.namespace}
    if config.labels:
        metadata["labels"] = dict(config.labels)
    if config.annotations:
        metadata["annotations"] = dict(config.annotations)
    cluster = {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}
    result = parse_raycluster(cluster)
    if result.problems:
        raise PluginError(str(result.problems[0]))
    return cluster
