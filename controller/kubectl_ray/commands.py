"""What ``get``, ``create cluster``, ``scale cluster`` and ``delete`` do, over rayop's client.

Messages are KubeRay's plugin's where it has one, so a user searching for one finds the same
text. Writes: ``create`` is a server-side apply as ``ray-kubectl-plugin``; ``scale`` is a JSON
patch guarded by a ``test`` of the group's name, so a concurrent reorder of worker groups can
never scale the wrong one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from controller.api import API_VERSION, KIND
from controller.api.constants import LABEL_CLUSTER, LABEL_GROUP, LABEL_IS_RAY_NODE, LABEL_NODE_TYPE
from controller.kube import Conflict, Invalid, KubeClient, NotFound
from controller.kubectl_ray.connect import PluginError, Target
from controller.kubectl_ray.generate import ClusterConfig, to_raycluster
from controller.kubectl_ray.tables import (
    CLUSTER_COLUMNS,
    GROUP_COLUMNS,
    NODE_COLUMNS,
    cluster_row,
    node_row,
    print_table,
    worker_group_row,
)

__all__ = ["Scale", "create_cluster", "delete", "find_cluster", "get_clusters", "get_nodes",
           "get_workergroups", "print_cluster", "ray_pods", "scale_cluster"]  # fmt: skip

_JSON_PATCH = "application/json-patch+json"
_MAX_INT32 = 2**31 - 1


async def _clusters(kube: KubeClient, target: Target, name: str | None) -> list[dict[str, Any]]:
    namespace = None if target.all_namespaces else target.namespace
    found = await kube.list(API_VERSION, KIND, namespace)
    if name is not None:
        found = [c for c in found if c["metadata"]["name"] == name]
        if not found:
            raise PluginError(f"Ray cluster {name} not found {target.where()}")
    return sorted(found, key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"]))


async def find_cluster(kube: KubeClient, target: Target, name: str) -> dict[str, Any]:
    """The RayCluster ``name`` in the target namespace, or the plugin's not-found line."""
    try:
        return await kube.get(API_VERSION, KIND, target.namespace, name)
    except NotFound:
        raise PluginError(f"Ray cluster {name} not found {target.where()}") from None


async def ray_pods(
    kube: KubeClient, namespace: str | None, *, cluster: str | None = None, group: str | None = None
) -> list[dict[str, Any]]:
    """Ray pods (``ray.io/is-ray-node=yes``), optionally of one cluster and worker group."""
    selector = [f"{LABEL_IS_RAY_NODE}=yes"]
    if cluster:
        selector.append(f"{LABEL_CLUSTER}={cluster}")
    if group:
        selector.append(f"{LABEL_GROUP}={group}")
    pods = await kube.list("v1", "Pod", namespace, label_selector=",".join(selector))
    return sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"]))


async def get_clusters(kube: KubeClient, target: Target, name: str | None, out: TextIO) -> None:
    """``get cluster [NAME] [-A]``."""
    print_table(CLUSTER_COLUMNS, (cluster_row(c) for c in await _clusters(kube, target, name)), out)


