"""Loading the cluster configuration the way `rayop run` does, against a live kubesim."""

from __future__ import annotations

from pathlib import Path

import yaml

from controller.kube import KubeClient, load_api_client
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
