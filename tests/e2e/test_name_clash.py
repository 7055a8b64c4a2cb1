"""Two RayClusters whose cluster and group names combine to the same child name: the second is
reported failed, naming the first, before it writes anything (issue 16)."""

from __future__ import annotations

from tests.e2e.harness import Env, small_cluster, wait_for


async def test_a_child_name_owned_by_another_cluster_fails_the_second_cluster(env: Env) -> None:
    """``a`` + group ``b-c`` and ``a-b`` + group ``c`` both want ``a-b-c-worker``: ``a-b`` gets
    state failed naming ``a``, and rayop writes none of its children."""
    first = small_cluster("a", replicas=1)
    first["spec"]["workerGroupSpecs"][0]["groupName"] = "b-c"
    await env.apply(first)

    async def a_ready() -> bool:
        return (await env.status("a")).get("state") == "ready"

    await wait_for(a_ready, what="cluster a to be ready")
    second = small_cluster("a-b", replicas=1)
    second["spec"]["workerGroupSpecs"][0]["groupName"] = "c"
    await env.apply(second)

    async def failed() -> dict[str, object] | None:
        status = await env.status("a-b")
        return status if status.get("state") == "failed" else None

    status = await wait_for(failed, what="a-b to be reported failed")
    assert "already belongs to RayCluster a " in str(status["reason"])
    child_writes = [
        w for w in env.rayop_writes() if w["resource"] != "rayclusters" and w["resource"] != "events"
        and str(w["name"]).startswith("a-b-") and not str(w["name"]).startswith("a-b-c-")
    ]  # fmt: skip
    assert child_writes == [], "nothing of a-b may be written"
    assert (await env.status("a")).get("state") == "ready"
