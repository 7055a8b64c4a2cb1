"""What rayop writes back into a RayCluster so the Ray autoscaler sees the seed's settings.

The Ray autoscaler does not read rayop's model: it GETs the RayCluster itself
(``/apis/ray.io/v1/.../rayclusters/<name>``) and reads ``autoscalerOptions.idleTimeoutSeconds``
and ``upscalingMode`` (reference ray-autoscaler.md §3.1). Both versions share one schema with no
conversion, so a manifest written with the seed's v1alpha1 names (``idleTimeoutMinutes``,
``upscalingSpeed``) reads back with those names only, and the autoscaler would silently use its
defaults (60 s, speed 1000). A schema default cannot compute one field from another, so the
operator writes the KubeRay names itself, once, with the apply body ``autoscaler_compat_apply``
returns (server-side apply, field manager ``rayop``; it is also a valid JSON merge patch). It
returns None when the stored object already says the same, so steady state makes no write.

Everything else the autoscaler needs from a template-less manifest (``headGroupSpec``, each
group's ``template.spec.containers[0].resources``, ``minReplicas``/``maxReplicas``/``replicas``,
``scaleStrategy``) comes from the CRD's schema defaults, which the API server applies to every
stored object.
"""

from __future__ import annotations

from typing import Any

from controller.api.constants import API_VERSION, KIND
from controller.api.models import RayCluster

__all__ = ["autoscaler_compat_apply"]


def autoscaler_compat_apply(obj: dict[str, Any], cluster: RayCluster) -> dict[str, Any] | None:
    """The apply body that adds KubeRay's autoscaler names for the seed's, or None if not needed.

    ``obj`` is the RayCluster as stored (raw, as read from the API server); ``cluster`` is what
    ``parse_raycluster(obj)`` returned for it. Only clusters with in-tree autoscaling get one:
    nobody else reads these fields.
    """
    spec = obj.get("spec")
    raw = spec.get("autoscalerOptions") if isinstance(spec, dict) else None
    options = cluster.spec.autoscaler_options
    if not cluster.spec.enable_in_tree_autoscaling or not isinstance(raw, dict) or options is None:
        return None
    wanted: dict[str, Any] = {}
    if (
        "idleTimeoutMinutes" in raw
        and raw.get("idleTimeoutSeconds") != options.idle_timeout_seconds
    ):
        wanted["idleTimeoutSeconds"] = options.idle_timeout_seconds
    if "upscalingSpeed" in raw and raw.get("upscalingMode") != options.upscaling_mode:
        wanted["upscalingMode"] = options.upscaling_mode
    if not wanted:
        return None
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": cluster.metadata.name, "namespace": cluster.metadata.namespace},
        "spec": {"autoscalerOptions": wanted},
    }
