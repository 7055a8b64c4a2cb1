"""The seed's autoscaler settings reach the Ray autoscaler under the names it reads."""

from __future__ import annotations

from tests.e2e.harness import Env, seed_manifest, wait_for

NAME = "basic-ray-cluster"


async def test_idle_timeout_minutes_and_upscaling_speed_take_effect(env: Env) -> None:
    """idleTimeoutMinutes and upscalingSpeed are written as idleTimeoutSeconds/upscalingMode,
    which is all the Ray autoscaler reads from the RayCluster, and then rayop stays quiet."""
    manifest = seed_manifest()
    manifest["spec"]["autoscalerOptions"] = {"idleTimeoutMinutes": 2, "upscalingSpeed": 1}
    await env.apply(manifest)

    async def options() -> dict | None:
        stored = (await env.cluster(NAME))["spec"].get("autoscalerOptions") or {}
        return stored if stored.get("idleTimeoutSeconds") == 120 else None

    stored = await wait_for(options, what="idleTimeoutSeconds to be written")
    assert stored["upscalingMode"] == "Conservative"
    assert stored["idleTimeoutMinutes"] == 2, "the user's own field is kept as written"
    await env.quiet()
    writes = len(env.rayop_writes())
    await env.reconciles(3)
    assert len(env.rayop_writes()) == writes


async def test_manifests_without_seed_names_get_no_extra_write(env: Env) -> None:
    """A cluster using KubeRay's own names is never patched by rayop."""
    manifest = seed_manifest()
    manifest["spec"]["autoscalerOptions"] = {"idleTimeoutSeconds": 30, "upscalingMode": "Default"}
    await env.apply(manifest)
    await wait_for(lambda: env.rayop_writes(), what="the operator to write")
    await env.quiet()
    assert not [
        w for w in env.rayop_writes() if w["resource"] == "rayclusters" and not w["subresource"]
    ]
