"""The RayCluster API as frozen pydantic models: KubeRay's ``ray.io/v1`` fields plus rayop's own.

Python attributes are snake_case; the JSON names (aliases) are KubeRay's camelCase, so
``model_dump(by_alias=True, exclude_none=True)`` gives back a manifest KubeRay would accept.
Pod templates, Service specs, resources, env and the like stay raw dicts (``dict[str, Any]``):
rayop does not re-model Kubernetes core types, and unknown fields inside them pass through
untouched. Models are frozen, but raw dicts inside them are plain dicts: treat them as read-only
and deep-copy before changing anything.

These models are the *wire* shape and the *normalized* shape at once. The wire shape is the union
of both served versions (the CRD is generated from these classes, see ``controller.api.crd``), so
it also carries the few fields the seed manifest writes at ``ray.io/v1alpha1``
(``spec.headService.type``, ``autoscalerOptions.idleTimeoutMinutes`` and ``upscalingSpeed``).
``parse_raycluster`` moves those onto KubeRay's names and clears them, and fills every default, so
a parsed cluster only uses KubeRay's names and rayop's additions.

rayop's additions (documented in docs/raycluster-api.md): per worker group ``workloadKind``
(StatefulSet or Deployment) and ``horizontalPodAutoscaler``; on the head and each worker group
``volumeClaimTemplates`` and ``persistentVolumeClaimRetentionPolicy``.

The status models live in ``controller.api.status`` and the shared base in ``controller.api.base``
(both re-exported here).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import ConfigDict, Field

from controller.api import defaults
from controller.api.base import CRD_DEFAULT, INT32_MAX, ApiModel, RawObject, StringMap
from controller.api.constants import (
    API_VERSION,
    KIND,
    MANAGED_BY_KUBERAY,
    ManagedBy,
    StorageApiVersion,
)
from controller.api.names import DNS1123_LABEL_PATTERN
from controller.api.status import Condition, HeadInfo, RayClusterStatus

__all__ = [
    "INT32_MAX",
    "AutoscalerOptions",
    "Condition",
    "GcsFaultToleranceOptions",
    "HeadGroupSpec",
    "HeadInfo",
    "HorizontalPodAutoscalerSpec",
    "ObjectMeta",
    "PersistentVolumeClaimRetentionPolicy",
    "RayCluster",
    "RayClusterSpec",
    "RayClusterStatus",
    "RedisCredential",
    "ScaleStrategy",
    "SeedHeadService",
    "UpgradeStrategy",
    "WorkerGroupSpec",
    "WorkloadKind",
]

#: The most worker groups one cluster may have: bounds the CEL uniqueness rule's cost.
MAX_WORKER_GROUPS: Final = 100
WorkloadKind = Literal["StatefulSet", "Deployment"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]
RetentionAction = Literal["Retain", "Delete"]


# ------------------------------------------------------------------------------------ metadata
class ObjectMeta(ApiModel):
    """The parts of the RayCluster's metadata rayop reads."""

    name: str = Field(description="The cluster's name; every child object is named after it.")
    namespace: str = Field(
        default="default", description="The namespace; `default` when a manifest gives none."
    )
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: StringMap = Field(default_factory=dict)
    annotations: StringMap = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------------------------ spec
class RedisCredential(ApiModel):
    """A Redis username or password: a literal value or an EnvVarSource."""

    value: str | None = Field(default=None, description="The literal value.")
    value_from: RawObject | None = Field(
        default=None, description="An EnvVarSource (e.g. a secretKeyRef) the value is read from."
    )


class GcsFaultToleranceOptions(ApiModel):
    """GCS fault tolerance: the head keeps its state in Redis so workers survive a head restart."""

    backend: Literal["redis", "rocksdb"] | None = Field(
        default=None,
        description="Where GCS stores its state: `redis` (default) or `rocksdb` (embedded; not supported by rayop).",
    )
    redis_address: str | None = Field(default=None, description="The Redis address, `host:port`.")
    redis_username: RedisCredential | None = Field(default=None, description="The Redis username.")
    redis_password: RedisCredential | None = Field(default=None, description="The Redis password.")
    external_storage_namespace: str | None = Field(
        default=None,
        description="The Redis key namespace; the RayCluster's UID when unset.",
    )
    storage: RawObject | None = Field(
        default=None,
        description="Storage for the rocksdb backend (KubeRay alpha; not supported by rayop).",
    )


