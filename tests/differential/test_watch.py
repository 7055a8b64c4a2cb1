"""Watches on both servers: the events a change produces and the initial-events bookmark; plus
discovery documents and the 404 of an unknown resource."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.differential.wire import MERGE, Pair, Server, is_system, normalise

CMS = "/api/v1/namespaces/{ns}/configmaps"
GROUP_VERSIONS = ("apps/v1", "batch/v1", "autoscaling/v2", "coordination.k8s.io/v1", "policy/v1")


async def watch(
    server: Server, path: str, query: dict[str, str], *, until: int = 0, bookmark: bool = False
) -> list[dict[str, Any]]:
    """Read events of a watch until ``until`` arrived, or (``bookmark``) up to the first
    BOOKMARK (10 s bound)."""
    events: list[dict[str, Any]] = []
    params = {"watch": "true", **query}
    headers = {**server.headers, "Accept": "application/json"}
    async with server.session.get(server.url + path, params=params, headers=headers) as response:
        assert response.status == 200, await response.text()

        async def read() -> None:
            async for line in response.content:
                event = json.loads(line) if line.strip() else None
                if event and not is_system(event["object"]):
                    events.append(event)
                    if len(events) == until or (bookmark and events[-1]["type"] == "BOOKMARK"):
                        return

        await asyncio.wait_for(read(), timeout=10)
    return events


def shape(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(type, normalised object) of each event."""
    return [(e["type"], normalise(e["object"])) for e in events]


async def test_watch_sees_create_update_delete(pair: Pair) -> None:
    """From a list's resourceVersion: ADDED, MODIFIED, DELETED with the same objects."""
    path = CMS.replace("{ns}", pair.namespace)
    results = []
    for server in (pair.sim, pair.real):
        listed = await server.call("GET", path)
        task = asyncio.create_task(
            watch(
                server,
                path,
                {"resourceVersion": listed.body["metadata"]["resourceVersion"]},
                until=3,
            )
        )
        await asyncio.sleep(0.3)
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "w"},
            "data": {"a": "1"},
        }
        await server.call("POST", path, body=body)
        await server.call("PATCH", f"{path}/w", body={"data": {"a": "2"}}, content_type=MERGE)
        await server.call("DELETE", f"{path}/w")
        results.append(shape(await task))
    assert results[0] == results[1]
    assert [kind for kind, _ in results[0]] == ["ADDED", "MODIFIED", "DELETED"]


async def test_send_initial_events_ends_with_a_bookmark(pair: Pair) -> None:
    """sendInitialEvents=true: ADDED per existing object, then a BOOKMARK annotated
    ``k8s.io/initial-events-end``."""
    path = CMS.replace("{ns}", pair.namespace)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "i"}}
    await pair.both("POST", CMS, body=body)
    query = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    results = [
        await watch(server, path, query, bookmark=True)
        for server in (pair.sim, pair.real)
    ]  # fmt: skip
    assert shape(results[0]) == shape(results[1])
    assert results[1][-1]["type"] == "BOOKMARK"


async def test_discovery_of_group_versions(pair: Pair) -> None:
    """Legacy discovery of five group versions: the same resources in the same order, verbs,
    short names, categories and storage version hashes; and the 404 of an unknown resource."""
    for group_version in GROUP_VERSIONS:
        await pair.same("GET", f"/apis/{group_version}")  # fmt: skip
    await pair.same("GET", "/api/v1/namespaces/{ns}/nope")


async def test_watch_with_a_selector_sees_objects_leave_it(pair: Pair) -> None:
    """A watch with labelSelector app=x reports an object relabelled to app=y as DELETED."""
    path = CMS.replace("{ns}", pair.namespace)
    results = []
    for server in (pair.sim, pair.real):
        listed = await server.call("GET", path)
        query = {
            "labelSelector": "app=x",
            "resourceVersion": listed.body["metadata"]["resourceVersion"],
        }
        task = asyncio.create_task(watch(server, path, query, until=2))
        await asyncio.sleep(0.3)
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "s", "labels": {"app": "x"}},
        }
        await server.call("POST", path, body=body)
        await server.call(
            "PATCH", f"{path}/s", body={"metadata": {"labels": {"app": "y"}}}, content_type=MERGE
        )
        results.append(shape(await task))
    assert results[0] == results[1]
    assert [kind for kind, _ in results[0]] == ["ADDED", "DELETED"]
