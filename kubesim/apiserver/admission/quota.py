"""ResourceQuota: admission refuses what would exceed a quota; a small controller keeps each
quota's `status` (hard, used) current.

Tracked: `pods`, `services`, `configmaps`, `secrets`, `persistentvolumeclaims`,
`resourcequotas`, `services.nodeports`, `services.loadbalancers`, `cpu`/`memory`/`requests.*`/
`limits.*` of non-terminal pods, and `count/<resource>[.<group>]` of any served resource. Usage
is counted from the store when needed, so it is always exact (upstream's is eventually so). The
messages are upstream's: `exceeded quota: <name>, requested: pods=1, used: pods=2, limited:
pods=2`, and `failed quota: <name>: must specify limits.cpu for: <containers>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.admission.quantity import format_quantity, parse_quantity
from kubesim.apiserver.admission.serviceaccount import display_name
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.store import Store

__all__ = ["QuotaController", "admit_quota"]

_COMPUTE = ("cpu", "memory")
_COUNTED = {
    "pods": ("", "pods"),
    "services": ("", "services"),
    "configmaps": ("", "configmaps"),
    "secrets": ("", "secrets"),
    "persistentvolumeclaims": ("", "persistentvolumeclaims"),
    "resourcequotas": ("", "resourcequotas"),
    "replicationcontrollers": ("", "replicationcontrollers"),
}
_WATCHED = ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "resourcequotas")
_USER = "system:serviceaccount:kube-system:resourcequota-controller"


def _count_key(name: str) -> tuple[str, str] | None:
    """(group, plural) a quota resource name counts, or None for compute resources."""
    if name in _COUNTED:
        return _COUNTED[name]
    if name.startswith("count/"):
        plural, _, group = name[len("count/") :].partition(".")
        return group, plural
    return None


def _terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _pod_compute(pod: dict[str, Any]) -> dict[str, Fraction]:
    """requests.cpu, limits.memory, ... of one pod: containers summed, init containers' max."""
    spec = pod.get("spec") or {}
    total: dict[str, Fraction] = {}
    for key, combine in (("containers", "sum"), ("initContainers", "max")):
        for container in spec.get(key) or []:
            resources = (container or {}).get("resources") or {}
            for kind in ("requests", "limits"):
                for resource, value in (resources.get(kind) or {}).items():
                    if resource not in _COMPUTE:
                        continue
                    name = f"{kind}.{resource}"
                    quantity = parse_quantity(value)
                    if combine == "sum":
                        total[name] = total.get(name, Fraction(0)) + quantity
                    elif quantity > total.get(name, Fraction(0)):
                        total[name] = quantity
    for resource in _COMPUTE:
        if f"requests.{resource}" in total:
            total[resource] = total[f"requests.{resource}"]
    return total


def _object_usage(key: tuple[str, str], obj: dict[str, Any]) -> dict[str, Fraction]:
    """What one object adds to a quota's `used`, by quota resource name."""
    group, plural = key
    usage: dict[str, Fraction] = {f"count/{plural}{'.' + group if group else ''}": Fraction(1)}
    if key == ("", "pods"):
        if _terminal(obj):
            return {}
        usage["pods"] = Fraction(1)
        usage.update(_pod_compute(obj))
    elif key == ("", "services"):
        usage["services"] = Fraction(1)
        kind = (obj.get("spec") or {}).get("type")
        ports = len((obj.get("spec") or {}).get("ports") or [])
        if kind == "LoadBalancer":
            usage["services.loadbalancers"] = Fraction(1)
        if kind in ("NodePort", "LoadBalancer"):
            usage["services.nodeports"] = Fraction(ports)
    elif plural in _COUNTED and group == "":
        usage[plural] = Fraction(1)
    return usage


def _info_for(store: Store, key: tuple[str, str]) -> ResourceInfo | None:
    return store.storage_infos.get(key)


