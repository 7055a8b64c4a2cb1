"""The real kubectl against kubesim: the commands of the fidelity notes' §2.6 work as on a cluster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from kubesim import KubeSim

pytestmark = pytest.mark.kubectl

Kubectl = Callable[..., Awaitable[tuple[int, str, str]]]

STS_YAML = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 1
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx:1.27
"""


@pytest.fixture
def kubectl(sim: KubeSim, kubectl_for: Callable[[KubeSim], Kubectl]) -> Kubectl:
    """kubectl against the API-only `sim`."""
    return kubectl_for(sim)


async def test_apply_server_side_create_and_reapply(kubectl: Kubectl, sim: KubeSim) -> None:
    """apply --server-side creates (managed by "kubectl"), and re-applying the same file writes nothing."""
    code, out, err = await kubectl("apply", "--server-side", "-f", "-", stdin=STS_YAML)
    assert code == 0, err
    assert out.strip() == "statefulset.apps/web serverside-applied"
    sts = sim.cluster.get("statefulsets.apps", "default", "web")
    assert [(m["manager"], m["operation"]) for m in sts["metadata"]["managedFields"]] == [
        ("kubectl", "Apply")
    ]
    rv = sts["metadata"]["resourceVersion"]
    code, _, err = await kubectl("apply", "--server-side", "-f", "-", stdin=STS_YAML)
    assert code == 0, err
    assert (
        sim.cluster.get("statefulsets.apps", "default", "web")["metadata"]["resourceVersion"] == rv
    )


async def test_apply_conflict_after_scale(kubectl: Kubectl) -> None:
    """After `kubectl scale` takes spec.replicas, a non-forced apply of a different value conflicts."""
    await kubectl("apply", "--server-side", "-f", "-", stdin=STS_YAML)
    code, out, err = await kubectl("scale", "statefulset", "web", "--replicas=3")
    assert code == 0, err
    assert out.strip() == "statefulset.apps/web scaled"
    code, _, err = await kubectl("apply", "--server-side", "-f", "-", stdin=STS_YAML)
    assert code != 0
    assert "Apply failed with 1 conflict" in err
    assert ".spec.replicas" in err
    code, _, err = await kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=STS_YAML
    )
    assert code == 0, err


async def test_client_side_apply_and_create_with_validation(kubectl: Kubectl) -> None:
    """create -f and client-side apply -f pass kubectl's default (OpenAPI-backed) validation."""
    code, out, err = await kubectl("create", "-f", "-", stdin=STS_YAML)
    assert code == 0, err
    assert out.strip() == "statefulset.apps/web created"
    changed = STS_YAML.replace("nginx:1.27", "nginx:1.28")
    code, out, err = await kubectl("apply", "-f", "-", stdin=changed)
    assert code == 0, err
    assert "statefulset.apps/web configured" in out
    code, _, err = await kubectl(
        "apply", "-f", "-", stdin=STS_YAML.replace("replicas: 1", "replicas: one")
    )
    assert code != 0


async def test_get_table_json_and_wide(kubectl: Kubectl, sim: KubeSim, make: Any) -> None:
    """get prints the built-in pod columns; -o json returns the list; -A spans namespaces."""
    sim.cluster.create("pods", "default", make.pod("p1"))
    sim.cluster.create("pods", "kube-system", make.pod("p2"))
    code, out, err = await kubectl("get", "pods")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == ["p1", "0/1", "Pending", "0"]
    code, out, _ = await kubectl("get", "pods", "-A", "-o", "json")
    listed = json.loads(out)
    assert {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]} == {
        ("default", "p1"),
        ("kube-system", "p2"),
    }
    code, out, _ = await kubectl("get", "po", "p1", "-o", "wide")
    assert "NODE" in out.splitlines()[0]


async def test_get_watch_prints_new_rows(kubectl: Kubectl, sim: KubeSim, make: Any) -> None:
    """get -w prints the existing rows, then a row per change, in the same table columns."""

    async def later() -> None:
        await asyncio.sleep(0.5)
        sim.cluster.create("configmaps", "default", make.configmap("late"))

    sim.cluster.create("configmaps", "default", make.configmap("early"))
    task = asyncio.create_task(later())
    _code, out, _err = await kubectl("get", "configmaps", "-w", "--request-timeout=2s")
    await task
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["NAME", "DATA", "AGE"]
    assert [line[0] for line in lines[1:]] == ["early", "kube-root-ca.crt", "late"]


async def test_patch_each_type_and_label(kubectl: Kubectl, sim: KubeSim) -> None:
    """patch with strategic (default), merge and json types, and label, change the object as asked."""
    await kubectl("apply", "--server-side", "-f", "-", stdin=STS_YAML)
    code, out, err = await kubectl(
        "patch",
        "sts",
        "web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:2"}]}}}}',
    )
    assert code == 0, err
    assert out.strip() == "statefulset.apps/web patched"
    await kubectl(
        "patch", "sts", "web", "--type=merge", "-p", '{"metadata":{"annotations":{"a":"1"}}}'
    )
    await kubectl(
        "patch",
        "sts",
        "web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":2}]',
    )
    code, out, _ = await kubectl("label", "sts", "web", "tier=frontend")
    assert out.strip() == "statefulset.apps/web labeled"
    sts = sim.cluster.get("statefulsets.apps", "default", "web")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert sts["metadata"]["annotations"] == {"a": "1"}
    assert sts["spec"]["replicas"] == 2
    assert sts["metadata"]["labels"] == {"tier": "frontend"}
    managers = {m["manager"] for m in sts["metadata"]["managedFields"]}
    assert managers >= {"kubectl", "kubectl-patch", "kubectl-label"}


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
async def test_delete_with_each_cascade(
    kubectl: Kubectl, sim: KubeSim, make: Any, cascade: str
) -> None:
    """delete --cascade=... removes the owner; dependents go (background/foreground) or stay (orphan)."""
    owner = sim.cluster.create("configmaps", "default", make.configmap("owner"))
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    sim.cluster.create("configmaps", "default", make.configmap("dep", ownerReferences=[ref]))
    code, out, err = await kubectl("delete", "configmap", "owner", f"--cascade={cascade}")
    assert code == 0, err
    assert out.strip() == 'configmap "owner" deleted'
    await asyncio.sleep(0)
    names = [o["metadata"]["name"] for o in sim.cluster.list("configmaps", "default")[0]]
    root_ca = ["kube-root-ca.crt"]  # every namespace's
    assert names == (["dep", *root_ca] if cascade == "orphan" else root_ca)


