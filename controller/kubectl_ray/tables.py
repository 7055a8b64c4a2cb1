"""The ``get`` tables: KubeRay's plugin's columns, printed the way kubectl prints tables.

Columns are upper-case and padded to the widest cell with three spaces between, as kubectl's
table printer does. Resource totals are sums of container requests (limits where a request is
missing) in Kubernetes' own notation.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TextIO

from controller.api.constants import LABEL_CLUSTER, LABEL_GROUP, LABEL_NODE_TYPE
from controller.quantity import format_cpu, format_memory, parse_quantity

__all__ = [
    "age",
    "cluster_row",
    "human_duration",
    "node_row",
    "pod_resources",
    "print_table",
    "worker_group_row",
]

CLUSTER_COLUMNS = ("Name", "Namespace", "Desired Workers", "Available Workers", "CPUs", "GPUs",
                   "TPUs", "Memory", "Condition", "Status", "Age")  # fmt: skip
GROUP_COLUMNS = ("Name", "Min", "Max", "Replicas", "CPUs", "GPUs", "TPUs", "Memory", "Cluster")
NODE_COLUMNS = ("Name", "CPUs", "GPUs", "TPUs", "Memory", "Cluster", "Type", "Worker Group", "Age")
#: KubeRay's order of precedence for the one condition a cluster row shows.
_CONDITIONS = ("RayClusterProvisioned", "HeadPodReady", "RayClusterReplicaFailure",
               "RayClusterSuspended", "RayClusterSuspending")  # fmt: skip
_MAX_INT32 = 2**31 - 1


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]], out: TextIO) -> None:
    """Print a kubectl-style table (nothing but the header when there are no rows)."""
    cells = [[c.upper() for c in columns], *([str(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        line = "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")


def age(obj: dict[str, Any], now: datetime.datetime | None = None) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d (``<unknown>`` without a creation time)."""
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    start = datetime.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    seconds = int(((now or datetime.datetime.now(datetime.UTC)) - start).total_seconds())
    return human_duration(max(seconds, 0))


def human_duration(seconds: int) -> str:
    """kubectl's HumanDuration: precise when young, coarser with age (90s, 5m30s, 2h, 3d4h)."""
    minutes, hours = seconds // 60, seconds // 3600
    steps = (
        (seconds < 120, f"{seconds}s"),
        (minutes < 10, _pair(minutes, "m", seconds % 60, "s")),
        (minutes < 180, f"{minutes}m"),
        (hours < 8, _pair(hours, "h", minutes % 60, "m")),
        (hours < 48, f"{hours}h"),
        (hours < 192, _pair(hours // 24, "d", hours % 24, "h")),
        (hours < 24 * 365 * 2, f"{hours // 24}d"),
    )
    return next((text for applies, text in steps if applies), f"{hours // 24 // 365}y")


def _pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}" if small == 0 else f"{big}{big_unit}{small}{small_unit}"


def _relevant_condition(status: dict[str, Any]) -> str:
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    return next((name for name in _CONDITIONS if name in true), "")


def cluster_row(cluster: dict[str, Any]) -> list[object]:
    """One ``get cluster`` row, from the status rayop writes."""
    status = cluster.get("status") or {}
    return [
        cluster["metadata"]["name"],
        cluster["metadata"].get("namespace", ""),
        status.get("desiredWorkerReplicas", 0),
        status.get("availableWorkerReplicas", 0),
        status.get("desiredCPU", "0"),
        status.get("desiredGPU", "0"),
        status.get("desiredTPU", "0"),
        status.get("desiredMemory", "0"),
        _relevant_condition(status),
        status.get("state", ""),
        age(cluster),
    ]


def pod_resources(pod_spec: dict[str, Any]) -> dict[str, Decimal]:
    """Per resource, the sum over containers of the request (or the limit when unrequested)."""
    total: dict[str, Decimal] = {}
    for container in pod_spec.get("containers") or []:
        resources = container.get("resources") or {}
        merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in merged.items():
            amount = parse_quantity(value)
            if amount is not None:
                total[name] = total.get(name, Decimal(0)) + amount
    return total


def _resource_cells(total: dict[str, Decimal]) -> list[str]:
    def whole(name: str) -> str:
        return format_cpu(total.get(name, Decimal(0)))

    return [
        whole("cpu"),
        whole("nvidia.com/gpu"),
        whole("google.com/tpu"),
        format_memory(total.get("memory", Decimal(0))),
    ]


def worker_group_row(cluster: dict[str, Any], group: dict[str, Any], ready: int) -> list[object]:
    """One ``get workergroup`` row: min, max, ready/desired and the group's total resources."""
    replicas = int(group.get("replicas", 0) or 0)
    per_pod = pod_resources((group.get("template") or {}).get("spec") or {})
    hosts = int(group.get("numOfHosts", 1) or 1)
    total = {} if group.get("suspend") else {k: v * replicas * hosts for k, v in per_pod.items()}
    return [
        group["groupName"],
        group.get("minReplicas", 0),
        group.get("maxReplicas", _MAX_INT32),
        f"{ready}/{replicas * hosts}",
        *_resource_cells(total),
        cluster["metadata"]["name"],
    ]


def node_row(pod: dict[str, Any]) -> list[object]:
    """One ``get nodes`` row: a Ray pod with its resources, cluster, type and group."""
    labels = pod["metadata"].get("labels") or {}
    node_type = labels.get(LABEL_NODE_TYPE, "")
    return [
        pod["metadata"]["name"],
        *_resource_cells(pod_resources(pod.get("spec") or {})),
        labels.get(LABEL_CLUSTER, ""),
        node_type,
        labels.get(LABEL_GROUP, "") if node_type == "worker" else "",
        age(pod),
    ]
