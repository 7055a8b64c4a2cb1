"""Real Ray under rayop on kubesim's process runtime: how long each phase takes, and what it costs.

    sudo .venv/bin/python benchmarks/bench_realray.py            # one cycle, autoscaler v2: ~2 min
    sudo .venv/bin/python benchmarks/bench_realray.py --v1 --out P.json

Three processes, so each one's memory is its own: kubesim (`python -m kubesim serve --runtime
process`, whose pods are real `ray start` processes in their own namespaces), the operator
(`python -m controller run`) and this driver, which acts as a user: it applies the CRD and
the real-Ray sample (tests/realray/raycluster.yaml: head with 0 CPUs, 0..2 autoscaled 1-CPU
workers, idle timeout 20 s), submits a two-task job to the head's job API and reads
`ray status` from the host (which reaches pod IPs over kubesim's bridge).

Phases, in seconds from the apply: **ready** (the RayCluster's state is ready: the head passed
its readiness probe); **scaled up** (the autoscaler asked for 2 workers); **registered** (both
workers are Ray nodes in `ray status`); **job done**; **scaled down** (the idle timeout passed,
the autoscaler named the workers in `workersToDelete` and rayop deleted exactly those pods).
Memory is PSS (proportional set size: shared pages split between the processes sharing them),
from /proc/<pid>/smaps_rollup: per Ray pod, the sum over the processes in its network
namespace, taken while both workers run; kubesim's and rayop's alone.

Needs root, iproute2, kubectl and Ray (`make install-ray`). Prints a table and writes JSON to
benchmarks/results/bench_realray.json (`--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import PYTHON, REPO, Proc, machine, spawn

SAMPLE = REPO / "tests" / "realray" / "raycluster.yaml"
CRD_DIR = REPO / "manifests" / "crd"
NAME, HEAD, GROUP = "rr", "rr-head-0", "cpu"
JOB = """
import ray, time
ray.init()
@ray.remote(num_cpus=1)
def where():
    time.sleep(10)
    return ray.get_runtime_context().get_node_id()
print("JOB RAN ON", len(set(ray.get([where.remote() for _ in range(2)]))), "NODES")
"""


class Kubectl:
    """kubectl against one kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    async def __call__(self, *args: str, stdin: bytes | None = None) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            "kubectl", f"--kubeconfig={self.kubeconfig}", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate(stdin)
        return proc.returncode or 0, out.decode()

    async def json(self, *args: str) -> Any:
        code, out = await self("get", *args, "-o", "json")
        return orjson.loads(out) if code == 0 else {}


