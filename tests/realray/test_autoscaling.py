"""The real Ray autoscaler drives a RayCluster through rayop: up on demand, down on idle.

Task demand → the autoscaler raises `replicas` → rayop scales the workers → real workers
register with the GCS → the job finishes → after the idle timeout the autoscaler lowers
`replicas` and names the pods in `workersToDelete` → exactly those pods go. Run with
autoscaler v2 (Ray's default under KubeRay) and v1 (`RAY_enable_autoscaler_v2=0` on the head).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.realray.harness import (
    Env,
    Phases,
    cluster_ready,
    kubectl,
    ray_nodes,
    real_env,
    sample,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NAME, HEAD, GROUP = "rr", "rr-head-0", "cpu"

#: Two 1-CPU tasks of 5 s on a cluster whose head has no CPU: the autoscaler asks for two workers.
JOB = """
import ray, time
ray.init()
@ray.remote(num_cpus=1)
def where():
    time.sleep(5)
    return ray.get_runtime_context().get_node_id()
print(len(set(ray.get([where.remote() for _ in range(2)]))), "nodes ran the job")
"""


async def _group(env: Env) -> dict[str, Any]:
    group: dict[str, Any] = (await env.cluster(NAME))["spec"]["workerGroupSpecs"][0]
    return group


async def _workers(env: Env) -> dict[str, str]:
    """Live worker pods of the group: name -> uid."""
    pods = await env.pods(NAME)
    return {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in pods
        if p["metadata"]["labels"].get("ray.io/group") == GROUP
    }


@pytest.mark.parametrize("version", ["v2", "v1"])
async def test_autoscaler_scales_up_on_demand_and_deletes_exactly_the_idle_workers(
    real_ray_host: None, tmp_path: Path, version: str
) -> None:
    phase = Phases()
    async with real_env(tmp_path) as env:
        await env.apply(sample(autoscaler_v1=version == "v1"))
        await wait_for(lambda: cluster_ready(env, NAME), within=120, what="the head Ready")
        phase("ready")
        head = await env.get("v1", "Pod", HEAD)
        assert head is not None  # Ray 2.60.0 >= 2.53: the dashboard agent's /api/healthz
        assert head["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/api/healthz"

        job = asyncio.create_task(
            kubectl(env, "exec", HEAD, "-c", "ray-head", "--", "python", "-c", JOB, within=150)
        )

        async def scaled_up() -> bool:
            return int((await _group(env)).get("replicas") or 0) == 2

        await wait_for(scaled_up, within=60, what="the autoscaler to ask for 2 workers")
        phase("scaled up")

        async def registered() -> bool:
            return (await ray_nodes(env, HEAD)).get(GROUP) == 2

        await wait_for(registered, within=90, what="2 real workers in ray status")
        phase("workers registered")
        started = await _workers(env)
        assert len(started) == 2

        code, out, err = await job
        assert code == 0, err[-2000:]
        # Usually 2; 1 when the first worker finished a task before the second registered.
        assert out.strip().endswith("nodes ran the job"), out
        phase("job done")

        named: set[str] = set()

        async def scaled_down() -> bool:
            group = await _group(env)
            named.update((group.get("scaleStrategy") or {}).get("workersToDelete") or [])
            return int(group.get("replicas") or 0) == 0 and bool(named)

        await wait_for(scaled_down, within=90, what="idle scale-down with workersToDelete")
        phase("workersToDelete set")
        assert named <= set(started), (named, started)

        async def named_gone() -> bool:
            return not (named & set(await _workers(env)))

        await wait_for(named_gone, within=60, what="the named workers to be deleted")
        phase("named workers deleted")
        # No other worker was touched: those not named still run, with the same uid.
        left = await _workers(env)
        for name in set(started) - named:
            assert left.get(name) == started[name], f"{name} was not named but is gone"

        code, logs, _ = await kubectl(env, "logs", HEAD, "-c", "autoscaler")
        assert code == 0
        assert "ray-head" not in logs.splitlines()[0]
        assert "Autoscaler" in logs or "autoscaler" in logs, logs[:2000]
