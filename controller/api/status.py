"""The RayCluster's status: KubeRay's fields, which rayop writes and kubectl's columns show."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controller.api.base import ApiModel, Quantity, StringMap

__all__ = ["Condition", "HeadInfo", "RayClusterStatus"]


class HeadInfo(ApiModel):
    """Where the head is."""

    pod_ip: str | None = Field(default=None, alias="podIP", description="The head pod's IP.")
    pod_name: str | None = Field(default=None, description="The head pod's name.")
    service_ip: str | None = Field(
        default=None, alias="serviceIP", description="The head Service's IP."
    )
    service_name: str | None = Field(default=None, description="The head Service's name.")


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None
    observed_generation: int | None = None


class RayClusterStatus(ApiModel):
    """What rayop observes (KubeRay's status fields)."""

    state: str | None = Field(
        default=None, description="ready or suspended (deprecated; see conditions)."
    )
    reason: str | None = Field(default=None, description="Why the state is what it is.")
    desired_worker_replicas: int | None = Field(
        default=None, description="Workers the spec asks for."
    )
    available_worker_replicas: int | None = Field(default=None, description="Worker pods running.")
    ready_worker_replicas: int | None = Field(
        default=None, description="Worker pods running and ready."
    )
    min_worker_replicas: int | None = Field(
        default=None, description="Sum of the groups' minReplicas."
    )
    max_worker_replicas: int | None = Field(
        default=None, description="Sum of the groups' maxReplicas."
    )
    desired_cpu: Quantity | None = Field(
        default=None, alias="desiredCPU", description="CPUs the pods ask for."
    )
    desired_memory: Quantity | None = Field(default=None, description="Memory the pods ask for.")
    desired_gpu: Quantity | None = Field(
        default=None, alias="desiredGPU", description="GPUs the pods ask for."
    )
    desired_tpu: Quantity | None = Field(
        default=None, alias="desiredTPU", description="TPUs the pods ask for."
    )
    endpoints: StringMap | None = Field(default=None, description="Head Service port by name.")
    head: HeadInfo | None = Field(default=None, description="The head pod and Service.")
    last_update_time: str | None = Field(
        default=None, description="When rayop last wrote the status."
    )
    state_transition_times: StringMap | None = Field(
        default=None, description="When each state began."
    )
    observed_generation: int | None = Field(
        default=None, description="The generation last reconciled."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="HeadPodReady, RayClusterProvisioned, ReplicaFailure, RayClusterSuspending, RayClusterSuspended.",
        json_schema_extra={
            "crd": {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
        },
    )
