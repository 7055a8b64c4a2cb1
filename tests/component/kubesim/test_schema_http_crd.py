"""Custom resources over real HTTP: structural pruning, defaults, 422s, tables, kubectl apply."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import KubeSim

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string"},
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"size": {"type": "integer", "default": 3}},
                    },
                },
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {
            "type": "object",
            "properties": {
                "ready": {"type": "integer"},
                "conditions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"type": {"type": "string"}, "status": {"type": "string"}},
                    },
                },
            },
        },
    },
}

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": SCHEMA},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                    },
                    {"name": "Mode", "type": "string", "jsonPath": ".spec.mode", "priority": 1},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }
        ],
    },
}


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"image": "busybox", **spec},
    }


async def install_crd(api_client: client.ApiClient) -> client.CustomObjectsApi:
    await client.ApiextensionsV1Api(api_client).create_custom_resource_definition(body=CRD)
    return client.CustomObjectsApi(api_client)


async def test_custom_resource_is_pruned_and_defaulted(api_client: client.ApiClient) -> None:
    """Unknown fields vanish and defaults appear, also inside list items, on the object stored."""
    widgets = await install_crd(api_client)
    body = widget("w1", bogus=True, groups=[{}, {"size": 5, "extra": 1}], config={"free": {"x": 1}})
    created = await widgets.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", body
    )
    assert created["spec"] == {
        "image": "busybox",
        "replicas": 1,
        "mode": "fast",
        "groups": [{"size": 3}, {"size": 5}],
        "config": {"free": {"x": 1}},
    }
    read = await widgets.get_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", "w1"
    )
    assert read["spec"] == created["spec"]


async def test_schema_violations_are_422_with_field_causes(api_client: client.ApiClient) -> None:
    """Wrong types, enum values and missing required fields give one 422 naming every field."""
    widgets = await install_crd(api_client)
    body = widget("w2", replicas="two", mode="medium")
    del body["spec"]["image"]
    with pytest.raises(ApiException) as caught:
        await widgets.create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", body
        )
    assert caught.value.status == 422
    status = json.loads(caught.value.body)
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'Widget.example.com "w2" is invalid: ['
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string", '
        'spec.mode: Unsupported value: "medium": supported values: "fast", "slow", '
        "spec.image: Required value]"
    )
    assert [(c["reason"], c["field"]) for c in status["details"]["causes"]] == [
        ("FieldValueTypeInvalid", "spec.replicas"),
        ("FieldValueNotSupported", "spec.mode"),
        ("FieldValueRequired", "spec.image"),
    ]


async def test_invalid_crd_is_rejected(api_client: client.ApiClient) -> None:
    """A CRD without a storage version or with an untyped field is refused with 422."""
    bad = json.loads(json.dumps(CRD))
    bad["spec"]["versions"][0]["storage"] = False
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "x"
    ] = {}
    with pytest.raises(ApiException) as caught:
        await client.ApiextensionsV1Api(api_client).create_custom_resource_definition(body=bad)
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    assert message.startswith(
        'CustomResourceDefinition.apiextensions.k8s.io "widgets.example.com" is invalid: ['
    )
    assert "must have exactly one version marked as storage version" in message
    assert (
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].type: "
        "Required value: must not be empty for specified object fields"
    ) in message


# ---------------------------------------------------------------- kubectl


async def kubectl(sim: KubeSim, cache: Path, *args: str) -> tuple[int, str, str]:
    """Run the real kubectl against `sim` without blocking the event loop that serves it."""
    process = await asyncio.create_subprocess_exec(
        "kubectl",
        f"--kubeconfig={sim.kubeconfig_path}",
        f"--cache-dir={cache}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not installed"
)


@pytest.mark.kubectl
@needs_kubectl
async def test_kubectl_get_shows_crd_printer_columns(
    sim: KubeSim, api_client: client.ApiClient, tmp_path: Path
) -> None:
    """`kubectl get` prints the CRD's columns (wide adds priority 1) with the condition filter applied."""
    widgets = await install_crd(api_client)
    await widgets.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", widget("w3", replicas=2)
    )
    await widgets.patch_namespaced_custom_object_status(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w3",
        {
            "status": {
                "conditions": [
                    {"type": "Other", "status": "False"},
                    {"type": "Ready", "status": "True"},
                ]
            }
        },
        _content_type="application/merge-patch+json",
    )
    code, out, err = await kubectl(sim, tmp_path, "get", "wd")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["NAME", "REPLICAS", "READY", "AGE"]
    assert row.split()[:3] == ["w3", "2", "True"]
    assert row.split()[3].endswith("s")
    code, out, err = await kubectl(sim, tmp_path, "get", "widgets", "-o", "wide")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["NAME", "REPLICAS", "READY", "MODE", "AGE"]
    assert out.splitlines()[1].split()[3] == "fast"


@pytest.mark.kubectl
@needs_kubectl
async def test_kubectl_apply_with_default_validation(
    sim: KubeSim, api_client: client.ApiClient, tmp_path: Path
) -> None:
    """create -f, apply -f and apply --server-side pass kubectl's default (strict) validation."""
    await install_crd(api_client)
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
            },
        },
    }
    manifests = tmp_path / "m"
    manifests.mkdir()
    (manifests / "sts.yaml").write_text(yaml.safe_dump(sts))
    (manifests / "w.yaml").write_text(yaml.safe_dump(widget("w4")))
    (manifests / "w5.yaml").write_text(yaml.safe_dump(widget("w5")))
    cache = tmp_path / "cache"
    code, out, err = await kubectl(sim, cache, "create", "-f", str(manifests / "w5.yaml"))
    assert (code, out.strip()) == (0, "widget.example.com/w5 created"), err
    code, out, err = await kubectl(sim, cache, "apply", "-f", str(manifests / "sts.yaml"))
    assert (code, out.strip()) == (0, "statefulset.apps/web created"), err
    code, out, err = await kubectl(sim, cache, "apply", "-f", str(manifests / "w.yaml"))
    assert (code, out.strip()) == (0, "widget.example.com/w4 created"), err
    code, out, err = await kubectl(
        sim, cache, "apply", "--server-side", "-f", str(manifests / "sts.yaml")
    )
    assert code == 0, err
    stored = await client.AppsV1Api(api_client).read_namespaced_stateful_set("web", "default")
    assert stored.spec.update_strategy.type == "RollingUpdate"
    assert stored.spec.update_strategy.rolling_update.partition == 0
    assert stored.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"


@pytest.mark.kubectl
@needs_kubectl
async def test_kubectl_explain_reads_served_schemas(
    sim: KubeSim, api_client: client.ApiClient, tmp_path: Path
) -> None:
    """`kubectl explain` finds CRD fields and built-in fields in /openapi/v3."""
    await install_crd(api_client)
    code, out, err = await kubectl(sim, tmp_path, "explain", "widgets.spec.mode")
    assert code == 0, err
    assert "KIND:       Widget" in out
    assert "FIELD: mode <string>" in out
    code, out, err = await kubectl(sim, tmp_path, "explain", "statefulset.spec.podManagementPolicy")
    assert code == 0, err
    assert "FIELD: podManagementPolicy <string>" in out
    assert "OrderedReady" in out