class AutoscalerOptions(ApiModel):
    """Settings of the in-tree Ray autoscaler sidecar, and the scaling policy it reads."""

    upscaling_mode: Literal["Default", "Aggressive", "Conservative"] | None = Field(
        default=None,
        description="Conservative: pending workers at most the cluster's size (speed 1); Default and Aggressive: no rate limit (speed 1000).",
    )
    idle_timeout_seconds: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX,
        description="Seconds a worker must be idle before the autoscaler removes it (60 when unset).",
    )
    version: Literal["v1", "v2"] | None = Field(
        default=None, description="Autoscaler version; unset lets Ray choose (v2 from Ray 2.47)."
    )
    image: str | None = Field(
        default=None, description="The sidecar's image; the Ray head image when unset."
    )
    image_pull_policy: PullPolicy | None = Field(
        default=None, description="The sidecar's imagePullPolicy."
    )
    resources: RawObject | None = Field(
        default=None, description="The sidecar's ResourceRequirements (500m CPU, 512Mi when unset)."
    )
    env: list[RawObject] | None = Field(default=None, description="Extra env vars for the sidecar.")
    env_from: list[RawObject] | None = Field(
        default=None, description="Extra envFrom sources for the sidecar."
    )
    volume_mounts: list[RawObject] | None = Field(
        default=None, description="Extra volume mounts for the sidecar."
    )
    security_context: RawObject | None = Field(
        default=None, description="The sidecar's securityContext."
    )
    command: list[str] | None = Field(default=None, description="Replaces the sidecar's command.")
    args: list[str] | None = Field(default=None, description="Replaces the sidecar's args.")
    idle_timeout_minutes: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX // 60,
        description="Seed (v1alpha1) name: idle minutes before scale-down; becomes idleTimeoutSeconds = minutes × 60.",
    )
    upscaling_speed: float | None = Field(
        default=None,
        gt=0,
        description="Seed (v1alpha1) name: becomes upscalingMode Conservative (speed ≤ ~31.6) or Default.",
    )


class UpgradeStrategy(ApiModel):
    """How spec changes reach running pods."""

    type: Literal["Recreate", "None"] | None = Field(
        default=None,
        description="Unset or Recreate: changes roll out to running pods; None: running pods keep their spec until they are replaced.",
    )


class ScaleStrategy(ApiModel):
    """Which pods to remove when a group scales down (written by the Ray autoscaler)."""

    workers_to_delete: list[str] = Field(
        default_factory=list, description="Names of the worker pods to remove."
    )


class HorizontalPodAutoscalerSpec(ApiModel):
    """rayop: scale this group with a Kubernetes HorizontalPodAutoscaler (autoscaling/v2).

    The HPA's minReplicas/maxReplicas are the group's; rayop then leaves the workload's replicas
    to the HPA.
    """

    metrics: list[RawObject] | None = Field(
        default=None,
        description="autoscaling/v2 MetricSpecs; average CPU utilization 80% when unset.",
    )
    behavior: RawObject | None = Field(
        default=None, description="autoscaling/v2 HorizontalPodAutoscalerBehavior."
    )


class PersistentVolumeClaimRetentionPolicy(ApiModel):
    """rayop: what happens to volumeClaimTemplates' PVCs (the StatefulSet field of the same name)."""

    when_deleted: RetentionAction | None = Field(
        default=None, description="When the RayCluster is deleted: Retain (default) or Delete."
    )
    when_scaled: RetentionAction | None = Field(
        default=None, description="When the group scales down: Retain (default) or Delete."
    )


