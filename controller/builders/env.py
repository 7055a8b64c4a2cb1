"""Environment variables of Ray containers (reference/kuberay.md §2.2).

Two kinds of variable are added to the user's own:

* *managed* ones, which rayop owns and which replace a user's variable of the same name: where
  the head is (``FQ_RAY_IP``, ``RAY_IP`` on workers), which cluster and namespace the node is in,
  and the generated ``ray start`` line. ``RAY_CLOUD_INSTANCE_ID`` (the pod name) and
  ``RAY_NODE_TYPE_NAME`` (the group) are how the Ray autoscaler v2 matches Ray nodes to pods;
  without them on the head it never scales at all.
* *defaults*, which a user's variable of the same name overrides: ``RAY_PORT``, ``RAY_ADDRESS``
  and KubeRay's usage flags.

A name appears at most once in the result (server-side apply rejects duplicate keys in a list
merged by key); when the user's template repeats a name the last value wins, as in the kubelet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controller.builders.labels import LABEL_CLUSTER, LABEL_GROUP, NodeType

__all__ = ["field_env", "merge_env", "ray_container_env", "value_env"]


def value_env(name: str, value: str) -> dict[str, Any]:
    """An env var with a literal value."""
    return {"name": name, "value": value}


def field_env(name: str, field_path: str) -> dict[str, Any]:
    """An env var from the downward API, in the form the server stores (``apiVersion`` set)."""
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": field_path}}}


def merge_env(
    user: Sequence[Mapping[str, Any]],
    *,
    managed: Iterable[dict[str, Any]] = (),
    defaults: Iterable[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The user's env with `managed` variables replacing theirs and `defaults` filling gaps."""
    merged: dict[object, dict[str, Any]] = {}
    for var in user:
        # The last definition wins, at its position. A nameless entry is kept for the API
        # server to reject with its own message.
        merged.pop(var.get("name"), None)
        merged[var.get("name")] = dict(var)
    for var in managed:
        merged.pop(var["name"], None)
        merged[var["name"]] = var
    for var in defaults:
        merged.setdefault(var["name"], var)
    return list(merged.values())


def ray_container_env(
    user: Sequence[Mapping[str, Any]],
    *,
    node_type: NodeType,
    head_fqdn: str,
    head_service: str,
    gcs_port: int,
    ray_start: str,
    feature_managed: Sequence[dict[str, Any]] = (),
    feature_defaults: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The env of a Ray container: the user's, the feature variables (GCS FT), then KubeRay's."""
    managed = list(feature_managed)
    if node_type is NodeType.WORKER:
        managed += [value_env("FQ_RAY_IP", head_fqdn), value_env("RAY_IP", head_service)]
    managed += [
        field_env("RAY_CLUSTER_NAME", f"metadata.labels['{LABEL_CLUSTER}']"),
        field_env("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
        field_env("RAY_CLOUD_INSTANCE_ID", "metadata.name"),
        field_env("RAY_NODE_TYPE_NAME", f"metadata.labels['{LABEL_GROUP}']"),
        value_env("KUBERAY_GEN_RAY_START_CMD", ray_start),
    ]
    address_host = "127.0.0.1" if node_type is NodeType.HEAD else head_fqdn
    defaults = [
        *feature_defaults,
        value_env("RAY_PORT", str(gcs_port)),
        value_env("RAY_ADDRESS", f"{address_host}:{gcs_port}"),
        value_env("RAY_USAGE_STATS_KUBERAY_IN_USE", "1"),
        value_env("RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1"),
    ]
    return merge_env(user, managed=managed, defaults=defaults)
