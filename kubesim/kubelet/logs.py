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
import datetime as dt
import shutil
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MAX_LINE_BYTES", "ContainerLogs", "LogQuery", "LogWriter", "NoLogs", "format_stamp"]

#: containerd's default max-container-log-line-size: longer lines become partial (P) records.
MAX_LINE_BYTES = 16 * 1024
_STREAMS = ("stdout", "stderr")


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
        """Write `text` (one line, without its newline) as a full record on `stream`."""
        self._append(stream, [text.encode()])

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
        if not records or not self._instance.path.parent.exists():
            return
        stamp = format_stamp(self._now()).encode()
        data = b"".join(
            b"%s %s %s %s\n" % (stamp, _check(stream).encode(), tag, text)
            for stream, tag, text in records
        )
        with self._instance.path.open("ab") as file:
            file.write(data)
        self._instance.notify()


class ContainerLogs:
    """Every container log file of one node, rooted in a directory kubesim owns.

    Without `root`, a temporary directory is made on first use and removed by `close()` (or when
    this object is collected).
    """

    def __init__(self, root: Path | None = None, *, now: Callable[[], float] = time.time) -> None:
        self._root = root
        self._now = now
        self._instances: dict[tuple[str, str], dict[int, _Instance]] = {}
        self._cleanup: Callable[[], object] | None = None

    @property
    def root(self) -> Path:
        """The directory holding `<pod uid>/<container>/<instance>.log`."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="kubesim-logs-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._root, True)
        return self._root

    def writer(self, uid: str, container: str, instance: int) -> LogWriter:
        """A writer for a new instance of `container` (its file starts empty)."""
        directory = self.root / uid / container
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{instance}.log"
        path.write_bytes(b"")
        entry = _Instance(path)
        self._instances.setdefault((uid, container), {})[instance] = entry
        return LogWriter(entry, self._now)

    def instances(self, uid: str, container: str) -> list[int]:
        """The instances of `container` that have a log file, oldest first."""
        return sorted(self._instances.get((uid, container), {}))

    def query(
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

    def read(self, uid: str, container: str, query: LogQuery) -> bytes:
        """The log of the newest instance (`previous`: the one before it), as the kubelet answers."""
        entry = self._pick(uid, container, previous=query.previous)
        records = _records(entry.path.read_bytes())
        if query.tail_lines is not None:
            records = records[len(records) - query.tail_lines :] if query.tail_lines else []
        return _render(records, query)[: query.limit_bytes]

    def follow(self, uid: str, container: str, query: LogQuery) -> AsyncIterator[bytes]:
        """Yield the log as `read` would, then what the instance writes, until it ends.

        The instance is chosen now (`NoLogs` is raised here, not on the first iteration).
        """
        return self._follow(self._pick(uid, container, previous=query.previous), query)

    async def _follow(self, entry: _Instance, query: LogQuery) -> AsyncIterator[bytes]:
        data = entry.path.read_bytes()
        offset = data.rfind(b"\n") + 1
        records = _records(data)
        if query.tail_lines is not None:
            records = records[len(records) - query.tail_lines :] if query.tail_lines else []
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
        for key in [k for k in self._instances if k[0] == uid]:
            for entry in self._instances.pop(key).values():
                entry.ended = True
                entry.notify()
        if self._root is not None:
            shutil.rmtree(self._root / uid, ignore_errors=True)

    def close(self) -> None:
        """Remove every log file (and the directory, if this object made it)."""
        for uid in {uid for uid, _ in self._instances}:
            self.remove(uid)
        if self._cleanup is not None:
            self._cleanup()

    def _pick(self, uid: str, container: str, *, previous: bool) -> _Instance:
        known = self._instances.get((uid, container), {})
        numbers = sorted(known)
        wanted = numbers[-2:-1] if previous else numbers[-1:]
        if not wanted:
            raise NoLogs(f"no {'previous ' if previous else ''}log of container {container!r}")
        return known[wanted[0]]

    @staticmethod
    def _more(entry: _Instance, offset: int) -> tuple[list[list[bytes]], int]:
        """Complete records written after `offset`, and the offset past them."""
        try:
            with entry.path.open("rb") as file:
                file.seek(offset)
                data = file.read()
        except FileNotFoundError:
            return [], offset
        complete = data.rfind(b"\n") + 1
        return _records(data[:complete]), offset + complete


def _check(stream: str) -> str:
    if stream not in _STREAMS:
        raise ValueError(f"log stream must be stdout or stderr, not {stream!r}")
    return stream


def _records(data: bytes) -> list[list[bytes]]:
    """[stamp, stream, tag, text] per complete line of a CRI log file."""
    lines = data.split(b"\n")
    return [line.split(b" ", 3) for line in lines[:-1] if line.count(b" ") >= 3]


def _render(records: list[list[bytes]], query: LogQuery) -> bytes:
    since = query.since.encode() if query.since is not None else None
    out = bytearray()
    for stamp, _stream, tag, text in records:
        if since is not None and stamp < since:
            continue
        if query.timestamps:
            out += stamp + b" "
        out += text
        if tag != b"P":
            out += b"\n"
    return bytes(out)
