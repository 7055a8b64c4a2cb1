"""CEL transition rules (`oldSelf`) and validation ratcheting on updates, patches and applies.

Upstream evaluates a rule that uses `oldSelf` only where the stored object has a value that
correlates with the new one (object fields by name, map-list items by key), and turns errors
about values an update did not change into warnings (CRDValidationRatcheting, GA in 1.33).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesim import KubeSim
from kubesim.apiserver.errors import StatusError

pytest.importorskip("celpy", reason="CEL rules are evaluated with cel-python (the dev extra)")

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GADGETS = "/apis/example.com/v1/namespaces/default/gadgets"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"
RAYCLUSTER_CRD = Path(__file__).parents[3] / "manifests" / "crd" / "ray.io_rayclusters.yaml"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "zone": {
                    "type": "string",
                    "x-kubernetes-validations": [
                        {"rule": "self == oldSelf", "message": "zone is immutable"}
                    ],
                },
                "size": {
                    "type": "integer",
                    "x-kubernetes-validations": [
                        {
                            "rule": "!oldSelf.hasValue() || self >= oldSelf.value()",
                            "optionalOldSelf": True,
                            "message": "size may only grow",
                        },
                        {"rule": "self <= 10", "message": "size is at most 10"},
                    ],
                },
                "label": {"type": "string"},
                "pools": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["id"],
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "disk": {
                                "type": "string",
                                "x-kubernetes-validations": [
                                    {"rule": "self == oldSelf", "message": "disk is immutable"}
                                ],
                            },
                        },
                    },
                },
            },
        }
    },
}
#: SCHEMA with `label` limited to 3 characters.
SCHEMA_TIGHT = copy.deepcopy(SCHEMA)
SCHEMA_TIGHT["properties"]["spec"]["properties"]["label"]["maxLength"] = 3


def crd(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def gadget(name: str = "g", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
async def gadgets(raw: Any) -> Any:
    code, body, _ = await raw.post(CRDS, crd(SCHEMA))
    assert code == 201, body
    return raw


async def test_transition_rule_refuses_a_change_on_update_patch_and_apply(gadgets: Any) -> None:
    """`self == oldSelf` passes on create and on unchanged updates, and refuses a change by any verb."""
    code, created, _ = await gadgets.post(GADGETS, gadget(zone="a", size=1))
    assert code == 201, created
    code, err, _ = await gadgets.patch(f"{GADGETS}/g", {"spec": {"zone": "b"}}, MERGE)
    assert (code, err["details"]["causes"][0]["field"]) == (422, "spec.zone")
    assert "zone is immutable" in err["message"]
    changed = copy.deepcopy(created)
    changed["spec"]["zone"] = "b"
    code, err, _ = await gadgets.put(f"{GADGETS}/g", changed)
    assert code == 422, err
    code, err, _ = await gadgets.patch(
        f"{GADGETS}/g?fieldManager=t&force=true", gadget(zone="b", size=1), APPLY
    )
    assert code == 422, err
    code, ok, _ = await gadgets.patch(f"{GADGETS}/g", {"spec": {"size": 2}}, MERGE)
    assert (code, ok["spec"]["zone"]) == (200, "a")


async def test_optional_old_self_runs_on_create_and_update(gadgets: Any) -> None:
    """A rule with optionalOldSelf sees no old value on create and the stored one on update."""
    code, _, _ = await gadgets.post(GADGETS, gadget(size=5))
    assert code == 201
    code, err, _ = await gadgets.patch(f"{GADGETS}/g", {"spec": {"size": 4}}, MERGE)
    assert code == 422
    assert "size may only grow" in err["message"]


async def test_map_list_items_correlate_by_key(gadgets: Any) -> None:
    """Items of a map list correlate by key: a changed disk is refused, a new item is free."""
    pools = [{"id": "p1", "disk": "ssd"}]
    code, _, _ = await gadgets.post(GADGETS, gadget(pools=pools))
    assert code == 201
    reordered = [{"id": "p0", "disk": "hdd"}, {"id": "p1", "disk": "ssd"}]
    code, body, _ = await gadgets.patch(f"{GADGETS}/g", {"spec": {"pools": reordered}}, MERGE)
    assert code == 200, body
    changed = [{"id": "p0", "disk": "hdd"}, {"id": "p1", "disk": "nvme"}]
    code, err, _ = await gadgets.patch(f"{GADGETS}/g", {"spec": {"pools": changed}}, MERGE)
    assert (code, err["details"]["causes"][0]["field"]) == (422, "spec.pools[1].disk")


async def test_errors_on_unchanged_values_are_ratcheted_to_warnings(gadgets: Any) -> None:
    """After a schema tightens, an object with an old bad value still updates (with a warning);
    changing the bad value to another bad one is refused."""
    code, _, _ = await gadgets.post(GADGETS, gadget(size=12, label="x"))
    assert code == 422  # the rule holds on create
    loose = copy.deepcopy(SCHEMA)
    loose["properties"]["spec"]["properties"]["size"]["x-kubernetes-validations"].pop()
    loose["properties"]["spec"]["properties"]["label"]["maxLength"] = 100
    code, stored, _ = await gadgets.get(f"{CRDS}/gadgets.example.com")
    stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = loose
    code, stored, _ = await gadgets.put(f"{CRDS}/gadgets.example.com", stored)
    assert code == 200, stored
    code, _, _ = await gadgets.post(GADGETS, gadget(size=12, label="long-name"))
    assert code == 201
    stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = SCHEMA_TIGHT
    code, body, _ = await gadgets.put(f"{CRDS}/gadgets.example.com", stored)
    assert code == 200, body
    code, body, resp = await gadgets.patch(f"{GADGETS}/g", {"spec": {"zone": "a"}}, MERGE)
    assert code == 200, body
    warnings = resp.headers.getall("Warning", [])
    assert any("size is at most 10" in w for w in warnings), warnings
    assert any("spec.label" in w for w in warnings), warnings
    code, err, _ = await gadgets.patch(f"{GADGETS}/g", {"spec": {"size": 13}}, MERGE)
    assert code == 422
    assert "size is at most 10" in err["message"]
    code, err, _ = await gadgets.patch(f"{GADGETS}/g", {"spec": {"label": "still-too-long"}}, MERGE)
    assert (code, err["details"]["causes"][0]["field"]) == (422, "spec.label")


async def test_rayclusters_managed_by_is_immutable() -> None:
    """The RayCluster CRD's own transition rule: managedBy cannot change once set."""
    async with KubeSim(controllers=False) as sim:
        sim.cluster.create(
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
            yaml.safe_load(RAYCLUSTER_CRD.read_text()),
        )
        cluster = {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "rc"},
            "spec": {
                "managedBy": "ray.io/kuberay-operator",
                "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}},
            },
        }  # fmt: skip
        sim.cluster.create("rayclusters.ray.io", "default", cluster)
        with pytest.raises(StatusError) as caught:
            sim.cluster.patch(
                "rayclusters.ray.io",
                "default",
                "rc",
                {"spec": {"managedBy": "kueue.x-k8s.io/multikueue"}},
                patch_type="merge",
            )
        assert caught.value.code == 422
        assert "managedBy is immutable" in caught.value.message
