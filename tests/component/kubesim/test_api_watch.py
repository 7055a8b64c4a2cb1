"""Watch streams: event framing, starting points, resumes, 410, bookmarks, timeouts, selectors."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from kubernetes_asyncio import client, watch

from kubesim import KubeSim

CMS = "/api/v1/namespaces/default/configmaps"
#: Leaves out the kube-root-ca.crt ConfigMap every namespace holds: the tests' own objects only.
OURS = "fieldSelector=metadata.name%21%3Dkube-root-ca.crt"
MERGE = "application/merge-patch+json"


async def test_initial_events_then_live_changes(raw: Any, sim: KubeSim, make: Any) -> None:
    """RV "" sends a synthetic ADDED per object, then MODIFIED and DELETED as they happen, one JSON per line."""
    await raw.post(CMS, make.configmap("a"))
    await raw.post(CMS, make.configmap("b"))

    async def mutate() -> None:
        await asyncio.sleep(0.05)
        await raw.patch(f"{CMS}/a", {"data": {"k": "2"}}, MERGE)
        await raw.delete(f"{CMS}/b")

    task = asyncio.create_task(mutate())
    events = await raw.watch_lines(f"{CMS}?watch=true&timeoutSeconds=1&{OURS}", max_events=4)
    await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert all(e["object"]["kind"] == "ConfigMap" for e in events)
    deleted_rv = int(events[3]["object"]["metadata"]["resourceVersion"])
    assert deleted_rv == sim.cluster.resource_version  # DELETED carries the deletion revision


async def test_resume_from_resource_version_is_exact(raw: Any, make: Any) -> None:
    """Watching from RV N replays exactly the changes after N, with no synthetic ADDEDs."""
    _, first, _ = await raw.post(CMS, make.configmap("a"))
    await raw.post(CMS, make.configmap("b"))
    await raw.patch(f"{CMS}/a", {"data": {"k": "3"}}, MERGE)
    rv = first["metadata"]["resourceVersion"]
    events = await raw.watch_lines(
        f"{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=5", max_events=2
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
    ]


async def test_too_old_resource_version_gets_410_error_event() -> None:
    """Resuming below the retained history answers 200 then one ERROR event with a 410 Expired Status."""
    async with KubeSim(controllers=False, history_size=2) as sim:
        cluster = sim.cluster
        for i in range(5):
            cluster.create("configmaps", "default", {"metadata": {"name": f"c{i}"}, "data": {}})
        url = f"{sim.url}{CMS}?watch=true&resourceVersion=5"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 200
            lines = (await resp.read()).decode().strip().splitlines()
    assert len(lines) == 1
    event = orjson.loads(lines[0])
    assert event["type"] == "ERROR"
    status = event["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith("too old resource version: 5 (")


async def test_go_style_booleans_and_timeout(raw: Any, make: Any) -> None:
    """watch=True (kubernetes-asyncio's spelling) is a watch; watch=false is a list; timeoutSeconds ends the stream."""
    await raw.post(CMS, make.configmap("a"))
    code, listed, _ = await raw.get(f"{CMS}?watch=false")
    assert code == 200
    assert listed["kind"] == "ConfigMapList"
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await raw.watch_lines(f"{CMS}?watch=True&timeoutSeconds=1&{OURS}")
    assert [e["type"] for e in events] == ["ADDED"]
    assert 0.9 <= loop.time() - started < 3


async def test_bookmarks_at_the_configured_interval(make: Any) -> None:
    """allowWatchBookmarks=true yields BOOKMARK events carrying only the kind and a resourceVersion."""
    async with KubeSim(controllers=False, bookmark_interval=0.2) as sim:
        rv = sim.cluster.resource_version
        url = (
            f"{sim.url}{CMS}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=1"
        )
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            events = [orjson.loads(line) for line in (await resp.read()).splitlines()]
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert len(bookmarks) >= 3
    assert bookmarks[0]["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(sim.cluster.resource_version)},
    }


async def test_label_selector_transitions(raw: Any, make: Any) -> None:
    """An object that starts matching arrives as ADDED; one that stops matching leaves as DELETED."""
    _, cm, _ = await raw.post(CMS, make.configmap("a", labels={"team": "x"}))
    rv = cm["metadata"]["resourceVersion"]
    await raw.patch(f"{CMS}/a", {"metadata": {"labels": {"team": "y"}}}, MERGE)
    await raw.patch(f"{CMS}/a", {"data": {"k": "changed"}}, MERGE)
    await raw.patch(f"{CMS}/a", {"metadata": {"labels": {"team": "x"}}}, MERGE)
    events = await raw.watch_lines(
        f"{CMS}?watch=1&resourceVersion={rv}&labelSelector=team%3Dy&timeoutSeconds=5", max_events=3
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2]["object"]["metadata"]["labels"] == {"team": "y"}  # the last state that matched


async def test_watch_single_object_by_field_selector(raw: Any, make: Any) -> None:
    """kubectl wait's watch (fieldSelector=metadata.name) sees only that object."""
    await raw.post(CMS, make.configmap("a"))
    await raw.post(CMS, make.configmap("b"))
    events = await raw.watch_lines(
        f"{CMS}?watch=1&fieldSelector=metadata.name%3Db&timeoutSeconds=5", max_events=1
    )
    assert [e["object"]["metadata"]["name"] for e in events] == ["b"]


async def test_table_watch_has_headers_only_first(raw: Any, make: Any) -> None:
    """With kubectl's Table Accept each event is a one-row Table; only the first carries columns."""
    await raw.post(CMS, make.configmap("a"))
    await raw.post(CMS, make.configmap("b"))
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    events = await raw.watch_lines(f"{CMS}?watch=1&timeoutSeconds=5", headers=accept, max_events=2)
    tables = [e["object"] for e in events]
    assert all(t["kind"] == "Table" and len(t["rows"]) == 1 for t in tables)
    assert tables[0]["columnDefinitions"]
    assert not tables[1].get("columnDefinitions")


async def test_kubernetes_asyncio_watch_stream(api_client: client.ApiClient, sim: KubeSim) -> None:
    """kubernetes-asyncio's Watch.stream sees typed ADDED/MODIFIED events and stops at its timeout."""
    v1 = client.CoreV1Api(api_client)
    cluster = sim.cluster

    async def writer() -> None:
        await asyncio.sleep(0.5)  # after the watch is open, even on a loaded machine
        cluster.create("configmaps", "default", {"metadata": {"name": "w"}, "data": {"a": "1"}})
        cluster.patch("configmaps", "default", "w", {"data": {"a": "2"}}, patch_type="merge")

    task = asyncio.create_task(writer())
    seen = []
    async with watch.Watch() as w:
        async for event in w.stream(
            v1.list_namespaced_config_map,
            "default",
            timeout_seconds=3,
            field_selector="metadata.name!=kube-root-ca.crt",
        ):
            seen.append((event["type"], event["object"].metadata.name, event["object"].data))
    await task
    assert seen == [("ADDED", "w", {"a": "1"}), ("MODIFIED", "w", {"a": "2"})]


async def test_in_process_subscribe(sim: KubeSim) -> None:
    """Cluster.subscribe calls back synchronously on every committed change until unsubscribed."""
    seen: list[tuple[str, str]] = []
    unsubscribe = sim.cluster.subscribe(
        "configmaps", lambda t, o: seen.append((t, o["metadata"]["name"]))
    )
    sim.cluster.create("configmaps", "default", {"metadata": {"name": "s"}})
    sim.cluster.delete("configmaps", "default", "s")
    unsubscribe()
    sim.cluster.create("configmaps", "default", {"metadata": {"name": "t"}})
    assert seen == [("ADDED", "s"), ("DELETED", "s")]


async def test_closing_watches_fault(raw: Any, sim: KubeSim) -> None:
    """faults.close_watches ends open streams cleanly."""

    async def close_soon() -> None:
        await asyncio.sleep(0.1)
        assert sim.faults.close_watches() == 1

    task = asyncio.create_task(close_soon())
    events = await raw.watch_lines(
        f"{CMS}?watch=1&resourceVersion={sim.cluster.resource_version}&timeoutSeconds=30"
    )
    await task
    assert events == []


async def test_send_initial_events_ends_with_marked_bookmark(raw: Any, make: Any) -> None:
    """A streaming list (sendInitialEvents) sends ADDEDs, then a BOOKMARK annotated initial-events-end."""
    await raw.post(CMS, make.configmap("a"))
    query = "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5"
    events = await raw.watch_lines(f"{CMS}?{query}&{OURS}", max_events=2)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    code, body, _ = await raw.get(f"{CMS}?watch=1&sendInitialEvents=true&timeoutSeconds=1")
    assert code == 422
    assert "resourceVersionMatch" in body["message"]


async def test_resource_version_match_validation(raw: Any) -> None:
    """resourceVersionMatch without resourceVersion is a 422 on ListOptions."""
    code, body, _ = await raw.get(f"{CMS}?resourceVersionMatch=NotOlderThan")
    assert code == 422
    assert body["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        "resourceVersionMatch is forbidden unless resourceVersion is provided"
    )


async def test_list_at_a_future_resource_version_waits_for_it(raw: Any, sim: KubeSim) -> None:
    """A list at an RV the server has not reached yet is answered once a write reaches it."""
    wanted = sim.cluster.resource_version + 1

    async def write_soon() -> None:
        await asyncio.sleep(0.1)
        sim.cluster.create("configmaps", "default", {"metadata": {"name": "late"}})

    task = asyncio.create_task(write_soon())
    code, body, _ = await raw.get(f"{CMS}?resourceVersion={wanted}&{OURS}")
    await task
    assert code == 200
    assert [i["metadata"]["name"] for i in body["items"]] == ["late"]


async def test_kubernetes_asyncio_watch_raises_410_after_history_loss(
    api_client: client.ApiClient, sim: KubeSim
) -> None:
    """A resume from a forgotten RV surfaces in kubernetes-asyncio as ApiException(410), as on a real cluster."""
    old = sim.cluster.create("configmaps", "default", {"metadata": {"name": "a"}})
    sim.cluster.create("configmaps", "default", {"metadata": {"name": "b"}})
    sim.faults.shrink_history("configmaps")
    v1 = client.CoreV1Api(api_client)
    rv = old["metadata"]["resourceVersion"]

    async def consume() -> None:
        async with watch.Watch() as w:
            async for _ in w.stream(
                v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2
            ):
                pass

    with pytest.raises(client.ApiException) as caught:
        await consume()
    assert caught.value.status == 410


async def test_disconnected_watchers_are_dropped(
    sim: KubeSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that goes away stops being a watcher even when no events arrive."""
    from kubesim.apiserver.server import watching

    monkeypatch.setattr(watching, "_LIVENESS_CHECK", 0.05)
    key = ("", "configmaps")
    async with aiohttp.ClientSession() as session:
        resp = await session.get(
            f"{sim.url}{CMS}?watch=1&resourceVersion={sim.cluster.resource_version}"
        )
        assert resp.status == 200
        assert len(sim.cluster.broadcaster.watchers[key]) == 1
        resp.close()
    for _ in range(40):
        if not sim.cluster.broadcaster.watchers[key]:
            break
        await asyncio.sleep(0.05)
    assert not sim.cluster.broadcaster.watchers[key]


async def test_subscribers_see_changes_in_order_when_callbacks_write(sim: KubeSim) -> None:
    """A subscriber that writes from its callback does not make later subscribers see changes out of order."""
    cluster = sim.cluster
    seen: list[str] = []

    def writer(event_type: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == "first" and event_type == "ADDED":
            cluster.create("configmaps", "default", {"metadata": {"name": "second"}})

    cluster.subscribe("configmaps", writer)
    cluster.subscribe("configmaps", lambda t, o: seen.append(o["metadata"]["resourceVersion"]))
    cluster.create("configmaps", "default", {"metadata": {"name": "first"}})
    assert len(seen) == 2
    assert seen == sorted(seen, key=int)
