"""The kubesim command line: `serve` prints how to connect; `fault` drives a running server."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from kubesim import KubeSim


async def _run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kubesim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_serve_prints_address_and_kubeconfig(tmp_path: Path) -> None:
    """`serve` prints its URL and the export line, serves the API, and stops cleanly on SIGINT."""
    kubeconfig = tmp_path / "kc.yaml"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubesim", "serve", "--no-controllers", "--kubeconfig-out", str(kubeconfig),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            first = (await proc.stdout.readline()).decode()
            second = (await proc.stdout.readline()).decode()
        assert first.startswith("kubesim is serving at http://127.0.0.1:")
        assert second.strip() == f"export KUBECONFIG={kubeconfig}"
        url = first.rsplit(" ", 1)[1].strip()
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/api/v1/namespaces/default") as resp,
        ):
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            code = await proc.wait()
    assert code == 0


async def test_fault_cli_adds_lists_and_clears_rules(sim: KubeSim, raw: Any) -> None:
    """`kubesim fault` posts rules to a running kubesim found through its kubeconfig."""
    target = ("--kubeconfig", str(sim.kubeconfig_path))
    code, out, err = await _run_cli(
        "fault", *target, "add", "--verb", "list", "--resource", "pods", "--error", "503"
    )
    assert code == 0, err
    assert json.loads(out)["rules"][0]["error"] == 503
    status, _, _ = await raw.get("/api/v1/namespaces/default/pods")
    assert status == 503
    code, out, _ = await _run_cli("fault", *target, "list")
    assert [r["resource"] for r in json.loads(out)["rules"]] == ["pods"]
    code, out, _ = await _run_cli("fault", *target, "clear")
    assert json.loads(out) == {"rules": []}
    status, _, _ = await raw.get("/api/v1/namespaces/default/pods")
    assert status == 200


async def test_fault_cli_reports_bad_rules(sim: KubeSim) -> None:
    """An invalid rule is refused with the server's reason and a non-zero exit."""
    code, _, err = await _run_cli("fault", "--server", sim.url, "add", "--rate", "7")
    assert code != 0
    assert "fault rate: 7.0 is not between 0 and 1" in err


async def test_fault_cli_without_a_target_explains(tmp_path: Path) -> None:
    """Without --server, --kubeconfig or $KUBECONFIG the CLI says what is missing."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubesim", "fault", "list",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode != 0
    assert "no server given" in err.decode()
