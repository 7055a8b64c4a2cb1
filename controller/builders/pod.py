"""The pod template of a Ray node group, from the user's template and the group's settings.

The user's template is the base and passes through untouched wherever rayop has nothing to say
(unknown fields included). On top of it, following KubeRay (reference/kuberay.md §2):

* the Ray container (always ``containers[0]``) runs the generated ``ray start`` line and gets
  KubeRay's env vars, the Ray ports, probes when it has none, and ``/dev/shm`` as a memory-backed
  ``emptyDir`` sized like the container's memory (Ray's object store lives there);
* workers wait for the head's GCS in an init container, ``wait-gcs-ready``, so they do not
  crash-loop while the head starts. Unlike KubeRay's, it does not copy the Ray container's volume
  mounts: a CSI volume mounted by an init container that never exits blocked pods (kuberay#1130);
* the labels of `controller.builders.labels`, which the user cannot override;
* ``restartPolicy: Always``, the only value StatefulSets and Deployments accept. Autoscaler v2
  asks KubeRay for ``Never`` so that a restarted raylet does not come back under the same pod
  name; rayop's workloads replace the container in place instead (documented difference).
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.builders.canonical import with_port_protocols
from controller.builders.config import BuildConfig
from controller.builders.env import merge_env, ray_container_env, value_env
from controller.builders.labels import NodeType, pod_labels
from controller.builders.probes import liveness_probe, readiness_probe
from controller.builders.raystart import (
    DEFAULT_DASHBOARD_PORT,
    DEFAULT_METRICS_PORT,
    OVERWRITE_COMMAND_ANNOTATION,
    ParamValue,
    container_command,
    int_param,
    ray_start_command,
    resolve_params,
)
from controller.builders.shapes import mapping, objects, strings

__all__ = [
    "DEFAULT_CLIENT_PORT",
    "DEFAULT_SERVE_PORT",
    "OVERWRITE_COMMAND_ANNOTATION",
    "SHM_VOLUME",
    "WAIT_FOR_GCS",
    "RayNode",
    "head_ports",
    "ray_pod_template",
]

DEFAULT_CLIENT_PORT = 10001
DEFAULT_SERVE_PORT = 8000
SHM_VOLUME = "shared-mem"
WAIT_FOR_GCS = "wait-gcs-ready"
_WAIT_RESOURCES = {"cpu": "200m", "memory": "256Mi"}
_WAIT_SCRIPT = """\
SECONDS=0
while true; do
  if (( SECONDS <= 120 )); then
    if ray health-check --address {address} > /dev/null 2>&1; then
      echo "GCS is ready."
      break
    fi
    echo "$SECONDS seconds elapsed: Waiting for GCS to be ready."
  else
    if ray health-check --address {address}; then
      echo "GCS is ready. Any error messages above can be safely ignored."
      break
    fi
    echo "$SECONDS seconds elapsed: Still waiting for GCS to be ready. For troubleshooting, refer to the FAQ at https://docs.ray.io/en/master/cluster/kubernetes/troubleshooting.html."
  fi
  sleep 5
done"""


@dataclass(frozen=True, kw_only=True)
class RayNode:
    """Everything one group's pod template is built from (a plain view of the RayCluster).

    `gcs_port` is the head's GCS port (the head's ``port`` flag, 6379 by default); `extra_params`,
    `env_managed`, `env_defaults` and `annotations` carry what features such as GCS fault
    tolerance add; `service_account` is set on the head under the in-tree autoscaler.
    """

    cluster: str
    namespace: str
    node_type: NodeType
    group: str
    template: Mapping[str, Any]
    ray_start_params: Mapping[str, str]
    ray_version: str | None
    head_service: str
    gcs_port: int
    group_resources: Mapping[str, str] = field(default_factory=dict)
    group_labels: Mapping[str, str] = field(default_factory=dict)
    autoscaling: bool = False
    overwrite_command: bool = False
    extra_params: Mapping[str, ParamValue] = field(default_factory=dict)
    env_managed: Sequence[dict[str, Any]] = ()
    env_defaults: Sequence[dict[str, Any]] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    service_account: str | None = None


def head_ports(params: Mapping[str, ParamValue], gcs_port: int) -> list[dict[str, Any]]:
    """The head's Ray ports by name, from its flags: GCS, dashboard, client, metrics, Serve."""
    ports = [
        ("gcs-server", gcs_port),
        ("dashboard", int_param(params, "dashboard-port", DEFAULT_DASHBOARD_PORT)),
        ("client", int_param(params, "ray-client-server-port", DEFAULT_CLIENT_PORT)),
        ("metrics", int_param(params, "metrics-export-port", DEFAULT_METRICS_PORT)),
        ("serve", DEFAULT_SERVE_PORT),
    ]
    return [{"name": name, "containerPort": port, "protocol": "TCP"} for name, port in ports]


