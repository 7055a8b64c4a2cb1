"""Custom resources: serving a CRD, schema enforcement, subresources, versions, 415 for SMP."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
MERGE = "application/merge-patch+json"


async def install(raw: Any, crd: dict[str, Any]) -> dict[str, Any]:
    code, body, _ = await raw.post(CRDS, crd)
    assert code == 201, body
    return dict(body)


async def test_crd_is_established_and_served(raw: Any, make: Any) -> None:
    """A new CRD is Established at once and its resource appears in discovery."""
    crd = await install(raw, make.widget_crd())
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    code, resources, _ = await raw.get("/apis/example.com/v1")
    assert code == 200
    names = [r["name"] for r in resources["resources"]]
    assert names == ["widgets", "widgets/scale", "widgets/status"]
    code, body, _ = await raw.post(WIDGETS, make.widget("w1", replicas=1))
    assert code == 201
    assert body["metadata"]["generation"] == 1


async def test_pruning_defaulting_and_validation(raw: Any, make: Any) -> None:
    """Unknown fields are pruned (except under preserve-unknown-fields), defaults applied, bad values 422."""
    await install(raw, make.widget_crd())
    body = make.widget("w", replicas=2, unknown=True, free={"anything": {"goes": 1}})
    _, created, _ = await raw.post(WIDGETS, body)
    assert created["spec"] == {"replicas": 2, "size": "small", "free": {"anything": {"goes": 1}}}
    code, err, _ = await raw.post(WIDGETS, make.widget("bad", replicas="three", size="huge"))
    assert code == 422
    assert err["reason"] == "Invalid"
    fields = sorted(c["field"] for c in err["details"]["causes"])
    assert fields == ["spec.replicas", "spec.size"]
    assert err["message"].startswith('Widget.example.com "bad" is invalid: [')


async def test_cr_put_without_resource_version_is_422(raw: Any, make: Any) -> None:
    """Custom resources do not allow unconditional updates."""
    await install(raw, make.widget_crd())
    await raw.post(WIDGETS, make.widget("w"))
    code, err, _ = await raw.put(f"{WIDGETS}/w", make.widget("w", replicas=5))
    assert code == 422
    assert (
        err["message"]
        == 'widgets.example.com "w" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update'
    )


async def test_cr_status_subresource_and_generation(raw: Any, make: Any) -> None:
    """Status is dropped on create and via the main endpoint; /status changes only status; generation follows spec."""
    await install(raw, make.widget_crd())
    body = make.widget("w", replicas=1)
    body["status"] = {"phase": "Lying"}
    _, created, _ = await raw.post(WIDGETS, body)
    assert "status" not in created
    _, status, _ = await raw.patch(
        f"{WIDGETS}/w/status", {"status": {"phase": "Ready"}, "spec": {"replicas": 9}}, MERGE
    )
    assert status["status"] == {"phase": "Ready"}
    assert status["spec"]["replicas"] == 1
    assert status["metadata"]["generation"] == 1
    _, main, _ = await raw.patch(
        f"{WIDGETS}/w", {"status": {"phase": "X"}, "metadata": {"labels": {"a": "b"}}}, MERGE
    )
    assert main["status"] == {"phase": "Ready"}
    assert main["metadata"]["generation"] == 1
    _, spec, _ = await raw.patch(f"{WIDGETS}/w", {"spec": {"replicas": 2}}, MERGE)
    assert spec["metadata"]["generation"] == 2


async def test_cr_scale_subresource(raw: Any, make: Any) -> None:
    """A CRD's scale subresource maps replicas and the selector through its JSON paths."""
    await install(raw, make.widget_crd())
    await raw.post(WIDGETS, make.widget("w", replicas=1))
    await raw.patch(f"{WIDGETS}/w/status", {"status": {"replicas": 1, "selector": "app=w"}}, MERGE)
    code, scale, _ = await raw.patch(f"{WIDGETS}/w/scale", {"spec": {"replicas": 4}}, MERGE)
    assert code == 200
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"] == {
        "replicas": 1,
        "selector": "app=w",
    }
    _, got, _ = await raw.get(f"{WIDGETS}/w")
    assert got["spec"]["replicas"] == 4


