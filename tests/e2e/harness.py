"""The e2e harness: kubesim with workloads (fast kubelet), the CRD, and the real operator.

Everything talks HTTP to kubesim: the operator through its own ``KubeClient``, the test as a
user through another client (field manager ``kubectl``, so its applies never look like
rayop's). ``env.rayop_writes()`` counts what the operator wrote, from kubesim's audit log.

The operator runs with its own identity, as installed: the Namespace, ServiceAccount,
ClusterRole, Lease Role and bindings of ``manifests/operator/`` are applied to kubesim (RBAC on)
and the operator's kubeconfig carries a token of that ServiceAccount (``operator_kubeconfig``),
so a call its roles do not grant fails here as it would in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from controller.builders import BuildConfig
from controller.dev import CRD_DIR, SEED_MANIFEST, load_manifests
from controller.kube import KubeClient, NotFound, load_api_client
from controller.operator import USER_AGENT, Operator, OperatorOptions
from kubesim import KubeSim, WorkloadsConfig
from kubesim.kubeconfig import write_kubeconfig

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "operator"

T = TypeVar("T")
NS = "default"
#: Where manifests/operator/ installs rayop: its ServiceAccount and its Lease live here.
OPERATOR_NS = "rayop-system"
OPERATOR_SA = "rayop"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"
_IDENTITY = (
    "namespace",
    "serviceaccount",
    "clusterrole",
    "clusterrolebinding",
    "leader-election-role",
)


def operator_manifests() -> list[dict[str, Any]]:
    """What manifests/operator/ installs for rayop's identity (no Deployment, no Service)."""
    return load_manifests([MANIFESTS / f"{name}.yaml" for name in _IDENTITY])


async def operator_kubeconfig(
    sim: KubeSim, user: KubeClient, path: Path, *, manifests: list[dict[str, Any]] | None = None
) -> Path:
    """Install rayop's identity (``manifests`` as edited by a test, else the shipped ones) and
    write a kubeconfig at ``path`` with a TokenRequest token of its ServiceAccount."""
    for obj in operator_manifests() if manifests is None else manifests:
        await user.apply(obj)
    answer = await user.request(
        "POST",
        f"/api/v1/namespaces/{OPERATOR_NS}/serviceaccounts/{OPERATOR_SA}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    return write_kubeconfig(path, sim.url, token=answer["status"]["token"])


@dataclass
class Env:
    """A running kubesim plus operator, and the helpers tests use."""

    sim: KubeSim
    user: KubeClient
    operator: Operator
    task: asyncio.Task[None]

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Apply ``obj`` as a user would (``kubectl apply --server-side``)."""
        obj.setdefault("metadata", {}).setdefault("namespace", NS)
        return await self.user.apply(obj)

    async def cluster(self, name: str) -> dict[str, Any]:
        """The RayCluster as the API server has it."""
        return await self.user.get("ray.io/v1", "RayCluster", NS, name)

    async def status(self, name: str) -> dict[str, Any]:
        """The RayCluster's status ({} before the first write)."""
        return dict((await self.cluster(name)).get("status") or {})

    async def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        """An object, or None when it does not exist."""
        try:
            return await self.user.get(api_version, kind, NS, name)
        except NotFound:
            return None

    async def pods(self, cluster: str) -> list[dict[str, Any]]:
        """The cluster's Ray pods that are not being deleted."""
        pods = await self.user.list("v1", "Pod", NS, label_selector=f"ray.io/cluster={cluster}")
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    async def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        """Events about RayClusters (optionally one reason)."""
        events = await self.user.list("v1", "Event", NS)
        return [
            e
            for e in events
            if e.get("involvedObject", {}).get("kind") == "RayCluster"
            and (reason is None or e.get("reason") == reason)
        ]

    def rayop_writes(self) -> list[dict[str, Any]]:
        """Every write the operator made (applies, deletes, events), from the audit log."""
        return self.sim.audit.writes(user_agent=USER_AGENT)

    async def quiet(self, period: float = 0.3, within: float = 10.0) -> int:
        """Wait until rayop has written nothing for ``period`` seconds; return the write count."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        count = len(self.rayop_writes())
        while loop.time() < deadline:
            await asyncio.sleep(period)
            now = len(self.rayop_writes())
            if now == count:
                return count
            count = now
        raise AssertionError(f"rayop kept writing for {within} s")

    def reconciled(self) -> float:
        """Reconciles finished so far, whatever their outcome."""
        registry = self.operator.registry
        return sum(
            registry.get_sample_value(
                "controller_runtime_reconcile_total", {"controller": "raycluster", "result": r}
            )
            or 0.0
            for r in ("success", "error", "requeue", "requeue_after")
        )

    async def reconciles(self, rounds: int = 3, *, within: float = 15.0) -> None:
        """Reconcile every cached RayCluster ``rounds`` times (a forced resync each round) and
        wait until each round has finished: "after N reconciles" instead of "after a sleep"."""
        controller = self.operator.controller
        clusters = len(controller.caches.list_clusters())
        for _ in range(rounds):
            target = self.reconciled() + clusters
            controller.enqueue_all()
            await wait_for(lambda t=target: self.reconciled() >= t, within=within,  # type: ignore[misc]
                           what=f"{clusters} reconciles")  # fmt: skip

    async def settle(self, seconds: float = 0.5) -> None:
        """Let the operator react to whatever just happened."""
        await asyncio.sleep(seconds)


async def wait_for(
    check: Callable[[], Awaitable[T] | T], *, within: float = 15.0, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last  # type: ignore[no-any-return]
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}; last: {last!r}")
        await asyncio.sleep(0.05)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    """The condition of ``type_`` in a status ({} when absent)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def seed_manifest() -> dict[str, Any]:
    """The seed RayCluster exactly as the repository ships it."""
    return load_manifests([SEED_MANIFEST])[0]


def small_cluster(name: str, *, replicas: int = 1, groups: int = 1, **spec: Any) -> dict[str, Any]:
    """A ``ray.io/v1`` RayCluster with tiny pods, for tests that need many or fast clusters."""
    template = {
        "spec": {
            "containers": [
                {
                    "name": "ray",
                    "image": "rayproject/ray:2.9.0",
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                }
            ]
        }
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "rayVersion": "2.9.0",
            "headGroupSpec": {"rayStartParams": {}, "template": template},
            "workerGroupSpecs": [
                {
                    "groupName": f"g{index}",
                    "replicas": replicas,
                    "minReplicas": 0,
                    "maxReplicas": 5,
                    "rayStartParams": {},
                    "template": template,
                }
                for index in range(groups)
            ],
            **spec,
        },
    }


