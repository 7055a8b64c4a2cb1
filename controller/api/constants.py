"""rayop's shared vocabulary: the RayCluster resource's identity, the labels and annotations
rayop reads and writes, status condition types and Event reasons.

Every ``ray.io/...`` string of the operator is spelled here and nowhere else in
``controller/`` (tests/unit/controller/test_constants.py greps for it), so a key is renamed in
one place and a typo is a NameError, not a silent miss. The names are KubeRay's, so KubeRay's
manifests, kubectl habits, dashboards and the Ray autoscaler (which GETs and PATCHes
``/apis/ray.io/v1/.../rayclusters/<name>`` and selects pods by ``ray.io/cluster``) work
unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

__all__ = [
    "ANNOTATION_EXTERNAL_STORAGE_NAMESPACE",
    "ANNOTATION_FT_ENABLED",
    "ANNOTATION_OVERWRITE_CONTAINER_CMD",
    "API_VERSION",
    "API_VERSION_PREFIX",
    "GROUP",
    "KIND",
    "LABEL_CLUSTER",
    "LABEL_GROUP",
    "LABEL_IDENTIFIER",
    "LABEL_IS_RAY_NODE",
    "LABEL_NODE_TYPE",
    "LABEL_ORIGINATED_FROM_CRD",
    "LABEL_PREFIX",
    "LABEL_REPLICA_HOST_INDEX",
    "LABEL_SCHEDULER_NAME",
    "LABEL_WORKER_GROUP_REPLICA_NAME",
    "LIST_KIND",
    "MANAGED_BY_KUBERAY",
    "MANAGED_BY_MULTIKUEUE",
    "PLURAL",
    "SERVED_VERSIONS",
    "SHORT_NAMES",
    "SINGULAR",
    "STORAGE_VERSION",
    "ConditionType",
    "EventReason",
    "ManagedBy",
    "StorageApiVersion",
]

# ---------------------------------------------------------------------- the resource

GROUP: Final = "ray.io"
KIND: Final = "RayCluster"
LIST_KIND: Final = "RayClusterList"
PLURAL: Final = "rayclusters"
SINGULAR: Final = "raycluster"
SHORT_NAMES: Final[tuple[str, ...]] = ()

STORAGE_VERSION: Final = "v1"
#: Every version the CRD serves, storage version first. v1alpha1 is how the seed manifest is
#: written; both versions share one schema, so an object reads back identically at either.
SERVED_VERSIONS: Final[tuple[str, ...]] = ("v1", "v1alpha1")
#: :data:`API_VERSION` as a type, for the pydantic model (``Literal`` cannot take a name).
StorageApiVersion = Literal["ray.io/v1"]
#: The apiVersion of the normalized model ``parse_raycluster`` returns, whatever the input's.
API_VERSION: Final[StorageApiVersion] = "ray.io/v1"
#: Every apiVersion of the group starts with this (owner references are matched by it).
API_VERSION_PREFIX: Final = f"{GROUP}/"

# ---------------------------------------------------------------------- labels

#: The prefix of every KubeRay label; the pod cache keeps only these labels.
LABEL_PREFIX: Final = "ray.io/"
#: The RayCluster's name; the Ray autoscaler selects a cluster's pods by it.
LABEL_CLUSTER: Final = "ray.io/cluster"
#: ``head`` or ``worker``.
LABEL_NODE_TYPE: Final = "ray.io/node-type"
#: The worker group name (``headgroup`` on the head); the autoscaler's node type.
LABEL_GROUP: Final = "ray.io/group"
LABEL_IDENTIFIER: Final = "ray.io/identifier"
LABEL_IS_RAY_NODE: Final = "ray.io/is-ray-node"
#: Set by KubeRay's RayJob/RayService controllers on the clusters they create.
LABEL_ORIGINATED_FROM_CRD: Final = "ray.io/originated-from-crd"
#: KubeRay's multi-host indexing labels, which rayop does not set (a warning names them).
LABEL_WORKER_GROUP_REPLICA_NAME: Final = "ray.io/worker-group-replica-name"
LABEL_REPLICA_HOST_INDEX: Final = "ray.io/replica-host-index"
#: KubeRay's batch-scheduler hand-off label, which rayop does not support (a warning).
LABEL_SCHEDULER_NAME: Final = "ray.io/scheduler-name"

# ---------------------------------------------------------------------- annotations

ANNOTATION_FT_ENABLED: Final = "ray.io/ft-enabled"
ANNOTATION_EXTERNAL_STORAGE_NAMESPACE: Final = "ray.io/external-storage-namespace"
ANNOTATION_OVERWRITE_CONTAINER_CMD: Final = "ray.io/overwrite-container-cmd"

# ---------------------------------------------------------------------- spec.managedBy

MANAGED_BY_KUBERAY: Final = "ray.io/kuberay-operator"
MANAGED_BY_MULTIKUEUE: Final = "kueue.x-k8s.io/multikueue"
#: The values ``spec.managedBy`` may take, as a type for the pydantic model.
ManagedBy = Literal["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"]


class ConditionType(StrEnum):
    """The ``status.conditions[].type`` values rayop writes (all five are always present)."""

    HEAD_POD_READY = "HeadPodReady"
    PROVISIONED = "RayClusterProvisioned"
    REPLICA_FAILURE = "ReplicaFailure"
    SUSPENDED = "RayClusterSuspended"
    READY = "Ready"


class EventReason(StrEnum):
    """The ``reason`` of every Event rayop records (KubeRay's names where KubeRay has one).

    ``FailedToApply<Kind>`` and ``Deleted<Kind>`` are formed with :meth:`failed_to_apply` and
    :meth:`deleted`, one per child kind, as KubeRay names them.
    """

    CREATED = "Created"
    UPDATED = "Updated"
    DELETED_POD = "DeletedPod"
    INVALID_SPEC = "InvalidRayClusterSpec"
    SPEC_WARNING = "RayClusterSpecWarning"
    HEAD_POD_NOT_READY = "HeadPodNotReady"
    HEAD_POD_RECOVERED = "HeadPodRecovered"
    HEAD_POD_FAILING = "HeadPodFailing"
    WORKER_POD_FAILING = "WorkerPodFailing"
    FAILED_TO_APPLY_CHILDREN = "FailedToApplyChildren"
    #: A write the API server refused for good (422, schema): retrying cannot help.
    REJECTED_BY_SERVER = "RejectedByServer"
    DELETED_WORKER_POD = "DeletedWorkerPod"
    WORKERS_TO_DELETE_NOT_HONOURED = "WorkersToDeleteNotHonoured"

    @staticmethod
    def failed_to_apply(kind: str) -> str:
        """``FailedToApplyService`` and so on: one reason per child kind."""
        return f"FailedToApply{kind}"

    @staticmethod
    def deleted(kind: str) -> str:
        """``DeletedService`` and so on: a child removed because the spec no longer wants it."""
        return f"Deleted{kind}"
