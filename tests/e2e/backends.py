"""rayop's API-level e2e on either backend: kubesim, or the real kube-apiserver.

The same test body runs against both (the ``api_env`` fixture's parameter), so what rayop
relies on — CRD validation incl. CEL, server-side apply and managedFields, the status
subresource, conflicts, watches, Leases — is checked against real Kubernetes, not only against
kubesim's reading of it. On the real server the operator runs with its own identity (a client
certificate for ``system:serviceaccount:rayop-system:rayop``) under the ClusterRole and Lease
Role in ``manifests/operator/``, so RBAC is enforced for real. The real control plane is shared
by the session, so each test gets a namespace of its own and the operator watches only that one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.dev import CRD_DIR, REPO_ROOT, load_manifests
from controller.kube import KubeClient, NotFound, load_api_client
from controller.operator import Operator, OperatorOptions
from kubesim import KubeSim, WorkloadsConfig
from tests.controlplane import ControlPlane
from tests.e2e.harness import operator_kubeconfig, wait_for

OPERATOR_RBAC = [
    REPO_ROOT / "manifests" / "operator" / name
    for name in (
        "namespace.yaml",
        "serviceaccount.yaml",
        "clusterrole.yaml",
        "clusterrolebinding.yaml",
        "leader-election-role.yaml",
    )
]
OPERATOR_USER = ("system:serviceaccount:rayop-system:rayop", "system:serviceaccounts",
                 "system:serviceaccounts:rayop-system")  # fmt: skip
LEASE_NAMESPACE = "rayop-system"


@dataclass
class ApiEnv:
    """A backend with the CRD installed, a user client, and the operator's kubeconfig."""

    backend: str
    namespace: str
    user: KubeClient
    operator_kubeconfig: Path
    sim: KubeSim | None = None
    running: list[tuple[Operator, asyncio.Task[None]]] = field(default_factory=list)

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Apply ``obj`` into this test's namespace as a user (field manager ``kubectl``)."""
        obj.setdefault("metadata", {})["namespace"] = self.namespace
        return await self.user.apply(obj)

    async def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        """An object in this test's namespace, or None."""
        try:
            return await self.user.get(api_version, kind, self.namespace, name)
        except NotFound:
            return None

    async def operator(self) -> Operator:
        """rayop (watching only this namespace) with the operator's kubeconfig, not started."""
        api = await load_api_client(kubeconfig=str(self.operator_kubeconfig))
        return Operator(
            api,
            OperatorOptions(health_addr="127.0.0.1:0", metrics_addr="127.0.0.1:0", qps=0,
                            namespaces=(self.namespace,), drain_timeout=5.0),
        )  # fmt: skip

    async def run(self, operator: Operator) -> None:
        """Run ``operator`` until the test ends; return once its caches are synced."""
        self.running.append((operator, asyncio.create_task(operator.run(), name="operator")))
        await wait_for(operator.controller.ready.is_set, within=30, what="operator caches")

    async def stop_operators(self) -> None:
        """Stop every operator this test started and wait for each to finish."""
        while self.running:
            operator, task = self.running.pop()
            operator.stop()
            await asyncio.wait_for(task, timeout=15)


async def install_crds(user: KubeClient) -> None:
    """Apply rayop's CRDs and wait until the server says they are Established."""
    crds = load_manifests(sorted(CRD_DIR.glob("*.yaml")))
    for crd in crds:
        await user.apply(crd)

    async def established() -> bool:
        for crd in crds:
            got = await user.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                                 crd["metadata"]["name"])  # fmt: skip
            conditions = (got.get("status") or {}).get("conditions") or []
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        return True

    await wait_for(established, within=30, what="the CRDs to be Established")


@contextlib.asynccontextmanager
async def api_env(tmp_path: Path, plane: ControlPlane | None) -> AsyncIterator[ApiEnv]:
    """A fresh namespace on kubesim (``plane`` None) or on ``plane``, with rayop's CRD (and, on
    the real server, the operator's RBAC)."""
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    async with contextlib.AsyncExitStack() as stack:
        sim: KubeSim | None = None
        if plane is None:
            sim = await stack.enter_async_context(
                KubeSim(
                    kubeconfig_path=tmp_path / "kc.yaml", workloads_config=WorkloadsConfig.fast()
                )
            )
            user_config = sim.kubeconfig_path
        else:
            user_config = plane.kubeconfig
            operator_config = plane.kubeconfig_for(*OPERATOR_USER)
        user = KubeClient(await load_api_client(kubeconfig=str(user_config)), qps=0,
                          field_manager="kubectl")  # fmt: skip
        stack.push_async_callback(user.close)
        await install_crds(user)
        if plane is not None:
            for obj in load_manifests(OPERATOR_RBAC):
                await user.apply(obj)
        else:
            # kubesim authorizes like a real server: the operator runs as its ServiceAccount.
            operator_config = await operator_kubeconfig(sim, user, tmp_path / "rayop.yaml")
        await user.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        env = ApiEnv(
            "kubesim" if plane is None else "realk8s", namespace, user, operator_config, sim
        )
        try:
            yield env
        finally:
            await env.stop_operators()
            if plane is not None:
                await user.delete("v1", "Namespace", None, namespace)