def fast_probes(manifest: dict[str, Any]) -> dict[str, Any]:
    """Give every Ray container instant probes of its own, so rayop injects none of Ray's
    (which wait 10 s before the first check)."""
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    for group in [manifest["spec"]["headGroupSpec"], *manifest["spec"]["workerGroupSpecs"]]:
        for container in group["template"]["spec"]["containers"]:
            container.update(readinessProbe=dict(probe), livenessProbe=dict(probe))
    return manifest


@contextlib.asynccontextmanager
async def running_env(
    tmp_path: Path,
    *,
    probes: bool = False,
    concurrency: int = 4,
    drain_timeout: float = 5.0,
    namespaces: tuple[str, ...] = (),
    manifests: list[dict[str, Any]] | None = None,
    **workloads: Any,
) -> AsyncIterator[Env]:
    """Start kubesim (workloads on, fast kubelet; ``workloads`` overrides its config), install
    the CRD and rayop's identity (``manifests``: see `operator_kubeconfig`), run the operator."""
    async with KubeSim(
        kubeconfig_path=tmp_path / "kubeconfig.yaml",
        workloads_config=WorkloadsConfig.fast(**workloads),
    ) as sim:
        user_api = await load_api_client(kubeconfig=str(sim.kubeconfig_path))
        user = KubeClient(user_api, field_manager="kubectl", qps=0)
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        kubeconfig = await operator_kubeconfig(
            sim, user, tmp_path / "rayop-kubeconfig.yaml", manifests=manifests
        )
        operator = Operator(
            await load_api_client(kubeconfig=str(kubeconfig)),
            OperatorOptions(
                concurrency=concurrency,
                health_addr="127.0.0.1:0",
                metrics_addr="127.0.0.1:0",
                drain_timeout=drain_timeout,
                namespaces=namespaces,
                qps=0,
            ),
            # Ray's readiness probes start after 10 s; tests that do not need them skip the wait.
            build_config=BuildConfig(inject_probes=probes),
        )
        task = asyncio.create_task(operator.run(), name="operator")
        try:
            await wait_for(operator.controller.ready.is_set, what="operator caches to sync")
            yield Env(sim, user, operator, task)
        finally:
            operator.stop()
            await asyncio.wait_for(task, timeout=15)
            await user.close()