async def test_strategic_merge_on_cr_is_415(raw: Any, make: Any) -> None:
    """Strategic merge patch is unsupported on custom resources (415 listing the accepted types)."""
    await install(raw, make.widget_crd())
    await raw.post(WIDGETS, make.widget("w"))
    code, err, _ = await raw.patch(
        f"{WIDGETS}/w", {"spec": {"replicas": 1}}, "application/strategic-merge-patch+json"
    )
    assert code == 415
    assert err["reason"] == "UnsupportedMediaType"
    assert err["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


async def test_custom_objects_api_default_patch_is_400(
    api_client: client.ApiClient, raw: Any, make: Any
) -> None:
    """kubernetes-asyncio sends a dict patch on custom objects as JSON patch: the real server answers 400."""
    await install(raw, make.widget_crd())
    api = client.CustomObjectsApi(api_client)
    await api.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", make.widget("w")
    )
    with pytest.raises(client.ApiException) as caught:
        await api.patch_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", "w", {"spec": {"replicas": 3}}
        )
    assert caught.value.status == 400
    patched = await api.patch_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"replicas": 3}},
        _content_type=MERGE,
    )
    assert patched["spec"]["replicas"] == 3


async def test_served_versions_share_objects(raw: Any, make: Any) -> None:
    """Every served version shows the same objects; only apiVersion differs (conversion None)."""
    await install(raw, make.widget_crd(versions=("v1", "v1beta1")))
    await raw.post(WIDGETS, make.widget("w", replicas=1))
    code, beta, _ = await raw.get("/apis/example.com/v1beta1/namespaces/default/widgets/w")
    assert code == 200
    assert beta["apiVersion"] == "example.com/v1beta1"
    assert beta["spec"]["replicas"] == 1
    code, group, _ = await raw.get("/apis/example.com")
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]


async def test_printer_columns_in_tables(raw: Any, make: Any) -> None:
    """kubectl's Table Accept on a CR list uses the CRD's additionalPrinterColumns."""
    await install(raw, make.widget_crd())
    await raw.post(WIDGETS, make.widget("w", size="large"))
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    code, table, _ = await raw.get(WIDGETS, headers=accept)
    assert code == 200
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert "Size" in names
    assert table["rows"][0]["cells"][names.index("Size")] == "large"


async def test_deleting_the_crd_removes_instances(raw: Any, make: Any) -> None:
    """Deleting a CRD deletes its objects and stops serving the resource."""
    await install(raw, make.widget_crd())
    await raw.post(WIDGETS, make.widget("w"))
    code, _, _ = await raw.delete(f"{CRDS}/widgets.example.com")
    assert code == 200
    for _ in range(5):
        code, _, _ = await raw.get(WIDGETS)
        if code == 404:
            break
    assert code == 404
    code, _, _ = await raw.get(f"{CRDS}/widgets.example.com")
    assert code == 404


async def test_invalid_crd_name_is_rejected(raw: Any, make: Any) -> None:
    """A CRD must be named <plural>.<group>."""
    crd = make.widget_crd()
    crd["metadata"]["name"] = "wrong.example.com"
    code, err, _ = await raw.post(CRDS, crd)
    assert code == 422
    assert 'must be spec.names.plural+"."+spec.group' in err["message"]


async def test_strict_field_validation_rejects_unknown_fields(raw: Any, make: Any) -> None:
    """With fieldValidation=Strict (kubectl's default) unknown fields are a 400, not silently pruned."""
    await install(raw, make.widget_crd())
    body = make.widget("w", replicas=1, replcias=2)
    code, err, _ = await raw.post(f"{WIDGETS}?fieldValidation=Strict", body)
    assert code == 400
    assert err["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.replcias"'
    )
    code, created, _ = await raw.post(f"{WIDGETS}?fieldValidation=Ignore", body)
    assert code == 201
    assert created["spec"] == {"replicas": 1, "size": "small"}
    code, err, _ = await raw.patch(
        f"{WIDGETS}/w?fieldValidation=Strict", {"spec": {"colour": "red"}}, MERGE
    )
    assert code == 400
    assert err["message"] == 'strict decoding error: unknown field "spec.colour"'


async def test_warn_field_validation_sends_warning_headers(raw: Any, make: Any) -> None:
    """fieldValidation=Warn accepts the object, drops unknown fields and warns in Warning headers."""
    await install(raw, make.widget_crd())
    code, created, resp = await raw.post(
        f"{WIDGETS}?fieldValidation=Warn", make.widget("w", replicas=1, replcias=2)
    )
    assert code == 201
    assert "replcias" not in created["spec"]
    assert resp.headers.getall("Warning") == ['299 - "unknown field \\"spec.replcias\\""']
    code, _, resp = await raw.post(
        "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
        {"metadata": {"name": "c"}, "dta": {}},
    )
    assert code == 201
    assert resp.headers.getall("Warning") == ['299 - "unknown field \\"dta\\""']
