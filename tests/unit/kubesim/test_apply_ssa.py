"""Server-side apply: merge, managedFields, conflicts, force, prune, status, as a real server does."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubesim.apiserver.patching import ApplyConflict, PatchError, server_side_apply, track_update
from kubesim.apiserver.schemas import TypeSchema, builtin_schema, schema_from_openapi_v3

T0 = "2026-11-25T17:00:00Z"
T1 = "2026-11-25T17:00:01Z"
T2 = "2026-11-25T17:00:02Z"


def _schema() -> TypeSchema:
    schema = builtin_schema("apps/v1", "StatefulSet")
    assert schema is not None
    return schema


STS = _schema()

RAYCLUSTER = schema_from_openapi_v3(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "workerGroupSpecs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "groupName": {"type": "string"},
                                "replicas": {"type": "integer"},
                            },
                        },
                    }
                },
            },
            "status": {"type": "object", "properties": {"state": {"type": "string"}}},
        },
    }
)


def _config(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s1", "namespace": "default", "labels": {"app": "a"}},
        "spec": {
            "replicas": 1,
            "serviceName": "s1",
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }
    body["spec"].update(spec)
    return body


def _apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str = "rayop",
    *,
    force: bool = False,
    now: str = T0,
    subresource: str | None = None,
) -> dict[str, Any]:
    return server_side_apply(
        live, config, schema=STS, manager=manager, force=force, subresource=subresource, now=now
    )


def _update(old: dict[str, Any], change: Any, manager: str, now: str = T1) -> dict[str, Any]:
    new = copy.deepcopy(old)
    change(new)
    return track_update(old, new, schema=STS, manager=manager, subresource=None, now=now)


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = obj["metadata"].get("managedFields", [])
    return entries


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return containers


def _set_replicas(n: int) -> Any:
    def change(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = n

    return change


def test_create_on_apply_records_one_apply_entry_with_the_real_fields_v1() -> None:
    """Applying to a missing object yields the config plus one Apply entry shaped like the real server's."""
    out = _apply(None, _config())
    assert out["spec"] == _config()["spec"]
    assert _entries(out) == [
        {
            "manager": "rayop",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:serviceName": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"c"}': {
                                    ".": {},
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {
                                        'k:{"containerPort":80,"protocol":"TCP"}': {
                                            ".": {},
                                            "f:containerPort": {},
                                        }
                                    },
                                }
                            }
                        },
                    },
                },
            },
        }
    ]


def test_reapplying_the_same_config_is_a_no_op() -> None:
    """A second identical apply returns an equal object with the entry's time unchanged."""
    live = _apply(None, _config())
    again = _apply(live, _config(), now=T2)
    assert again == live


