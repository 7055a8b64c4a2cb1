"""Server-side apply and the other patch types over HTTP, driven with kubernetes-asyncio."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

APPLY = "application/apply-patch+yaml"
NS = "default"


def _sts(replicas: int = 1, image: str = "nginx:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": NS, "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "c", "image": image, "ports": [{"containerPort": 80}]}]
                },
            },
        },
    }


async def _apply(
    apps: client.AppsV1Api, body: dict[str, Any], manager: str, *, force: bool = False
) -> tuple[Any, int]:
    obj, status, _ = await apps.patch_namespaced_stateful_set_with_http_info(
        "web", NS, body, field_manager=manager, force=force, _content_type=APPLY
    )
    return obj, status


async def test_apply_creates_with_201_and_reapply_is_a_no_op(api_client: client.ApiClient) -> None:
    """The first apply answers 201 with an Apply entry; the same apply again keeps the resourceVersion."""
    apps = client.AppsV1Api(api_client)
    created, status = await _apply(apps, _sts(), "rayop", force=True)
    assert status == 201
    entries = created.metadata.managed_fields
    assert [(e.manager, e.operation, e.api_version, e.fields_type) for e in entries] == [
        ("rayop", "Apply", "apps/v1", "FieldsV1")
    ]
    again, status = await _apply(apps, _sts(), "rayop", force=True)
    assert status == 200
    assert again.metadata.resource_version == created.metadata.resource_version


async def test_update_manager_conflict_is_a_409_with_field_manager_conflict_causes(
    api_client: client.ApiClient,
) -> None:
    """After another manager changes replicas, a non-forced apply of a new value gets the real 409 body."""
    apps = client.AppsV1Api(api_client)
    await _apply(apps, _sts(), "rayop", force=True)
    await apps.patch_namespaced_stateful_set(
        "web",
        NS,
        {"spec": {"replicas": 3}},
        field_manager="kube-controller-manager",
        _content_type="application/merge-patch+json",
    )
    with pytest.raises(ApiException) as info:
        await _apply(apps, _sts(replicas=2), "rayop")
    assert info.value.status == 409
    body = json.loads(info.value.body)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "kube-controller-manager" using apps/v1: .spec.replicas'
    )
    assert [c["field"] for c in body["details"]["causes"]] == [".spec.replicas"]
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kube-controller-manager" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


async def test_forced_apply_takes_the_field_back(api_client: client.ApiClient) -> None:
    """force=True wins the conflict and the other manager's entry disappears."""
    apps = client.AppsV1Api(api_client)
    await _apply(apps, _sts(), "rayop", force=True)
    await apps.patch_namespaced_stateful_set(
        "web",
        NS,
        {"spec": {"replicas": 3}},
        field_manager="kube-controller-manager",
        _content_type="application/merge-patch+json",
    )
    obj, _ = await _apply(apps, _sts(replicas=2), "rayop", force=True)
    assert obj.spec.replicas == 2
    assert [e.manager for e in obj.metadata.managed_fields] == ["rayop"]


async def test_dropped_container_is_pruned_and_foreign_container_kept(
    api_client: client.ApiClient,
) -> None:
    """Containers merge by name: the applier's dropped container goes, a strategic-patch sidecar stays."""
    apps = client.AppsV1Api(api_client)
    body = _sts()
    body["spec"]["template"]["spec"]["containers"].append({"name": "old", "image": "busybox"})
    await _apply(apps, body, "rayop", force=True)
    await apps.patch_namespaced_stateful_set(
        "web",
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "proxy"}]}}}},
        field_manager="injector",
    )
    obj, _ = await _apply(apps, _sts(), "rayop", force=True)
    assert [c.name for c in obj.spec.template.spec.containers] == ["c", "sidecar"]


async def test_strategic_merge_is_the_default_for_dict_bodies_on_built_ins(
    api_client: client.ApiClient,
) -> None:
    """kubernetes-asyncio sends a dict as a strategic merge patch; env merges by name."""
    apps = client.AppsV1Api(api_client)
    body = _sts()
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    await _apply(apps, body, "rayop", force=True)
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}
            }
        }
    }
    obj = await apps.patch_namespaced_stateful_set("web", NS, patch)
    assert [(e.name, e.value) for e in obj.spec.template.spec.containers[0].env] == [
        ("A", "1"),
        ("B", "2"),
    ]


async def test_json_patch_replace_of_a_missing_key_succeeds(api_client: client.ApiClient) -> None:
    """A list body is a JSON patch; replacing an absent key sets it, a failed test is 422."""
    apps = client.AppsV1Api(api_client)
    await _apply(apps, _sts(), "rayop", force=True)
    obj = await apps.patch_namespaced_stateful_set(
        "web", NS, [{"op": "replace", "path": "/spec/minReadySeconds", "value": 5}]
    )
    assert obj.spec.min_ready_seconds == 5
    with pytest.raises(ApiException) as info:
        await apps.patch_namespaced_stateful_set(
            "web", NS, [{"op": "test", "path": "/spec/replicas", "value": 9}]
        )
    assert info.value.status == 422
    body = json.loads(info.value.body)
    assert (body["reason"], body["message"]) == (
        "Invalid",
        "the server rejected our request due to an error in our request",
    )


async def test_status_apply_has_its_own_entry(api_client: client.ApiClient) -> None:
    """An apply through /status is recorded with subresource status beside the spec entry."""
    apps = client.AppsV1Api(api_client)
    await _apply(apps, _sts(), "rayop", force=True)
    status_body = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "status": {"replicas": 0, "availableReplicas": 0},
    }
    await apps.patch_namespaced_stateful_set_status(
        "web", NS, status_body, field_manager="status-writer", force=True, _content_type=APPLY
    )
    obj = await apps.read_namespaced_stateful_set("web", NS)
    entries = {(e.manager, e.subresource or ""): e.fields_v1 for e in obj.metadata.managed_fields}
    assert set(entries) == {("rayop", ""), ("status-writer", "status")}
    assert "f:status" in entries[("status-writer", "status")]
    assert "f:status" not in entries[("rayop", "")]


async def test_apply_with_duplicate_env_names_is_the_real_servers_500(
    api_client: client.ApiClient,
) -> None:
    """Duplicate keys in an apply body are refused with structured-merge-diff's message and code 500."""
    apps = client.AppsV1Api(api_client)
    body = _sts()
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "FOO", "value": "1"},
        {"name": "FOO", "value": "2"},
    ]
    with pytest.raises(ApiException) as info:
        await _apply(apps, body, "rayop", force=True)
    assert info.value.status == 500
    status = json.loads(info.value.body)
    assert status["message"] == (
        "failed to create typed patch object (default/web; apps/v1, Kind=StatefulSet): "
        '.spec.template.spec.containers[name="c"].env: duplicate entries for key [name="FOO"]'
    )
    # The real server omits the empty reason; clients treat "" and absent alike.
    assert status.get("reason", "") == ""
