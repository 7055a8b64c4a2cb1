"""GCS fault tolerance with external Redis: what it adds to the head and the workers (§5.3).

With fault tolerance the head's GCS keeps its tables in Redis, so a restarted head (same pod
restarted, or a new head pod) picks up where it left off, and workers survive the gap: they
get ``RAY_gcs_rpc_server_reconnect_timeout_s=600`` (Ray's default is 60 s, too short for a head
pod to be rescheduled) and keep running.

Enabled by ``spec.gcsFaultToleranceOptions``, or by KubeRay's older form, the annotation
``ray.io/ft-enabled: "true"`` with the user setting ``RAY_REDIS_ADDRESS`` on the head themselves.
The Redis key namespace is ``externalStorageNamespace``, else the annotation
``ray.io/external-storage-namespace``, else the RayCluster's uid (so two clusters sharing a Redis
never mix state); `rayop render` has no uid and then leaves the namespace to Ray's default.
The password and username reach ``ray start`` through env vars (``$REDIS_PASSWORD``), never in
the command line itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.api.constants import ANNOTATION_EXTERNAL_STORAGE_NAMESPACE, ANNOTATION_FT_ENABLED
from controller.api.models import RayCluster, RedisCredential
from controller.builders.env import value_env
from controller.builders.raystart import EnvRef, ParamValue

__all__ = [
    "FT_ENABLED_ANNOTATION",
    "STORAGE_NAMESPACE_ANNOTATION",
    "GcsFaultTolerance",
    "gcs_fault_tolerance",
]

FT_ENABLED_ANNOTATION = ANNOTATION_FT_ENABLED
STORAGE_NAMESPACE_ANNOTATION = ANNOTATION_EXTERNAL_STORAGE_NAMESPACE
RECONNECT_TIMEOUT = ("RAY_gcs_rpc_server_reconnect_timeout_s", "600")


@dataclass(frozen=True)
class GcsFaultTolerance:
    """What GCS fault tolerance adds: flags, env and annotations for the head, env for workers."""

    enabled: bool
    head_params: dict[str, ParamValue] = field(default_factory=dict)
    head_env: list[dict[str, Any]] = field(default_factory=list)
    head_env_defaults: list[dict[str, Any]] = field(default_factory=list)
    head_annotations: dict[str, str] = field(default_factory=dict)
    worker_env_defaults: list[dict[str, Any]] = field(default_factory=list)


def gcs_fault_tolerance(cluster: RayCluster) -> GcsFaultTolerance:
    """The head and worker additions for `cluster`'s fault-tolerance settings."""
    annotations = cluster.metadata.annotations
    options = cluster.spec.gcs_fault_tolerance_options
    legacy = annotations.get(FT_ENABLED_ANNOTATION, "").lower() == "true"
    if options is not None and options.backend == "rocksdb":
        options = None  # not supported: validation warns that the cluster runs without FT
    if options is None and not legacy:
        return GcsFaultTolerance(enabled=False, head_annotations={FT_ENABLED_ANNOTATION: "false"})
    head_params: dict[str, ParamValue] = {}
    head_env: list[dict[str, Any]] = []
    head_env_defaults: list[dict[str, Any]] = []
    storage_namespace = annotations.get(STORAGE_NAMESPACE_ANNOTATION) or cluster.metadata.uid
    if options is not None:
        storage_namespace = options.external_storage_namespace or storage_namespace
        if options.redis_address:
            head_env.append(value_env("RAY_REDIS_ADDRESS", options.redis_address))
        for flag, variable, credential in (
            ("redis-username", "REDIS_USERNAME", options.redis_username),
            ("redis-password", "REDIS_PASSWORD", options.redis_password),
        ):
            if credential is not None:
                head_env.append(_credential_env(variable, credential))
                head_params[flag] = EnvRef(variable)
    else:
        password = cluster.spec.head_group_spec.ray_start_params.get("redis-password")
        if password is not None:
            # KubeRay's legacy form: the password is a flag; Ray also reads it from the env.
            head_env_defaults.append(value_env("REDIS_PASSWORD", password))
    head_annotations = {FT_ENABLED_ANNOTATION: "true"}
    if storage_namespace:
        head_env.append(value_env("RAY_external_storage_namespace", storage_namespace))
        head_annotations[STORAGE_NAMESPACE_ANNOTATION] = storage_namespace
    return GcsFaultTolerance(
        enabled=True,
        head_params=head_params,
        head_env=head_env,
        head_env_defaults=head_env_defaults,
        head_annotations=head_annotations,
        worker_env_defaults=[value_env(*RECONNECT_TIMEOUT)],
    )


def _credential_env(name: str, credential: RedisCredential) -> dict[str, Any]:
    if credential.value_from is not None:
        return {"name": name, "valueFrom": credential.value_from}
    return value_env(name, credential.value or "")
