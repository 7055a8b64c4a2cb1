"""Liveness and readiness probes for Ray containers that have none (reference/kuberay.md §2.4).

Ray 2.53 and later serve one health endpoint, ``/api/healthz``, on the dashboard agent's port;
the probes ``GET`` it. Older Ray is probed with KubeRay's ``wget`` commands: the raylet's health
on every node and, on the head, the GCS's too. The liveness probe tolerates 120 failures (ten
minutes) because a busy raylet answers slowly and killing it loses the node's work; readiness
reacts within 50 s. A ``rayVersion`` that does not parse (``nightly``) gets the ``wget`` form,
which every Ray version answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.builders.labels import NodeType
from controller.builders.raystart import (
    DEFAULT_DASHBOARD_AGENT_PORT,
    DEFAULT_DASHBOARD_PORT,
    ParamValue,
    int_param,
)

__all__ = ["HEALTHZ_MIN_VERSION", "liveness_probe", "parse_ray_version", "readiness_probe"]

#: The first Ray release that serves ``/api/healthz`` on the dashboard agent.
HEALTHZ_MIN_VERSION = (2, 53, 0)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
_WGET = "wget --tries 1 -T {timeout} -q -O- http://localhost:{port}/{path} | grep success"


def parse_ray_version(version: str | None) -> tuple[int, int, int] | None:
    """``"2.52.0"`` → ``(2, 52, 0)``; None for a version that does not start with numbers."""
    match = _VERSION.match(version or "")
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def liveness_probe(
    node_type: NodeType, ray_version: str | None, params: Mapping[str, ParamValue]
) -> dict[str, Any]:
    """The liveness probe KubeRay gives a Ray container of this node type and Ray version."""
    return {
        **_handler(node_type, ray_version, params),
        "initialDelaySeconds": 30,
        "timeoutSeconds": _timeout(node_type),
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 120,
    }


def readiness_probe(
    node_type: NodeType, ray_version: str | None, params: Mapping[str, ParamValue]
) -> dict[str, Any]:
    """The readiness probe KubeRay gives a Ray container of this node type and Ray version."""
    return {
        **_handler(node_type, ray_version, params),
        "initialDelaySeconds": 10,
        "timeoutSeconds": _timeout(node_type),
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 10,
    }


def _timeout(node_type: NodeType) -> int:
    return 5 if node_type is NodeType.HEAD else 2


def _handler(
    node_type: NodeType, ray_version: str | None, params: Mapping[str, ParamValue]
) -> dict[str, Any]:
    agent_port = int_param(params, "dashboard-agent-listen-port", DEFAULT_DASHBOARD_AGENT_PORT)
    version = parse_ray_version(ray_version)
    if version is not None and version >= HEALTHZ_MIN_VERSION:
        return {"httpGet": {"path": "/api/healthz", "port": agent_port, "scheme": "HTTP"}}
    checks = [_WGET.format(timeout=2, port=agent_port, path="api/local_raylet_healthz")]
    if node_type is NodeType.HEAD:
        dashboard_port = int_param(params, "dashboard-port", DEFAULT_DASHBOARD_PORT)
        checks.append(_WGET.format(timeout=10, port=dashboard_port, path="api/gcs_healthz"))
    return {"exec": {"command": ["bash", "-c", " && ".join(checks)]}}
