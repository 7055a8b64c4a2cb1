"""`--leader-elect`: the operator takes a Lease before it reconciles, and releases it on stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from controller.kube.lease import KubeLeaseClient
from controller.leaderelection import LeaderElectionConfig, LeaderElector
from controller.operator import Operator, OperatorOptions
from kubesim import KubeSim, WorkloadsConfig
from tests.e2e.harness import (
    OPERATOR_NS,
    fast_probes,
    operator_kubeconfig,
    small_cluster,
    wait_for,
)


async def test_leader_holds_the_lease_while_it_reconciles(tmp_path: Path) -> None:
    """With an elector, the operator acquires the Lease, reconciles, and releases it on stop."""
    async with KubeSim(
        kubeconfig_path=tmp_path / "kc.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        user = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0,
                          field_manager="kubectl")  # fmt: skip
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        kubeconfig = await operator_kubeconfig(sim, user, tmp_path / "rayop.yaml")
        api = await load_api_client(kubeconfig=str(kubeconfig))
        operator = Operator(api, OperatorOptions(health_addr="0", metrics_addr="0", qps=0))
        operator.attach_elector(
            LeaderElector(
                KubeLeaseClient(KubeClient(api, qps=0)),
                LeaderElectionConfig(
                    name="rayop-leader",
                    namespace=OPERATOR_NS,
                    identity="replica-a",
                    lease_duration=3.0,
                    renew_deadline=2.0,
                    retry_period=0.5,
                ),
                registry=operator.registry,
            )
        )
        task = asyncio.create_task(operator.run())
        try:
            await user.apply(fast_probes(small_cluster("led", replicas=1)))

            async def ready() -> bool:
                cluster = await user.get("ray.io/v1", "RayCluster", "default", "led")
                return (cluster.get("status") or {}).get("state") == "ready"

            await wait_for(ready, what="the leader to bring the cluster up")
            lease = await user.get("coordination.k8s.io/v1", "Lease", OPERATOR_NS, "rayop-leader")
            assert lease["spec"]["holderIdentity"] == "replica-a"
            assert (
                operator.registry.get_sample_value(
                    "leader_election_master_status", {"name": "rayop-leader"}
                )
                == 1.0
            )
        finally:
            operator.stop()
            await asyncio.wait_for(task, timeout=15)
        lease = await user.get("coordination.k8s.io/v1", "Lease", OPERATOR_NS, "rayop-leader")
        assert not lease["spec"].get("holderIdentity"), "the lease was not released on stop"
        await user.close()
