"""The boundary between rayop and the Kubernetes API server.

- :mod:`.config`: where the cluster is (flags, KUBECONFIG, ~/.kube/config, in-cluster).
- :mod:`.client`: ``KubeClient``, raw-JSON requests with QPS/burst limits and metrics; the
  one write function ``apply`` (server-side apply as ``rayop``, forced) and ``delete``.
- :mod:`.errors`: the exception tree every failure is translated into, once, here.
"""

from controller.kube.client import APPLY_CONTENT_TYPE, FIELD_MANAGER, KubeClient
from controller.kube.config import ConfigError, load_api_client
from controller.kube.errors import (
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    NotLeading,
    ServerError,
    TooManyRequests,
    TransportError,
)
from controller.kube.metrics import RestClientMetrics
from controller.kube.ratelimit import TokenBucket
from controller.kube.resources import ResourceRef, resource_for

__all__ = [
    "APPLY_CONTENT_TYPE",
    "FIELD_MANAGER",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "Gone",
    "Invalid",
    "KubeClient",
    "KubeError",
    "NotFound",
    "NotLeading",
    "ResourceRef",
    "RestClientMetrics",
    "ServerError",
    "TokenBucket",
    "TooManyRequests",
    "TransportError",
    "load_api_client",
    "resource_for",
]
