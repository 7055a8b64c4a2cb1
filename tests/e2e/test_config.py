"""Loading the cluster configuration the way `rayop run` does, against a live kubesim."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from controller.operator import Operator, OperatorOptions, PreflightError
from kubesim import KubeSim


def _two_contexts(source: Path, target: Path) -> tuple[str, str]:
    """Copy ``source`` adding a dead context made current; return (live context, file text)."""
    config = yaml.safe_load(source.read_text())
    config["clusters"].append({"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}})
    config["contexts"].append({"name": "gone", "context": {"cluster": "gone", "user": "kubesim"}})
    live = str(config["current-context"])
    config["current-context"] = "gone"
    target.write_text(yaml.safe_dump(config))
    return live, target.read_text()


async def test_context_flag_picks_the_named_context(sim: KubeSim, tmp_path: Path) -> None:
    """With a current-context pointing nowhere, --context selects the working one, and the
    user's kubeconfig is never rewritten."""
    path = tmp_path / "two-contexts.yaml"
    live, before = _two_contexts(Path(sim.kubeconfig_path), path)
    client = KubeClient(await load_api_client(kubeconfig=str(path), context=live))
    try:
        namespaces = await client.list("v1", "Namespace")
    finally:
        await client.close()
    assert "default" in {ns["metadata"]["name"] for ns in namespaces}
    assert _read(path) == before


def _read(path: Path) -> str:
    return path.read_text()


async def test_missing_crd_is_a_clear_error_before_anything_starts(sim: KubeSim) -> None:
    """Without the RayCluster CRD, the operator says how to install it instead of retrying forever."""
    operator = Operator(
        await load_api_client(kubeconfig=str(sim.kubeconfig_path)),
        OperatorOptions(health_addr="0", metrics_addr="0"),
    )
    with pytest.raises(
        PreflightError,
        match=r"CRD .* is not installed; install it with: kubectl apply -f manifests/crd/",
    ):
        await operator.run()


async def test_unreachable_api_server_is_a_clear_error(sim: KubeSim, tmp_path: Path) -> None:
    """A kubeconfig pointing at nothing fails fast with 'cannot reach the API server'."""
    path = tmp_path / "dead.yaml"
    live, _ = _two_contexts(Path(sim.kubeconfig_path), path)
    operator = Operator(
        await load_api_client(kubeconfig=str(path)),
        OperatorOptions(health_addr="0", metrics_addr="0"),
    )
    with pytest.raises(PreflightError, match="cannot reach the API server"):
        await operator.run()
    assert live  # the dead context was the current one


async def test_a_failed_task_stops_the_operator_with_its_own_error(sim: KubeSim) -> None:
    """If the caches cannot sync in time, run() raises that error itself (not a task group)."""
    user = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)))
    for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
        await user.apply(crd)
    await user.close()
    operator = Operator(
        await load_api_client(kubeconfig=str(sim.kubeconfig_path)),
        OperatorOptions(health_addr="0", metrics_addr="0", sync_timeout=0.0),
    )
    with pytest.raises(RuntimeError, match=r"caches did not sync within 0\.0 s"):
        await operator.run()
