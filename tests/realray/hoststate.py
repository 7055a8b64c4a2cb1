"""What kubesim's process runtime leaves on the host, so every real-Ray test can prove it left nothing.

Processes: the test session makes itself a child subreaper, so a pod process that outlives its
parent (Ray daemonises raylets and GCS under `ray start`) is re-parented to the session instead
of init; then "every live descendant of this process" is exactly what our kubesims started.
Network objects and mounts are named with kubesim's prefix; the snapshot diff keeps only the
ones that appeared during the test, so another kubesim on the same machine is not blamed for
what existed before.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HostState", "become_subreaper", "live_descendants", "reap_zombies"]

#: Every host object kubesim's process runtime creates carries this prefix (bridge, veths, netns,
#: per-pod roots under /tmp/ks).
PREFIXES = ("ks", "kubesim")

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


def _ours(name: str) -> bool:
    return name.startswith(PREFIXES) or "/ks/" in name or "/kubesim" in name


@dataclass(frozen=True)
class HostState:
    """kubesim-named links, network namespaces and mounts on the host at one moment."""

    links: frozenset[str]
    netns: frozenset[str]
    mounts: frozenset[str]

    @classmethod
    def now(cls) -> HostState:
        """Read the host's current state (`ip`, /proc/self/mountinfo)."""
        links = {line.split(":")[1].strip().split("@")[0] for line in _lines("ip", "-o", "link")}
        netns = {line.split()[0] for line in _lines("ip", "netns", "list") if line.strip()}
        mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
        return cls(
            links=frozenset(n for n in links if _ours(n)),
            netns=frozenset(n for n in netns if _ours(n)),
            mounts=frozenset(m for m in mounts if _ours(m)),
        )

    def new_since(self, before: HostState) -> list[str]:
        """What exists now and did not before, as `kind name` lines."""
        return sorted(
            [f"link {n}" for n in self.links - before.links]
            + [f"netns {n}" for n in self.netns - before.netns]
            + [f"mount {m}" for m in self.mounts - before.mounts]
        )
