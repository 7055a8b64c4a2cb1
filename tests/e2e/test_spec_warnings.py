"""Warnings about what rayop cannot honour reach the user as events, once per generation."""

from __future__ import annotations

from tests.e2e.harness import Env, small_cluster, wait_for


async def test_builder_warnings_become_events(env: Env) -> None:
    """A batch-scheduler label rayop ignores is reported as a RayClusterSpecWarning event."""
    manifest = small_cluster("queued")
    manifest["metadata"]["labels"] = {"kai.scheduler/queue": "team-a"}
    await env.apply(manifest)
    (warning,) = await wait_for(
        lambda: env.events("RayClusterSpecWarning"), what="the spec warning event"
    )
    assert warning["type"] == "Warning"
    assert warning["message"].startswith("metadata.labels.kai.scheduler/queue: ")
    assert "no batch-scheduler integration" in warning["message"]
    await env.quiet()
    (again,) = await env.events("RayClusterSpecWarning")
    assert again.get("count", 1) == 1, "the warning must not repeat on every reconcile"
