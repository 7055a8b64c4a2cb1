"""rayop as its users run it: installed with `kubectl apply -k manifests/` or from the Helm chart
on a cluster whose pods are processes.

kubesim's process runtime runs the Deployment's two pods as real `rayop run --in-cluster`
processes (the image `rayop/rayop` maps to this environment): each reads the mounted
service-account token and `KUBERNETES_SERVICE_HOST`, serves the probes the kubelet really
calls, and campaigns for the Lease. The test deletes the leader's pod and watches the other
take over within the lease duration, with RayClusters reconciled by the pods before and after.
Ray pods run a stand-in `ray` (images/sleeping-ray): what is tested is the operator, not Ray.

The chart goes in as `helm template | kubectl apply --server-side`: `helm install` itself needs
kubesim to decode protobuf (see tests/component/deploy/test_helm.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.kube import KubeClient, NotFound, load_api_client
from kubesim import KubeSim, WorkloadsConfig
from tests.component.deploy.tools import CHART, arun, helm_path, run
from tests.e2e.harness import fast_probes, small_cluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.kubectl, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
NS = "rayop-system"
LEASE_DURATION = 15.0


def _missing() -> str | None:
    """What this host lacks for the process runtime, or None."""
    if "runtime" not in WorkloadsConfig.field_names():
        return "kubesim's process runtime (WorkloadsConfig.runtime)"
    from kubesim.hostcheck import missing_prerequisite  # only with the process runtime

    missing = missing_prerequisite()
    if missing is None and shutil.which("kubectl") is None:
        missing = "kubectl"
    return missing


#: A stand-in image for Ray pods (its `ray start` sleeps). In the repository, not under /tmp:
#: pods get a private /tmp, so an image there would be invisible to them.
SLEEPING_RAY = Path(__file__).with_name("images") / "sleeping-ray"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[KubeSim, KubeClient]]:
    missing = _missing()
    if missing is not None:
        pytest.skip(f"rayop in-cluster on kubesim needs {missing}")
    config = WorkloadsConfig.fast(
        runtime="process",
        image_map={"rayop/rayop*": sys.prefix, "rayproject/ray*": str(SLEEPING_RAY)},
    )
    async with KubeSim(kubeconfig_path=tmp_path / "kc.yaml", workloads_config=config) as sim:
        user = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0,
                          field_manager="kubectl")  # fmt: skip
        try:
            yield sim, user
        finally:
            await user.close()


async def _kubectl(sim: KubeSim, *args: str, stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", f"--kubeconfig={sim.kubeconfig_path}", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 120)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


async def _operator_pods(user: KubeClient) -> list[dict[str, Any]]:
    pods = await user.list("v1", "Pod", NS, label_selector="app.kubernetes.io/name=rayop")
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def _no_operator_pods(user: KubeClient) -> bool:
    pods = await user.list("v1", "Pod", NS, label_selector="app.kubernetes.io/name=rayop")
    return not pods


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


async def _holder(user: KubeClient) -> str:
    try:
        lease = await user.get("coordination.k8s.io/v1", "Lease", NS, "rayop-leader")
    except NotFound:
        return ""
    return str(lease["spec"].get("holderIdentity") or "")


async def _ready_cluster(user: KubeClient, name: str) -> bool:
    cluster = await user.get("ray.io/v1", "RayCluster", "default", name)
    return (cluster.get("status") or {}).get("state") == "ready"


async def _brought_up(user: KubeClient, name: str, *, by: str) -> None:
    """Apply a small RayCluster and wait until the operator pods made it ready."""
    await user.apply(fast_probes(small_cluster(name, replicas=1)))
    await wait_for(lambda: _ready_cluster(user, name), within=90, what=f"{by} to bring up {name}")


def _operator_process(pod: str) -> int:
    """The host PID of the `rayop run` serving ``pod`` (pods are host processes here)."""
    wanted = f"POD_NAME={pod}".encode()
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if wanted in environ and b"rayop" in cmdline and b"run" in cmdline:
            return int(proc.name)
    raise AssertionError(f"no rayop process for pod {pod}")


async def _install(sim: KubeSim, how: str) -> None:
    """Install rayop the way a user would, with kustomize or with the chart's defaults."""
    if how == "kustomize":
        out = await _kubectl(sim, "apply", "--server-side", "-k", str(REPO / "manifests"))
        assert "deployment.apps/rayop serverside-applied" in out
        return
    rendered = run(
        helm_path(), "template", "rayop", str(CHART), "--namespace", NS, "--include-crds"
    )
    assert rendered.code == 0, rendered.err
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n---\n"
    out = await _kubectl(sim, "apply", "--server-side", "-f", "-", stdin=namespace + rendered.out)
    assert "deployment.apps/rayop serverside-applied" in out