def ray_pod_template(node: RayNode, config: BuildConfig) -> dict[str, Any]:
    """The pod template of `node`'s group, with every Ray rule applied (module docstring)."""
    template: dict[str, Any] = copy.deepcopy(dict(node.template))
    metadata = mapping(template.get("metadata"))
    spec = dict(mapping(template.get("spec")))
    user_labels = {**mapping(metadata.get("labels")), **node.group_labels}
    template_metadata: dict[str, Any] = {
        "labels": pod_labels(node.cluster, node.node_type, node.group, user_labels)
    }
    annotations = {**mapping(metadata.get("annotations")), **node.annotations}
    if annotations:
        template_metadata["annotations"] = annotations
    containers = [_with_ports(c) for c in objects(spec.get("containers")) or []]
    if containers:
        containers[0], init = _ray_container(node, containers[0], config)
        user_init = objects(spec.get("initContainers"))
        if init is not None and user_init is not None:
            user_init = [_with_ports(c) for c in user_init]
            if all(c.get("name") != WAIT_FOR_GCS for c in user_init):
                spec["initContainers"] = [*user_init, init]
        volumes = objects(spec.get("volumes"))
        if volumes is not None and _needs_shm(containers[0], node.ray_start_params):
            containers[0] = _mount(containers[0], SHM_VOLUME, "/dev/shm")
            spec["volumes"] = [*volumes, _shm_volume(containers[0])]
        spec["containers"] = containers
    spec["restartPolicy"] = "Always"
    if node.service_account:
        spec["serviceAccountName"] = node.service_account
    return {"metadata": template_metadata, "spec": spec}


def _ray_container(
    node: RayNode, container: dict[str, Any], config: BuildConfig
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    head_fqdn = f"{node.head_service}.{node.namespace}.svc.{config.cluster_domain}"
    params = resolve_params(
        node.ray_start_params,
        node_type=node.node_type,
        container=container,
        head_address=f"{head_fqdn}:{node.gcs_port}",
        group_resources=node.group_resources,
        group_labels=node.group_labels,
        autoscaling=node.autoscaling,
        extra=node.extra_params,
    )
    ray_start = ray_start_command(params, node.node_type)
    ray = dict(container)
    user_command, user_args = strings(container.get("command")), strings(container.get("args"))
    if user_command is not None and user_args is not None:
        ray["command"], ray["args"] = container_command(
            user_command, user_args, ray_start, overwrite=node.overwrite_command
        )
    user_env = objects(container.get("env"))
    if user_env is None:
        return ray, None  # a malformed env: the API server reports it; nothing more to add
    ray["env"] = ray_container_env(
        user_env,
        node_type=node.node_type,
        head_fqdn=head_fqdn,
        head_service=node.head_service,
        gcs_port=node.gcs_port,
        ray_start=ray_start,
        feature_managed=node.env_managed,
        feature_defaults=node.env_defaults,
    )
    ports = objects(ray.get("ports"))
    if ports is not None:
        ray["ports"] = _add_ports(ports, _ray_ports(node, params))
    if config.inject_probes:
        ray.setdefault("livenessProbe", liveness_probe(node.node_type, node.ray_version, params))
        ray.setdefault("readinessProbe", readiness_probe(node.node_type, node.ray_version, params))
    init = None
    if node.node_type is NodeType.WORKER and config.inject_wait_for_gcs:
        init = _wait_for_gcs(container, user_env, head_fqdn, node)
    return ray, init


def _ray_ports(node: RayNode, params: Mapping[str, ParamValue]) -> list[dict[str, Any]]:
    """The ports the Ray container declares: all of Ray's on the head, metrics on workers."""
    if node.node_type is NodeType.HEAD:
        return head_ports(params, node.gcs_port)
    metrics = int_param(params, "metrics-export-port", DEFAULT_METRICS_PORT)
    return [{"name": "metrics", "containerPort": metrics, "protocol": "TCP"}]


def _wait_for_gcs(
    ray: Mapping[str, Any], user_env: list[dict[str, Any]], head_fqdn: str, node: RayNode
) -> dict[str, Any]:
    address = shlex.quote(f"{head_fqdn}:{node.gcs_port}")
    init: dict[str, Any] = {
        "name": WAIT_FOR_GCS,
        "image": ray.get("image"),
        "imagePullPolicy": ray.get("imagePullPolicy"),
        "securityContext": ray.get("securityContext"),
        "command": ["/bin/bash", "-c", "--"],
        "args": [_WAIT_SCRIPT.format(address=address)],
        "env": merge_env(
            user_env,
            managed=[value_env("FQ_RAY_IP", head_fqdn), value_env("RAY_IP", node.head_service)],
        ),
        "resources": {"limits": dict(_WAIT_RESOURCES), "requests": dict(_WAIT_RESOURCES)},
    }
    return init


def _with_ports(container: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(container)
    ports = objects(result.get("ports"))
    if ports:
        result["ports"] = with_port_protocols(ports)
    return result


def _add_ports(ports: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`ports` plus each wanted port whose name and number are both still free."""
    result = list(ports)
    for port in wanted:
        taken = any(
            p.get("name") == port["name"]
            or (p.get("containerPort") == port["containerPort"] and p.get("protocol") == "TCP")
            for p in result
        )
        if not taken:
            result.append(port)
    return result


def _needs_shm(container: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    mounts = objects(container.get("volumeMounts"))
    return (
        mounts is not None
        and "plasma-directory" not in params
        and all(m.get("mountPath") != "/dev/shm" for m in mounts)
    )


def _mount(container: dict[str, Any], volume: str, path: str) -> dict[str, Any]:
    mounts = [*(container.get("volumeMounts") or []), {"name": volume, "mountPath": path}]
    return {**container, "volumeMounts": mounts}


def _shm_volume(container: Mapping[str, Any]) -> dict[str, Any]:
    resources = mapping(container.get("resources"))
    size = mapping(resources.get("limits")).get("memory") or mapping(resources.get("requests")).get(
        "memory"
    )
    empty_dir: dict[str, Any] = {"medium": "Memory"}
    if size is not None:
        empty_dir["sizeLimit"] = size
    return {"name": SHM_VOLUME, "emptyDir": empty_dir}
