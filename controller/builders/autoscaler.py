"""The in-tree Ray autoscaler: its sidecar on the head, and the RBAC it runs with (kuberay.md §3).

The sidecar runs ``ray kuberay-autoscaler`` in the head pod with the Ray image. It finds its
cluster through ``RAY_CLUSTER_NAME``/``RAY_CLUSTER_NAMESPACE`` (downward API), reads the
RayCluster and its pods, and scales by JSON-patching the RayCluster's ``replicas`` and
``scaleStrategy.workersToDelete`` (ray-autoscaler.md §2). It writes its logs into the head's
``/tmp/ray`` so ``ray status`` and the dashboard show them, hence the shared volume.

The Role grants exactly what the autoscaler calls: pods get/list/watch/patch (list by
``ray.io/cluster``, patch for in-place resize bookkeeping), ``pods/resize`` patch, and RayCluster
get/patch of *its own cluster only* (``resourceNames``: the autoscaler only ever GETs and PATCHes
``rayclusters/<name>``, never lists or watches them; ray-autoscaler.md §2.4). It never deletes
pods; rayop does, from ``workersToDelete``.

The RoleBinding names only the ServiceAccount rayop creates (``<cluster>``), never one the head
template names: that account belongs to an application, and binding rayop's Role to it would
hand the application the right to patch the cluster. A head template naming its own account
gets a warning (builders/warnings.py) saying how to grant the autoscaler's rights to it.

``autoscalerOptions`` override the sidecar: ``image``, ``imagePullPolicy``, ``resources``,
``securityContext``, ``command`` and ``args`` replace rayop's; ``env``, ``envFrom`` and
``volumeMounts`` are appended (a user env var replaces one of ours with the same name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.builders.env import field_env, merge_env, value_env
from controller.builders.labels import LABEL_CLUSTER
from controller.builders.meta import Owner, object_meta, owned_object
from controller.builders.shapes import objects

__all__ = [
    "AUTOSCALER_CONTAINER",
    "AUTOSCALER_START",
    "LOGS_PATH",
    "ROLE_RULES",
    "add_autoscaler",
    "autoscaler_container",
    "autoscaler_rbac",
    "role_rules",
]

AUTOSCALER_CONTAINER = "autoscaler"
AUTOSCALER_START = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
    "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
LOGS_PATH = "/tmp/ray"
LOGS_VOLUME = "ray-logs"
_RESOURCES = {"cpu": "500m", "memory": "512Mi"}
ROLE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
]
"""The pod rules; :func:`role_rules` adds the RayCluster rule for one cluster's name."""


def role_rules(cluster: str) -> list[dict[str, Any]]:
    """The autoscaler Role's rules for the RayCluster named ``cluster``."""
    own = {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "resourceNames": [cluster],
           "verbs": ["get", "patch"]}  # fmt: skip
    return [*ROLE_RULES, own]


def autoscaler_container(
    *, image: str | None, logs_volume: str | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``autoscaler`` sidecar; `options` is ``autoscalerOptions`` as the manifest spells it."""
    env = merge_env(
        [
            field_env("RAY_CLUSTER_NAME", f"metadata.labels['{LABEL_CLUSTER}']"),
            field_env("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
            field_env("RAY_HEAD_POD_NAME", "metadata.name"),
            value_env("KUBERAY_CRD_VER", "v1"),
            value_env("KUBERAY_GEN_AUTOSCALER_START_CMD", AUTOSCALER_START),
            *(options.get("env") or []),
        ]
    )
    user_mounts = list(options.get("volumeMounts") or [])
    shared = logs_volume is not None and all(m.get("mountPath") != LOGS_PATH for m in user_mounts)
    mounts = [*([{"name": logs_volume, "mountPath": LOGS_PATH}] if shared else []), *user_mounts]
    return {
        "name": AUTOSCALER_CONTAINER,
        "image": options.get("image") or image,
        "imagePullPolicy": options.get("imagePullPolicy") or "IfNotPresent",
        "command": options.get("command") or ["/bin/bash", "-c", "--"],
        "args": options.get("args") or [AUTOSCALER_START],
        "env": env,
        "envFrom": options.get("envFrom"),
        "resources": options.get("resources")
        or {"limits": dict(_RESOURCES), "requests": dict(_RESOURCES)},
        "securityContext": options.get("securityContext") or None,
        "volumeMounts": mounts,
    }


def add_autoscaler(template: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The head pod template with the sidecar appended and ``/tmp/ray`` shared with it.

    When the Ray container already mounts a volume at ``/tmp/ray`` the sidecar mounts the same
    one; otherwise an ``emptyDir`` is added and mounted in both.
    """
    spec = dict(template["spec"])
    containers = [dict(c) for c in spec["containers"]]
    ray = containers[0]
    volumes = objects(spec.get("volumes"))
    mounts = objects(ray.get("volumeMounts"))
    logs = next(
        (m.get("name") for m in mounts or [] if m.get("mountPath") == LOGS_PATH),
        None,
    )
    if logs is None and volumes is not None and mounts is not None:
        taken = {v.get("name") for v in volumes}
        logs = LOGS_VOLUME if LOGS_VOLUME not in taken else f"{LOGS_VOLUME}-autoscaler"
        volumes = [*volumes, {"name": logs, "emptyDir": {}}]
        ray["volumeMounts"] = [*mounts, {"name": logs, "mountPath": LOGS_PATH}]
        spec["volumes"] = volumes
    others = [c for c in containers[1:] if c.get("name") != AUTOSCALER_CONTAINER]
    # Malformed volumes or mounts (left for the API server to report) leave the logs unshared.
    sidecar = autoscaler_container(image=ray.get("image"), logs_volume=logs, options=options)
    spec["containers"] = [ray, *others, sidecar]
    return {**template, "spec": spec}


def autoscaler_rbac(owner: Owner, *, name: str) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding, all ``name``; the binding's only subject is that
    ServiceAccount (the module docstring says why a user's own account is never bound)."""
    return [
        owned_object("v1", "ServiceAccount", object_meta(owner, name)),
        owned_object(
            "rbac.authorization.k8s.io/v1",
            "Role",
            object_meta(owner, name),
            rules=role_rules(owner.name),
        ),
        owned_object(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            object_meta(owner, name),
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            subjects=[{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
        ),
    ]
