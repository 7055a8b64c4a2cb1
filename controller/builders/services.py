"""The head Service and the headless worker Service.

The head Service, ``<cluster>-head-svc``, is how workers, the autoscaler, clients and users reach
the head: GCS (``gcs-server``, 6379), ``dashboard`` 8265, Ray ``client`` 10001, ``metrics`` 8080
and ``serve`` 8000 (numbers follow the head's flags), plus any other named port the Ray container
declares. Its type comes from the spec (ClusterIP by default). It publishes the head before it is
ready: workers must reach the GCS while the head's readiness probe (which checks the dashboard
too) still fails. A ``headGroupSpec.headService`` is the starting point (its labels, annotations
and spec fields are kept); rayop sets the name, selector and type, and adds its ports.

The worker Service, ``<cluster>-workers``, is headless and governs the worker StatefulSets, so
each worker pod has a stable DNS name ``<pod>.<cluster>-workers.<namespace>.svc``.
"""

from __future__ import annotations

import copy
from typing import Any

from controller.api.models import RayCluster
from controller.api.names import head_service_name, worker_service_name
from controller.builders.canonical import with_port_protocols
from controller.builders.labels import (
    HEAD_GROUP,
    LABEL_CLUSTER,
    LABEL_NODE_TYPE,
    NodeType,
    selector_labels,
)
from controller.builders.meta import Owner, object_meta, owned_object
from controller.builders.nodes import head_gcs_port
from controller.builders.pod import head_ports
from controller.builders.raystart import resolve_params
from controller.builders.shapes import mapping, objects

__all__ = ["head_service", "worker_service"]


def head_service(cluster: RayCluster, owner: Owner) -> dict[str, Any]:
    """The head Service (module docstring)."""
    head = cluster.spec.head_group_spec
    base = copy.deepcopy(head.head_service or {})
    base_meta = mapping(base.get("metadata"))
    spec = dict(mapping(base.get("spec")))
    spec["type"] = cluster.spec.head_service_type
    spec["selector"] = selector_labels(cluster.metadata.name, NodeType.HEAD, HEAD_GROUP)
    spec["ports"] = _service_ports([*(objects(spec.get("ports")) or []), *_head_ports(cluster)])
    spec.setdefault("publishNotReadyAddresses", True)
    annotations = {
        **mapping(base_meta.get("annotations")),
        **(cluster.spec.head_service_annotations or {}),
    }
    metadata = object_meta(
        owner,
        head_service_name(cluster.metadata.name),
        labels={LABEL_NODE_TYPE: NodeType.HEAD.value},
        annotations=annotations,
    )
    metadata["labels"] = {**mapping(base_meta.get("labels")), **metadata["labels"]}
    return owned_object("v1", "Service", metadata, spec=spec)


def worker_service(cluster: RayCluster, owner: Owner) -> dict[str, Any]:
    """The headless Service governing the worker StatefulSets."""
    name = cluster.metadata.name
    metadata = object_meta(
        owner, worker_service_name(name), labels={LABEL_NODE_TYPE: NodeType.WORKER.value}
    )
    spec = {
        "type": "ClusterIP",
        "clusterIP": "None",
        "selector": {LABEL_CLUSTER: name, LABEL_NODE_TYPE: NodeType.WORKER.value},
        "publishNotReadyAddresses": True,
    }
    return owned_object("v1", "Service", metadata, spec=spec)


def _head_ports(cluster: RayCluster) -> list[dict[str, Any]]:
    """The head's Ray ports, then the other named ports its Ray container declares."""
    head = cluster.spec.head_group_spec
    containers = objects(mapping(head.template.get("spec")).get("containers")) or [{}]
    # Resolve like the pod does, so the Service follows flags such as dashboard-port.
    params = resolve_params(
        head.ray_start_params,
        node_type=NodeType.HEAD,
        container=containers[0],
        head_address="",
    )
    declared = with_port_protocols(objects(containers[0].get("ports")) or [])
    return [*head_ports(params, head_gcs_port(cluster)), *(p for p in declared if p.get("name"))]


def _service_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Service ports, the first of each name and of each (port, protocol) kept, in order."""
    result: list[dict[str, Any]] = []
    names: set[object] = set()
    numbers: set[tuple[object, object]] = set()
    for port in ports:
        number = port.get("containerPort", port.get("port"))
        protocol = port.get("protocol") or "TCP"
        name = port.get("name")
        if name in names or (number, protocol) in numbers:
            continue
        names.add(name)
        numbers.add((number, protocol))
        service_port = {
            "name": name,
            "protocol": protocol,
            "port": number,
            "targetPort": port.get("targetPort", number),
        }
        service_port.update({k: v for k, v in port.items() if k in ("nodePort", "appProtocol")})
        result.append(service_port)
    return result