def _used(store: Store, namespace: str, names: Iterable[str]) -> dict[str, Fraction]:
    """Current usage of `names` in a namespace, counted from the store."""
    wanted = set(names)
    keys = {_count_key(n) for n in wanted} - {None}
    if wanted & {"cpu", "memory"} or any(n.startswith(("requests.", "limits.")) for n in wanted):
        keys.add(("", "pods"))
    if wanted & {"services.nodeports", "services.loadbalancers"}:
        keys.add(("", "services"))
    used = {name: Fraction(0) for name in wanted}
    for key in keys:
        assert key is not None
        info = _info_for(store, key)
        if info is None:
            continue
        for obj in store.iter_objects(info, namespace):
            for name, amount in _object_usage(key, obj).items():
                if name in used:
                    used[name] += amount
    return used


def _format(name: str, value: Fraction) -> str:
    binary = name.endswith(("memory", "storage"))
    return f"{name}={format_quantity(value, binary=binary)}"


def _pretty(values: dict[str, Fraction]) -> str:
    return ",".join(_format(k, values[k]) for k in sorted(values))


def _missing_compute(pod: dict[str, Any], hard: Iterable[str]) -> list[str]:
    """`limits.cpu for: ray` for each constrained compute resource a container leaves unset."""
    missing = []
    containers = (pod.get("spec") or {}).get("containers") or []
    for name in sorted(hard):
        kind, _, resource = name.rpartition(".")
        kind = kind or "requests"
        if resource not in _COMPUTE:
            continue
        lacking = [
            str(c.get("name"))
            for c in containers
            if resource not in (((c or {}).get("resources") or {}).get(kind) or {})
        ]
        if lacking:
            missing.append(f"{kind}.{resource} for: {','.join(lacking)}")
    return missing


def admit_quota(store: Store, info: ResourceInfo, obj: dict[str, Any]) -> None:
    """Refuse a create that would exceed a quota of its namespace."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or ""
    if not namespace:
        return
    quotas = list(store.iter_objects(store.resource("resourcequotas"), namespace))
    if not quotas:
        return
    requested = _object_usage(info.key, obj)
    for quota in sorted(quotas, key=lambda q: str(q["metadata"]["name"])):
        hard = {
            k: parse_quantity(v) for k, v in ((quota.get("spec") or {}).get("hard") or {}).items()
        }
        name = quota["metadata"]["name"]
        if info.key == ("", "pods") and requested:
            missing = _missing_compute(obj, hard)
            if missing:
                raise errors.forbidden(
                    info.plural, info.group, display_name(meta),
                    f"failed quota: {name}: must specify {'; '.join(missing)}",
                )  # fmt: skip
        affected = {k: v for k, v in requested.items() if k in hard}
        if not affected:
            continue
        used = _used(store, namespace, affected)
        exceeded = [k for k, v in affected.items() if used[k] + v > hard[k]]
        if exceeded:
            raise errors.forbidden(
                info.plural,
                info.group,
                display_name(meta),
                f"exceeded quota: {name}, requested: {_pretty({k: affected[k] for k in exceeded})}, "
                f"used: {_pretty({k: used[k] for k in exceeded})}, "
                f"limited: {_pretty({k: hard[k] for k in exceeded})}",
            )


class QuotaController:
    """Writes `status.hard` and `status.used` of every quota whose usage changed."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self._info = cluster.resource("resourcequotas")
        for plural in _WATCHED:
            cluster.subscribe(cluster.resource(plural), self._changed)

    def _changed(self, _event: str, obj: dict[str, Any]) -> None:
        namespace = obj["metadata"].get("namespace")
        if not namespace:
            return
        for quota in list(self._cluster.iter_objects(self._info, namespace)):
            self._sync(quota)

    def _sync(self, quota: dict[str, Any]) -> None:
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = _used(self._cluster, quota["metadata"]["namespace"], hard)
        status = {
            "hard": hard,
            "used": {k: format_quantity(v, binary=k.endswith("memory")) for k, v in used.items()},
        }
        if quota.get("status") == status or quota["metadata"].get("deletionTimestamp"):
            return
        try:
            self._cluster.update(
                self._info,
                quota["metadata"]["namespace"],
                quota["metadata"]["name"],
                {**quota, "status": status},
                subresource="status",
                user=_USER,
                field_manager="resourcequota-controller",
            )
        except errors.StatusError:
            return  # changed or deleted meanwhile: the next event syncs it
