"""Container logs as a node keeps them: one CRI-format file per container instance.

Why files, and why this format: `kubectl logs` must see what containerd would have written, and a
process runtime's containers write a lot. Each instance of a container (instance = the
container's restartCount when that instance started, as the kubelet names its log files
`<restartCount>.log`) gets one file under `<root>/<pod uid>/<container>/`, with one record per
line as containerd's CRI logger writes it:

    2026-12-08T04:03:34.123456789Z stdout F a full line
    2026-12-08T04:03:34.123456790Z stderr P the first 16 KiB of a longer line

Reading follows the kubelet (`pkg/kubelet/kuberuntime/logs`): `tail_lines` picks the start among
the file's last N records, then records older than `since` are skipped (`since` is the later of
now - `since_seconds` and `since_time`), `timestamps` prefixes each record with its fixed-width
RFC 3339 timestamp, a full record ends with a newline and a partial one does not, and
`limit_bytes` cuts the output (mid-record too). stdout and stderr interleave in one stream.

`follow` keeps reading as the instance writes and ends once the instance has ended and its file
is drained; the pod's removal ends it as well. Writers and followers share the event loop, so a
write wakes followers without polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MAX_LINE_BYTES", "ContainerLogs", "LogWriter", "NoLogs", "format_stamp"]

#: containerd's default max-container-log-line-size: longer lines become partial (P) records.
MAX_LINE_BYTES = 16 * 1024
_STREAMS = ("stdout", "stderr")
_PREFIX = "kubesim-logs-"
_SHM_MIN_FREE = 1 << 30


class NoLogs(LookupError):
    """The container has no instance that matches (never started, or no previous one)."""


def format_stamp(epoch: float) -> str:
    """RFC 3339 with nine fractional digits in UTC (the kubelet's RFC3339NanoFixed).

    Fixed width makes stamps compare as strings, which is how `since` is applied.
    """
    nanos = round(epoch * 1_000_000_000)
    seconds, fraction = divmod(nanos, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{fraction:09d}Z"


@dataclass(frozen=True, kw_only=True)
class LogQuery:
    """What to read: the PodLogOptions the kubelet honours, `since` already resolved."""

    previous: bool = False
    tail_lines: int | None = None
    since: str | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


@dataclass
class _Instance:
    """One container instance's log file and who waits on it."""

    path: Path
    ended: bool = False
    #: The pod was removed: its files are gone and nothing more is written.
    removed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake every follower waiting for more (each waits on the event it saw)."""
        event, self.changed = self.changed, asyncio.Event()
        event.set()


class LogWriter:
    """Appends one container instance's output to its log file.

    `write_line` takes a complete line of text; `feed` takes raw bytes from a pipe and writes
    every complete line, keeping the rest until more arrives or `close`. Lines longer than
    `MAX_LINE_BYTES` are split into partial records, as containerd does.
    """

    def __init__(self, instance: _Instance, now: Callable[[], float]) -> None:
        self._instance = instance
        self._now = now
        self._pending = dict.fromkeys(_STREAMS, b"")

    def write_line(self, stream: str, text: str) -> None:
        """Write `text` (a line, without its newline) as a full record on `stream`.

        Embedded newlines make several records, as the container's output would.
        """
        self._append(stream, text.encode().split(b"\n"))

    def feed(self, stream: str, data: bytes) -> None:
        """Write the complete lines in `data` (after what an earlier feed left over)."""
        buffered = self._pending[_check(stream)] + data
        *lines, rest = buffered.split(b"\n")
        self._pending[stream] = rest
        self._append(stream, lines)
        while len(self._pending[stream]) > MAX_LINE_BYTES:
            chunk = self._pending[stream][:MAX_LINE_BYTES]
            self._pending[stream] = self._pending[stream][MAX_LINE_BYTES:]
            self._write([(stream, b"P", chunk)])

    def close(self) -> None:
        """Flush what is left of a last line without newline (as a full record) and end."""
        for stream in _STREAMS:
            if self._pending[stream]:
                self._append(stream, [self._pending[stream]])
                self._pending[stream] = b""
        if not self._instance.ended:
            self._instance.ended = True
            self._instance.notify()

    def _append(self, stream: str, lines: list[bytes]) -> None:
        records: list[tuple[str, bytes, bytes]] = []
        for line in lines:
            while len(line) > MAX_LINE_BYTES:
                records.append((stream, b"P", line[:MAX_LINE_BYTES]))
                line = line[MAX_LINE_BYTES:]
            records.append((stream, b"F", line))
        self._write(records)

    def _write(self, records: list[tuple[str, bytes, bytes]]) -> None:
        if not records or self._instance.removed:
            return
        stamp = format_stamp(self._now()).encode()
        data = b"".join(
            b"%s %s %s %s\n" % (stamp, _check(stream).encode(), tag, text)
            for stream, tag, text in records
        )
        fd = os.open(self._instance.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self._instance.notify()


class ContainerLogs:
    """Every container log file of one node, rooted in a directory kubesim owns.

    Without `root`, a temporary directory (on /dev/shm when writable) is made on first use and
    removed by `close()` or when this object is collected; one left by a kubesim that was killed
    is removed when the next one makes its own.
    """

    def __init__(self, root: Path | None = None, *, now: Callable[[], float] = time.time) -> None:
        self._root = root
        self._now = now
        #: pod uid → container → instance → its file.
        self._pods: dict[str, dict[str, dict[int, _Instance]]] = {}
        self._cleanup: Callable[[], object] | None = None

    @property
    def root(self) -> Path:
        """The directory holding `<pod uid>/<container>/<instance>.log`."""
        if self._root is None:
            base = _scratch()
            _sweep(base)
            self._root = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._root, True)
        return self._root

    def writer(self, uid: str, container: str, instance: int) -> LogWriter:
        """A writer for a new instance of `container` (its file appears with the first line)."""
        containers = self._pods.setdefault(uid, {})
        if container not in containers:
            containers[container] = {}
            (self.root / uid / container).mkdir(parents=True, exist_ok=True)
        entry = _Instance(self.root / uid / container / f"{instance}.log")
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()  # a reused instance number starts afresh
        containers[container][instance] = entry
        return LogWriter(entry, self._now)

    def instances(self, uid: str, container: str) -> list[int]:
        """The instances of `container` that have a log file, oldest first."""
        return sorted(self._pods.get(uid, {}).get(container, {}))

    def _query(
        self,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        since_time: float | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> LogQuery:
        """PodLogOptions resolved against this node's clock (`since` as the kubelet computes it)."""
        since: float | None = None
        if since_seconds is not None:
            since = self._now() - since_seconds
        if since_time is not None and (since is None or since_time > since):
            since = since_time
        return LogQuery(
            previous=previous,
            tail_lines=tail_lines,
            since=format_stamp(since) if since is not None else None,
            timestamps=timestamps,
            limit_bytes=limit_bytes,
        )

    def read(
        self,
        uid: str,
        container: str,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        since_time: float | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> bytes:
        """The log of the newest instance (`previous`: the one before it), as the kubelet answers.

        The options are PodLogOptions' (`since_time` in seconds since the epoch; None: not set).
        """
        query = self._query(
            previous=previous,
            tail_lines=tail_lines,
            since_seconds=since_seconds,
            since_time=since_time,
            timestamps=timestamps,
            limit_bytes=limit_bytes,
        )
        entry = self._pick(uid, container, previous=query.previous)
        lines = _tail(_lines(_contents(entry.path)), query.tail_lines)
        return _render(lines, query)[: query.limit_bytes]

    def follow(
        self,
        uid: str,
        container: str,
        *,
        previous: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        since_time: float | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """Yield the log as `read` would, then what the instance writes, until it ends.

        The instance is chosen now (`NoLogs` is raised here, not on the first iteration).
        """
        query = self._query(
            previous=previous,
            tail_lines=tail_lines,
            since_seconds=since_seconds,
            since_time=since_time,
            timestamps=timestamps,
            limit_bytes=limit_bytes,
        )
        return self._follow(self._pick(uid, container, previous=query.previous), query)

    async def _follow(self, entry: _Instance, query: LogQuery) -> AsyncIterator[bytes]:
        data = _contents(entry.path)
        offset = data.rfind(b"\n") + 1
        records = _tail(_lines(data), query.tail_lines)
        remaining = query.limit_bytes
        while True:
            chunk = _render(records, query)
            if remaining is not None:
                chunk = chunk[:remaining]
                remaining -= len(chunk)
            if chunk:
                yield chunk
            if remaining == 0:
                return
            waiter, ended = entry.changed, entry.ended
            records, offset = self._more(entry, offset)
            if not records and ended:
                return
            if not records:
                await waiter.wait()
                records, offset = self._more(entry, offset)

    def remove(self, uid: str) -> None:
        """Delete pod `uid`'s log files and end anyone following them."""
        for instances in self._pods.pop(uid, {}).values():
            for entry in instances.values():
                entry.ended = entry.removed = True
                entry.notify()
        if self._root is not None:
            shutil.rmtree(self._root / uid, ignore_errors=True)

    def close(self) -> None:
        """Remove every log file (and the directory, if this object made it)."""
        for uid in list(self._pods):
            self.remove(uid)
        if self._cleanup is not None:
            self._cleanup()

    def _pick(self, uid: str, container: str, *, previous: bool) -> _Instance:
        known = self._pods.get(uid, {}).get(container, {})
        numbers = sorted(known)
        wanted = numbers[-2:-1] if previous else numbers[-1:]
        if not wanted:
            raise NoLogs(f"no {'previous ' if previous else ''}log of container {container!r}")
        return known[wanted[0]]

    @staticmethod
    def _more(entry: _Instance, offset: int) -> tuple[list[bytes], int]:
        """Complete records written after `offset`, and the offset past them."""
        try:
            with entry.path.open("rb") as file:
                file.seek(offset)
                data = file.read()
        except FileNotFoundError:
            return [], offset
        complete = data.rfind(b"\n") + 1
        return _lines(data[:complete]), offset + complete


def _scratch() -> Path | None:
    """Where temporary log roots go: tmpfs when there is a roomy one (a disk's metadata
    operations cost a millisecond each here, and every container instance makes a file), else
    the default temporary directory (a container's 64 MiB /dev/shm is no place for logs)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        return None
    stats = os.statvfs(shm)
    return shm if stats.f_bavail * stats.f_frsize >= _SHM_MIN_FREE else None


def _sweep(base: Path | None) -> None:
    """Remove the log roots of kubesims that died without cleaning up (their pid is gone)."""
    for stale in Path(base or tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = stale.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check(stream: str) -> str:
    if stream not in _STREAMS:
        raise ValueError(f"log stream must be stdout or stderr, not {stream!r}")
    return stream


def _contents(path: Path) -> bytes:
    """A log file's bytes (nothing yet if the instance has not written)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _lines(data: bytes) -> list[bytes]:
    """The complete lines of a CRI log file's contents."""
    return data.split(b"\n")[:-1]


def _tail(lines: list[bytes], count: int | None) -> list[bytes]:
    """The last `count` lines (all when None, none when 0)."""
    if count is None:
        return lines
    return lines[len(lines) - count :] if count else []


def _render(lines: list[bytes], query: LogQuery) -> bytes:
    """What the kubelet sends for these records: `[stamp ]text` (+ newline unless partial)."""
    since = query.since.encode() if query.since is not None else None
    out = bytearray()
    for line in lines:
        record = line.split(b" ", 3)
        if len(record) != 4:
            continue
        stamp, _stream, tag, text = record
        if since is not None and stamp < since:
            continue
        if query.timestamps:
            out += stamp + b" "
        out += text
        if tag != b"P":
            out += b"\n"
    return bytes(out)
