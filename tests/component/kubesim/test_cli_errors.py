"""`kubesim serve` answers a user's mistake with one line and exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest


async def _serve(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubesim", "serve", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, err.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--nodes", "-1"), "kubesim serve: WorkloadsConfig.nodes: must be >= 0, got -1"),
        (
            ("--node-memory", "lots"),
            "kubesim serve: WorkloadsConfig.node_memory: not a Kubernetes quantity",
        ),
    ],
)
async def test_bad_flag_values_are_one_line(args: tuple[str, ...], message: str) -> None:
    """An out-of-range or malformed flag value names the flag; kubesim does not start."""
    code, err = await _serve(*args)
    assert code == 2
    assert err.startswith(message)
    assert "Traceback" not in err


async def test_a_port_in_use_is_one_line() -> None:
    """Asking for a port another process holds says so plainly."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = await _serve("--port", str(port))
    assert code == 2
    assert err.startswith(f"kubesim serve: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in err
