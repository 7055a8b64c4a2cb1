"""What kubesim's process runtime leaves on the host, so every real-Ray test can prove it left nothing.

Processes: the test session makes itself a child subreaper, so a pod process that outlives its
parent (Ray daemonises raylets and GCS under `ray start`) is re-parented to the session instead
of init; then "every live descendant of this process" is exactly what our kubesims started.
Network objects, namespaces and mounts carry the instance id of the kubesim that made them
(`ks<id>...`, `/tmp/ks/<id>/`); the check looks only at the ids of the kubesims this test
started (`INSTANCES`), so another kubesim on the same machine is never blamed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INSTANCES", "HostState", "become_subreaper", "live_descendants", "reap_zombies"]

#: Instance ids of the process-runtime kubesims started by the current test.
INSTANCES: list[str] = []

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphaned descendants re-parent to this process rather than to init."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(comm, state, ppid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    state, ppid = text[text.rindex(")") + 2 :].split()[:2]
    return comm, state, int(ppid)


def _processes() -> dict[int, tuple[str, str, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def live_descendants(root: int | None = None) -> dict[int, str]:
    """Descendants of `root` (this process) that are not zombies: pid -> `comm cmdline`."""
    root = os.getpid() if root is None else root
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (_, _, ppid) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        comm, state, _ = table[pid]
        if state != "Z":
            found[pid] = f"{comm}: {_cmdline(pid)}"
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return ""


def reap_zombies() -> None:
    """Collect exited orphans re-parented to us (asyncio only waits for its own children)."""
    for pid, (_, state, ppid) in _processes().items():
        if ppid == os.getpid() and state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _lines(*argv: str) -> list[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    return done.stdout.splitlines()


def _ours(name: str, ids: tuple[str, ...]) -> bool:
    return any(name.startswith(f"ks{i}") or f"/ks/{i}" in name for i in ids)


@dataclass(frozen=True)
class HostState:
    """Links, network namespaces, mounts and directories of some kubesim instances."""

    links: frozenset[str]
    netns: frozenset[str]
    mounts: frozenset[str]
    dirs: frozenset[str]

    @classmethod
    def of(cls, ids: tuple[str, ...]) -> HostState:
        """What instances `ids` have on the host now (`ip`, /proc/self/mountinfo, /tmp/ks)."""
        links = {line.split(":")[1].strip().split("@")[0] for line in _lines("ip", "-o", "link")}
        netns = {line.split()[0] for line in _lines("ip", "netns", "list") if line.strip()}
        mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
        return cls(
            links=frozenset(n for n in links if _ours(n, ids)),
            netns=frozenset(n for n in netns if _ours(n, ids)),
            mounts=frozenset(m for m in mounts if _ours(m, ids)),
            dirs=frozenset(f"/tmp/ks/{i}" for i in ids if Path(f"/tmp/ks/{i}").exists()),
        )

    def lines(self) -> list[str]:
        """Everything found, as `kind name` lines."""
        return sorted(
            [f"link {n}" for n in self.links]
            + [f"netns {n}" for n in self.netns]
            + [f"mount {m}" for m in self.mounts]
            + [f"directory {d}" for d in self.dirs]
        )
