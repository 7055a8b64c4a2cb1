"""`spec.managedBy` hands a RayCluster to another controller, as in KubeRay."""

from __future__ import annotations

from tests.e2e.harness import Env, small_cluster, wait_for


async def test_a_multikueue_cluster_is_left_alone(env: Env) -> None:
    """rayop warns once and creates nothing for a cluster MultiKueue manages; others still run."""
    await env.apply(small_cluster("kueued", managedBy="kueue.x-k8s.io/multikueue"))
    await env.apply(small_cluster("ours"))
    await wait_for(
        lambda: env.get("apps/v1", "StatefulSet", "ours-head"), what="rayop to manage 'ours'"
    )
    await wait_for(lambda: env.events("RayClusterSpecWarning"), what="the managedBy warning")
    await env.quiet()
    assert await env.get("apps/v1", "StatefulSet", "kueued-head") is None
    assert await env.get("v1", "Service", "kueued-head-svc") is None
    assert (await env.cluster("kueued")).get("status") in (None, {})
    (warning,) = await env.events("RayClusterSpecWarning")
    assert "kueue.x-k8s.io/multikueue" in warning["message"]