async def _ray(*args: str) -> tuple[int, str]:
    """The `ray` CLI of this environment, from the host."""
    proc = await asyncio.create_subprocess_exec(
        str(Path(PYTHON).with_name("ray")), *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def until(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    """Poll `check` every 0.25 s; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_realray: timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.25)


def pss_kib(pid: int) -> int:
    """PSS of one process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pods_by_netns() -> dict[str, list[int]]:
    """Pod name (HOSTNAME in the environment) -> pids, for processes outside our netns."""
    own = os.readlink("/proc/self/ns/net")
    by_ns: dict[str, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            netns = os.readlink(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if netns != own:
            by_ns.setdefault(netns, []).append(int(entry))
    pods: dict[str, list[int]] = {}
    for pids in by_ns.values():
        name = next(filter(None, map(_hostname, pids)), None)
        if name is not None and name.startswith(NAME + "-"):
            pods[name] = pids
    return pods


def _hostname(pid: int) -> str | None:
    try:
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            if item.startswith(b"HOSTNAME="):
                return item[9:].decode()
    except OSError:
        pass
    return None


async def cycle(workdir: Path, *, v1: bool) -> dict[str, Any]:
    """One apply → ready → scale up → job → scale down; the phase times and memory."""
    kubeconfig = workdir / "kubeconfig.yaml"
    sim = spawn("kubesim", [PYTHON, "-m", "kubesim", "serve", "--runtime", "process",
                            f"--kubeconfig-out={kubeconfig}"], workdir=workdir)  # fmt: skip
    operator: Proc | None = None
    try:
        await sim.wait_for_output("kubesim is serving", within=60)
        kubectl = Kubectl(kubeconfig)
        for crd in sorted(CRD_DIR.glob("*.yaml")):
            await kubectl("apply", "--server-side", "-f", str(crd))
        operator = spawn("rayop", [PYTHON, "-m", "controller", "run", f"--kubeconfig={kubeconfig}",
                                   "--health-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0"],
                         workdir=workdir)  # fmt: skip
        return await _phases(kubectl, sim, operator, v1=v1)
    finally:
        if operator is not None:
            await operator.stop()
        await sim.stop(grace=60)


async def _phases(kubectl: Kubectl, sim: Proc, operator: Proc, *, v1: bool) -> dict[str, Any]:
    manifest = yaml.safe_load(SAMPLE.read_text())
    if v1:
        head = manifest["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        head["env"] = [{"name": "RAY_enable_autoscaler_v2", "value": "0"}]
    started = time.monotonic()
    marks: dict[str, float] = {}

    def mark(phase: str) -> None:
        marks[phase] = round(time.monotonic() - started, 1)
        print(f"  {marks[phase]:6.1f} s  {phase}", flush=True)

    await kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(manifest).encode())

    async def state(want: str) -> bool:
        return bool((await kubectl.json("raycluster", NAME)).get("status", {}).get("state") == want)

    await until(lambda: state("ready"), within=180, what="the head to be ready")
    mark("ready")
    head = await kubectl.json("pod", HEAD)
    head_ip = head["status"]["podIP"]
    job = asyncio.create_task(_ray("job", "submit", f"--address=http://{head_ip}:8265", "--",
                                   "python", "-c", JOB))  # fmt: skip

    async def replicas(want: int) -> bool:
        group = (await kubectl.json("raycluster", NAME)).get("spec", {}).get("workerGroupSpecs")
        return bool(group) and int(group[0].get("replicas") or 0) == want

    await until(lambda: replicas(2), within=120, what="the autoscaler to ask for 2 workers")
    mark("scaled up (replicas 2)")

    async def registered() -> bool:
        code, out = await _ray("status", f"--address={head_ip}:6379")
        return code == 0 and f" 2 {GROUP}" in out

    await until(registered, within=180, what="2 workers in ray status")
    mark("workers registered")
    memory = {name: sum(map(pss_kib, pids)) for name, pids in sorted(pods_by_netns().items())}
    memory["kubesim"], memory["rayop"] = pss_kib(sim.pid), pss_kib(operator.pid)
    code, out = await job
    if code != 0 or "JOB RAN ON 2 NODES" not in out:
        raise SystemExit(f"bench_realray: the job failed: {out[-2000:]}")
    mark("job done")

    async def workers_gone() -> bool:
        pods = await kubectl.json("pods", "-l", f"ray.io/group={GROUP}")
        return await replicas(0) and not pods.get("items")

    await until(workers_gone, within=180, what="idle scale-down")
    mark("scaled down (named workers deleted)")
    return {"phases_s": marks, "pss_kib": memory}


def table(result: dict[str, Any]) -> str:
    """The phases and memory as aligned text."""
    lines = [
        "phase (seconds from apply)",
        *(f"  {v:7.1f}  {k}" for k, v in result["phases_s"].items()),
    ]
    lines += ["PSS (MiB)", *(f"  {v / 1024:7.0f}  {k}" for k, v in result["pss_kib"].items())]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--v1", action="store_true", help="autoscaler v1 (default v2)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/bench_realray.json")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("kubectl"):
        print("bench_realray: needs root, iproute2 (ip) and kubectl", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-realray-") as tmp:
        print(f"autoscaler {'v1' if args.v1 else 'v2'}: one cycle", flush=True)
        result = asyncio.run(cycle(Path(tmp), v1=args.v1))
    result |= {"autoscaler": "v1" if args.v1 else "v2", "machine": machine()}
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
