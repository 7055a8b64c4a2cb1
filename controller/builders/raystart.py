"""The ``ray start`` command of a Ray container, from rayStartParams and the container's resources.

The rules are KubeRay's (reference/kuberay.md §2.1), so a manifest written for KubeRay starts the
same Ray node here and the Ray autoscaler, which derives each group's resources with the same
rules, models the nodes it gets:

1. The group's ``resources`` map overrides the resource flags: ``cpu`` → ``--num-cpus``,
   ``memory`` → ``--memory`` (bytes), GPU keys → ``--num-gpus``, anything else goes into the
   ``--resources`` JSON.
2. The group's ``labels`` become ``--labels=k1=v1,k2=v2`` (sorted).
3. Missing flags are filled in: workers get ``--address`` (the head Service's FQDN and the head's
   GCS port), the head ``--dashboard-host=0.0.0.0``; both get ``--metrics-export-port=8080`` and
   ``--dashboard-agent-listen-port=52365``; ``--block`` is always set (the container must not exit).
4. Under the in-tree autoscaler the head gets ``--no-monitor``: the sidecar is the monitor.
5. Resources the user did not give are read from the Ray container: ``--num-cpus`` from the CPU
   limit, else the CPU request (rounded up); ``--memory`` from the memory limit only; ``--num-gpus``
   from the first non-zero GPU limit (sorted by name); ``google.com/tpu`` and
   ``aws.amazon.com/neuroncore`` limits become ``TPU`` / ``neuron_cores`` in ``--resources``.
6. Flags are rendered in key order; ``"true"``/``"false"`` values are switches (``--key`` or
   nothing), except the few Ray flags that take a boolean argument.

Where we differ from KubeRay, on purpose: every value is shell-quoted, so no rayStartParams
value can run a command in the container (KubeRay pastes values into a ``bash -c`` string
verbatim). A consequence users may notice: a value that relied on the shell, such as
``node-ip-address: $MY_POD_IP``, is now passed literally; Kubernetes' own ``$(MY_POD_IP)``
expansion, which the kubelet performs before the shell runs, still works. Values rayop itself
needs expanded from the environment (the Redis password for GCS fault tolerance) are
`EnvRef`s, rendered as ``"${NAME}"``. KubeRay's escaped ``resources`` form
(``'"{\\"Custom1\\": 1}"'``) is unescaped to the JSON it stood for.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from controller.api.constants import ANNOTATION_OVERWRITE_CONTAINER_CMD
from controller.builders.labels import NodeType
from controller.builders.shapes import mapping
from controller.quantity import parse_quantity

__all__ = [
    "DEFAULT_DASHBOARD_AGENT_PORT",
    "DEFAULT_DASHBOARD_PORT",
    "DEFAULT_GCS_PORT",
    "DEFAULT_METRICS_PORT",
    "EnvRef",
    "ParamValue",
    "container_command",
    "int_param",
    "is_gpu_resource",
    "ray_start_command",
    "resolve_params",
]

DEFAULT_GCS_PORT = 6379
DEFAULT_DASHBOARD_PORT = 8265
DEFAULT_METRICS_PORT = 8080
DEFAULT_DASHBOARD_AGENT_PORT = 52365
#: Ray flags whose argument is a boolean, so "true"/"false" must be passed, not switched.
BOOLEAN_ARGUMENT_FLAGS = frozenset({"log-color", "include-dashboard", "include-log-monitor"})
#: Limits that Ray knows as custom accelerator resources, and the Ray resource name of each.
CUSTOM_ACCELERATORS = {"google.com/tpu": "TPU", "aws.amazon.com/neuroncore": "neuron_cores"}
ULIMIT_PREFIX = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; "
OVERWRITE_COMMAND_ANNOTATION = ANNOTATION_OVERWRITE_CONTAINER_CMD

_MIG = re.compile(r"^nvidia\.com/mig-\d+g\.\d+gb$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class EnvRef:
    """A flag value the shell takes from an env var of the Ray container (``"${name}"``)."""

    name: str


ParamValue = str | EnvRef


def is_gpu_resource(name: str) -> bool:
    """Whether a container resource name is a GPU (``nvidia.com/gpu``, ``amd.com/gpu``, MIG)."""
    return name.lower().endswith("gpu") or _MIG.match(name) is not None


def int_param(params: Mapping[str, ParamValue], key: str, default: int) -> int:
    """A port-like integer flag, or `default` when absent or not a valid port."""
    value = params.get(key)
    if isinstance(value, str) and value.strip().isdigit() and 0 < int(value) < 65536:
        return int(value)
    return default


def resolve_params(
    params: Mapping[str, str],
    *,
    node_type: NodeType,
    container: Mapping[str, Any],
    head_address: str,
    group_resources: Mapping[str, str] | None = None,
    group_labels: Mapping[str, str] | None = None,
    autoscaling: bool = False,
    extra: Mapping[str, ParamValue] | None = None,
) -> dict[str, ParamValue]:
    """Every ``ray start`` flag of a node, after KubeRay's rules (module docstring, steps 1-5).

    `head_address` is ``<head service FQDN>:<gcs port>``, used by workers; `extra` are flags
    rayop adds for features (GCS fault tolerance), applied last.
    """
    resolved: dict[str, ParamValue] = dict(params)
    if group_resources:
        _apply_group_resources(resolved, group_resources)
    if group_labels:
        resolved["labels"] = ",".join(f"{k}={v}" for k, v in sorted(group_labels.items()))
    if node_type is NodeType.WORKER:
        resolved.setdefault("address", head_address)
    else:
        resolved.setdefault("dashboard-host", "0.0.0.0")
        if autoscaling:
            resolved["no-monitor"] = "true"
    resolved.setdefault("metrics-export-port", str(DEFAULT_METRICS_PORT))
    resolved.setdefault("dashboard-agent-listen-port", str(DEFAULT_DASHBOARD_AGENT_PORT))
    resolved["block"] = "true"
    resolved.update(extra or {})
    _detect_container_resources(resolved, mapping(container.get("resources")))
    return resolved


def ray_start_command(params: Mapping[str, ParamValue], node_type: NodeType) -> str:
    """The ``ray start ...`` shell command line for resolved flags (module docstring, step 6)."""
    words = ["ray", "start"]
    if node_type is NodeType.HEAD:
        words.append("--head")
    for key in sorted(params):
        flag = _render_flag(key, params[key])
        if flag:
            words.append(flag)
    return " ".join(words)


def container_command(
    user_command: list[str] | None,
    user_args: list[str] | None,
    ray_start: str,
    *,
    overwrite: bool = False,
) -> tuple[list[str] | None, list[str] | None]:
    """The Ray container's ``command`` and ``args``.

    The user's own command is kept when the RayCluster asks for it (annotation
    ``ray.io/overwrite-container-cmd: "true"``) or when it already runs ``ray start`` itself;
    otherwise ``ray start`` runs in bash after the open-files ulimit, preceded by the user's
    command and args (KubeRay's behaviour: they are the user's own shell code).
    """
    user = [*(user_command or []), *(user_args or [])]
    if overwrite or "ray start" in " ".join(user):
        return user_command, user_args
    script = ULIMIT_PREFIX + ray_start
    if user:
        script = " ".join(user) + " && " + script
    return ["/bin/bash", "-c", "--"], [script]


def _render_flag(key: str, value: ParamValue) -> str:
    if isinstance(value, EnvRef):
        return f'--{key}="${{{value.name}}}"'
    if key not in BOOLEAN_ARGUMENT_FLAGS and value.lower() in ("true", "false"):
        if value.lower() == "false":
            return ""
        return f"--{key}" if _SAFE_KEY.match(key) else shlex.quote(f"--{key}")
    if _SAFE_KEY.match(key):
        return f"--{key}={shlex.quote(value)}"
    return shlex.quote(f"--{key}={value}")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _apply_group_resources(params: dict[str, ParamValue], resources: Mapping[str, str]) -> None:
    custom: dict[str, int | float] = {}
    for name, raw in resources.items():
        quantity = parse_quantity(raw)
        if quantity is None:
            continue  # validation reports it; the flag is left for Ray to detect
        if name.lower() == "cpu":
            params["num-cpus"] = str(math.ceil(quantity))
        elif name.lower() == "memory":
            params["memory"] = str(math.ceil(quantity))
        elif name.lower() == "gpu" or is_gpu_resource(name):
            params["num-gpus"] = str(math.ceil(quantity))
        else:
            custom[name] = _number(quantity)
    if custom:
        params["resources"] = _dump_resources(custom)


def _detect_container_resources(
    params: dict[str, ParamValue], resources: Mapping[str, Any]
) -> None:
    limits = mapping(resources.get("limits"))
    requests = mapping(resources.get("requests"))
    if "num-cpus" not in params:
        cpu = limits.get("cpu", requests.get("cpu"))
        if cpu is not None:
            _set_quantity(params, "num-cpus", cpu)
    if "memory" not in params and limits.get("memory") is not None:
        _set_quantity(params, "memory", limits["memory"])
    if "num-gpus" not in params:
        for name in sorted(limits):
            if is_gpu_resource(name) and _positive(limits[name]):
                _set_quantity(params, "num-gpus", limits[name])
                break
    _detect_custom_accelerator(params, limits)


def _detect_custom_accelerator(params: dict[str, ParamValue], limits: Mapping[str, Any]) -> None:
    current = params.get("resources")
    custom = _load_resources(current) if isinstance(current, str) else {}
    if custom is None:
        return  # user JSON we cannot read is passed through untouched, for Ray to report
    if not any(name in custom for name in CUSTOM_ACCELERATORS.values()):
        for name in sorted(limits):
            if name in CUSTOM_ACCELERATORS and _positive(limits[name]):
                custom[CUSTOM_ACCELERATORS[name]] = _number(
                    parse_quantity(limits[name]) or Decimal(0)
                )
                break
    if custom:
        params["resources"] = _dump_resources(custom)


def _set_quantity(params: dict[str, ParamValue], key: str, raw: Any) -> None:
    # Rounded up like Go's Quantity.Value(), as KubeRay and the Ray autoscaler both do. A
    # malformed quantity is reported by validation; Ray then detects the value itself.
    quantity = parse_quantity(raw)
    if quantity is not None:
        params[key] = str(math.ceil(quantity))


def _positive(raw: Any) -> bool:
    quantity = parse_quantity(raw)
    return quantity is not None and quantity > 0


def _load_resources(value: str) -> dict[str, Any] | None:
    """Parse a ``--resources`` value: plain JSON, or KubeRay's shell-escaped JSON string."""
    candidates = [value]
    try:
        words = shlex.split(value)
    except ValueError:
        words = []
    if len(words) == 1:
        candidates.append(words[0])
    for candidate in candidates:
        try:
            loaded = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(loaded, dict):
            return loaded
    return None


def _dump_resources(resources: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(resources.items())), separators=(",", ":"))