class _GroupCommon(ApiModel):
    """Fields the head group and every worker group share."""

    ray_start_params: StringMap = Field(
        default_factory=dict,
        description='Flags for `ray start` (`--key=value`; `"true"` makes a bare switch).',
        json_schema_extra=CRD_DEFAULT,
    )
    resources: StringMap | None = Field(
        default=None,
        description="Ray resources of each node (CPU, GPU, memory, custom); exclusive with the rayStartParams resource flags.",
    )
    labels: StringMap | None = Field(default=None, description="Ray node labels of each node.")
    volume_claim_templates: list[RawObject] | None = Field(
        default=None,
        description="rayop: PersistentVolumeClaim templates, one PVC per pod (StatefulSet-backed groups only).",
    )
    persistent_volume_claim_retention_policy: PersistentVolumeClaimRetentionPolicy | None = Field(
        default=None, description="rayop: what happens to those PVCs on deletion and scale-down."
    )


class HeadGroupSpec(_GroupCommon):
    """The head node: one pod running GCS, the dashboard and (with autoscaling) the autoscaler."""

    template: RawObject = Field(
        default_factory=defaults.default_head_template,
        description="The head PodTemplateSpec; containers[0] is the Ray container.",
        json_schema_extra=CRD_DEFAULT,
    )
    service_type: ServiceType | None = Field(
        default=None, description="The head Service's type; ClusterIP when unset."
    )
    head_service: RawObject | None = Field(
        default=None,
        description="A Service to start the head Service from (name, annotations, ports...).",
    )
    enable_ingress: bool | None = Field(
        default=None, description="KubeRay's dashboard Ingress (not supported by rayop)."
    )
    ingress_options: RawObject | None = Field(
        default=None, description="KubeRay's Ingress options (not supported by rayop)."
    )


class WorkerGroupSpec(_GroupCommon):
    """A group of identical worker nodes."""

    model_config = ConfigDict(
        json_schema_extra={
            "crd": {
                "x-kubernetes-validations": [
                    {
                        "rule": "self.minReplicas <= self.maxReplicas",
                        "message": "minReplicas must be less than or equal to maxReplicas",
                    }
                ]
            }
        }
    )

    group_name: str = Field(
        max_length=63,
        description="The group's name: a DNS label, unique in the cluster.",
        json_schema_extra={"crd": {"pattern": DNS1123_LABEL_PATTERN}},
    )
    replicas: int | None = Field(
        default=defaults.REPLICAS,
        ge=0,
        le=INT32_MAX,
        description="Desired workers, clamped into [minReplicas, maxReplicas].",
        json_schema_extra=CRD_DEFAULT,
    )
    min_replicas: int = Field(
        default=defaults.MIN_REPLICAS,
        ge=0,
        le=INT32_MAX,
        description="The fewest workers.",
        json_schema_extra=CRD_DEFAULT,
    )
    max_replicas: int = Field(
        default=defaults.MAX_REPLICAS,
        ge=0,
        le=INT32_MAX,
        description="The most workers.",
        json_schema_extra=CRD_DEFAULT,
    )
    num_of_hosts: int = Field(
        default=defaults.NUM_OF_HOSTS,
        ge=1,
        le=INT32_MAX,
        description="Pods per replica (multi-host TPU slices); rayop runs each host as an ordinary worker.",
        json_schema_extra=CRD_DEFAULT,
    )
    idle_timeout_seconds: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX,
        description="This group's idle timeout (autoscaler v2 only).",
    )
    priority: int | None = Field(
        default=None,
        ge=-INT32_MAX - 1,
        le=INT32_MAX,
        description="Scale-up preference between groups (autoscaler v2, Ray >= 2.56).",
    )
    suspend: bool | None = Field(default=None, description="Remove this group's pods while true.")
    template: RawObject = Field(
        default_factory=defaults.default_worker_template,
        description="The worker PodTemplateSpec; containers[0] is the Ray container.",
        json_schema_extra=CRD_DEFAULT,
    )
    scale_strategy: ScaleStrategy = Field(
        default_factory=ScaleStrategy,
        description="Pods the Ray autoscaler asks to remove.",
        json_schema_extra=CRD_DEFAULT,
    )
    workload_kind: WorkloadKind | None = Field(
        default=None,
        description="rayop: StatefulSet or Deployment; Deployment under in-tree autoscaling, else StatefulSet.",
    )
    horizontal_pod_autoscaler: HorizontalPodAutoscalerSpec | None = Field(
        default=None, description="rayop: scale this group with a HorizontalPodAutoscaler."
    )


