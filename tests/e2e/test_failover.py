"""Two real ``rayop run`` processes on one Lease: a stopped, killed or paused leader hands over,
and a paused leader that wakes up after the standby took over writes nothing (issue 16).

Timings are short and real (lease 5 s, renew deadline 3.5 s, retry 1 s: short, but long
enough that a loaded machine does not starve a renewal); every wait is bounded.
The failover time (signal to the standby's acquiring write) is printed for the report; with
rayop's defaults the same flow is ``benchmarks/bench_failover.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from controller.operator import USER_AGENT
from kubesim import KubeSim, WorkloadsConfig
from tests.e2e.harness import fast_probes, small_cluster, wait_for

REPO = Path(__file__).resolve().parents[2]
LEASE = "rayop-leader"
TIMINGS = ("--leader-elect-lease-duration", "5", "--leader-elect-renew-deadline", "3.5",
           "--leader-elect-retry-period", "1")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_rayop(kubeconfig: Path, log: Path, *timings: str) -> tuple[subprocess.Popen[bytes], int]:
    """``rayop run --leader-elect`` on the ``default/rayop-leader`` Lease; its /readyz port."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "run", "--kubeconfig", str(kubeconfig),
             "--leader-elect", "--lease-namespace", "default", "--metrics-addr", "0",
             "--health-addr", f"127.0.0.1:{port}", "--log-format", "json", *timings],
            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, port


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Continue, stop and wait for ``proc`` (bounded), whatever state the test left it in."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def holder(user: KubeClient) -> str:
    """The Lease's holderIdentity ("" when released or absent)."""
    try:
        lease = await user.get("coordination.k8s.io/v1", "Lease", "default", LEASE)
    except Exception:
        return ""
    return str(lease["spec"].get("holderIdentity") or "")


def _acquired_at(sim: KubeSim, identity: str) -> int:
    """Index in the audit log of ``identity``'s first successful Lease write."""
    for index, entry in enumerate(sim.audit.entries):
        if (
            entry["resource"] == "leases"
            and entry["user_agent"] == f"{USER_AGENT} ({identity})"
            and entry["code"] < 300
        ):
            return index
    raise AssertionError(f"{identity} never wrote the Lease")


def _writes_after(sim: KubeSim, index: int, identity: str) -> list[dict[str, Any]]:
    after = sim.audit.entries[index:]
    return [e for e in after if e in sim.audit.writes(user_agent=f"{USER_AGENT} ({identity})")]


async def _ready(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.write(b"GET /readyz HTTP/1.0\r\n\r\n")
    status = await reader.readline()
    writer.close()
    return b" 200 " in status


@pytest.mark.parametrize(
    "sig", [signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
async def test_failover_leaves_one_writer(tmp_path: Path, sig: signal.Signals) -> None:
    """The standby takes the Lease after the leader is signalled, converges clusters created
    meanwhile, and the old leader makes zero writes after the standby acquired (for SIGSTOP:
    even after SIGCONT wakes it with fresh work in its caches; it then exits 1)."""
    async with KubeSim(
        kubeconfig_path=tmp_path / "kc.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        user = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0,
                          field_manager="kubectl")  # fmt: skip
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        await user.apply(fast_probes(small_cluster("before")))
        a, _ = spawn_rayop(sim.kubeconfig_path, tmp_path / "a.log", *TIMINGS)
        b = None
        try:
            a_id = await wait_for(lambda: holder(user), within=30, what="the first leader")
            b, b_port = spawn_rayop(sim.kubeconfig_path, tmp_path / "b.log", *TIMINGS)
            await wait_for(lambda: _ready(b_port), within=30, what="the standby's caches")
            assert await holder(user) == a_id

            signalled = time.monotonic()
            a.send_signal(sig)
            b_id = await wait_for(
                lambda: _other(user, a_id),
                within=30,
                what="the standby to acquire",
            )
            failover = time.monotonic() - signalled
            print(
                f"\nfailover after {sig.name}: {failover:.2f} s (lease 5 s, renew 3.5 s, retry 1 s)"
            )
            for name in ("during-1", "during-2"):
                await user.apply(fast_probes(small_cluster(name)))
            acquired = _acquired_at(sim, b_id)
            b_agent = f"{USER_AGENT} ({b_id})"
            await wait_for(
                lambda: any(
                    e.get("name", "") and "during-2" in str(e["name"])
                    for e in sim.audit.writes(user_agent=b_agent)
                ),
                within=30,
                what="the new leader to reconcile a cluster created after failover",
            )
            if sig == signal.SIGSTOP:
                a.send_signal(signal.SIGCONT)
            await asyncio.get_running_loop().run_in_executor(None, a.wait, 30)
            if sig == signal.SIGSTOP:
                assert a.returncode == 1, "a leader that lost its lease exits 1"
            assert _writes_after(sim, acquired, a_id) == []
        finally:
            reap(a)
            if b is not None:
                reap(b)
            await user.close()


async def _other(user: KubeClient, old: str) -> str:
    current = await holder(user)
    return current if current and current != old else ""
