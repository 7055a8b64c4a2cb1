"""KubeRay's published RayCluster samples, applied unchanged, reach ready under rayop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.dev import load_manifests
from controller.kube import NotFound
from tests.e2e.harness import condition, running_env, wait_for

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "golden" / "samples").glob("*.yaml"))
# Selects TPU nodes (nodeSelector), which no simulated node is: it must say so, not pretend.
NEEDS_TPU = "ray-cluster.tpu-v6e-16-multihost"


async def test_every_sample_reaches_ready_or_says_why_not(tmp_path: Path) -> None:
    """Each sample in its own namespace: all become Ready (with Ray's real probes), except the
    TPU one, whose status says why its workers cannot be scheduled; a resync then writes nothing."""
    async with running_env(
        tmp_path, probes=True, nodes=4, node_cpu="64", node_memory="512Gi", node_gpus=8
    ) as env:
        clusters: dict[str, tuple[str, str]] = {}
        for sample in SAMPLES:
            namespace = sample.stem.replace(".", "-")
            await env.user.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
            for obj in load_manifests([sample]):
                obj["metadata"]["namespace"] = namespace
                try:
                    await env.user.apply(obj)
                except NotFound:
                    # e.g. the KAI scheduler's Queue kind: not installed here, not rayop's.
                    assert obj["kind"] != "RayCluster"
                if obj["kind"] == "RayCluster":
                    clusters[sample.stem] = (namespace, obj["metadata"]["name"])
        assert len(clusters) == len(SAMPLES)

        async def status(stem: str) -> dict[str, Any]:
            namespace, name = clusters[stem]
            cluster = await env.user.get("ray.io/v1", "RayCluster", namespace, name)
            return dict(cluster.get("status") or {})

        async def all_ready() -> list[str] | None:
            waiting = [
                s for s in clusters if s != NEEDS_TPU and (await status(s)).get("state") != "ready"
            ]
            return None if waiting else ["ok"]

        await wait_for(all_ready, within=45, what="every schedulable sample to be ready")
        for stem in clusters:
            if stem != NEEDS_TPU:
                assert condition(await status(stem), "Ready")["status"] == "True", stem

        # Steady state: reconciling every sample again changes nothing, so nothing is written.
        before = await env.quiet(period=0.5)
        await env.reconciles(2)
        assert env.rayop_writes()[before:] == []

        tpu = await status(NEEDS_TPU)
        assert tpu["state"] == ""
        assert "cannot be scheduled" in tpu["reason"]
        assert "node affinity/selector" in tpu["reason"]
