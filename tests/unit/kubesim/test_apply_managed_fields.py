"""managedFields after non-apply writes (create, update, patch) and FieldsV1 encoding."""

from __future__ import annotations

import copy
from typing import Any

from kubesim.apiserver.patching import track_update
from kubesim.apiserver.patching.fieldsets import flatten, from_fields_v1, path_string, to_fields_v1
from kubesim.apiserver.schemas import TypeSchema, builtin_schema, schema_from_openapi_v3

T0 = "2026-11-25T17:00:00Z"
T1 = "2026-11-25T17:00:01Z"
T2 = "2026-11-25T17:00:02Z"


def _schema() -> TypeSchema:
    schema = builtin_schema("v1", "Pod")
    assert schema is not None
    return schema


POD = _schema()


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "default",
            "uid": "u1",
            "resourceVersion": "5",
            "labels": {"app": "a"},
        },
        "spec": {
            "containers": [{"name": "c", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]
        },
    }


def _write(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    now: str = T0,
    subresource: str | None = None,
) -> dict[str, Any]:
    return track_update(old, new, schema=POD, manager=manager, subresource=subresource, now=now)


def _by_manager(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e for e in obj["metadata"].get("managedFields", [])}


def test_create_gives_the_creator_every_field_it_set() -> None:
    """A POST records one Update entry owning what the body set, optional maps and lists as nodes."""
    out = _write(None, _pod(), "kubectl-create")
    assert out["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"c"}': {
                            ".": {},
                            "f:env": {
                                ".": {},
                                'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}},
                            },
                            "f:image": {},
                            "f:name": {},
                        }
                    }
                },
            },
        }
    ]


def test_a_second_manager_takes_only_what_it_changed() -> None:
    """An update by another manager owns the changed field; the creator loses just that one."""
    created = _write(None, _pod(), "creator")
    new = copy.deepcopy(created)
    new["spec"]["containers"][0]["image"] = "nginx:2"
    out = _write(created, new, "updater", T1)
    managers = _by_manager(out)
    assert managers["updater"]["fieldsV1"] == {
        "f:spec": {"f:containers": {'k:{"name":"c"}': {"f:image": {}}}}
    }
    assert (
        "f:image" not in managers["creator"]["fieldsV1"]["f:spec"]["f:containers"]['k:{"name":"c"}']
    )
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["creator", "updater"]


def test_consecutive_updates_by_one_manager_merge_into_one_entry() -> None:
    """The same manager writing twice keeps a single entry with the union and the latest time."""
    created = _write(None, _pod(), "creator")
    first = copy.deepcopy(created)
    first["metadata"]["labels"]["x"] = "1"
    one = _write(created, first, "labeler", T1)
    second = copy.deepcopy(one)
    second["metadata"]["labels"]["y"] = "2"
    two = _write(one, second, "labeler", T2)
    entry = _by_manager(two)["labeler"]
    assert entry["fieldsV1"] == {"f:metadata": {"f:labels": {"f:x": {}, "f:y": {}}}}
    assert entry["time"] == T2


