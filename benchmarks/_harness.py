"""Shared helpers for the benchmarks that run kubesim and a client in separate processes.

- :class:`Proc`: a child process with its log file, CPU seconds and RSS read from ``/proc``
  (so the operator's cost is measured apart from kubesim's and the benchmark driver's).
- :func:`start_kubesim`: ``python -m kubesim serve`` with a JSON-lines audit log.
- :func:`read_audit`: the audit file as entries with ``t`` (epoch seconds) added.
- :func:`cluster_watch`: a RayCluster informer that tells when N of them are ``Ready``.
- :func:`machine`: what the numbers were measured on.

Linux only (``/proc``); no dependency beyond the project's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user + system) and memory (bytes) of one process at one moment."""

    cpu: float
    rss: int
    peak_rss: int


@dataclass
class Proc:
    """A child process started by a benchmark; its stdout and stderr go to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def usage(self) -> Usage:
        """CPU seconds so far and current/peak RSS, from ``/proc/<pid>/stat`` and ``status``."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        # Fields after the ")" closing the command name; utime and stime are fields 14 and 15.
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        memory: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                memory[key] = int(value.split()[0]) * 1024
        return Usage(cpu=cpu, rss=memory.get("VmRSS", 0), peak_rss=memory.get("VmHWM", 0))

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything the process printed so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    async def wait_for_output(self, text: str, *, within: float) -> None:
        """Wait until the process printed ``text``; raise with its output if it died first."""
        deadline = time.monotonic() + within
        while text not in self.output():
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {text!r} in {within} s")
            await asyncio.sleep(0.05)

    async def stop(self, *, grace: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.popen.wait, grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            await asyncio.to_thread(self.popen.wait)


def spawn(name: str, argv: Sequence[str], *, workdir: Path) -> Proc:
    """Start ``argv`` in the repository root with output to ``workdir/<name>.log``."""
    log = workdir / f"{name}.log"
    with log.open("wb") as handle:
        popen = subprocess.Popen(
            list(argv), cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Proc(name=name, popen=popen, log=log)


def free_port() -> int:
    """A TCP port nobody listens on right now (for the operator's metrics server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class KubeletDelays:
    """kubesim's workload knobs the benchmarks use: small, so pods become Ready quickly."""

    image_pull_delay: float = 0.05
    container_create_delay: float = 0.05
    start_to_ready_delay: float = 0.1
    probe_period: float = 0.5
    nodes: int = 1
    node_cpu: str = "100000"
    node_memory: str = "100000Gi"
    node_pods: int = 100_000

    def flags(self) -> list[str]:
        """The ``kubesim serve`` flags."""
        return [f"--{name.replace('_', '-')}={value}" for name, value in self.__dict__.items()]


@dataclass
class Sim:
    """A running ``kubesim serve`` process."""

    proc: Proc
    kubeconfig: Path
    audit: Path


async def start_kubesim(workdir: Path, delays: KubeletDelays, *, tag: str) -> Sim:
    """Start kubesim with an audit file in ``workdir``; return once it serves."""
    kubeconfig = workdir / f"kubeconfig-{tag}.yaml"
    audit = workdir / f"audit-{tag}.jsonl"
    audit.unlink(missing_ok=True)
    argv = [PYTHON, "-m", "kubesim", "serve", f"--kubeconfig-out={kubeconfig}",
            f"--audit-log={audit}", *delays.flags()]  # fmt: skip
    proc = spawn(f"kubesim-{tag}", argv, workdir=workdir)
    await proc.wait_for_output("kubesim is serving", within=60)
    return Sim(proc=proc, kubeconfig=kubeconfig, audit=audit)


def audit_time(text: str) -> float:
    """An audit entry's RFC 3339 time as epoch seconds."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class AuditReader:
    """Reads a growing JSON-lines audit file incrementally (only the new complete lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._offset = 0

    def read(self) -> list[dict[str, Any]]:
        """Every entry so far, each with ``t`` (epoch seconds) added."""
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
            end = chunk.rfind(b"\n") + 1  # a line being written is read next time
            for line in chunk[:end].splitlines():
                entry = orjson.loads(line)
                entry["t"] = audit_time(entry["time"])
                self.entries.append(entry)
            self._offset += end
        return self.entries


_readers: dict[Path, AuditReader] = {}


def read_audit(path: Path) -> list[dict[str, Any]]:
    """Every entry of a JSON-lines audit file so far, each with ``t`` (epoch seconds) added.

    Repeated calls for one path read only what was appended since the last call.
    """
    reader = _readers.get(path)
    if reader is None:
        reader = _readers[path] = AuditReader(path)
    return reader.read()


def forget_audit(path: Path) -> None:
    """Drop the entries kept for ``path`` (its kubesim is gone)."""
    _readers.pop(path, None)


WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def writes_of(
    entries: Sequence[Mapping[str, Any]], user_agent: str, *, since: float, until: float
) -> list[Mapping[str, Any]]:
    """Write entries by clients whose user agent starts with ``user_agent``, in a time window."""
    return [
        e
        for e in entries
        if e["verb"] in WRITE_VERBS
        and str(e.get("user_agent") or "").startswith(user_agent)
        and since <= e["t"] <= until
    ]


def kind_of(entry: Mapping[str, Any]) -> str:
    """``deployments`` or ``rayclusters/status`` for an audit entry."""
    sub = entry.get("subresource")
    return f"{entry['resource']}/{sub}" if sub else str(entry["resource"])


@dataclass
class ReadyTracker:
    """Counts RayClusters whose condition ``Ready`` is ``True`` (fed by an informer)."""

    ready: set[str] = field(default_factory=set)
    target: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def observe(self, obj: Any) -> None:
        """Informer handler: note whether ``obj`` is Ready now."""
        if not isinstance(obj, Mapping):
            return
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            self.ready.add(key)
        else:
            self.ready.discard(key)
        if self.target and len(self.ready) >= self.target:
            self.reached.set()


def cluster_watch(api_client: Any, tracker: ReadyTracker) -> Any:
    """A SharedInformer over ``ray.io/v1`` RayClusters feeding ``tracker``."""
    from informers import SharedInformer

    informer = SharedInformer(api_client, group="ray.io", version="v1", plural="rayclusters")
    informer.add_handler(
        on_add=tracker.observe, on_update=lambda _old, new: tracker.observe(new), on_delete=None
    )
    return informer


def seed_clusters(manifest: Mapping[str, Any], count: int, namespaces: int) -> list[dict[str, Any]]:
    """``count`` copies of the seed RayCluster named ``seed-0000``... over ``namespaces``."""
    result = []
    for index in range(count):
        obj = orjson.loads(orjson.dumps(manifest))
        obj["metadata"] = {"name": f"seed-{index:04d}", "namespace": f"bench-{index % namespaces}"}
        result.append(obj)
    return result


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    """CPU model, core count, memory and Python version of this machine."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_total = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    return {
        "cpu_model": model,
        "nproc": os.cpu_count(),
        "mem_total_bytes": mem_total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


@contextlib.contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...; elapsed()`` in wall seconds."""
    started = time.perf_counter()
    yield lambda: time.perf_counter() - started
