"""The /openapi/v3 root and group-version documents kubectl reads before create/apply."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kubesim.apiserver.openapi import OpenAPIResource, OpenAPIV3

POD = OpenAPIResource("", "v1", "Pod", "pods", namespaced=True, subresources=frozenset({"status"}))
NS = OpenAPIResource("", "v1", "Namespace", "namespaces", namespaced=False)
STS = OpenAPIResource(
    "apps", "v1", "StatefulSet", "statefulsets", True, subresources=frozenset({"status", "scale"})
)
RAY_SCHEMA = {"type": "object", "properties": {"spec": {"type": "object"}}}
RAY = SimpleNamespace(
    group="ray.io",
    version="v1",
    kind="RayCluster",
    plural="rayclusters",
    namespaced=True,
    subresources=frozenset({"status"}),
    extra={"schema": RAY_SCHEMA},
)


def supports_field_validation(doc: dict[str, Any], group: str, version: str, kind: str) -> bool:
    """kubectl's supportsQueryParamV3: a PATCH tagged with the GVK that takes fieldValidation."""
    for path in doc["paths"].values():
        patch = path.get("patch")
        if patch is None or patch.get("x-kubernetes-group-version-kind") != {
            "group": group,
            "version": version,
            "kind": kind,
        }:
            continue
        return any(p["name"] == "fieldValidation" for p in patch["parameters"])
    return False


def test_root_lists_every_group_version_with_a_hashed_url() -> None:
    """The root maps api/v1, apis/apps/v1 and CRD group-versions to hashed serverRelativeURLs."""
    api = OpenAPIV3([POD, NS, STS, RAY])
    paths = api.root()["paths"]
    assert sorted(paths) == ["api/v1", "apis/apps/v1", "apis/ray.io/v1"]
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    assert url.endswith(api.etag("apis/apps/v1") or "missing")


def test_documents_satisfy_kubectls_field_validation_check() -> None:
    """Every served GVK has a PATCH with fieldValidation, which is what kubectl looks for."""
    api = OpenAPIV3([POD, NS, STS, RAY])
    core = api.document("api/v1")
    assert core is not None
    assert core["openapi"] == "3.0.0"
    assert supports_field_validation(core, "", "v1", "Pod")
    assert supports_field_validation(core, "", "v1", "Namespace")
    apps = api.document("/openapi/v3/apis/apps/v1?hash=x")
    assert apps is not None
    assert supports_field_validation(apps, "apps", "v1", "StatefulSet")
    assert "/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/scale" in apps["paths"]
    ray = api.document("apis/ray.io/v1")
    assert ray is not None
    assert supports_field_validation(ray, "ray.io", "v1", "RayCluster")
    assert api.document("apis/nope/v1") is None


def test_patch_operations_do_not_offer_strategic_merge_bodies() -> None:
    """No PATCH declares a request body, so kubectl never builds SMP from these documents."""
    doc = OpenAPIV3([STS]).document("apis/apps/v1")
    assert doc is not None
    assert all("requestBody" not in p.get("patch", {}) for p in doc["paths"].values())


def test_crd_schema_is_served_with_its_gvk() -> None:
    """A CRD's openAPIV3Schema appears under components.schemas, tagged with its GVK."""
    doc = OpenAPIV3([RAY]).document("apis/ray.io/v1")
    assert doc is not None
    schema = doc["components"]["schemas"]["io.ray.v1.RayCluster"]
    assert schema["properties"] == RAY_SCHEMA["properties"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "ray.io", "version": "v1", "kind": "RayCluster"}
    ]
    assert "x-kubernetes-group-version-kind" not in RAY_SCHEMA


def test_set_resources_invalidates_cached_documents_and_hashes() -> None:
    """Changing a CRD changes its document and its hash; removing it removes the group-version."""
    api = OpenAPIV3([POD, RAY])
    before = api.root()["paths"]["apis/ray.io/v1"]["serverRelativeURL"]
    changed = SimpleNamespace(
        **{**vars(RAY), "extra": {"schema": {"type": "object", "properties": {}}}}
    )
    api.set_resources([POD, changed])
    assert api.root()["paths"]["apis/ray.io/v1"]["serverRelativeURL"] != before
    api.set_resources([POD])
    assert "apis/ray.io/v1" not in api.root()["paths"]
    assert api.document("apis/ray.io/v1") is None


def test_builtin_kinds_carry_their_schema_closure() -> None:
    """Built-in kinds get kubernetes-validate's definitions as OpenAPI v3, refs and all."""
    doc = OpenAPIV3([STS]).document("apis/apps/v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    sts = schemas["io.k8s.api.apps.v1.StatefulSet"]
    assert {"group": "apps", "version": "v1", "kind": "StatefulSet"} in sts[
        "x-kubernetes-group-version-kind"
    ]
    assert "enum" not in sts["properties"]["kind"]
    container = schemas["io.k8s.api.core.v1.Container"]
    assert container["properties"]["imagePullPolicy"]["type"] == "string"
    refs = [v["$ref"] for v in sts["properties"].values() if "$ref" in v]
    assert refs
    assert all(r.startswith("#/components/schemas/") and r.split("/")[-1] in schemas for r in refs)
