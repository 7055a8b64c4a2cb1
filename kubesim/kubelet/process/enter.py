"""The in-between program that turns a fresh child process into a pod's container, then execs it.

The process runtime starts every container as `python enter.py SPEC.json`: this file joins the
pod's network namespace, makes a private mount and UTS namespace, sets the pod's hostname, lays
the pod's mounts over the host's tree (a tmpfs over /run, a private /tmp, /dev/shm, /etc/hosts,
/etc/resolv.conf, the service-account files, the volumes), changes to the working directory and
`execve`s the container's command. The container's process is therefore this very process: its
pid, process group and exit status are the container's.

It runs as a separate program, not as a `preexec_fn`, because forking a threaded asyncio process
and then calling into libc is not safe, and because an error here must reach the container's log
as one readable line (then exit 128, like a runtime's create error). It imports nothing of
kubesim so it starts in a few tens of milliseconds.

Every bind source is opened (O_PATH) before the pivot into the container's root, and mounted
from `/proc/self/fd/N` while the old root is still attached: the pod's files live under
/tmp/ks/..., which the container's tree does not show. A mount point that does not exist on the host (`/data`, `/etc/podinfo`) is made
in a tmpfs laid over its deepest existing ancestor, which holds binds of that directory's
entries: the container sees the host's directory plus the new mount point, the host sees no
change.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

#: Exit status when the sandbox cannot be entered (what `kubectl get` shows as the exit code).
SETUP_FAILED = 128

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The container could not be set up; the message goes to its log."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc.mount(
        source.encode() if source is not None else None,
        target.encode(),
        fstype.encode() if fstype is not None else None,
        flags,
        data.encode() if data else None,
    )
    _check(result, f"mount {target}")


def _populate(source: str, at: str, *, empty: frozenset[str] = frozenset()) -> None:
    """Mount a tmpfs at `at` holding binds of `source`'s entries (and copies of its links).

    Entries are opened before the tmpfs is mounted, so `at` may be `source` itself: the
    directory then looks the same, but new entries (mount points) can be made in it without
    touching the host's tree. Entries named in `empty` become empty directories.
    """
    info = os.stat(source)
    fds: dict[str, tuple[int, bool]] = {}
    links: dict[str, str] = {}
    for entry in os.scandir(source):
        if entry.name in empty:
            os.makedirs(os.path.join(at, entry.name), exist_ok=True)
            fds[entry.name] = (-1, True)
        elif entry.is_symlink():
            links[entry.name] = os.readlink(entry.path)
        else:
            fd = os.open(entry.path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
            fds[entry.name] = (fd, entry.is_dir(follow_symlinks=False))
    _mount("tmpfs", at, "tmpfs", MS_NOSUID, f"mode={info.st_mode & 0o7777:o}")
    for name, (fd, is_dir) in fds.items():
        path = os.path.join(at, name)
        if fd < 0:
            os.mkdir(path)
            continue
        if is_dir:
            os.mkdir(path)
        else:
            with open(path, "a"):
                pass
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
    for name, target in links.items():
        os.symlink(target, os.path.join(at, name))


#: Where the old root stays attached while the container's mounts are made.
_OLD_ROOT = "/.kubesim-old-root"


def _new_root(at: str) -> None:
    """Make `at` (an empty directory) a copy of / built of binds, and pivot into it.

    The root is then a tmpfs, so top-level mount points (`/data`) can be made in it. It is
    the mount namespace's root (pivot_root, not chroot), so whatever joins the namespace later
    (`nsenter --mount` for exec and probes) sees the container's tree. /run and /tmp are not
    copied (they are covered anyway): the host's hold other pods' network namespaces and
    tmpfs volumes, which a copy here would keep alive for as long as this container runs.
    """
    _populate("/", at, empty=frozenset({"run", "tmp"}))
    os.mkdir(at + _OLD_ROOT)
    os.chdir(at)
    _check(
        _libc.syscall(_SYS_PIVOT_ROOT[platform.machine()], b".", _OLD_ROOT[1:].encode()),
        "pivot_root",
    )
    os.chdir("/")


def _drop_old_root() -> None:
    _check(_libc.umount2(_OLD_ROOT.encode(), MNT_DETACH), "detach the old root")
    os.rmdir(_OLD_ROOT)


class _Creatable:
    """Where missing mount points may be made: anywhere below a tree of ours, or directly in
    a shadowed directory (whose entries are the host's)."""

    def __init__(self) -> None:
        self.trees: list[str] = []
        self.shallow: list[str] = ["/"]

    def allows(self, parent: str) -> bool:
        return parent in self.shallow or any(
            parent == root or parent.startswith(root.rstrip("/") + "/") for root in self.trees
        )


def _prepare_target(target: str, *, is_dir: bool, creatable: _Creatable) -> str:
    """The real path to mount on, created if missing without changing the host's tree.

    Inside a tree this program mounted (a tmpfs, a volume) a missing path is simply made;
    elsewhere its deepest existing ancestor is shadowed first (see `_populate`).
    """
    real = os.path.realpath(target)
    if os.path.lexists(real):
        return real
    ancestor = os.path.dirname(real)
    while not os.path.isdir(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not creatable.allows(ancestor):
        _populate(ancestor, ancestor)
        creatable.shallow.append(ancestor)
    if is_dir:
        os.makedirs(real, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(real), exist_ok=True)
        with open(real, "a"):
            pass
    return real


def _open_sources(mounts: list[dict[str, Any]]) -> dict[int, int]:
    """O_PATH descriptors of the bind sources (host paths, opened before the pivot)."""
    sources: dict[int, int] = {}
    for index, mount in enumerate(mounts):
        if mount["kind"] == "bind":
            try:
                sources[index] = os.open(mount["source"], os.O_PATH | os.O_CLOEXEC)
            except OSError as exc:
                raise SetupError(f"mount source {mount['source']}: {exc.strerror}") from None
    return sources


def _apply_mounts(mounts: list[dict[str, Any]], sources: dict[int, int]) -> None:
    creatable = _Creatable()
    for index, mount in enumerate(mounts):
        target = _prepare_target(
            mount["target"], is_dir=mount.get("dir", True), creatable=creatable
        )
        if mount["kind"] == "tmpfs":
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, mount.get("options", ""))
        else:
            _mount(f"/proc/self/fd/{sources[index]}", target, None, MS_BIND | MS_REC)
            if mount.get("readonly"):
                _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        if mount.get("dir", True) and not mount.get("readonly"):
            creatable.trees.append(target)
    for fd in sources.values():
        os.close(fd)


def enter(spec: dict[str, Any]) -> None:
    """Join the pod, lay out its mounts and exec its command (never returns on success)."""
    netns = os.open(spec["netns"], os.O_RDONLY | os.O_CLOEXEC)
    _check(_libc.setns(netns, CLONE_NEWNET), "join the pod's network namespace")
    os.close(netns)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "make the container's namespaces")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    hostname = spec["hostname"].encode()
    _check(_libc.sethostname(hostname, len(hostname)), "set the hostname")
    sources = _open_sources(spec["mounts"])
    _new_root(spec["root"])
    _apply_mounts(spec["mounts"], sources)
    _drop_old_root()
    workdir = spec.get("workdir") or "/"
    try:
        os.chdir(workdir)
    except OSError as exc:
        raise SetupError(f"working directory {workdir}: {exc.strerror}") from None
    argv = spec["argv"]
    env = spec["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        # The message containerd gives, so `kubectl describe` reads the same.
        raise SetupError(
            f'exec: "{argv[0]}": {exc.strerror} (PATH={env.get("PATH", "")})'
        ) from None


def main() -> None:
    """`enter.py SPEC.json`: the spec the runtime wrote for this container instance."""
    with open(sys.argv[1], encoding="utf-8") as file:
        spec = json.load(file)
    try:
        enter(spec)
    except SetupError as exc:
        print(f"kubesim: cannot start the container: {exc}", file=sys.stderr, flush=True)
        sys.exit(SETUP_FAILED)


if __name__ == "__main__":
    main()
