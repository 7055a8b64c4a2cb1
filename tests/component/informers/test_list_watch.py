"""SharedInformer against kubesim: list, watch, selectors, resources of every kind, handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from informers import SharedInformer, wait_for_cache_sync
from kubesim import KubeSim

from .conftest import Recorder, configmap, eventually, running

MakeInformer = Callable[..., SharedInformer]


async def test_initial_list_is_delivered_before_has_synced(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """Every existing object reaches on_add before has_synced turns true."""
    cms = sim.cluster.resource("configmaps")
    for i in range(5):
        sim.cluster.create(cms, "default", configmap(f"cm-{i}"))
    informer = make_informer()
    synced_during_adds: list[bool] = []
    informer.add_handler(on_add=lambda obj: synced_during_adds.append(informer.has_synced))
    assert not informer.has_synced
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
    assert synced_during_adds == [False] * 5
    assert sorted(informer.store.keys()) == [f"default/cm-{i}" for i in range(5)]


async def test_has_synced_stays_false_while_the_list_is_in_flight(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """A slow list keeps has_synced false until it lands; wait_for_cache_sync times out meanwhile."""
    sim.faults.add(verb="list", resource="configmaps", latency=0.5, count=1)
    informer = make_informer()
    async with running(informer):
        assert not await wait_for_cache_sync(informer, timeout=0.2)
        assert not informer.has_synced
        assert await wait_for_cache_sync(informer, timeout=5)


async def test_watch_delivers_adds_updates_and_deletes_in_order(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """Changes after the list arrive as add, update and delete carrying the new state."""
    cms = sim.cluster.resource("configmaps")
    informer = make_informer()
    recorder = Recorder().register(informer)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        created = sim.cluster.create(cms, "default", configmap("a"))
        updated = sim.cluster.patch(cms, "default", "a", {"data": {"k": "w"}}, patch_type="merge")
        deleted = sim.cluster.delete(cms, "default", "a")
        await eventually(lambda: len(recorder.events) == 3)
    rv = [o["metadata"]["resourceVersion"] for o in (created, updated)]
    assert recorder.events[:2] == [("add", "a", rv[0]), ("update", "a", rv[1])]
    assert recorder.events[2][:2] == ("delete", "a")
    assert recorder.objects[1]["data"] == {"k": "w"}
    assert deleted is not None
    assert informer.store.get("default/a") is None


async def test_default_transform_drops_managed_fields(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """Objects are stored without metadata.managedFields, both from the list and the watch."""
    cms = sim.cluster.resource("configmaps")
    sim.cluster.create(cms, "default", configmap("listed"))
    informer = make_informer()
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        sim.cluster.create(cms, "default", configmap("watched"))
        await eventually(lambda: len(informer.store) == 2)
    for obj in informer.store.list():
        assert "managedFields" not in obj["metadata"]
        assert obj["kind"] == "ConfigMap"
        assert obj["apiVersion"] == "v1"


async def test_a_custom_transform_runs_once_per_object(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """The transform sees each listed and watched object exactly once, before it is stored."""
    cms = sim.cluster.resource("configmaps")
    sim.cluster.create(cms, "default", configmap("a"))
    seen: list[str] = []

    def slim(obj: dict[str, Any]) -> dict[str, Any]:
        seen.append(obj["metadata"]["resourceVersion"])
        return {"metadata": obj["metadata"], "slim": True}

    informer = make_informer(transform=slim)
    recorder = Recorder().register(informer)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        sim.cluster.create(cms, "default", configmap("b"))
        await eventually(lambda: len(recorder.events) == 2)
    assert len(seen) == 2
    assert all(obj.get("slim") for obj in recorder.objects)


async def test_first_list_at_zero_relist_after_expiry_paginated_at_empty_version(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """The first list asks for RV "0"; after a 410 the relist asks for "" in pages of 500."""
    cms = sim.cluster.resource("configmaps")
    for i in range(1234):
        sim.cluster.create(cms, "default", configmap(f"cm-{i:04d}"))
    informer = make_informer()
    pages: list[tuple[str, int]] = []
    client = informer.reflector._client
    list_page = client.list_page

    async def observed_list_page(**kwargs: Any) -> dict[str, Any]:
        page = await list_page(**kwargs)
        version = "continue" if kwargs.get("continue_token") else kwargs["resource_version"]
        pages.append((version, len(page["items"])))
        return page

    client.list_page = observed_list_page  # type: ignore[method-assign]
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=10)
        # kubesim, like the watch cache, serves RV "0" whole: limit is ignored.
        assert pages == [("0", 1234)]
        sim.faults.add(verb="watch", resource="configmaps", error=410, count=1)
        sim.faults.close_watches()
        await eventually(lambda: informer.reflector.lists == 2)
    assert pages[1:] == [("", 500), ("continue", 500), ("continue", 234)]
    assert len(informer.store) == 1234


async def test_label_selector_caches_only_matching_objects(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """With a label selector, non-matching objects are neither listed nor watched."""
    cms = sim.cluster.resource("configmaps")
    sim.cluster.create(cms, "default", configmap("yes-1", app="ray"))
    sim.cluster.create(cms, "default", configmap("no-1", app="other"))
    informer = make_informer(label_selector="app=ray")
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        sim.cluster.create(cms, "default", configmap("no-2"))
        sim.cluster.create(cms, "default", configmap("yes-2", app="ray"))
        await eventually(lambda: len(informer.store) == 2)
        await asyncio.sleep(0.05)
    assert sorted(informer.store.keys()) == ["default/yes-1", "default/yes-2"]


async def test_namespaced_informer_sees_one_namespace(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """An informer with a namespace caches only that namespace's objects."""
    cms = sim.cluster.resource("configmaps")
    nss = sim.cluster.resource("namespaces")
    sim.cluster.create(
        nss, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
    )
    sim.cluster.create(cms, "default", configmap("here"))
    sim.cluster.create(cms, "other", configmap("there", namespace="other"))
    informer = make_informer(namespace="other")
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
    assert informer.store.keys() == ["other/there"]


