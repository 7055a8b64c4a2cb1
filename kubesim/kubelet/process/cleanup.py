"""What the process runtime leaves on the host, how it is named, and how it is removed.

Every host object carries the prefix `ks` and the instance id (6 hex digits): the bridge
`ks<id>b`, host-side veths `ks<id>v<n>`, network namespaces `ks<id>-<uid8>` (under
/run/netns), and files and mounts under `/tmp/ks/<id>/` (short, because Unix socket paths are
limited to 107 bytes). `/tmp/ks/<id>/owner` records the owning process (pid and start time, so
a reused pid is not mistaken for the owner).

An instance removes its own objects as pods go and when it closes. An instance started after
one that was SIGKILLed removes what that one left: for every `/tmp/ks/<id>` whose owner is
gone, it kills the processes in that id's namespaces, deletes the namespaces and links with
that id's prefix, detaches mounts under the directory and deletes it. A live instance's
objects and anything not named so are never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

__all__ = [
    "NETNS_DIR",
    "ROOT",
    "HostUnavailable",
    "Instance",
    "detach_mounts",
    "ip",
    "kill_netns_processes",
    "require_host",
    "sweep_stale",
]

log = structlog.get_logger(__name__)

#: Per-instance directories live here (kept short: Unix socket paths ≤ 107 bytes).
ROOT = Path("/tmp/ks")
NETNS_DIR = Path("/run/netns")
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


class HostUnavailable(Exception):
    """The host cannot run the process runtime (not root, no iproute2, ...)."""


def require_host() -> None:
    """Raise HostUnavailable naming everything missing for the process runtime."""
    missing = []
    if os.geteuid() != 0:
        missing.append(f"root (running as uid {os.geteuid()})")
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            missing.append(f"the `{tool}` command ({package})")
    if shutil.which("nsenter") is not None and not _nsenter_has_wdns():
        missing.append("nsenter with --wdns (util-linux 2.38 or later)")
    if missing:
        raise HostUnavailable(
            "the process runtime needs " + " and ".join(missing) + "; use the simulated runtime"
        )


def _nsenter_has_wdns() -> bool:
    """Exec and probes start in the container's working directory with `nsenter --wdns`."""
    result = subprocess.run(["nsenter", "--help"], capture_output=True, text=True, check=False)
    return "--wdns" in result.stdout


def ip(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run `ip ARGS`; its stdout. Failures raise with ip's own message."""
    result = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _start_time(pid: int) -> str | None:
    """The start time of `pid` in clock ticks (field 22 of /proc/pid/stat); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(directory: Path) -> bool:
    try:
        owner = json.loads((directory / "owner").read_text())
    except (OSError, ValueError):
        # Half-created or foreign: only a directory with an owner record is ours to judge;
        # an unreadable one older than a minute was left by an instance killed while starting.
        try:
            return directory.stat().st_mtime > time.time() - 60
        except OSError:
            return True
    return _start_time(int(owner["pid"])) == str(owner["start"])


def detach_mounts(root: Path) -> None:
    """Lazily unmount everything mounted at or below `root`, deepest first."""
    prefix = str(root).rstrip("/")
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        _libc.umount2(point.encode(), _MNT_DETACH)


def kill_netns_processes(netns: str) -> None:
    """SIGKILL every process in network namespace `netns` (named under /run/netns)."""
    for pid in ip("netns", "pids", netns, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _remove_instance(instance_id: str) -> None:
    """Remove every host object of instance `instance_id` (its owner is gone)."""
    prefix = f"ks{instance_id}"
    names = sorted(p.name for p in NETNS_DIR.glob(f"{prefix}-*")) if NETNS_DIR.exists() else []
    for name in names:
        kill_netns_processes(name)
        ip("netns", "delete", name, check=False)
    for link in json.loads(ip("-j", "link", "show", check=False) or "[]"):
        if str(link.get("ifname", "")).startswith(prefix):
            ip("link", "delete", link["ifname"], check=False)
    directory = ROOT / instance_id
    detach_mounts(directory)
    shutil.rmtree(directory, ignore_errors=True)


def sweep_stale() -> list[str]:
    """Remove what instances that died without cleaning up left; the ids removed."""
    removed = []
    for directory in sorted(ROOT.glob("*")) if ROOT.exists() else []:
        if directory.is_dir() and len(directory.name) == 6 and not _owner_alive(directory):
            log.info("process_runtime_sweep", instance=directory.name)
            _remove_instance(directory.name)
            removed.append(directory.name)
    return removed


@dataclass(frozen=True)
class Instance:
    """One kubesim's claim on the host: its id, directory and host object names."""

    id: str

    @classmethod
    def create(cls) -> Instance:
        """Sweep what dead instances left, then claim a fresh id with an owner record."""
        sweep_stale()
        ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        while True:
            instance = cls(secrets.token_hex(3))
            try:
                instance.root.mkdir(mode=0o755)
                break
            except FileExistsError:
                continue
        owner = {"pid": os.getpid(), "start": _start_time(os.getpid())}
        (instance.root / "owner").write_text(json.dumps(owner))
        return instance

    @property
    def root(self) -> Path:
        """`/tmp/ks/<id>`: pod directories, logs and the owner record."""
        return ROOT / self.id

    @property
    def prefix(self) -> str:
        """The name prefix of this instance's links and namespaces."""
        return f"ks{self.id}"

    def close(self) -> None:
        """Remove everything of this instance (pods already stopped or not)."""
        _remove_instance(self.id)
