"""`--namespace`: rayop manages RayClusters in the namespaces it is given and nowhere else."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import running_env, small_cluster, wait_for


async def test_only_watched_namespaces_are_reconciled(tmp_path: Path) -> None:
    """A cluster in a watched namespace comes up; one elsewhere is never touched."""
    async with running_env(tmp_path, namespaces=("ml",)) as env:
        await env.user.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}})
        watched = small_cluster("mine", replicas=1)
        watched["metadata"]["namespace"] = "ml"
        await env.user.apply(watched)
        await env.apply(small_cluster("theirs", replicas=1))

        async def ready() -> bool:
            cluster = await env.user.get("ray.io/v1", "RayCluster", "ml", "mine")
            return (cluster.get("status") or {}).get("state") == "ready"

        await wait_for(ready, what="the cluster in the watched namespace to be ready")
        await env.settle(0.3)
        assert await env.status("theirs") == {}
        assert await env.pods("theirs") == []
        assert all(w["namespace"] == "ml" for w in env.rayop_writes())