async def _head_logs_collected(sim: KubeSim, tmp_path: Path, name: str) -> None:
    """`kubectl ray log` copies Ray's session logs out of a running head (kubectl exec + tar)."""
    bin_dir = Path(sys.executable).parent
    result = await arun(
        "sh", "-c", f'cd "{tmp_path}" && exec kubectl ray log {name} --node-type head',
        env={"KUBECONFIG": str(sim.kubeconfig_path),
             "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"Copied Ray's session logs of {name}-head-0" in result.out, result.out
    raylet = tmp_path / name / f"{name}-head-0" / "logs" / "raylet.out"
    assert "ray start --head" in raylet.read_text()


@pytest.mark.parametrize("how", ["kustomize", "helm"])
async def test_two_replicas_elect_a_leader_and_fail_over(
    cluster: tuple[KubeSim, KubeClient], how: str, tmp_path: Path
) -> None:
    """apply -k → two Ready pods, one Lease holder; the leader's pod deleted → the other pod
    holds the Lease at once (released on SIGTERM); the new leader's process killed → a new
    holder within the lease duration; RayClusters reconciled by the pods throughout."""
    sim, user = cluster
    await _install(sim, how)

    async def two_ready() -> list[dict[str, Any]] | None:
        pods = await _operator_pods(user)
        return pods if len(pods) == 2 and all(map(_ready, pods)) else None

    await wait_for(two_ready, within=120, what="both rayop pods Ready (probes served)")

    async def holder_pod() -> tuple[str, str] | None:
        """(holder, its pod) once a live operator pod holds the Lease: a pod
        that lost the lease under load restarts or is replaced, so names are read with it."""
        holder = await _holder(user)
        names = sorted(p["metadata"]["name"] for p in await _operator_pods(user))
        pod = next((n for n in names if holder.startswith(n)), None)
        return (holder, pod) if pod is not None and len(names) == 2 else None

    leader, leader_pod = await wait_for(holder_pod, within=60, what="a pod holding the Lease")

    await _brought_up(user, "before-failover", by="the pod-run operator")
    await _head_logs_collected(sim, tmp_path, "before-failover")

    # 1. The leader's pod is deleted: it drains, releases the Lease, the other takes over.
    loop = asyncio.get_running_loop()
    deleted_at = loop.time()
    await _kubectl(sim, "-n", NS, "delete", "pod", leader_pod, "--wait=false")

    async def new_holder(old: str) -> str | None:
        holder = await _holder(user)
        return holder if holder and holder != old else None

    successor = await wait_for(lambda: new_holder(leader), within=LEASE_DURATION + 30,
                               what="a new leader after the pod's deletion")  # fmt: skip
    took = loop.time() - deleted_at
    # The surviving pod or the Deployment's replacement: either may win the Lease first.
    assert not successor.startswith(leader_pod), successor
    assert took < LEASE_DURATION, f"takeover after a deletion took {took:.1f} s"
    await _brought_up(user, "after-deletion", by="the second replica")
    pods = await wait_for(two_ready, within=120, what="the Deployment to replace the pod")
    assert leader_pod not in {p["metadata"]["name"] for p in pods}

    # 2. The new leader's process is SIGKILLed: no release; a standby waits out the lease.
    survivor_pod = next(
        p["metadata"]["name"] for p in pods if successor.startswith(p["metadata"]["name"])
    )
    killed_at = loop.time()
    os.kill(_operator_process(survivor_pod), signal.SIGKILL)
    after_kill = await wait_for(lambda: new_holder(successor), within=LEASE_DURATION + 30,
                                what="a new leader after the leader's process was killed")  # fmt: skip
    took = loop.time() - killed_at
    assert took < LEASE_DURATION + 10, f"takeover after a kill took {took:.1f} s"
    lease = await user.get("coordination.k8s.io/v1", "Lease", NS, "rayop-leader")
    assert lease["spec"]["leaseTransitions"] >= 2, lease["spec"]
    assert after_kill != successor
    await _brought_up(user, "after-kill", by="the leader after the kill")

    # The operator stops as in a cluster: scaled to zero, its pods drain and exit.
    await _kubectl(sim, "-n", NS, "scale", "deployment/rayop", "--replicas=0")
    await wait_for(lambda: _no_operator_pods(user), within=60, what="the operator pods to exit")