async def test_describe_shows_events(kubectl: Kubectl, sim: KubeSim, make: Any) -> None:
    """describe pod finds the pod's events through the events resource's field selectors."""
    pod = sim.cluster.create("pods", "default", make.pod("p1"))
    event = {
        "metadata": {"name": "p1.1"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": "p1",
            "uid": pod["metadata"]["uid"],
            "apiVersion": "v1",
        },
        "reason": "Scheduled",
        "message": "Successfully assigned default/p1 to node-0",
        "type": "Normal",
        "source": {"component": "default-scheduler"},
        "count": 1,
        "firstTimestamp": pod["metadata"]["creationTimestamp"],
        "lastTimestamp": pod["metadata"]["creationTimestamp"],
    }
    sim.cluster.create("events", "default", event)
    code, out, err = await kubectl("describe", "pod", "p1")
    assert code == 0, err
    assert "Name:" in out
    assert "p1" in out
    assert "Successfully assigned default/p1 to node-0" in out


async def test_wait_for_condition_and_delete(kubectl: Kubectl, sim: KubeSim, make: Any) -> None:
    """wait --for=condition=Established on a CRD returns at once; wait --for=delete ends on DELETED."""
    sim.cluster.create("customresourcedefinitions.apiextensions.k8s.io", None, make.widget_crd())
    code, _, err = await kubectl(
        "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s"
    )
    assert code == 0, err
    sim.cluster.create("configmaps", "default", make.configmap("doomed", finalizers=["x/y"]))
    sim.cluster.delete("configmaps", "default", "doomed")

    async def release() -> None:
        await asyncio.sleep(0.3)
        sim.cluster.patch(
            "configmaps",
            "default",
            "doomed",
            {"metadata": {"finalizers": None}},
            patch_type="merge",
        )

    task = asyncio.create_task(release())
    code, _out, err = await kubectl("wait", "--for=delete", "configmap/doomed", "--timeout=10s")
    await task
    assert code == 0, err


async def test_custom_resources_by_short_name(kubectl: Kubectl, sim: KubeSim, make: Any) -> None:
    """After a CRD is created, kubectl resolves its short name and prints its printer columns."""
    sim.cluster.create("customresourcedefinitions.apiextensions.k8s.io", None, make.widget_crd())
    sim.cluster.create("widgets.example.com", "default", make.widget("w1", size="large"))
    code, out, err = await kubectl("get", "wd")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["NAME", "SIZE"]  # no Age unless the CRD lists it
    assert row.split()[:2] == ["w1", "large"]


async def test_protobuf_commands_fail_clearly(kubectl: Kubectl) -> None:
    """`kubectl create namespace` sends protobuf; kubesim's 415 tells the user what to run instead."""
    code, _, err = await kubectl("create", "namespace", "foo")
    assert code != 0
    assert "UnsupportedMediaType" in err
    assert "kubectl create -f" in err
    manifest = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}}
    )
    code, _out, err = await kubectl("create", "-f", "-", stdin=manifest)
    assert code == 0, err


async def test_discovery_explain_and_dry_run(kubectl: Kubectl, sim: KubeSim) -> None:
    """api-resources, explain (from /openapi/v3), annotate and a server dry run behave as on a cluster."""
    code, out, err = await kubectl("api-resources", "--api-group=apps")
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["statefulsets"][1:] == ["sts", "apps/v1", "true", "StatefulSet"]
    code, out, err = await kubectl("explain", "statefulset.spec.replicas")
    assert code == 0, err
    assert "FIELD: replicas <integer>" in out
    await kubectl("apply", "--server-side", "-f", "-", stdin=STS_YAML)
    rv = sim.cluster.get("statefulsets.apps", "default", "web")["metadata"]["resourceVersion"]
    code, out, err = await kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        "-",
        stdin=STS_YAML.replace("replicas: 1", "replicas: 4"),
    )
    assert code == 0, err
    assert out.strip() == "statefulset.apps/web serverside-applied (server dry run)"
    assert (
        sim.cluster.get("statefulsets.apps", "default", "web")["metadata"]["resourceVersion"] == rv
    )
    code, out, _ = await kubectl("annotate", "sts", "web", "note=hi")
    assert out.strip() == "statefulset.apps/web annotated"
    code, out, _ = await kubectl("get", "all")
    assert "statefulset.apps/web" in out


async def test_kubectl_reports_unknown_fields(kubectl: Kubectl) -> None:
    """A typo in a manifest fails `kubectl apply` (strict server-side field validation), as on a cluster."""
    typo = STS_YAML.replace("  serviceName: web", "  serviceName: web\n  replcias: 3")
    code, _, err = await kubectl("apply", "-f", "-", stdin=typo)
    assert code != 0
    assert 'strict decoding error: unknown field "spec.replcias"' in err
