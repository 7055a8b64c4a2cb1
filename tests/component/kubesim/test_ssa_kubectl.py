"""`kubectl apply --server-side` against kubesim: two managers, the conflict, and --force-conflicts."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from kubesim import KubeSim

pytestmark = pytest.mark.kubectl

MANIFEST = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: default
spec:
  replicas: {replicas}
  serviceName: web
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: c
        image: nginx:1
"""


async def _kubectl(sim: KubeSim, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed on this machine")
    process = await asyncio.create_subprocess_exec(
        kubectl,
        f"--kubeconfig={sim.kubeconfig_path}",
        f"--cache-dir={tmp_path / 'cache'}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_second_manager_conflicts_then_forces(sim: KubeSim, tmp_path: Path) -> None:
    """kubectl prints the real conflict message for a second manager and --force-conflicts moves ownership."""
    first, second = tmp_path / "one.yaml", tmp_path / "two.yaml"
    first.write_text(MANIFEST.format(replicas=1))
    second.write_text(MANIFEST.format(replicas=2))

    code, out, err = await _kubectl(
        sim, tmp_path, "apply", "--server-side", "--field-manager=alice", "-f", str(first)
    )
    assert (code, out.strip()) == (0, "statefulset.apps/web serverside-applied"), err

    code, out, err = await _kubectl(
        sim, tmp_path, "apply", "--server-side", "--field-manager=bob", "-f", str(second)
    )
    assert code == 1
    assert 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas' in err

    code, out, err = await _kubectl(
        sim,
        tmp_path,
        "apply",
        "--server-side",
        "--field-manager=bob",
        "--force-conflicts",
        "-f",
        str(second),
    )
    assert code == 0, err

    code, out, err = await _kubectl(
        sim,
        tmp_path,
        "get",
        "statefulset",
        "web",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    )
    assert code == 0, err
    obj = json.loads(out)
    assert obj["spec"]["replicas"] == 2
    owners = {e["manager"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"]}
    assert "f:replicas" in owners["bob"]["f:spec"]
    assert "f:replicas" not in owners["alice"]["f:spec"]


async def test_client_side_apply_updates_through_strategic_merge(
    sim: KubeSim, tmp_path: Path
) -> None:
    """A second client-side `kubectl apply` (a strategic merge patch with $setElementOrder) updates the container."""
    manifest = tmp_path / "sts.yaml"
    manifest.write_text(MANIFEST.format(replicas=1))
    code, out, err = await _kubectl(sim, tmp_path, "apply", "-f", str(manifest))
    assert code == 0, err
    manifest.write_text(MANIFEST.format(replicas=2).replace("nginx:1", "nginx:2"))
    code, out, err = await _kubectl(sim, tmp_path, "apply", "-f", str(manifest))
    assert (code, out.strip()) == (0, "statefulset.apps/web configured"), err
    code, out, err = await _kubectl(
        sim, tmp_path, "get", "statefulset", "web", "-n", "default", "-o", "json"
    )
    obj = json.loads(out)
    assert obj["spec"]["replicas"] == 2
    assert [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["nginx:2"]


async def test_failed_json_patch_prints_the_real_invalid_message(
    sim: KubeSim, tmp_path: Path
) -> None:
    """`kubectl patch --type=json` with a failing test op shows the real server's generic 422 text."""
    manifest = tmp_path / "sts.yaml"
    manifest.write_text(MANIFEST.format(replicas=1))
    code, _, err = await _kubectl(sim, tmp_path, "apply", "--server-side", "-f", str(manifest))
    assert code == 0, err
    ops = '[{"op":"test","path":"/spec/replicas","value":5}]'
    code, _, err = await _kubectl(
        sim, tmp_path, "patch", "statefulset", "web", "-n", "default", "--type=json", "-p", ops
    )
    assert code == 1
    assert (
        "The request is invalid: the server rejected our request due to an error in our request"
        in err
    )


async def test_switching_from_client_side_to_server_side_apply_does_not_conflict(
    sim: KubeSim, tmp_path: Path
) -> None:
    """`kubectl apply` then `kubectl apply --server-side` with a change succeeds, as on a real cluster."""
    manifest = tmp_path / "sts.yaml"
    manifest.write_text(MANIFEST.format(replicas=1))
    code, _, err = await _kubectl(sim, tmp_path, "apply", "-f", str(manifest))
    assert code == 0, err
    manifest.write_text(MANIFEST.format(replicas=3))
    code, out, err = await _kubectl(sim, tmp_path, "apply", "--server-side", "-f", str(manifest))
    assert (code, out.strip()) == (0, "statefulset.apps/web serverside-applied"), err
    code, out, err = await _kubectl(
        sim, tmp_path, "get", "statefulset", "web", "-n", "default", "-o", "json"
    )
    obj = json.loads(out)
    assert obj["spec"]["replicas"] == 3
    last_applied = json.loads(
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last_applied["spec"]["replicas"] == 3