def _ready_worker(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    labels = pod["metadata"].get("labels") or {}
    return (
        labels.get(LABEL_NODE_TYPE) == "worker"
        and status.get("phase") == "Running"
        and any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    )  # fmt: skip


async def get_workergroups(
    kube: KubeClient, target: Target, *, group: str | None, cluster: str | None, out: TextIO
) -> None:
    """``get workergroup [GROUP] [-c CLUSTER] [-A]``: min, max, ready/desired, resources."""
    rows = []
    for ray_cluster in await _clusters(kube, target, cluster):
        namespace, name = ray_cluster["metadata"].get("namespace"), ray_cluster["metadata"]["name"]
        for spec in ray_cluster["spec"].get("workerGroupSpecs") or []:
            if group is not None and spec["groupName"] != group:
                continue
            pods = await ray_pods(kube, namespace, cluster=name, group=spec["groupName"])
            row = worker_group_row(ray_cluster, spec, sum(map(_ready_worker, pods)))
            rows.append([namespace, *row] if target.all_namespaces else row)
    if group is not None and not rows:
        in_cluster = f"in Ray cluster {cluster}" if cluster else "in any Ray cluster"
        raise PluginError(f"Ray worker group {group} not found {target.where()} {in_cluster}")
    columns = ("Namespace", *GROUP_COLUMNS) if target.all_namespaces else GROUP_COLUMNS
    print_table(columns, rows, out)


async def get_nodes(
    kube: KubeClient, target: Target, *, node: str | None, cluster: str | None, out: TextIO
) -> None:
    """``get nodes [NODE] [-c CLUSTER] [-A]``: every Ray pod with its resources."""
    if cluster is not None:
        await _clusters(kube, target, cluster)
    namespace = None if target.all_namespaces else target.namespace
    pods = await ray_pods(kube, namespace, cluster=cluster)
    if node is not None:
        pods = [p for p in pods if p["metadata"]["name"] == node]
        if not pods:
            in_cluster = f"in Ray cluster {cluster}" if cluster else "in any Ray cluster"
            raise PluginError(f"Ray node {node} not found {target.where()} {in_cluster}")
    rows = [
        [p["metadata"].get("namespace", ""), *node_row(p)] if target.all_namespaces else node_row(p)
        for p in pods
    ]
    columns = ("Namespace", *NODE_COLUMNS) if target.all_namespaces else NODE_COLUMNS
    print_table(columns, rows, out)


def print_cluster(config: ClusterConfig, out: TextIO) -> None:
    """``create cluster NAME --dry-run``: the RayCluster as YAML; no cluster needed."""
    out.write(yaml.safe_dump(to_raycluster(config), sort_keys=False))


async def create_cluster(
    kube: KubeClient, config: ClusterConfig, *, wait: float | None, out: TextIO
) -> None:
    """``create cluster NAME``: apply the generated RayCluster; optionally wait for it."""
    manifest = to_raycluster(config)
    target = Target(config.namespace)
    try:
        await kube.get(API_VERSION, KIND, config.namespace, config.name)
    except NotFound:
        pass
    else:
        raise PluginError(
            f"the Ray cluster {config.name} in namespace {config.namespace} already exists"
        )
    try:
        created = await kube.apply(manifest)
    except Invalid as exc:
        raise PluginError(f"failed to create Ray cluster: {exc}") from None
    out.write(f"Created Ray cluster: {created['metadata']['name']}\n")
    if wait is not None:
        await _wait_provisioned(kube, target, config.name, wait)
        out.write(f"Ray cluster {config.name} is provisioned\n")


async def _wait_provisioned(kube: KubeClient, target: Target, name: str, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        status = (await find_cluster(kube, target, name)).get("status") or {}
        if any(c.get("type") == "RayClusterProvisioned" and c.get("status") == "True"
               for c in status.get("conditions") or []):  # fmt: skip
            return
        if loop.time() > deadline:
            raise PluginError(f"timed out after {within:g}s waiting for Ray cluster {name} "
                              "to be provisioned")  # fmt: skip
        await asyncio.sleep(1.0)


@dataclass(frozen=True)
class Scale:
    """What ``scale cluster`` asks for; None leaves a field as it is."""

    group: str
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None


async def scale_cluster(
    kube: KubeClient, target: Target, name: str, scale: Scale, out: TextIO
) -> None:
    """``scale cluster NAME -w GROUP -r N [--min-replicas M] [--max-replicas X]``."""
    cluster = await find_cluster(kube, target, name)
    groups = cluster["spec"].get("workerGroupSpecs") or []
    names = [g["groupName"] for g in groups]
    if scale.group not in names:
        raise PluginError(
            f"worker group {scale.group} not found in Ray cluster {name} in namespace "
            f"{target.namespace}. Available worker groups: {', '.join(names)}"
        )
    index = names.index(scale.group)
    current = groups[index]
    now = {"minReplicas": int(current.get("minReplicas", 0)),
           "maxReplicas": int(current.get("maxReplicas", _MAX_INT32)),
           "replicas": int(current.get("replicas", 0))}  # fmt: skip
    asked = {"minReplicas": scale.min_replicas, "maxReplicas": scale.max_replicas,
             "replicas": scale.replicas}  # fmt: skip
    final = {k: now[k] if v is None else v for k, v in asked.items()}
    _check_bounds(final)
    labels = {"minReplicas": "minReplicas", "maxReplicas": "maxReplicas", "replicas": "Replicas"}
    changes = [f"Scaled {labels[k]}: {now[k]} to {final[k]}" for k in asked if final[k] != now[k]]
    where = f"{scale.group} in Ray cluster {name} in namespace {target.namespace}"
    if not changes:
        out.write(f"Worker group {where} already matches the requested configuration. Skipping.\n")
        return
    path = f"/spec/workerGroupSpecs/{index}"
    patch: list[dict[str, object]] = [
        {"op": "test", "path": f"{path}/groupName", "value": scale.group}
    ]
    patch += [{"op": "add", "path": f"{path}/{k}", "value": final[k]} for k in asked
              if final[k] != now[k]]  # fmt: skip
    ref = f"/apis/{API_VERSION}/namespaces/{target.namespace}/rayclusters/{name}"
    try:
        await kube.request("PATCH", ref, body=patch, content_type=_JSON_PATCH)
    except (Conflict, Invalid) as exc:
        raise PluginError(f"failed to update worker group {where}: {exc}") from None
    out.write(f"Updated worker group {where} ({', '.join(changes)})\n")


def _check_bounds(final: dict[str, int]) -> None:
    low, high, replicas = final["minReplicas"], final["maxReplicas"], final["replicas"]
    if low > high:
        raise PluginError(f"cannot set --min-replicas ({low}) greater than --max-replicas ({high})")
    if replicas < low:
        raise PluginError(f"cannot set --replicas ({replicas}) less than --min-replicas ({low})")
    if replicas > high:
        raise PluginError(
            f"cannot set --replicas ({replicas}) greater than --max-replicas ({high})"
        )


def parse_resource(arg: str) -> str:
    """``NAME`` or ``raycluster/NAME`` → NAME; other types are KubeRay's, not rayop's."""
    kind, _, name = arg.rpartition("/")
    if not name or kind.count("/"):
        raise PluginError(f"invalid resource type/name: {arg}")
    if kind and kind.lower() not in ("raycluster", "rayclusters"):
        raise PluginError(f"unsupported resource type: {kind} (rayop serves RayClusters only)")
    return name


async def delete(
    kube: KubeClient, target: Target, arg: str, *, yes: bool, answer: str | None, out: TextIO
) -> bool:
    """``delete (RAYCLUSTER | raycluster/NAME) [-y]``; False when the user said no."""
    name = parse_resource(arg)
    cluster = await find_cluster(kube, target, name)
    if not yes:
        reply = (answer or "").strip().lower()
        if reply in ("n", "no", ""):
            out.write("Canceled deletion.\n")
            return False
        if reply not in ("y", "yes"):
            raise PluginError(f"Unknown input {reply}")
    await kube.delete(API_VERSION, KIND, target.namespace, name, uid=cluster["metadata"]["uid"])
    out.write(f"Deleted raycluster {name}\n")
    return True
