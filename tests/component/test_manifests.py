"""The in-cluster install (`kubectl apply -k manifests/`) is valid and applies to a cluster.

kustomize itself comes with kubectl, which a user's fresh machine may lack, so the objects are
read here from the kustomization's own resource list (the only kustomize features it uses are
`resources`, `namespace` and `labels`); where kubectl exists, a test checks that both readings
agree and that `kubectl apply -k` works against kubesim.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_asyncio import client

from controller.kube import KubeClient
from kubesim import KubeSim

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def _kustomization_objects() -> list[dict[str, Any]]:
    """The objects `manifests/kustomization.yaml` produces, with its namespace and labels."""
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    namespace = kustomization["namespace"]
    labels: dict[str, str] = {}
    for entry in kustomization.get("labels", []):
        labels.update(entry["pairs"])
    objects = []
    for resource in kustomization["resources"]:
        for obj in yaml.safe_load_all((MANIFESTS / resource).read_text()):
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
            obj["metadata"].setdefault("labels", {}).update(labels)
            objects.append(obj)
    return objects


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.mark.parametrize(
    "obj", _kustomization_objects(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}"
)
def test_every_object_validates_against_the_kubernetes_schema(obj: dict[str, Any]) -> None:
    """Each installed object is valid for Kubernetes 1.32 with unknown fields rejected."""
    kubernetes_validate.validate(obj, "1.32", strict=True)


def test_the_operator_runs_restricted_with_two_replicas_and_leader_election() -> None:
    """The Deployment meets the restricted Pod Security Standard and elects a leader."""
    (deployment,) = _by_kind(_kustomization_objects(), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "--leader-elect" in container["args"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


async def test_the_install_applies_to_a_cluster(sim: KubeSim, api_client: client.ApiClient) -> None:
    """Every object of the install is accepted by the API server, CRD first, and then served."""
    kube = KubeClient(api_client, qps=0)
    objects = _kustomization_objects()
    objects.sort(key=lambda o: o["kind"] not in ("CustomResourceDefinition", "Namespace"))
    for obj in objects:
        stored = await kube.apply(obj)
        assert stored["metadata"]["uid"]
    deployment = await kube.get("apps/v1", "Deployment", "rayop-system", "rayop")
    assert deployment["metadata"]["labels"]["app.kubernetes.io/part-of"] == "rayop"
    rayclusters = await kube.list("ray.io/v1", "RayCluster")
    assert rayclusters == []


async def _kubectl(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.kubectl
async def test_kubectl_kustomize_agrees_and_apply_k_works(sim: KubeSim, tmp_path: Path) -> None:
    """`kubectl kustomize` yields the objects checked above; `kubectl apply --server-side -k` works."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    code, rendered, err = await _kubectl("kustomize", str(MANIFESTS))
    assert code == 0, err
    from_kubectl = sorted(
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", ""))
        for o in yaml.safe_load_all(rendered)
    )
    ours = sorted(
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", ""))
        for o in _kustomization_objects()
    )
    assert from_kubectl == ours

    code, out, err = await _kubectl(
        f"--kubeconfig={sim.kubeconfig_path}",
        f"--cache-dir={tmp_path}",
        "apply",
        "--server-side",
        "-k",
        str(MANIFESTS),
    )
    assert code == 0, err
    assert "deployment.apps/rayop serverside-applied" in out
    assert (
        "customresourcedefinition.apiextensions.k8s.io/rayclusters.ray.io serverside-applied" in out
    )
