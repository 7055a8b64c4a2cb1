"""Operator-wide settings the builders take, frozen so that building stays a pure function."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BuildConfig"]


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """Settings that shape every RayCluster's children the same way (KubeRay's operator env vars).

    Attributes:
        cluster_domain: the cluster's DNS domain, in the head Service FQDN workers connect to
            (KubeRay's ``CLUSTER_DOMAIN``).
        inject_probes: add liveness/readiness probes to Ray containers that have none
            (KubeRay's ``ENABLE_PROBES_INJECTION``).
        inject_wait_for_gcs: give workers the ``wait-gcs-ready`` init container
            (KubeRay's ``ENABLE_INIT_CONTAINER_INJECTION``).
    """

    cluster_domain: str = "cluster.local"
    inject_probes: bool = True
    inject_wait_for_gcs: bool = True
