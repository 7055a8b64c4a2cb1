"""Identity of the RayCluster resource: API group, versions, kind and plural.

KubeRay's names, so KubeRay's manifests, kubectl habits and the Ray autoscaler (which GETs and
PATCHes ``/apis/ray.io/v1/.../rayclusters/<name>``) work unchanged.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "LIST_KIND",
    "PLURAL",
    "SERVED_VERSIONS",
    "SHORT_NAMES",
    "SINGULAR",
    "STORAGE_VERSION",
]

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
#: The apiVersion of the normalized model ``parse_raycluster`` returns, whatever the input's.
API_VERSION: Final = f"{GROUP}/{STORAGE_VERSION}"
