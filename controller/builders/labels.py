"""The labels rayop puts on Ray pods and on every child object.

The ``ray.io/*`` keys are KubeRay's, and the Ray autoscaler reads them: it selects a cluster's
pods by ``ray.io/cluster``, tells the head from workers by ``ray.io/node-type`` and maps each pod
to a node type by ``ray.io/group`` (a pod without it crashes autoscaler v1). The head's group is
literally ``headgroup``, the node type name the autoscaler hard-codes. Users may add labels to
their pod templates but cannot override any key here: these labels also back the workloads'
immutable selectors.
"""

from __future__ import annotations

from enum import StrEnum

from controller.api.constants import (
    LABEL_CLUSTER,
    LABEL_GROUP,
    LABEL_IDENTIFIER,
    LABEL_IS_RAY_NODE,
    LABEL_NODE_TYPE,
)
from controller.api.names import child_name

__all__ = [
    "APP_COMPONENT",
    "APP_INSTANCE",
    "APP_NAME",
    "HEAD_GROUP",
    "LABEL_CLUSTER",
    "LABEL_GROUP",
    "LABEL_IDENTIFIER",
    "LABEL_IS_RAY_NODE",
    "LABEL_NODE_TYPE",
    "MANAGED_BY",
    "NodeType",
    "object_labels",
    "pod_labels",
    "selector_labels",
]

APP_NAME = ("app.kubernetes.io/name", "ray")
APP_INSTANCE = "app.kubernetes.io/instance"
APP_COMPONENT = "app.kubernetes.io/component"
MANAGED_BY = ("app.kubernetes.io/managed-by", "rayop")

#: The ``ray.io/group`` value of the head, which the Ray autoscaler hard-codes.
HEAD_GROUP = "headgroup"


class NodeType(StrEnum):
    """The two kinds of Ray node; the value is the ``ray.io/node-type`` label."""

    HEAD = "head"
    WORKER = "worker"


def object_labels(cluster: str) -> dict[str, str]:
    """Labels on every child object: which cluster it belongs to and who manages it."""
    return {
        LABEL_CLUSTER: cluster,
        APP_NAME[0]: APP_NAME[1],
        APP_INSTANCE: cluster,
        MANAGED_BY[0]: MANAGED_BY[1],
    }


def selector_labels(cluster: str, node_type: NodeType, group: str) -> dict[str, str]:
    """The immutable selector of a workload: one cluster, one node type, one group."""
    return {LABEL_CLUSTER: cluster, LABEL_NODE_TYPE: node_type.value, LABEL_GROUP: group}


def pod_labels(
    cluster: str, node_type: NodeType, group: str, user: dict[str, str] | None = None
) -> dict[str, str]:
    """Labels on a Ray pod: the user's, then ours on top (ours always win)."""
    labels = dict(user or {})
    labels.update(object_labels(cluster))
    labels.update(selector_labels(cluster, node_type, group))
    labels[LABEL_IDENTIFIER] = child_name(cluster, node_type.value)
    labels[LABEL_IS_RAY_NODE] = "yes"
    labels[APP_COMPONENT] = node_type.value
    return labels
