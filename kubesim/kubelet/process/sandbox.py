"""A pod's files on the host, and the mounts that lay them over each container's view.

Per pod, under `/tmp/ks/<id>/<uid8>/`: `etc/` (hosts, resolv.conf, hostname), `sa/` (the
service-account token, ca.crt and namespace), `v/<volume>/` (emptyDir directories, Memory
emptyDirs as tmpfs with their sizeLimit, configMap/secret/downwardAPI/projected files), `shm/`
(a 64 MiB tmpfs shared by the pod's containers, like a sandbox's /dev/shm) and `c/<container>/`
(each container instance's private /tmp). Nothing outside that directory is written: inside a
container, a tmpfs over /run carries the service-account directory and bind mounts put the
files in place (enter.py), in a mount namespace of the container's own.

Volume files are written once when the pod starts (a changed ConfigMap is not propagated).
hostPath, persistentVolumeClaim and other volume kinds are refused: they would reach the host.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubesim.common.quantity import QuantityError, parse_quantity
from kubesim.dns.files import etc_hosts, pod_hostname, resolv_conf
from kubesim.kubelet.process.cleanup import detach_mounts
from kubesim.kubelet.process.env import EnvError, Lookup, PodEnv, field_value, resource_value

__all__ = ["SA_PATH", "Sandbox", "ServiceAccountFiles", "VolumeError"]

SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_SHM_SIZE = 64 * 1024 * 1024
_DEFAULT_MODE = 0o644
_MS_NOSUID_NODEV = 2 | 4
_libc = ctypes.CDLL(None, use_errno=True)


class VolumeError(Exception):
    """A volume cannot be set up: the container waits in CreateContainerConfigError."""


@dataclass(frozen=True)
class ServiceAccountFiles:
    """Where service-account tokens and the CA come from (the assembly provides them)."""

    ca_crt: str
    #: token(namespace, service account name) → a bearer token the API server accepts.
    token: Callable[[str, str], str]


def _write(path: Path, data: bytes | str, mode: int = _DEFAULT_MODE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def _format_map(values: dict[str, str]) -> str:
    """fieldpath.FormatMap: `key="value"` lines, sorted."""
    return "\n".join(f"{k}={json.dumps(values[k])}" for k in sorted(values))


class Sandbox:
    """The host side of one pod's files."""

    def __init__(self, root: Path, *, pod: dict[str, Any], lookup: Lookup) -> None:
        self.root = root
        self._pod = pod
        self._lookup = lookup
        self._volumes: dict[str, dict[str, Any]] = {
            str(v["name"]): v for v in (pod.get("spec") or {}).get("volumes") or ()
        }

    # ------------------------------------------------------------------ pod files

    def create(
        self, *, ctx: PodEnv, nameserver: str, domain: str, sa: ServiceAccountFiles | None
    ) -> None:
        """Write the pod's files and mount its tmpfs volumes (VolumeError when impossible)."""
        self.root.mkdir(parents=True, exist_ok=True)
        spec = self._pod.get("spec") or {}
        # The stored pod has no podIP yet: the kubelet writes it once the sandbox is ready.
        with_ip = {**self._pod, "status": {"podIP": ctx.pod_ip, "podIPs": [{"ip": ctx.pod_ip}]}}
        _write(self.root / "etc/hosts", etc_hosts(with_ip, domain=domain))
        resolv = resolv_conf(
            self._pod["metadata"].get("namespace", "default"),
            nameserver,
            domain,
            dns_policy=str(spec.get("dnsPolicy") or "ClusterFirst"),
            dns_config=spec.get("dnsConfig"),
        )
        _write(self.root / "etc/resolv.conf", resolv)
        _write(self.root / "etc/hostname", pod_hostname(self._pod) + "\n")
        if sa is not None:
            namespace = self._pod["metadata"].get("namespace", "default")
            account = (self._pod.get("spec") or {}).get("serviceAccountName") or "default"
            _write(self.root / "sa/token", sa.token(namespace, account))
            _write(self.root / "sa/ca.crt", sa.ca_crt)
            _write(self.root / "sa/namespace", namespace)
        self._tmpfs(self.root / "shm", _SHM_SIZE)
        for name, volume in self._volumes.items():
            self._volume(name, volume, ctx, sa)

    def _tmpfs(self, path: Path, size: int | None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" if size else ""
        _mount_tmpfs(path, options)

    def _volume(
        self, name: str, volume: dict[str, Any], ctx: PodEnv, sa: ServiceAccountFiles | None
    ) -> None:
        path = self.root / "v" / name
        if "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            if empty.get("medium") == "Memory":
                self._tmpfs(path, _size(empty.get("sizeLimit"), name))
            else:
                path.mkdir(parents=True, exist_ok=True)
                path.chmod(0o777)
            return
        path.mkdir(parents=True, exist_ok=True)
        default_mode = _DEFAULT_MODE
        for kind in ("configMap", "secret", "downwardAPI", "projected"):
            if kind in volume:
                default_mode = int((volume[kind] or {}).get("defaultMode", _DEFAULT_MODE))
                sources: list[dict[str, Any]] = (
                    (volume[kind] or {}).get("sources") or []
                    if kind == "projected"
                    else [{kind: volume[kind]}]
                )
                for source in sources:
                    self._source(path, source, ctx, sa, default_mode)
                return
        kinds = ", ".join(k for k in volume if k != "name")
        raise VolumeError(
            f'volume "{name}": {kinds} volumes are not supported by kubesim\'s process runtime '
            "(it never reaches the host's storage)"
        )

    def _source(
        self,
        path: Path,
        source: dict[str, Any],
        ctx: PodEnv,
        sa: ServiceAccountFiles | None,
        mode: int,
    ) -> None:
        namespace = self._pod["metadata"].get("namespace", "default")
        if "serviceAccountToken" in source:
            token = source["serviceAccountToken"]
            account = (self._pod.get("spec") or {}).get("serviceAccountName") or "default"
            value = sa.token(namespace, account) if sa is not None else ""
            _write(path / token["path"], value, mode)
        elif "configMap" in source or "secret" in source:
            kind = "ConfigMap" if "configMap" in source else "Secret"
            ref = source["configMap" if kind == "ConfigMap" else "secret"] or {}
            name = str(ref.get("name") or ref.get("secretName") or "")
            obj = self._lookup(kind, namespace, name)
            if obj is None:
                if ref.get("optional"):
                    return
                label = "configmap" if kind == "ConfigMap" else "secret"
                raise VolumeError(f'{label} "{name}" not found')
            data = _object_data(kind, obj)
            items = ref.get("items") or [{"key": k, "path": k} for k in sorted(data)]
            for item in items:
                if item["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise VolumeError(
                        f"couldn't find key {item['key']} in {kind} {namespace}/{name}"
                    )
                _write(path / item["path"], data[item["key"]], int(item.get("mode", mode)))
        elif "downwardAPI" in source:
            for item in (source["downwardAPI"] or {}).get("items") or ():
                _write(path / item["path"], self._downward(item, ctx), int(item.get("mode", mode)))
        elif "clusterTrustBundle" not in source:
            raise VolumeError(f"unsupported projected source {sorted(source)}")

    def _downward(self, item: dict[str, Any], ctx: PodEnv) -> str:
        try:
            if "fieldRef" in item:
                field = str(item["fieldRef"].get("fieldPath", ""))
                if field in ("metadata.labels", "metadata.annotations"):
                    key = field.split(".")[1]
                    return _format_map(dict(self._pod["metadata"].get(key) or {}))
                return field_value(field, ctx)
            ref = item.get("resourceFieldRef") or {}
            spec = self._pod.get("spec") or {}
            container: dict[str, Any] = next(
                (c for c in spec.get("containers") or () if c["name"] == ref.get("containerName")),
                {},
            )
            return resource_value(ref, container, ctx)
        except EnvError as exc:
            raise VolumeError(str(exc)) from None

    # ------------------------------------------------------------------ per container

    def mounts(
        self, container: dict[str, Any], *, instance: str, automount: bool
    ) -> list[dict[str, Any]]:
        """The mounts of one container instance, in the order enter.py applies them."""
        tmp = self.root / "c" / instance
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        tmp.chmod(0o1777)
        out: list[dict[str, Any]] = [
            {"kind": "tmpfs", "target": "/run", "options": "mode=755"},
            {"kind": "bind", "source": str(tmp), "target": "/tmp"},
            {"kind": "bind", "source": str(self.root / "shm"), "target": "/dev/shm"},
        ]
        for name in ("hosts", "resolv.conf", "hostname"):
            out.append(
                {
                    "kind": "bind",
                    "source": str(self.root / "etc" / name),
                    "target": f"/etc/{name}",
                    "dir": False,
                }
            )
        volume_mounts = sorted(
            container.get("volumeMounts") or (), key=lambda m: len(str(m["mountPath"]).rstrip("/"))
        )
        covered = any(str(m["mountPath"]).rstrip("/") == SA_PATH for m in volume_mounts)
        if automount and not covered and (self.root / "sa").exists():
            out.append(
                {
                    "kind": "bind",
                    "source": str(self.root / "sa"),
                    "target": SA_PATH,
                    "readonly": True,
                }
            )
        for mount in volume_mounts:
            out.append(self._volume_mount(mount))
        return out

    def _volume_mount(self, mount: dict[str, Any]) -> dict[str, Any]:
        name = str(mount["name"])
        volume = self._volumes.get(name)
        if volume is None:
            raise VolumeError(f'volumeMount "{name}": no volume of that name in the pod')
        source = self.root / "v" / name
        if mount.get("subPath"):
            source = source / str(mount["subPath"])
            if not source.exists():
                source.mkdir(parents=True)
        files = any(k in volume for k in ("configMap", "secret", "downwardAPI", "projected"))
        return {
            "kind": "bind",
            "source": str(source),
            "target": str(mount["mountPath"]),
            "readonly": bool(mount.get("readOnly")) or files,
            "dir": source.is_dir(),
        }

    def remove(self) -> None:
        """Detach the pod's mounts and delete its directory."""
        detach_mounts(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def _mount_tmpfs(path: Path, options: str) -> None:
    """Mount a tmpfs at `path` (on the host, under the pod's directory)."""
    result = _libc.mount(
        b"tmpfs", str(path).encode(), b"tmpfs", _MS_NOSUID_NODEV, options.encode() or None
    )
    if result != 0:
        raise VolumeError(f"tmpfs at {path}: {os.strerror(ctypes.get_errno())}")


def _size(limit: Any, name: str) -> int | None:
    if limit in (None, ""):
        return None
    try:
        return int(parse_quantity(limit))
    except QuantityError:
        raise VolumeError(
            f'volume "{name}": emptyDir.sizeLimit {limit!r} is not a quantity'
        ) from None


def _object_data(kind: str, obj: dict[str, Any]) -> dict[str, bytes]:
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out
