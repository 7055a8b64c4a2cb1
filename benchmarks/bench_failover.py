"""Leader failover with rayop's default timings (lease 15 s, renew deadline 10 s, retry 2 s):
two real ``rayop run --leader-elect`` processes against an in-process kubesim; the leader gets
SIGTERM, SIGKILL or SIGSTOP (then SIGCONT once the standby leads), and we report the seconds
from the signal to the standby's acquiring Lease write, and the old leader's writes after it
(must be 0). The same flow, on short timings, is tests/e2e/test_failover.py.

    .venv/bin/python benchmarks/bench_failover.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from kubesim import KubeSim, WorkloadsConfig
from tests.e2e.harness import fast_probes, small_cluster, wait_for
from tests.e2e.test_failover import (
    _acquired_at,
    _other,
    _ready,
    _writes_after,
    holder,
    reap,
    spawn_rayop,
)


async def one(sig: signal.Signals, tmp: Path) -> tuple[float, int]:
    """(failover seconds, old leader's writes after the standby acquired) for one run."""
    async with KubeSim(
        kubeconfig_path=tmp / "kc.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        user = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0,
                          field_manager="kubectl")  # fmt: skip
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        await user.apply(fast_probes(small_cluster("before")))
        a, _ = spawn_rayop(sim.kubeconfig_path, tmp / "a.log")
        b = None
        try:
            a_id = await wait_for(lambda: holder(user), within=60, what="a leader")
            b, port = spawn_rayop(sim.kubeconfig_path, tmp / "b.log")
            await wait_for(lambda: _ready(port), within=60, what="the standby")
            signalled = time.monotonic()
            a.send_signal(sig)
            b_id = await wait_for(lambda: _other(user, a_id), within=60, what="the standby")
            failover = time.monotonic() - signalled
            await user.apply(fast_probes(small_cluster("after")))
            if sig == signal.SIGSTOP:
                a.send_signal(signal.SIGCONT)
            await asyncio.get_running_loop().run_in_executor(None, a.wait, 60)
            return failover, len(_writes_after(sim, _acquired_at(sim, b_id), a_id))
        finally:
            reap(a)
            if b is not None:
                reap(b)
            await user.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP):
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                seconds, writes = await one(sig, Path(tmp))
            print(f"{sig.name:8} run {run + 1}: failover {seconds:5.1f} s, "
                  f"old leader's writes after takeover: {writes}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