def test_apply_does_not_modify_its_inputs() -> None:
    """The live object and the config are left as they were."""
    config = _config()
    live = _apply(None, config)
    snapshot_live, snapshot_config = copy.deepcopy(live), copy.deepcopy(config)
    out = _apply(live, _config(replicas=5), now=T1)
    out["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    assert live == snapshot_live
    assert config == snapshot_config


def test_controller_update_steals_replicas_and_the_next_apply_conflicts() -> None:
    """A PUT by another manager takes spec.replicas; a non-forced apply of a new value is a 409."""
    live = _apply(None, _config())
    stolen = _update(live, _set_replicas(3), "kube-controller-manager")
    with pytest.raises(ApplyConflict) as info:
        _apply(stolen, _config(replicas=2), now=T2)
    assert info.value.message == (
        'Apply failed with 1 conflict: conflict with "kube-controller-manager" using apps/v1: .spec.replicas'
    )
    assert info.value.conflicts == [("kube-controller-manager", ".spec.replicas")]
    assert info.value.causes == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kube-controller-manager" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_reapplying_an_unchanged_config_after_a_steal_does_not_conflict() -> None:
    """Applying the value the field already has is not a change, so no conflict."""
    live = _apply(None, _config())
    stolen = _update(live, _set_replicas(3), "kube-controller-manager")
    out = _apply(stolen, _config(replicas=3), now=T2)
    assert out["spec"]["replicas"] == 3
    owners = {
        e["manager"] for e in _entries(out) if "f:replicas" in e["fieldsV1"].get("f:spec", {})
    }
    assert owners == {"rayop", "kube-controller-manager"}


def test_force_moves_ownership_to_the_applier() -> None:
    """With force the apply wins, and the other manager loses the field."""
    live = _apply(None, _config())
    stolen = _update(live, _set_replicas(3), "kube-controller-manager")
    out = _apply(stolen, _config(replicas=2), force=True, now=T2)
    assert out["spec"]["replicas"] == 2
    assert [e["manager"] for e in _entries(out)] == ["rayop"]
    assert "f:replicas" in _entries(out)[0]["fieldsV1"]["f:spec"]
    assert _entries(out)[0]["time"] == T2


def test_conflict_with_an_apply_manager_names_it_without_a_version() -> None:
    """An Apply manager is printed as just its name in the message and causes."""
    live = _apply(None, _config(), manager="kubectl")
    with pytest.raises(ApplyConflict) as info:
        _apply(live, _config(replicas=4), manager="rayop", now=T1)
    assert (
        info.value.message
        == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    )
    assert info.value.causes[0]["message"] == 'conflict with "kubectl"'


def test_several_conflicts_are_grouped_by_manager() -> None:
    """Several conflicting fields produce the multi-line message the real server sends."""
    live = _apply(None, _config(), manager="kubectl")
    config = _config(replicas=4)
    _containers(config)[0]["image"] = "nginx:2"
    with pytest.raises(ApplyConflict) as info:
        _apply(live, config, manager="rayop", now=T1)
    assert info.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="c"].image'
    )


def test_a_conflict_with_a_status_manager_names_the_subresource() -> None:
    """A manager that wrote through /status is printed with its subresource."""
    live = _apply(None, _config())
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 7
    owned = track_update(live, new, schema=STS, manager="scaler", subresource="scale", now=T1)
    with pytest.raises(ApplyConflict) as info:
        _apply(owned, _config(replicas=2), now=T2)
    assert (
        info.value.causes[0]["message"]
        == 'conflict with "scaler" with subresource "scale" using apps/v1'
    )


def test_fields_no_longer_applied_are_removed() -> None:
    """A label and a container the manager stops applying disappear from the object."""
    config = _config()
    _containers(config).append({"name": "sidecar", "image": "busybox"})
    config["metadata"]["labels"]["extra"] = "1"
    live = _apply(None, config)
    out = _apply(live, _config(), now=T1)
    assert out["metadata"]["labels"] == {"app": "a"}
    assert [c["name"] for c in _containers(out)] == ["c"]


def test_an_emptied_label_map_is_removed_entirely() -> None:
    """When no manager owns any label any more, the labels map goes too."""
    live = _apply(None, _config())
    config = _config()
    del config["metadata"]["labels"]
    out = _apply(live, config, now=T1)
    assert "labels" not in out["metadata"]


def test_fields_another_manager_owns_are_kept_when_the_applier_drops_them() -> None:
    """A field shared with another manager stays when one of its owners stops applying it."""
    live = _apply(None, _config(), manager="kubectl")
    shared = _apply(live, _config(), manager="rayop", now=T1)
    config = _config()
    del config["spec"]["replicas"]
    out = _apply(shared, config, manager="rayop", now=T2)
    assert out["spec"]["replicas"] == 1
    rayop = next(e for e in _entries(out) if e["manager"] == "rayop")
    assert "f:replicas" not in rayop["fieldsV1"]["f:spec"]


def test_containers_added_by_others_survive_an_apply() -> None:
    """Containers merge by name: an injected sidecar stays, the applier's container updates."""
    live = _apply(None, _config())

    def inject(obj: dict[str, Any]) -> None:
        _containers(obj).append({"name": "istio-proxy", "image": "proxy:1"})

    injected = _update(live, inject, "sidecar-injector")
    config = _config()
    _containers(config)[0]["image"] = "nginx:2"
    out = _apply(injected, config, now=T2)
    assert [(c["name"], c["image"]) for c in _containers(out)] == [
        ("c", "nginx:2"),
        ("istio-proxy", "proxy:1"),
    ]


