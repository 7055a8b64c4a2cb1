"""Built-in objects come back as a real server's Go round trip leaves them: omitempty zeros gone."""

from __future__ import annotations

import json
from typing import Any

from kubernetes_asyncio import client

APPLY = "application/apply-patch+yaml"
NS = "default"


def _pod(**spec: Any) -> dict[str, Any]:
    container = {
        "name": "c",
        "image": "nginx:1.27",
        "env": [],
        "args": [],
        "stdin": False,
        "workingDir": "",
        "ports": [{"containerPort": 80, "hostPort": 0, "hostIP": ""}],
        "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": False, "subPath": ""}],
        "readinessProbe": {
            "tcpSocket": {"port": 80},
            "initialDelaySeconds": 0,
            "periodSeconds": 5,
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": NS,
            "finalizers": [],
            "labels": {},
            "annotations": {},
        },
        "spec": {
            "containers": [container],
            "volumes": [{"name": "v", "emptyDir": {}}],
            "hostNetwork": False,
            "nodeSelector": {},
            "tolerations": [],
            **spec,
        },
    }


async def _read_raw(core: client.CoreV1Api, name: str) -> dict[str, Any]:
    resp = await core.read_namespaced_pod(name, NS, _preload_content=False)
    data: dict[str, Any] = json.loads(await resp.read())
    return data


async def test_pod_zero_values_are_dropped(api_client: client.ApiClient) -> None:
    """env: [], hostNetwork: false, hostPort: 0, readOnly: false and the like are not stored."""
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_pod(NS, _pod())
    pod = await _read_raw(core, "p")
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert "hostNetwork" not in spec
    assert "nodeSelector" not in spec
    assert "finalizers" not in pod["metadata"]
    assert "labels" not in pod["metadata"]
    assert "annotations" not in pod["metadata"]
    for key in ("env", "args", "stdin", "workingDir"):
        assert key not in container, key
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    # (then the ServiceAccount token's mount, which admission adds)
    assert container["volumeMounts"][0] == {"name": "v", "mountPath": "/v"}
    assert "initialDelaySeconds" not in container["readinessProbe"]
    assert container["readinessProbe"]["periodSeconds"] == 5


async def test_pointer_and_required_zero_values_are_kept(api_client: client.ApiClient) -> None:
    """Pointer fields keep their zeros (automountServiceAccountToken: false, grace 0)."""
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_pod(
        NS, _pod(automountServiceAccountToken=False, terminationGracePeriodSeconds=0)
    )
    spec = (await _read_raw(core, "p"))["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["terminationGracePeriodSeconds"] == 0
    assert spec["securityContext"] == {}


async def test_dropped_zero_values_are_not_owned(api_client: client.ApiClient) -> None:
    """A create's managedFields do not list the fields its zero values were dropped from."""
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_pod(NS, _pod(), field_manager="maker")
    pod = await _read_raw(core, "p")
    (entry,) = [e for e in pod["metadata"]["managedFields"] if e["manager"] == "maker"]
    spec_fields = entry["fieldsV1"]["f:spec"]
    assert "f:hostNetwork" not in spec_fields
    assert "f:nodeSelector" not in spec_fields
    container_fields = spec_fields["f:containers"]['k:{"name":"c"}']
    assert "f:env" not in container_fields
    assert "f:image" in container_fields


async def test_service_zero_values_dropped_on_update(api_client: client.ApiClient) -> None:
    """A Service update with publishNotReadyAddresses: false and nodePort: 0 stores neither."""
    core = client.CoreV1Api(api_client)
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": NS},
        "spec": {"selector": {"app": "s"}, "ports": [{"port": 80}]},
    }
    created = await core.create_namespaced_service(NS, body)
    body["metadata"]["resourceVersion"] = created.metadata.resource_version
    body["spec"]["publishNotReadyAddresses"] = False
    body["spec"]["ports"] = [{"port": 80, "nodePort": 0, "name": ""}]
    await core.replace_namespaced_service("s", NS, body)
    resp = await core.read_namespaced_service("s", NS, _preload_content=False)
    spec = json.loads(await resp.read())["spec"]
    assert "publishNotReadyAddresses" not in spec
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]


async def test_statefulset_template_zero_values_dropped(api_client: client.ApiClient) -> None:
    """The pod template inside a StatefulSet is cleaned like a Pod; replicas: 0 (a pointer) stays."""
    apps = client.AppsV1Api(api_client)
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 0,
            "minReadySeconds": 0,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "env": []}]},
            },
        },
    }
    await apps.patch_namespaced_stateful_set(
        "web", NS, sts, field_manager="rayop", _content_type=APPLY
    )
    resp = await apps.read_namespaced_stateful_set("web", NS, _preload_content=False)
    spec = json.loads(await resp.read())["spec"]
    assert spec["replicas"] == 0
    assert "minReadySeconds" not in spec
    assert "env" not in spec["template"]["spec"]["containers"][0]
