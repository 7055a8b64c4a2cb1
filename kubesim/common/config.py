"""The knobs of kubesim's simulated nodes, kubelet and controllers.

Every delay is in seconds of event-loop time, so tests on looptime's fake clock can use realistic
values and still finish instantly. The defaults look like a small, healthy real cluster; `fast()`
is what component tests use.

`runtime` picks what runs containers: `simulated` (timers, the default) or `process` (real
processes in per-pod Linux namespaces, kubesim.kubelet.process; needs root and iproute2).
`image_map` tells the process runtime which local environment stands in for an image.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from kubesim.common.quantity import QuantityError, parse_quantity

__all__ = ["RUNTIMES", "WorkloadsConfig", "parse_image_map_entry"]

#: The container runtimes a kubelet can use (`WorkloadsConfig.runtime`).
RUNTIMES = ("simulated", "process")

#: RFC 1123 labels joined by dots, as Kubernetes validates DNS subdomains.
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
)


def _opt(default: Any, help_text: str, **kwargs: Any) -> Any:
    """A dataclass field whose help text the CLI shows."""
    return field(default=default, metadata={"help": help_text}, **kwargs)


@dataclass(frozen=True, kw_only=True)
class WorkloadsConfig:
    """Delays, node shape and controller settings for `Workloads`."""

    # -- nodes -------------------------------------------------------------------------------
    nodes: int = _opt(1, "number of simulated nodes (kubesim-node-0, -1, ...)")
    node_cpu: str = _opt("32", "allocatable CPU of each node")
    node_memory: str = _opt("128Gi", "allocatable memory of each node")
    node_gpus: int = _opt(0, "nvidia.com/gpu capacity of each node")
    node_pods: int = _opt(110, "maximum pods per node")

    # -- scheduler and kubelet ----------------------------------------------------------------
    runtime: str = _opt(
        "simulated",
        "container runtime: simulated (timers) or process (real processes, one network and "
        "mount namespace per pod; needs root and iproute2)",
    )
    image_map: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "process runtime: run image IMAGE (a reference, or a prefix ending in *) "
            "from the local environment DIR, whose bin/ goes first on PATH; repeatable",
            "metavar": "IMAGE=DIR",
        },
    )
    schedule_delay: float = _opt(0.0, "pod creation to binding on a node")
    image_pull_delay: float = _opt(0.5, "image pull time (Pulling to Pulled) for images not cached")
    container_create_delay: float = _opt(0.5, "sandbox and container creation time")
    start_to_ready_delay: float = _opt(
        1.0, "container start to Ready when it has no readiness probe"
    )
    probe_period: float | None = _opt(
        None, "override every probe's periodSeconds (None: honour the pod spec)"
    )
    termination_delay: float = _opt(
        0.5, "time a container takes to exit after SIGTERM (capped by the grace period)"
    )
    crash_backoff_base: float = _opt(10.0, "first CrashLoopBackOff delay; it doubles per restart")
    crash_backoff_max: float = _opt(300.0, "CrashLoopBackOff cap")
    image_pull_backoff_base: float = _opt(10.0, "first ImagePullBackOff delay")
    image_pull_backoff_max: float = _opt(300.0, "ImagePullBackOff cap")

    # -- controllers --------------------------------------------------------------------------
    hpa_sync_period: float = _opt(15.0, "horizontal-pod-autoscaler-sync-period")
    hpa_tolerance: float = _opt(0.1, "horizontal-pod-autoscaler-tolerance")
    hpa_downscale_stabilization: float = _opt(
        300.0, "default scale-down stabilization window when an HPA sets no behavior"
    )
    record_events: bool = _opt(True, "write Events from controllers, scheduler and kubelet")
    hpa_cpu_initialization_period: float = _opt(
        300.0, "horizontal-pod-autoscaler-cpu-initialization-period"
    )
    hpa_initial_readiness_delay: float = _opt(
        30.0, "horizontal-pod-autoscaler-initial-readiness-delay"
    )
    hpa_metric_window: float = _opt(30.0, "the metrics window of the simulated metrics-server")
    node_lease_seconds: int = _opt(
        40, "leaseDurationSeconds of each node's Lease, renewed every quarter of it (0: no leases)"
    )
    max_pods_per_workload: int = _opt(
        10_000,
        "the most pods one ReplicaSet or StatefulSet may have; beyond it a FailedCreate event "
        "says so (kubesim must not die of one object asking for 2^31 pods)",
    )
    pod_cidr: str = _opt("10.244.0.0/16", "pod IPs are allocated from this range")
    node_cidr: str = _opt("10.0.0.0/24", "node internal IPs are allocated from this range")
    cluster_domain: str = _opt(
        "cluster.local", "the cluster's DNS domain: Services are <svc>.<ns>.svc.<domain>"
    )

    @classmethod
    def fast(cls, **overrides: Any) -> Self:
        """Tiny delays for component tests (pods Ready within ~50 ms of real time)."""
        base: dict[str, Any] = {
            "image_pull_delay": 0.005,
            "container_create_delay": 0.005,
            "start_to_ready_delay": 0.01,
            "termination_delay": 0.005,
            "crash_backoff_base": 0.05,
            "crash_backoff_max": 0.5,
            "image_pull_backoff_base": 0.05,
            "image_pull_backoff_max": 0.5,
            "hpa_sync_period": 0.05,
            "hpa_downscale_stabilization": 0.0,
            "hpa_cpu_initialization_period": 0.0,
            "hpa_initial_readiness_delay": 0.0,
            "hpa_metric_window": 0.0,
        }
        base.update(overrides)
        return cls(**base)

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """Names of the fields, so callers can split `**options` between components."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Add one `--flag` per field (e.g. `--image-pull-delay 2`) to a CLI parser."""
        group = parser.add_argument_group("workloads (nodes, kubelet, controllers)")
        for f in dataclasses.fields(WorkloadsConfig):
            flag = "--" + f.name.replace("_", "-")
            if f.name == "image_map":
                group.add_argument(
                    flag,
                    dest="workloads_image_map",
                    type=parse_image_map_entry,
                    action="append",
                    default=None,
                    metavar=f.metadata["metavar"],
                    help=f.metadata["help"],
                )
                continue
            group.add_argument(
                flag,
                dest=f"workloads_{f.name}",
                type=_arg_type(f.type),
                default=None,
                choices=RUNTIMES if f.name == "runtime" else None,
                metavar=f.name.upper(),
                help=f"{f.metadata.get('help', '')} (default: {f.default})",
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Self:
        """Build a config from parsed CLI arguments; flags not given keep their defaults."""
        given: dict[str, Any] = {}
        for name in cls.field_names():
            value = getattr(args, f"workloads_{name}", None)
            if value is not None:
                given[name] = dict(value) if name == "image_map" else value
        return cls(**given)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"WorkloadsConfig.{f.name}: must be >= 0, got {value}")
        if self.runtime not in RUNTIMES:
            raise ValueError(
                f"WorkloadsConfig.runtime: must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}"
            )
        for image, directory in self.image_map.items():
            if not image or image == "*" or not directory:
                raise ValueError(
                    f"WorkloadsConfig.image_map: {image!r}: {directory!r} needs an image reference "
                    "(or a prefix ending in *) and a directory"
                )
        if self.nodes < 0:
            raise ValueError(f"WorkloadsConfig.nodes: must be >= 0, got {self.nodes}")
        if not _DNS_SUBDOMAIN.fullmatch(self.cluster_domain) or len(self.cluster_domain) > 253:
            raise ValueError(
                "WorkloadsConfig.cluster_domain: must be a lowercase DNS domain (like "
                f"cluster.local), got {self.cluster_domain!r}"
            )
        for name in ("node_cpu", "node_memory"):
            try:
                parse_quantity(getattr(self, name))
            except QuantityError:
                raise ValueError(
                    f"WorkloadsConfig.{name}: not a Kubernetes quantity (like 32, 500m or "
                    f"128Gi): {getattr(self, name)!r}"
                ) from None


def parse_image_map_entry(text: str) -> tuple[str, str]:
    """`IMAGE=DIR` of `--image-map` as a pair; the directory must exist."""
    image, sep, directory = text.partition("=")
    if not sep or not image or not directory:
        raise argparse.ArgumentTypeError(f"expected IMAGE=DIR, got {text!r}")
    if not Path(directory).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {directory} is not a directory")
    return image, str(Path(directory).resolve())


def _parse_bool(text: str) -> bool:
    """`true`/`false` (and 1/0, yes/no) for boolean flags."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _arg_type(annotation: object) -> Any:
    """The argparse converter for a field annotation (annotations are strings here)."""
    text = str(annotation)
    if text.startswith("bool"):
        return _parse_bool
    if text.startswith("int"):
        return int
    if text.startswith("float"):
        return float
    return str
