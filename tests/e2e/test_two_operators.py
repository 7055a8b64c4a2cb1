"""Two rayop replicas against one API server: only the leader writes, and a crash hands over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from controller.kube.lease import KubeLeaseClient
from controller.leaderelection import LeaderElectionConfig, LeaderElector
from controller.operator import USER_AGENT, Operator, OperatorOptions
from kubesim import KubeSim, WorkloadsConfig
from tests.e2e.harness import (
    OPERATOR_NS,
    fast_probes,
    operator_kubeconfig,
    small_cluster,
    wait_for,
)

LEASE = "rayop-leader"
# Short, real durations (this test runs over HTTP): lease 3 s, renew deadline 2 s, retry 0.5 s.
DURATIONS = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.5}


async def _replica(kubeconfig: Path, identity: str, *, release: bool) -> Operator:
    api = await load_api_client(kubeconfig=str(kubeconfig))
    operator = Operator(api, OperatorOptions(health_addr="0", metrics_addr="0", qps=0))
    # Same product, told apart in the audit log by a suffix on the user agent.
    api.user_agent = f"{USER_AGENT} ({identity})"
    config = LeaderElectionConfig(
        name=LEASE, namespace=OPERATOR_NS, identity=identity, release_on_cancel=release, **DURATIONS
    )
    elector = LeaderElector(
        KubeLeaseClient(KubeClient(api, qps=0)), config, registry=operator.registry
    )
    operator.attach_elector(elector)
    return operator


def _writes(sim: KubeSim, identity: str) -> list[dict[str, Any]]:
    return sim.audit.writes(user_agent=f"{USER_AGENT} ({identity})")


async def test_only_the_leader_writes_and_a_crashed_leader_is_replaced(tmp_path: Path) -> None:
    """The standby writes nothing while the leader lives; after the leader dies without releasing,
    the standby takes the Lease within the lease duration (plus one jittered retry) and
    reconciles a change made meanwhile."""
    async with KubeSim(
        kubeconfig_path=tmp_path / "kc.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        user = KubeClient(
            await load_api_client(kubeconfig=str(sim.kubeconfig_path)),
            qps=0,
            field_manager="kubectl",
        )
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        kubeconfig = await operator_kubeconfig(sim, user, tmp_path / "rayop.yaml")
        a = await _replica(kubeconfig, "a", release=False)  # a crash: it will not release the Lease
        b = await _replica(kubeconfig, "b", release=True)
        a_task = asyncio.create_task(a.run())

        async def holder() -> str:
            lease = await user.get("coordination.k8s.io/v1", "Lease", OPERATOR_NS, LEASE)
            return str(lease["spec"].get("holderIdentity") or "")

        async def held_by(identity: str) -> bool:
            try:
                return await holder() == identity
            except Exception:
                return False

        await wait_for(lambda: held_by("a"), what="replica a to lead")
        b_task = asyncio.create_task(b.run())
        try:
            await user.apply(fast_probes(small_cluster("ha", replicas=1)))

            async def ready() -> bool:
                status = (await user.get("ray.io/v1", "RayCluster", "default", "ha")).get("status")
                return (status or {}).get("state") == "ready"

            await wait_for(ready, within=20, what="the leader to bring the cluster up")
            await asyncio.sleep(1.0)  # several of b's retry periods
            assert _writes(sim, "a"), "the leader wrote nothing"
            assert [w for w in _writes(sim, "b") if w["resource"] != "leases"] == []
            assert await holder() == "a"

            a_task.cancel()  # the leader dies; its Lease stays until it expires
            loop = asyncio.get_running_loop()
            died = loop.time()
            patch = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 2}]
            await user.request(
                "PATCH",
                "/apis/ray.io/v1/namespaces/default/rayclusters/ha",
                body=patch,
                content_type="application/json-patch+json",
            )
            await wait_for(lambda: held_by("b"), within=10, what="replica b to take the Lease")
            took_over = loop.time() - died
            # b dates the record from its own last observation of a change (≤ one jittered
            # retry period, 1.1 s, before the crash) and acts at its next retry (≤ 1.1 s).
            assert took_over <= DURATIONS["lease_duration"] + 2 * 0.5 * 2.2

            async def scaled() -> bool:
                workload = await user.get("apps/v1", "StatefulSet", "default", "ha-g0-worker")
                return workload["spec"].get("replicas") == 2

            await wait_for(scaled, within=10, what="the new leader to apply the edit")
            assert [w for w in _writes(sim, "b") if w["resource"] == "statefulsets"]
            lease = await user.get("coordination.k8s.io/v1", "Lease", OPERATOR_NS, LEASE)
            assert lease["spec"]["leaseTransitions"] == 1
        finally:
            a_task.cancel()
            b.stop()
            await asyncio.gather(a_task, b_task, return_exceptions=True)
            await user.close()