def test_a_write_that_changes_nothing_leaves_entries_alone() -> None:
    """A no-op update adds no entry for its manager and keeps the others' times."""
    created = _write(None, _pod(), "creator")
    out = _write(created, copy.deepcopy(created), "idle", T1)
    assert out["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_a_manager_left_with_nothing_is_removed() -> None:
    """When another writer changes every field a manager owned, its entry disappears."""
    created = _write(None, _pod(), "creator")
    labeled = copy.deepcopy(created)
    labeled["metadata"]["labels"]["x"] = "1"
    one = _write(created, labeled, "labeler", T1)
    relabeled = copy.deepcopy(one)
    relabeled["metadata"]["labels"]["x"] = "2"
    out = _write(one, relabeled, "other", T2)
    assert "labeler" not in _by_manager(out)


def test_removed_fields_leave_every_owner() -> None:
    """Deleting a label takes it out of the set of whoever owned it."""
    created = _write(None, _pod(), "creator")
    new = copy.deepcopy(created)
    del new["metadata"]["labels"]
    out = _write(created, new, "remover", T1)
    assert "f:metadata" not in _by_manager(out)["creator"]["fieldsV1"]
    assert "remover" not in _by_manager(out)


def test_status_writes_are_recorded_with_their_subresource() -> None:
    """A status update is its own entry with subresource status."""
    created = _write(None, _pod(), "creator")
    new = copy.deepcopy(created)
    new["status"] = {"phase": "Running"}
    out = _write(created, new, "kubelet", T1, subresource="status")
    entry = _by_manager(out)["kubelet"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:phase": {}}}


def test_writing_a_single_empty_entry_resets_managed_fields() -> None:
    """managedFields: [{}] in an update clears the history; the writer then owns what it changed."""
    created = _write(None, _pod(), "creator")
    new = copy.deepcopy(created)
    new["metadata"]["managedFields"] = [{}]
    new["metadata"]["labels"]["x"] = "1"
    out = _write(created, new, "resetter", T1)
    assert list(_by_manager(out)) == ["resetter"]


def test_an_empty_list_does_not_reset_managed_fields() -> None:
    """managedFields: [] in an update keeps the live entries (clients unaware of the field)."""
    created = _write(None, _pod(), "creator")
    new = copy.deepcopy(created)
    new["metadata"]["managedFields"] = []
    out = _write(created, new, "someone", T1)
    assert out["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_identity_metadata_is_never_recorded() -> None:
    """name, namespace, uid, resourceVersion, apiVersion and kind are stripped from field sets."""
    paths = set(flatten(_pod(), POD))
    assert not {p for p in paths if p[0] in ("f:apiVersion", "f:kind")}
    assert ("f:metadata", "f:name") not in paths
    assert ("f:metadata", "f:uid") not in paths
    assert ("f:metadata", "f:labels", "f:app") in paths


def test_fields_v1_round_trips() -> None:
    """Decoding the encoding of a field set gives the same set back."""
    paths = set(flatten(_pod(), POD, containers=True))
    assert from_fields_v1(to_fields_v1(paths)) == paths


def test_conflict_paths_print_like_the_real_server() -> None:
    """Keys print as [k=v,...], set values as [=v], fields with a dot."""
    assert (
        path_string(("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"))
        == '.spec.containers[name="c"].image'
    )
    assert (
        path_string(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'))
        == '.spec.ports[port=80,protocol="TCP"]'
    )
    assert path_string(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'
    assert path_string(("f:spec", "f:args", "i:0")) == ".spec.args[0]"


def test_more_than_ten_update_managers_fold_into_ancient_changes() -> None:
    """The oldest Update managers merge into one ancient-changes entry, leaving ten."""
    obj = _write(None, _pod(), "creator", "2026-11-25T17:00:00Z")
    for n in range(11):
        new = copy.deepcopy(obj)
        new["metadata"]["labels"][f"l{n}"] = "x"
        obj = _write(obj, new, f"writer-{n:02d}", f"2026-11-25T17:01:{n:02d}Z")
    managers = _by_manager(obj)
    assert len(managers) == 10
    assert "creator" not in managers
    assert "writer-00" not in managers
    ancient = managers["ancient-changes"]
    assert ancient["time"] == "2026-11-25T17:01:01Z"
    labels = ancient["fieldsV1"]["f:metadata"]["f:labels"]
    assert {"f:app", "f:l0", "f:l1"} <= set(labels)


def test_pointer_structs_are_owned_as_nodes_but_value_structs_are_not() -> None:
    """Adding readinessProbe (a pointer in Go) owns the probe node; resources (a value struct) is not a node."""
    created = _write(None, _pod(), "creator")
    new = copy.deepcopy(created)
    container = new["spec"]["containers"][0]
    container["readinessProbe"] = {"exec": {"command": ["true"]}, "periodSeconds": 5}
    container["resources"] = {"limits": {"cpu": "1"}}
    out = _write(created, new, "editor", T1)
    fields = _by_manager(out)["editor"]["fieldsV1"]["f:spec"]["f:containers"]['k:{"name":"c"}']
    assert fields["f:readinessProbe"] == {
        ".": {},
        "f:exec": {".": {}, "f:command": {}},
        "f:periodSeconds": {},
    }
    assert fields["f:resources"] == {"f:limits": {".": {}, "f:cpu": {}}}


def test_custom_resource_objects_are_owned_as_nodes_when_created() -> None:
    """In a custom resource every object a create sets is a node (unstructured JSON has no zero value)."""
    schema = schema_from_openapi_v3(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "head": {"type": "object", "properties": {"image": {"type": "string"}}}
                    },
                }
            },
        }
    )
    obj = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc"},
        "spec": {"head": {"image": "ray"}},
    }
    out = track_update(None, obj, schema=schema, manager="kubectl-create", subresource=None, now=T0)
    assert out["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {".": {}, "f:head": {".": {}, "f:image": {}}}
    }


def test_fields_v1_orders_keys_like_the_real_server() -> None:
    """ "." first, then fields, then keyed items with numbers compared as numbers (80 before 443)."""
    paths = {
        ("f:spec", "f:ports", 'k:{"port":443,"protocol":"TCP"}'),
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'),
        ("f:spec", "f:ports"),
        ("f:spec", "f:clusterIP"),
    }
    encoded = to_fields_v1(paths)
    assert list(encoded["f:spec"]) == ["f:clusterIP", "f:ports"]
    assert list(encoded["f:spec"]["f:ports"]) == [
        ".",
        'k:{"port":80,"protocol":"TCP"}',
        'k:{"port":443,"protocol":"TCP"}',
    ]


def test_track_update_modifies_neither_input() -> None:
    """The stored object and the written one are left exactly as they were."""
    created = _write(None, _pod(), "creator")
    new = copy.deepcopy(created)
    new["metadata"]["labels"]["x"] = "1"
    new["spec"]["containers"][0]["image"] = "nginx:3"
    before_old, before_new = copy.deepcopy(created), copy.deepcopy(new)
    out = _write(created, new, "editor", T1)
    out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"] = {}
    assert created == before_old
    assert new == before_new
