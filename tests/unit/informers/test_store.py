"""The indexed store: keys, indexes, and replace() with tombstones for vanished objects."""

from __future__ import annotations

from typing import Any

import pytest

from informers import DeletedFinalStateUnknown, Store, object_key


def pod(
    name: str,
    namespace: str | None = "ns",
    rv: str = "1",
    owner: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "resourceVersion": rv, "labels": labels or {}}
    if namespace:
        metadata["namespace"] = namespace
    if owner:
        metadata["ownerReferences"] = [
            {"uid": "not-the-controller", "name": "x"},
            {"uid": owner, "name": "o", "controller": True},
        ]
    return {"metadata": metadata}


def test_keys_are_namespace_slash_name_or_name_for_cluster_scoped() -> None:
    """Namespaced objects are keyed "namespace/name", cluster-scoped ones "name"."""
    assert object_key(pod("a", "ns")) == "ns/a"
    assert object_key(pod("node-1", None)) == "node-1"
    assert object_key(DeletedFinalStateUnknown("ns/a", pod("a"))) == "ns/a"


def test_upsert_get_list_and_delete() -> None:
    """Objects are found by key after upsert and gone after delete; upsert returns the old one."""
    store = Store()
    first = pod("a")
    assert store.upsert(first) is None
    second = pod("a", rv="2")
    assert store.upsert(second) is first
    assert store.get("ns/a") is second
    assert store.list() == [second]
    assert "ns/a" in store
    assert store.delete("ns/a") is second
    assert store.get("ns/a") is None
    assert len(store) == 0
    assert store.delete("ns/a") is None


def test_namespace_index_follows_adds_and_deletes() -> None:
    """by_index("namespace", ns) lists exactly the objects in that namespace."""
    store = Store()
    for name, namespace in [("a", "x"), ("b", "x"), ("c", "y")]:
        store.upsert(pod(name, namespace))
    assert [object_key(o) for o in store.by_index("namespace", "x")] == ["x/a", "x/b"]
    store.delete("x/a")
    assert store.index_keys("namespace", "x") == ["x/b"]
    store.delete("x/b")
    assert store.index_values("namespace") == ["y"]


def test_owner_index_uses_only_the_controller_owner_reference() -> None:
    """by_index("owner", uid) finds objects whose *controller* owner has that uid."""
    store = Store()
    store.upsert(pod("a", owner="uid-1"))
    store.upsert(pod("b", owner="uid-2"))
    store.upsert(pod("c"))
    assert store.index_keys("owner", "uid-1") == ["ns/a"]
    assert store.index_keys("owner", "not-the-controller") == []


def test_an_update_that_changes_the_indexed_value_moves_the_object() -> None:
    """When an object's controller owner changes, the owner index moves it."""
    store = Store()
    store.upsert(pod("a", owner="uid-1"))
    store.upsert(pod("a", rv="2", owner="uid-2"))
    assert store.index_keys("owner", "uid-1") == []
    assert store.index_keys("owner", "uid-2") == ["ns/a"]


def test_an_index_added_later_indexes_existing_objects() -> None:
    """add_index indexes what is already stored, then follows changes."""
    store = Store()
    store.upsert(pod("a", labels={"app": "ray"}))
    store.add_index("app", lambda obj: [obj["metadata"]["labels"].get("app", "")])
    assert store.index_keys("app", "ray") == ["ns/a"]
    store.upsert(pod("b", labels={"app": "ray"}))
    assert store.index_keys("app", "ray") == ["ns/a", "ns/b"]
    with pytest.raises(ValueError, match="name: an index named 'app' already exists"):
        store.add_index("app", lambda obj: [])


def test_an_unknown_index_name_is_a_clear_error() -> None:
    """Asking for an index that does not exist names it."""
    with pytest.raises(KeyError, match="no index named 'nope'"):
        Store().by_index("nope", "x")


def test_indexers_given_to_the_constructor_are_used() -> None:
    """Custom indexers passed at construction are available next to the built-in ones."""
    store = Store({"name": lambda obj: [obj["metadata"]["name"]]})
    store.upsert(pod("a"))
    assert store.index_keys("name", "a") == ["ns/a"]


def test_replace_reports_adds_updates_unchanged_and_tombstones() -> None:
    """replace() after a relist: new objects added, changed ones updated, vanished ones tombstoned."""
    store = Store()
    kept, changed, gone = pod("kept"), pod("changed"), pod("gone", owner="uid-9")
    for obj in (kept, changed, gone):
        store.upsert(obj)
    changed_now, new = pod("changed", rv="5"), pod("new", rv="6")
    result = store.replace([pod("kept"), changed_now, new])
    assert [object_key(o) for o in result.added] == ["ns/new"]
    assert result.updated == [(changed, changed_now)]
    assert [object_key(o) for o in result.unchanged] == ["ns/kept"]
    assert result.deleted == [DeletedFinalStateUnknown("ns/gone", gone)]
    assert sorted(store.keys()) == ["ns/changed", "ns/kept", "ns/new"]
    assert store.index_keys("owner", "uid-9") == [], "a tombstoned object leaves the indexes"
