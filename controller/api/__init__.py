"""The RayCluster API: models, normalization of both served versions, defaults, validation, CRD.

Entry point: ``parse_raycluster(obj) -> ParseResult`` turns a raw RayCluster (a manifest or an
object read from the API server, ``ray.io/v1`` or ``ray.io/v1alpha1``) into the normalized,
defaulted ``ray.io/v1`` model, with every problem and warning as ``Problem(field, message)``.

Modules: ``models`` (the frozen pydantic spec models; ``status`` and ``base`` beside them),
``normalize`` (unknown fields, seed names), ``defaults`` (every default, in one place),
``validation`` and ``features`` (the rules), ``names`` (child object names and the shortening
rule the builders share), ``errors`` (pydantic errors → Problems), ``compat`` (what rayop
writes back so the Ray autoscaler sees the seed's settings), ``crd`` (the CRD generator:
``python -m controller.api.crd``).
"""

from controller.api.compat import autoscaler_compat_apply
from controller.api.constants import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    SERVED_VERSIONS,
    STORAGE_VERSION,
)
from controller.api.models import (
    AutoscalerOptions,
    Condition,
    GcsFaultToleranceOptions,
    HeadGroupSpec,
    HeadInfo,
    HorizontalPodAutoscalerSpec,
    ObjectMeta,
    PersistentVolumeClaimRetentionPolicy,
    RayCluster,
    RayClusterSpec,
    RayClusterStatus,
    RedisCredential,
    ScaleStrategy,
    UpgradeStrategy,
    WorkerGroupSpec,
    WorkloadKind,
)
from controller.api.names import child_name
from controller.api.parse import ParseResult, parse_raycluster
from controller.api.problems import Problem, format_problems

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "SERVED_VERSIONS",
    "STORAGE_VERSION",
    "AutoscalerOptions",
    "Condition",
    "GcsFaultToleranceOptions",
    "HeadGroupSpec",
    "HeadInfo",
    "HorizontalPodAutoscalerSpec",
    "ObjectMeta",
    "ParseResult",
    "PersistentVolumeClaimRetentionPolicy",
    "Problem",
    "RayCluster",
    "RayClusterSpec",
    "RayClusterStatus",
    "RedisCredential",
    "ScaleStrategy",
    "UpgradeStrategy",
    "WorkerGroupSpec",
    "WorkloadKind",
    "autoscaler_compat_apply",
    "child_name",
    "format_problems",
    "parse_raycluster",
]