class SeedHeadService(ApiModel):
    """Seed (v1alpha1) form of the head Service settings."""

    type: ServiceType | None = Field(default=None, description="Becomes headGroupSpec.serviceType.")


class RayClusterSpec(ApiModel):
    """What the user asks for."""

    model_config = ConfigDict(
        json_schema_extra={
            "crd": {
                "x-kubernetes-validations": [
                    {
                        "rule": "!has(self.workerGroupSpecs) || self.workerGroupSpecs.all(g, self.workerGroupSpecs.exists_one(h, h.groupName == g.groupName))",
                        "message": "worker group names must be unique",
                        "fieldPath": ".workerGroupSpecs",
                    }
                ]
            }
        }
    )

    ray_version: str | None = Field(
        default=None,
        description="The Ray version of the images; the default image is rayproject/ray:<rayVersion>.",
    )
    enable_in_tree_autoscaling: bool = Field(
        default=False, description="Run the Ray autoscaler as a sidecar of the head."
    )
    autoscaler_options: AutoscalerOptions | None = Field(
        default=None, description="Settings of the Ray autoscaler."
    )
    head_service_annotations: StringMap | None = Field(
        default=None, description="Annotations on the head Service."
    )
    head_group_spec: HeadGroupSpec = Field(
        default_factory=lambda: HeadGroupSpec(),
        description="The head node; a default head when unset.",
        json_schema_extra=CRD_DEFAULT,
    )
    worker_group_specs: list[WorkerGroupSpec] = Field(
        default_factory=list,
        max_length=MAX_WORKER_GROUPS,
        description="The worker groups.",
        # Stored even when empty: the Ray autoscaler indexes spec.workerGroupSpecs directly.
        json_schema_extra=CRD_DEFAULT,
    )
    suspend: bool | None = Field(
        default=None, description="Remove every pod while true; Services stay."
    )
    managed_by: ManagedBy | None = Field(
        default=None,
        description="Who reconciles this cluster; rayop acts only when unset or ray.io/kuberay-operator.",
        json_schema_extra={
            "crd": {
                "x-kubernetes-validations": [
                    {"rule": "self == oldSelf", "message": "managedBy is immutable"}
                ]
            }
        },
    )
    upgrade_strategy: UpgradeStrategy | None = Field(
        default=None, description="How spec changes reach running pods."
    )
    gcs_fault_tolerance_options: GcsFaultToleranceOptions | None = Field(
        default=None, description="GCS fault tolerance with external Redis."
    )
    auth_options: RawObject | None = Field(
        default=None, description="KubeRay's token authentication (not supported by rayop)."
    )
    network_policy: RawObject | None = Field(
        default=None, description="KubeRay's NetworkPolicies (not supported by rayop)."
    )
    tls_options: RawObject | None = Field(
        default=None, description="KubeRay's mTLS (not supported by rayop)."
    )
    history_server_options: RawObject | None = Field(
        default=None, description="KubeRay's history server collector (not supported by rayop)."
    )
    head_service: SeedHeadService | None = Field(
        default=None,
        description="Seed (v1alpha1) name: headService.type becomes headGroupSpec.serviceType.",
    )

    @property
    def managed_by_rayop(self) -> bool:
        """True unless ``managedBy`` hands the cluster to another controller (e.g. MultiKueue).

        rayop is a drop-in for KubeRay's RayCluster controller, so it takes KubeRay's own value.
        """
        return self.managed_by in (None, MANAGED_BY_KUBERAY)

    @property
    def head_service_type(self) -> str:
        """The head Service's type (ClusterIP unless the spec says otherwise)."""
        return self.head_group_spec.service_type or "ClusterIP"


# ------------------------------------------------------------------------------------ object
class RayCluster(ApiModel):
    """A RayCluster: metadata, spec and (when read from the cluster) status."""

    api_version: StorageApiVersion = API_VERSION
    kind: Literal["RayCluster"] = KIND
    metadata: ObjectMeta
    spec: RayClusterSpec
    status: RayClusterStatus | None = None
