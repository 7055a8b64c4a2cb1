"""A container's environment exactly as the kubelet builds it (`makeEnvironmentVariables`).

Order and precedence follow kubelet_pods.go of Kubernetes 1.32:
1. Service variables (`getServiceEnvVarMap`): the `kubernetes` Service of `default`, then, when
   `enableServiceLinks` is not false, every Service of the pod's namespace with a ClusterIP;
   `<NAME>_SERVICE_HOST/PORT[/_<PORTNAME>]` and the Docker link variables `<NAME>_PORT...`.
2. `envFrom` (ConfigMaps, Secrets, with `prefix`); keys that are not valid names are skipped
   and reported.
3. `env`, in order: `value` with `$(VAR)` expanded against what is defined so far and the
   service variables; `valueFrom` (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef).
4. Service variables not overridden by 2 or 3.

Pure functions: objects come through a `Lookup` callable, so tests are plain data.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubesim.common.quantity import QuantityError, parse_quantity

__all__ = [
    "ApiEndpoint",
    "EnvError",
    "Lookup",
    "PodEnv",
    "container_env",
    "expand",
    "field_value",
    "resource_value",
    "service_env",
]

#: `lookup(kind, namespace, name)`: the stored ConfigMap/Secret/Service, or None.
Lookup = Callable[[str, str, str], "dict[str, Any] | None"]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class EnvError(Exception):
    """The environment cannot be built: the container waits in CreateContainerConfigError."""


@dataclass(frozen=True)
class ApiEndpoint:
    """Where pods reach the API server (the `kubernetes` Service's variables point here)."""

    host: str
    port: int


@dataclass
class PodEnv:
    """What the environment of one pod's containers is built from."""

    pod: dict[str, Any]
    pod_ip: str
    host_ip: str
    #: Every Service in the pod's namespace and `default/kubernetes`.
    services: list[dict[str, Any]] = field(default_factory=list)
    api: ApiEndpoint | None = None
    #: Node allocatable, for resourceFieldRef of unset limits.
    allocatable: Mapping[str, str] = field(default_factory=dict)
    #: Names of envFrom keys skipped as invalid (the kubelet reports them in an event).
    skipped: list[str] = field(default_factory=list)


def expand(text: str, mapping: Mapping[str, str]) -> str:
    """`$(VAR)` expansion as Kubernetes does it: `$$` escapes, unknown references stay."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(mapping.get(name, f"$({name})"))
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def _var_name(name: str) -> str:
    return name.replace("-", "_").upper()


def _service_vars(service: dict[str, Any]) -> list[tuple[str, str]]:
    """envvars.FromServices for one Service (its ClusterIP is set)."""
    spec = service.get("spec") or {}
    ip = str(spec["clusterIP"])
    ports = spec.get("ports") or []
    prefix = _var_name(service["metadata"]["name"])
    if not ports:
        return []
    out = [(f"{prefix}_SERVICE_HOST", ip), (f"{prefix}_SERVICE_PORT", str(ports[0]["port"]))]
    out += [
        (f"{prefix}_SERVICE_PORT_{_var_name(p['name'])}", str(p["port"]))
        for p in ports
        if p.get("name")
    ]
    host = f"[{ip}]" if ":" in ip else ip
    for index, port in enumerate(ports):
        proto = str(port.get("protocol") or "TCP")
        url = f"{proto.lower()}://{host}:{port['port']}"
        if index == 0:
            out.append((f"{prefix}_PORT", url))
        base = f"{prefix}_PORT_{port['port']}_{proto.upper()}"
        out += [
            (base, url),
            (f"{base}_PROTO", proto.lower()),
            (f"{base}_PORT", str(port["port"])),
            (f"{base}_ADDR", ip),
        ]
    return out


def _api_service(api: ApiEndpoint) -> dict[str, Any]:
    """The `kubernetes` Service as pods of the process runtime must see it (no ClusterIP routing)."""
    return {
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {
            "clusterIP": api.host,
            "ports": [{"name": "https", "port": api.port, "protocol": "TCP"}],
        },
    }


def service_env(ctx: PodEnv) -> dict[str, str]:
    """getServiceEnvVarMap + FromServices: the service variables of the pod's containers."""
    spec = ctx.pod.get("spec") or {}
    namespace = ctx.pod["metadata"].get("namespace", "default")
    links = spec.get("enableServiceLinks", True) is not False
    chosen: dict[str, dict[str, Any]] = {}
    for service in ctx.services:
        meta = service["metadata"]
        cluster_ip = (service.get("spec") or {}).get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            continue
        if meta.get("namespace") == "default" and meta["name"] == "kubernetes":
            chosen.setdefault("kubernetes", service)
        elif meta.get("namespace") == namespace and links:
            chosen[meta["name"]] = service
    if ctx.api is not None:
        chosen["kubernetes"] = _api_service(ctx.api)
    out: dict[str, str] = {}
    for name in sorted(chosen):
        out.update(_service_vars(chosen[name]))
    return out


def field_value(path: str, ctx: PodEnv) -> str:
    """podFieldSelectorRuntimeValue: the value of a downward-API fieldRef."""
    meta = ctx.pod["metadata"]
    spec = ctx.pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": ctx.pod_ip,
        "status.podIPs": ctx.pod_ip,
        "status.hostIP": ctx.host_ip,
        "status.hostIPs": ctx.host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _LABEL_REF.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise EnvError(f"unsupported fieldRef fieldPath {path!r}")


def resource_value(ref: dict[str, Any], container: dict[str, Any], ctx: PodEnv) -> str:
    """containerResourceRuntimeValue: limits default to node allocatable; rounded up."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "limits":
        value = ctx.allocatable.get(name)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(name, "0")
    if kind not in ("limits", "requests") or value is None:
        raise EnvError(f"unsupported resourceFieldRef resource {resource!r}")
    try:
        amount = parse_quantity(str(value))
        divisor = parse_quantity(str(ref.get("divisor") or "1"))
    except QuantityError as exc:
        raise EnvError(f"resourceFieldRef {resource}: {exc}") from None
    if divisor <= 0:
        raise EnvError(f"resourceFieldRef {resource}: divisor must be positive")
    return str(math.ceil(amount / divisor))


def _source_data(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    if kind == "Secret":
        return {
            k: base64.b64decode(v).decode("utf-8", "replace")
            for k, v in (obj.get("data") or {}).items()
        }
    return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}


def _key_ref(kind: str, ref: dict[str, Any], namespace: str, lookup: Lookup) -> str | None:
    obj = lookup(kind, namespace, str(ref.get("name", "")))
    optional = bool(ref.get("optional"))
    label = "configmap" if kind == "ConfigMap" else "secret"
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{label} "{ref.get("name", "")}" not found')
    data = _source_data(kind, obj)
    if ref.get("key") not in data:
        if optional:
            return None
        raise EnvError(
            f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name')}"
        )
    return data[str(ref["key"])]


def _env_from(container: dict[str, Any], ctx: PodEnv, lookup: Lookup) -> dict[str, str]:
    namespace = ctx.pod["metadata"].get("namespace", "default")
    out: dict[str, str] = {}
    for source in container.get("envFrom") or ():
        kind, ref = (
            ("ConfigMap", source["configMapRef"])
            if source.get("configMapRef")
            else ("Secret", source.get("secretRef") or {})
        )
        obj = lookup(kind, namespace, str(ref.get("name", "")))
        if obj is None:
            if ref.get("optional"):
                continue
            label = "configmap" if kind == "ConfigMap" else "secret"
            raise EnvError(f'{label} "{ref.get("name", "")}" not found')
        for key, value in _source_data(kind, obj).items():
            name = str(source.get("prefix") or "") + key
            if not _ENV_NAME.match(name):
                ctx.skipped.append(name)
                continue
            out[name] = value
    return out


def container_env(container: dict[str, Any], ctx: PodEnv, lookup: Lookup) -> list[tuple[str, str]]:
    """makeEnvironmentVariables: the ordered (name, value) pairs of one container."""
    services = service_env(ctx)
    namespace = ctx.pod["metadata"].get("namespace", "default")
    env = _env_from(container, ctx, lookup)
    for var in container.get("env") or ():
        name = str(var["name"])
        source = var.get("valueFrom")
        if source is None:
            env[name] = expand(str(var.get("value", "")), {**services, **env})
        elif "fieldRef" in source:
            env[name] = field_value(str(source["fieldRef"].get("fieldPath", "")), ctx)
        elif "resourceFieldRef" in source:
            env[name] = resource_value(source["resourceFieldRef"], container, ctx)
        else:
            kind, ref = (
                ("ConfigMap", source["configMapKeyRef"])
                if "configMapKeyRef" in source
                else ("Secret", source.get("secretKeyRef") or {})
            )
            value = _key_ref(kind, ref, namespace, lookup)
            if value is not None:
                env[name] = value
    result = list(env.items())
    result += [(k, v) for k, v in services.items() if k not in env]
    return result
