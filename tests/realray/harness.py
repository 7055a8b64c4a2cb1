"""The real-Ray harness: the e2e environment with kubesim's process runtime, plus kubectl and Ray.

`real_env` is `tests.e2e.harness.running_env` with `runtime="process"` and Ray's probes on, so
pods are real `ray start` processes and Ready means what it means on a cluster. Everything a
test learns about Ray it learns the way a user would: `kubectl exec <head> -- ray status`,
`kubectl logs`, a job run with `kubectl exec ... -- python -c`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.harness import Env, running_env, wait_for
from tests.realray.hoststate import INSTANCES

__all__ = [
    "SAMPLE",
    "Env",
    "Phases",
    "cluster_ready",
    "kubectl",
    "ray_nodes",
    "real_env",
    "wait_for",
]

#: The small real-Ray cluster (head with 0 CPUs, 0..2 autoscaled 1-CPU workers).
SAMPLE = Path(__file__).with_name("raycluster.yaml")

_NODE_LINE = re.compile(r"^\s+(\d+)\s+(\S+)\s*$")


@contextlib.asynccontextmanager
async def real_env(tmp_path: Path) -> AsyncIterator[Env]:
    """kubesim with the process runtime, the CRD and rayop, Ray's probes on."""
    async with running_env(tmp_path, probes=True, runtime="process") as env:
        INSTANCES.append(env.sim.pod_host.host.instance.id)
        yield env


def sample(*, autoscaler_v1: bool = False) -> dict[str, Any]:
    """The real-Ray sample; with `autoscaler_v1` the head runs autoscaler v1."""
    manifest: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    if autoscaler_v1:
        head = manifest["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        head.setdefault("env", []).append({"name": "RAY_enable_autoscaler_v2", "value": "0"})
    return manifest


async def kubectl(env: Env, *args: str, within: float = 90) -> tuple[int, str, str]:
    """Run kubectl against the env's kubesim; return (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        f"--kubeconfig={env.sim.kubeconfig_path}",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(within):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"kubectl {' '.join(args)} took more than {within} s") from None
    return proc.returncode or 0, out.decode(), err.decode()


def parse_ray_status(text: str) -> dict[str, int]:
    """Node counts per node type from `ray status` (Active and Idle: v2 lists idle nodes apart)."""
    counts: dict[str, int] = {}
    section = ""
    for line in text.splitlines():
        if line.rstrip().endswith(":") and not line.startswith(" "):
            section = line.strip().rstrip(":")
            continue
        match = _NODE_LINE.match(line)
        if match and section in ("Active", "Idle"):
            counts[match.group(2)] = counts.get(match.group(2), 0) + int(match.group(1))
    return counts


async def ray_nodes(env: Env, head: str) -> dict[str, int]:
    """`kubectl exec <head> -c ray-head -- ray status`, as node counts per type ({} on failure)."""
    code, out, _ = await kubectl(env, "exec", head, "-c", "ray-head", "--", "ray", "status")
    return parse_ray_status(out) if code == 0 else {}


class Phases:
    """Seconds since the test started at each step, printed as they pass (`pytest -s`)."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"{time.monotonic() - self._start:7.1f} s  {what}", flush=True)


async def cluster_ready(env: Env, name: str) -> bool:
    """The RayCluster's status says ready."""
    return (await env.status(name)).get("state") == "ready"
