"""``rayop dev``: kubesim, the CRD, the operator and the seed RayCluster in one process.

What ``make run`` runs. A newcomer sees a RayCluster come up without a cluster: kubesim
serves a real API (kubectl works against the kubeconfig it writes), its workload controllers
and kubelet turn StatefulSets into running pods, and the operator does exactly what it does in
production. The user's manifests are applied with field manager ``rayop-dev`` (they are the
user's intent, not rayop's).

``--runtime auto`` (the default) runs pods as real processes, so the seed cluster is real Ray,
when the host allows it (root, iproute2, Ray installed); otherwise they are simulated, and the
first lines say which runtime runs and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from controller.api.constants import ConditionType
from controller.kube import KubeClient, KubeError, load_api_client
from controller.operator import Operator
from controller.options import OperatorOptions

__all__ = [
    "REPO_ROOT",
    "SEED_MANIFEST",
    "DevPlan",
    "ManifestError",
    "load_manifests",
    "prepare_dev",
    "progress_line",
    "run_dev",
    "runtime_lines",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_MANIFEST = REPO_ROOT / "manifests" / "samples" / "seed-basic-ray-cluster.yaml"
CRD_DIR = REPO_ROOT / "manifests" / "crd"


class ManifestError(Exception):
    """A manifest file cannot be read or is not Kubernetes objects."""


def load_manifests(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Every object in the YAML files (multi-document, ``List`` kinds flattened)."""
    objects: list[dict[str, Any]] = []
    for path in paths:
        try:
            text = Path(path).read_text()
            docs = list(yaml.safe_load_all(text))
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ManifestError(f"{path}: not valid YAML: {exc}") from None
        for index, doc in enumerate(docs):
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise ManifestError(f"{path}: document {index + 1} is not a Kubernetes object")
            objects.extend(doc.get("items") or [] if doc["kind"].endswith("List") else [doc])
    return objects


def progress_line(cluster: Mapping[str, Any]) -> str:
    """``ns/name  state=ready  pods 3/3 ready`` for one RayCluster, from its status alone.

    Counts and reason come from the same status write, so the line never contradicts itself
    (live pod counts run ahead of the status rayop last wrote).
    """
    meta = cluster.get("metadata") or {}
    status = cluster.get("status") or {}
    state = status.get("state") or "-"
    line = f"{meta.get('namespace')}/{meta.get('name')}  state={state}"
    if state != "failed":
        head_ready = any(
            c.get("type") == ConditionType.HEAD_POD_READY and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        ready = int(status.get("readyWorkerReplicas") or 0) + (1 if head_ready else 0)
        desired = int(status.get("desiredWorkerReplicas") or 0) + (0 if state == "suspended" else 1)
        line += f"  pods {ready}/{desired} ready"
    if status.get("reason") and state != "ready":
        line += f"  ({status['reason']})"
    return line


@dataclasses.dataclass(frozen=True)
class DevPlan:
    """Everything ``rayop dev`` needs, read and checked before anything starts."""

    manifests: list[dict[str, Any]]
    crds: list[dict[str, Any]]
    kubeconfig: Path
    port: int
    options: OperatorOptions
    #: ``process`` or ``simulated``, and why simulated when it is.
    runtime: str = "simulated"
    runtime_reason: str = ""


def prepare_dev(
    *,
    files: list[str] | None,
    kubeconfig_out: str,
    port: int,
    options: OperatorOptions,
    runtime: str = "simulated",
) -> DevPlan:
    """Read the manifests and the CRD and pick the runtime (``auto``, ``process``, ``simulated``).

    Raises :class:`ManifestError` naming any bad file, and
    ``kubesim.hostcheck.HostUnavailable`` when ``process`` cannot run here.
    """
    from kubesim.hostcheck import choose_runtime

    chosen, reason = choose_runtime(runtime)
    paths = [Path(f) for f in files] if files else [SEED_MANIFEST]
    crds = load_manifests(sorted(CRD_DIR.glob("*.yaml")))
    if not crds:
        raise ManifestError(f"no CRD found in {CRD_DIR}")
    return DevPlan(
        manifests=load_manifests(paths),
        crds=crds,
        kubeconfig=Path(kubeconfig_out).resolve(),
        port=port,
        # Local servers on free ports: several dev sessions (and tests) never collide.
        options=dataclasses.replace(options, health_addr="127.0.0.1:0", metrics_addr="127.0.0.1:0"),
        runtime=chosen,
        runtime_reason=reason,
    )


def runtime_lines(plan: DevPlan) -> list[str]:
    """The first lines ``rayop dev`` prints: which runtime runs the pods and, if simulated, why."""
    if plan.runtime == "process":
        from importlib.metadata import version

        return [
            f"runtime: process (pods are real processes; Ray {version('ray')} runs in them)",
        ]
    return ["runtime: simulated (pods are timers; no Ray runs)", f"  why: {plan.runtime_reason}"]


async def run_dev(plan: DevPlan, *, out: TextIO = sys.stdout) -> int:
    """Run ``rayop dev`` until SIGINT/SIGTERM; return the exit code."""
    from kubesim import KubeSim

    for line in runtime_lines(plan):
        print(line, file=out, flush=True)
    async with KubeSim(
        port=plan.port, kubeconfig_path=plan.kubeconfig, controllers=True, runtime=plan.runtime
    ) as sim:
        api_client = await load_api_client(kubeconfig=str(sim.kubeconfig_path))
        user = KubeClient(api_client, field_manager="rayop-dev", qps=0)
        for crd in plan.crds:
            await user.apply(crd)
        operator = Operator(api_client, plan.options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, operator.stop)
        running = asyncio.create_task(operator.run(), name="operator")
        await _first(operator.controller.ready.wait(), running)
        await _apply_all(user, plan.manifests, out)
        print(f"\nkubesim is serving at {sim.url}. In another shell:\n"
              f"  export KUBECONFIG={plan.kubeconfig}\n  kubectl get rayclusters,pods\n"
              f"metrics: http://127.0.0.1:{operator.servers.ports.get('metrics')}/metrics"
              "   (Ctrl-C to stop)\n", file=out, flush=True)  # fmt: skip
        await _show_progress(operator, running, out)
        await running
    return 0


async def _first(waiter: Any, running: asyncio.Task[None]) -> None:
    ready = asyncio.ensure_future(waiter)
    await asyncio.wait({ready, running}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
    if running.done():
        running.result()  # surface why the operator stopped


async def _apply_all(user: KubeClient, manifests: list[dict[str, Any]], out: TextIO) -> None:
    for obj in manifests:
        obj.setdefault("metadata", {}).setdefault("namespace", "default")
        meta = obj["metadata"]
        try:
            await user.apply(obj)
        except KubeError as exc:
            print(f"apply {obj['kind']} {meta.get('name')}: {exc.message}", file=out, flush=True)
            continue
        print(f"applied {obj['kind']} {meta['namespace']}/{meta.get('name')}", file=out, flush=True)


async def _show_progress(operator: Operator, running: asyncio.Task[None], out: TextIO) -> None:
    shown: dict[str, str] = {}
    while not running.done():
        for cluster in operator.caches.list_clusters():
            meta = cluster["metadata"]
            line = progress_line(cluster)
            key = f"{meta['namespace']}/{meta['name']}"
            if shown.get(key) != line:
                shown[key] = line
                print(line, file=out, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(running), timeout=0.5)
