"""Where the deploy tests find their external tools, and how they run them.

helm is built by `make helm` into a cache outside the repo (``$RAYOP_HELM`` names it; the
Makefile sets it); Prometheus and promtool come from Debian's package (`make prometheus`).
A test needing a tool that is missing skips and names it with the make target that installs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests"
CHART = MANIFESTS / "helm" / "rayop"
MONITORING = MANIFESTS / "monitoring"
HELM_VERSION = "v3.22.1"
_HELM_CACHE = Path.home() / ".cache" / "rayop-tools" / f"helm-{HELM_VERSION}" / "helm"


def helm_path() -> str:
    """The helm binary, or skip the test naming how to get one."""
    for candidate in (os.environ.get("RAYOP_HELM"), str(_HELM_CACHE), shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip(f"helm is not installed: `make helm` builds {HELM_VERSION} with the Go toolchain")


def tool_path(name: str) -> str:
    """A binary from Debian's prometheus package (prometheus, promtool), or skip naming it."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: `make prometheus` installs Debian's package")
    return found


@dataclass(frozen=True)
class Result:
    """What a finished command printed and returned."""

    code: int
    out: str
    err: str


def run(*argv: str, timeout: float = 60.0) -> Result:
    """Run a command that needs no cluster (helm lint/template, promtool)."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


async def arun(*argv: str, env: dict[str, str] | None = None) -> Result:
    """Run a command against an in-process kubesim without blocking its event loop (killed
    after two minutes)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120.0)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return Result(proc.returncode or 0, out.decode(), err.decode())


def free_port() -> int:
    """A loopback port nobody listens on right now (for a process that needs one up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def stop(proc: asyncio.subprocess.Process, *, grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaped."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()
