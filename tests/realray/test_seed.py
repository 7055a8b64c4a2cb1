"""The seed RayCluster as real Ray: three real nodes, and it survives its GCS being killed.

The seed says rayVersion 2.6.0, so rayop gives it KubeRay's `wget` exec probes, which run
inside the pods against the Ray 2.60.0 that really runs there (it still serves those paths).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import condition, seed_manifest
from tests.realray.harness import (
    Env,
    Phases,
    cluster_ready,
    kubectl,
    ray_nodes,
    real_env,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HEAD = "basic-ray-cluster-head-0"
SEED_NODES = {"headgroup": 1, "small-worker": 2}

#: Kill the GCS server of this pod only: the processes in the pod's own network namespace.
KILL_GCS = (
    'me=$(readlink /proc/self/ns/net); for p in /proc/[0-9]*; do [ "$(readlink $p/ns/net)" = '
    '"$me" ] && grep -qx gcs_server $p/comm 2>/dev/null && kill -9 ${p#/proc/} && echo killed; '
    "done; true"
)


async def test_seed_cluster_runs_real_ray_and_recovers_from_a_killed_gcs(
    real_ray_host: None, tmp_path: Path
) -> None:
    phase = Phases()
    async with real_env(tmp_path) as env:
        await env.apply(seed_manifest())
        await wait_for(
            lambda: cluster_ready(env, "basic-ray-cluster"), within=120, what="the seed Ready"
        )

        async def three_nodes() -> bool:
            return await ray_nodes(env, HEAD) == SEED_NODES

        phase("ready")
        head = await env.get("v1", "Pod", HEAD)
        assert head is not None
        probe = head["spec"]["containers"][0]["readinessProbe"]
        assert "wget" in " ".join(probe["exec"]["command"]), probe  # rayVersion 2.6.0 < 2.53
        mismatch = await _events(env, HEAD, "RayVersionMismatch")
        assert mismatch, "no RayVersionMismatch warning although the seed says 2.6.0"
        assert "Ray 2.60.0 runs" in mismatch[0]["message"]
        await wait_for(three_nodes, within=60, what="ray status to list the head and 2 workers")
        phase("ray status lists 3 nodes")

        code, out, err = await kubectl(
            env, "exec", HEAD, "-c", "ray-head", "--", "sh", "-c", KILL_GCS
        )
        assert (code, out) == (0, "killed\n"), err

        outage: dict[str, Any] = {}

        async def outage_seen() -> bool:
            outage.update(await env.status("basic-ray-cluster"))
            return outage.get("state") != "ready"

        await wait_for(outage_seen, within=60, what="the RayCluster to leave ready")
        assert condition(outage, "HeadPodReady")["status"] == "False", outage
        phase("GCS killed; the RayCluster left ready")
        await wait_for(
            lambda: cluster_ready(env, "basic-ray-cluster"), within=150, what="Ready again"
        )
        phase("ready again")
        await wait_for(three_nodes, within=90, what="the workers to rejoin the new GCS")
        phase("3 nodes again")

        head = await env.get("v1", "Pod", HEAD)
        assert head is not None
        ray_head = next(s for s in head["status"]["containerStatuses"] if s["name"] == "ray-head")
        assert ray_head["restartCount"] >= 1
        assert ray_head["lastState"]["terminated"]["exitCode"] != 0
        # The kubelet recorded the outage on the head pod: a probe failing before the container
        # exited (timing: on a fast machine `ray start` exits first), or the container started
        # again (one Started event counted twice, or a second one).
        unhealthy = await _events(env, HEAD, "Unhealthy")
        starts = sum(
            e.get("count") or 1
            for e in await _events(env, HEAD, "Started")
            if e.get("message") == "Started container ray-head"
        )
        assert unhealthy or starts >= 2, f"no outage recorded on the head pod ({starts} starts)"


async def _events(env: Env, pod: str, reason: str) -> list[dict[str, Any]]:
    events = await env.user.list("v1", "Event", "default")
    return [e for e in events if e["involvedObject"].get("name") == pod and e["reason"] == reason]
