"""Apply and patches on RayClusters over HTTP (the project's CRD), as rayop and the Ray autoscaler use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
GROUP, VERSION, PLURAL, NS = "ray.io", "v1", "rayclusters", "default"
CRD = Path(__file__).resolve().parents[3] / "manifests" / "crd" / "ray.io_rayclusters.yaml"


def _raycluster(*groups: tuple[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc", "namespace": NS},
        "spec": {
            "rayVersion": "2.52.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.52.0"}]}
                },
            },
            "workerGroupSpecs": [
                {
                    "groupName": name,
                    "replicas": replicas,
                    "minReplicas": 0,
                    "maxReplicas": 10,
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [{"name": "ray-worker", "image": "rayproject/ray:2.52.0"}]
                        }
                    },
                }
                for name, replicas in groups
            ],
        },
    }


@pytest.fixture
async def crs(api_client: client.ApiClient) -> client.CustomObjectsApi:
    """The CustomObjectsApi of a kubesim that serves the project's RayCluster CRD."""
    crd = yaml.safe_load(CRD.read_text())
    await client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    return client.CustomObjectsApi(api_client)


async def _apply(
    crs: client.CustomObjectsApi, body: dict[str, Any], manager: str, *, force: bool = True
) -> dict[str, Any]:
    await crs.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "rc",
        body,
        field_manager=manager,
        force=force,
        _content_type=APPLY,
    )
    # kubernetes-asyncio maps only a 200 to a body, so a create-on-apply (201) returns None.
    out: dict[str, Any] = await crs.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "rc")
    return out


async def test_worker_groups_are_replaced_whole_and_owned_as_one_field(
    crs: client.CustomObjectsApi,
) -> None:
    """workerGroupSpecs has no list markers, so an apply replaces it and owns it as one field."""
    created = await _apply(crs, _raycluster(("small", 1), ("large", 0)), "rayop")
    entry = next(e for e in created["metadata"]["managedFields"] if e["manager"] == "rayop")
    assert entry["operation"] == "Apply"
    assert entry["fieldsV1"]["f:spec"]["f:workerGroupSpecs"] == {}
    out = await _apply(crs, _raycluster(("large", 2)), "rayop")
    assert [(g["groupName"], g["replicas"]) for g in out["spec"]["workerGroupSpecs"]] == [
        ("large", 2)
    ]


async def test_autoscaler_json_patches_apply_to_a_cluster_without_scale_strategy(
    crs: client.CustomObjectsApi,
) -> None:
    """The autoscaler's scale-down body (replace of the absent scaleStrategy) succeeds over HTTP."""
    await _apply(crs, _raycluster(("small", 2)), "rayop")
    ops = [
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1},
        {
            "op": "replace",
            "path": "/spec/workerGroupSpecs/0/scaleStrategy",
            "value": {"workersToDelete": ["rc-small-worker-abcde"]},
        },
    ]
    out = await crs.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "rc", ops, _content_type=JSON_PATCH
    )
    group = out["spec"]["workerGroupSpecs"][0]
    assert group["replicas"] == 1
    assert group["scaleStrategy"] == {"workersToDelete": ["rc-small-worker-abcde"]}


async def test_autoscaler_write_makes_rayops_next_unforced_apply_conflict(
    crs: client.CustomObjectsApi,
) -> None:
    """After the autoscaler's JSON patch owns the group list, an unforced apply of other replicas is a 409."""
    await _apply(crs, _raycluster(("small", 2)), "rayop")
    ops = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 5}]
    await crs.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "rc", ops, _content_type=JSON_PATCH
    )
    with pytest.raises(ApiException) as info:
        await _apply(crs, _raycluster(("small", 3)), "rayop", force=False)
    assert info.value.status == 409
    body = json.loads(info.value.body)
    assert body["details"]["causes"][0]["field"] == ".spec.workerGroupSpecs"


async def test_a_dict_body_with_the_default_content_type_is_400(
    crs: client.CustomObjectsApi,
) -> None:
    """kubernetes-asyncio sends a dict to a custom object as a JSON patch; the real server answers 400."""
    await _apply(crs, _raycluster(("small", 1)), "rayop")
    with pytest.raises(ApiException) as info:
        await crs.patch_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "rc", {"spec": {"suspend": True}}
        )
    assert info.value.status == 400
    assert json.loads(info.value.body)["message"] == (
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    )


async def test_status_apply_and_spec_apply_are_owned_separately(
    crs: client.CustomObjectsApi,
) -> None:
    """rayop's status apply through /status is its own entry and leaves spec ownership alone."""
    await _apply(crs, _raycluster(("small", 1)), "rayop")
    status = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc"},
        "status": {"state": "ready"},
    }
    out = await crs.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "rc",
        status,
        field_manager="rayop",
        force=True,
        _content_type=APPLY,
    )
    assert out["status"]["state"] == "ready"
    entries = {
        (e["manager"], e.get("subresource", "")): e["fieldsV1"]
        for e in out["metadata"]["managedFields"]
    }
    assert set(entries) == {("rayop", ""), ("rayop", "status")}
    assert "f:status" in entries[("rayop", "status")]
    assert "f:status" not in entries[("rayop", "")]