def test_defaulted_fields_are_kept_and_keys_use_the_protocol_default() -> None:
    """Server defaults in the live object (protocol TCP) merge with a config that omits them."""
    live = _apply(None, _config())
    _containers(live)[0]["ports"][0]["protocol"] = "TCP"
    _containers(live)[0]["imagePullPolicy"] = "IfNotPresent"
    out = _apply(live, _config(), now=T1)
    assert out == live


def test_custom_resource_lists_without_markers_are_replaced_and_owned_whole() -> None:
    """An unmarked CR list is atomic: the applied list replaces it and is one owned field."""
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc"},
        "spec": {
            "workerGroupSpecs": [
                {"groupName": "a", "replicas": 1},
                {"groupName": "b", "replicas": 2},
            ]
        },
    }
    live = server_side_apply(
        None, body, schema=RAYCLUSTER, manager="user", force=False, subresource=None, now=T0
    )
    assert live["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {"f:workerGroupSpecs": {}}
    }
    body2 = copy.deepcopy(body)
    body2["spec"]["workerGroupSpecs"] = [{"groupName": "b", "replicas": 3}]
    out = server_side_apply(
        live, body2, schema=RAYCLUSTER, manager="user", force=False, subresource=None, now=T1
    )
    assert out["spec"]["workerGroupSpecs"] == [{"groupName": "b", "replicas": 3}]


def test_status_apply_is_tracked_separately_from_spec() -> None:
    """An apply through /status gets its own entry with subresource status and does not touch spec ownership."""
    body = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc"},
        "spec": {"workerGroupSpecs": []},
    }
    live = server_side_apply(
        None, body, schema=RAYCLUSTER, manager="rayop", force=True, subresource=None, now=T0
    )
    status = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc"},
        "status": {"state": "ready"},
    }
    out = server_side_apply(
        live, status, schema=RAYCLUSTER, manager="rayop", force=True, subresource="status", now=T1
    )
    assert out["status"] == {"state": "ready"}
    assert out["spec"] == {"workerGroupSpecs": []}
    assert [
        (e["manager"], e.get("subresource"), e["fieldsV1"])
        for e in out["metadata"]["managedFields"]
    ] == [
        ("rayop", None, {"f:spec": {"f:workerGroupSpecs": {}}}),
        ("rayop", "status", {"f:status": {"f:state": {}}}),
    ]


def test_finalizers_apply_as_a_set_with_value_elements() -> None:
    """metadata.finalizers items are owned one by one as v: elements."""
    config = _config()
    config["metadata"]["finalizers"] = ["ray.io/cleanup"]
    out = _apply(None, config)
    assert out["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"]["f:finalizers"] == {
        'v:"ray.io/cleanup"': {}
    }


def test_apply_of_an_empty_config_drops_the_managers_entry() -> None:
    """A manager that applies nothing owns nothing, so its entry disappears (and its fields are pruned)."""
    live = _apply(None, _config(), manager="kubectl")
    out = _apply(
        live,
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s1"}},
        manager="kubectl",
        now=T1,
    )
    assert "managedFields" not in out["metadata"]
    assert "spec" not in out or "replicas" not in out.get("spec", {})


def test_duplicate_keys_in_a_config_are_the_real_servers_500() -> None:
    """Duplicate env names and ports cannot be applied: a 500 worded like structured-merge-diff."""
    config = _config()
    container = _containers(config)[0]
    container["env"] = [{"name": "FOO", "value": "1"}, {"name": "FOO", "value": "2"}]
    container["ports"] = [{"containerPort": 93}, {"containerPort": 93, "name": "again"}]
    with pytest.raises(PatchError) as info:
        _apply(None, config)
    assert (info.value.code, info.value.reason) == (500, "")
    assert info.value.message == (
        "failed to create typed patch object (default/s1; apps/v1, Kind=StatefulSet): errors:\n"
        '  .spec.template.spec.containers[name="c"].env: duplicate entries for key [name="FOO"]\n'
        '  .spec.template.spec.containers[name="c"].ports: duplicate entries for key [containerPort=93,protocol="TCP"]'
    )