async def test_grouped_and_custom_resources_work_alike(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """Informers on apps/v1 deployments and on a CRD's objects list and watch the same way."""
    crds = sim.cluster.resource("customresourcedefinitions", "apiextensions.k8s.io")
    sim.cluster.create(
        crds,
        None,
        {
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
                    "listKind": "WidgetList",
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
    )
    widgets = sim.cluster.resource("widgets", "example.com")
    sim.cluster.create(
        widgets,
        "default",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}},
    )
    widget_informer = make_informer(group="example.com", version="v1", plural="widgets")
    deployment_informer = make_informer(group="apps", version="v1", plural="deployments")
    async with running(widget_informer, deployment_informer):
        assert await wait_for_cache_sync(widget_informer, deployment_informer, timeout=5)
        sim.cluster.create(
            widgets,
            "default",
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}},
        )
        await eventually(lambda: len(widget_informer.store) == 2)
    assert widget_informer.name == "widgets.example.com"
    assert widget_informer.store.get("default/w1")["kind"] == "Widget"  # type: ignore[index]
    assert len(deployment_informer.store) == 0


async def test_a_handler_added_after_sync_gets_the_cache_as_adds(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """A late handler receives on_add for every cached object and is synced at once."""
    cms = sim.cluster.resource("configmaps")
    for name in ("a", "b"):
        sim.cluster.create(cms, "default", configmap(name))
    informer = make_informer()
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        recorder = Recorder()
        registration = informer.add_handler(on_add=recorder.on_add)
    assert registration.has_synced
    assert sorted(name for _, name, _ in recorder.events) == ["a", "b"]


async def test_a_failing_handler_does_not_stop_the_others(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """An exception in one handler is logged; other handlers and later events still run."""
    cms = sim.cluster.resource("configmaps")
    informer = make_informer()

    def broken(obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    recorder = Recorder().register(informer)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        sim.cluster.create(cms, "default", configmap("a"))
        sim.cluster.create(cms, "default", configmap("b"))
        await eventually(lambda: len(recorder.events) == 2)


async def test_resync_redelivers_every_object_as_an_update(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """With resync_period, every cached object comes again as on_update(obj, obj)."""
    cms = sim.cluster.resource("configmaps")
    sim.cluster.create(cms, "default", configmap("a"))
    informer = make_informer(resync_period=1.0)
    updates: list[tuple[Any, Any]] = []
    informer.add_handler(on_update=lambda old, new: updates.append((old, new)))
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        await eventually(lambda: len(updates) >= 1, within=3)
    old, new = updates[0]
    assert old is new
    assert new["metadata"]["name"] == "a"


def test_resync_period_below_one_second_is_refused(make_informer: MakeInformer) -> None:
    """A resync period under client-go's 1 s minimum is refused, naming the field."""
    with pytest.raises(ValueError, match="resync_period: must be at least 1 second"):
        make_informer(resync_period=0.1)


async def test_read_only_informer_objects_cannot_be_mutated(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """With read_only=True, changing a cached object raises TypeError."""
    cms = sim.cluster.resource("configmaps")
    sim.cluster.create(cms, "default", configmap("a"))
    informer = make_informer(read_only=True)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
    obj = informer.store.get("default/a")
    assert obj is not None
    with pytest.raises(TypeError, match="read-only"):
        obj["data"]["k"] = "changed"


async def test_stopping_leaves_no_task_behind(sim: KubeSim, make_informer: MakeInformer) -> None:
    """Cancelling run() ends the reflector and resync tasks; run() cannot be doubled."""
    informer = make_informer(resync_period=5.0)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert {"informer:configmaps:reflector", "informer:configmaps:resync"} <= names
        with pytest.raises(RuntimeError, match="already running"):
            await informer.run()
    leftover = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("informer:")]
    assert leftover == []


async def test_field_selector_caches_only_matching_objects(
    sim: KubeSim, make_informer: MakeInformer
) -> None:
    """With a field selector, only the selected object is listed and watched."""
    cms = sim.cluster.resource("configmaps")
    sim.cluster.create(cms, "default", configmap("wanted"))
    sim.cluster.create(cms, "default", configmap("other"))
    informer = make_informer(field_selector="metadata.name=wanted")
    recorder = Recorder().register(informer)
    async with running(informer):
        assert await wait_for_cache_sync(informer, timeout=5)
        sim.cluster.patch(cms, "default", "other", {"data": {"k": "x"}}, patch_type="merge")
        sim.cluster.patch(cms, "default", "wanted", {"data": {"k": "y"}}, patch_type="merge")
        await eventually(lambda: len(recorder.events) == 2)
    assert [(kind, name) for kind, name, _ in recorder.events] == [
        ("add", "wanted"),
        ("update", "wanted"),
    ]
    assert informer.store.keys() == ["default/wanted"]
