"""Hosts that cannot run real pods get one line, not a traceback or a half-made bridge.

These run anywhere: a missing `ip` is simulated with an empty PATH, a missing root with
`setpriv` to nobody (skipped with the reason when this session is not root to begin with).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

PYTHON = sys.executable
RAYOP = str(Path(sys.executable).with_name("rayop"))


async def _run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


def _one_line(text: str) -> str:
    """`text` when it is exactly one line (no traceback), without its newline."""
    assert text.endswith("\n"), text
    assert text.count("\n") == 1, text
    return text.removesuffix("\n")


def _as_nobody() -> list[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as an unprivileged user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


async def test_kubesim_serve_process_runtime_without_ip_is_one_line(tmp_path: Path) -> None:
    """No iproute2 on PATH: exit 2 naming it, before anything is created."""
    env = {**os.environ, "PATH": str(tmp_path)}
    code, _, err = await _run(PYTHON, "-m", "kubesim", "serve", "--runtime", "process", env=env)
    assert code == 2
    assert _one_line(err).startswith("kubesim serve: the process runtime needs ")
    assert "the `ip` command (iproute2)" in err


async def test_kubesim_serve_process_runtime_without_root_is_one_line() -> None:
    """Not root: exit 2 saying root is needed and why."""
    code, _, err = await _run(
        *_as_nobody(), PYTHON, "-m", "kubesim", "serve", "--runtime", "process"
    )
    assert code == 2
    assert _one_line(err) == "kubesim serve: the process runtime needs root (running as uid 65534)"


async def test_rayop_dev_process_runtime_without_root_is_one_line(tmp_path: Path) -> None:
    """`rayop dev --runtime process` as a user: exit 2, one line, no traceback."""
    argv = [*_as_nobody(), RAYOP, "dev", "--runtime", "process"]
    code, _, err = await _run(*argv, "--kubeconfig-out", str(tmp_path / "kc"))
    assert code == 2
    assert _one_line(err) == "rayop dev: the process runtime needs root (running as uid 65534)"


async def test_rayop_dev_auto_falls_back_to_simulated_and_says_why(tmp_path: Path) -> None:
    """`--runtime auto` on a host without `ip`: simulated, and the first two lines say why."""
    env = {**os.environ, "PATH": str(tmp_path)}
    kubeconfig = tmp_path / "kubeconfig.yaml"
    proc = await asyncio.create_subprocess_exec(
        RAYOP, "dev", "--kubeconfig-out", str(kubeconfig), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("  export KUBECONFIG="):  # operator is up
        lines.append((await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode())
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.communicate(), timeout=30)
    assert lines[0] == "runtime: simulated (pods are timers; no Ray runs)\n"
    assert lines[1].startswith("  why: the process runtime needs ")
    assert "the `ip` command (iproute2)" in lines[1]
    assert proc.returncode == 0