def test_an_item_without_its_key_cannot_be_applied() -> None:
    """A container without a name has no key: the apply is refused with the element's index."""
    config = _config()
    _containers(config).append({"image": "x"})
    with pytest.raises(PatchError) as info:
        _apply(None, config)
    assert info.value.message.endswith(
        ".spec.template.spec.containers: element 1: associative list with keys has an element "
        'that omits key field "name" (and doesn\'t have default value)'
    )


def test_live_objects_with_duplicates_are_tolerated() -> None:
    """Duplicates that a create or update stored do not break a later apply."""
    live = _apply(None, _config())
    _containers(live)[0]["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    out = _apply(live, _config(replicas=2), now=T1)
    assert out["spec"]["replicas"] == 2


def _client_side_applied() -> dict[str, Any]:
    """An object as client-side `kubectl apply` leaves it: the annotation, owned by kubectl-client-side-apply."""
    obj = _config()
    obj["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(_config(), sort_keys=True)
        + "\n"
    }
    return track_update(
        None, obj, schema=STS, manager="kubectl-client-side-apply", subresource=None, now=T0
    )


def test_kubectl_takes_over_client_side_applied_fields_without_conflict() -> None:
    """Switching to `kubectl apply --server-side` forgives conflicts on last-applied fields and refreshes the annotation."""
    live = _client_side_applied()
    out = _apply(live, _config(replicas=2), manager="kubectl", now=T1)
    assert out["spec"]["replicas"] == 2
    annotation = out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert annotation.endswith("\n")
    assert json.loads(annotation) == _config(replicas=2)
    owners = {e["manager"]: e["fieldsV1"] for e in out["metadata"]["managedFields"]}
    assert "f:replicas" in owners["kubectl"]["f:spec"]
    assert "f:replicas" not in owners["kubectl-client-side-apply"]["f:spec"]


def test_other_managers_still_conflict_with_client_side_apply() -> None:
    """Only the manager named kubectl gets the migration; others see the conflict."""
    live = _client_side_applied()
    with pytest.raises(ApplyConflict) as info:
        _apply(live, _config(replicas=2), manager="rayop", now=T1)
    assert info.value.conflicts == [("kubectl-client-side-apply", ".spec.replicas")]


def test_merged_list_order_follows_structured_merge_diff() -> None:
    """Shared items take the config's order and others' items keep their place (live a,b,c + config c,a → b,c,a)."""
    config = _config()
    _containers(config)[:] = [{"name": n, "image": "x"} for n in ("a", "b", "c")]
    live = _apply(None, config, manager="first")
    reordered = _config()
    _containers(reordered)[:] = [{"name": "c", "image": "x"}, {"name": "a", "image": "x"}]
    out = _apply(live, reordered, manager="second", now=T1)
    assert [c["name"] for c in _containers(out)] == ["b", "c", "a"]
    prepended = _config()
    _containers(prepended)[:] = [{"name": "d", "image": "x"}, {"name": "a", "image": "x"}]
    out = _apply(live, prepended, manager="second", now=T1)
    assert [c["name"] for c in _containers(out)] == ["d", "a", "b", "c"]


def test_service_ports_are_keyed_by_port_and_defaulted_protocol() -> None:
    """Service ports are owned per port+protocol, with protocol defaulting to TCP in the key."""
    schema = builtin_schema("v1", "Service")
    assert schema is not None
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "head", "namespace": "default"},
        "spec": {
            "ports": [{"port": 8265, "targetPort": "dashboard"}, {"port": 6379, "protocol": "TCP"}]
        },
    }
    out = server_side_apply(
        None, body, schema=schema, manager="rayop", force=True, subresource=None, now=T0
    )
    ports = out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"]
    assert ports == {
        'k:{"port":6379,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:protocol": {}},
        'k:{"port":8265,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:targetPort": {}},
    }
