"""Helpers for informer tests against kubesim: fast backoff, running informers, objects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from informers import Backoff, SharedInformer

ROOT_CA = "kube-root-ca.crt"


def fast_backoff() -> Backoff:
    """Backoff on a test scale: 50 ms doubling to 200 ms, no jitter."""
    return Backoff(initial=0.05, maximum=0.2, rand=lambda: 0.0)


def configmap(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    """A minimal ConfigMap."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"k": "v"},
    }


@pytest.fixture
def make_informer(api_client: Any) -> Callable[..., SharedInformer]:
    """Build an informer on `api_client` with test-scale backoff (configmaps by default)."""

    def make(**options: Any) -> SharedInformer:
        options.setdefault("group", "")
        options.setdefault("version", "v1")
        options.setdefault("plural", "configmaps")
        # Every namespace holds the cluster's kube-root-ca.crt ConfigMap (as on a real
        # cluster); the tests count only the ConfigMaps they make.
        options.setdefault("field_selector", f"metadata.name!={ROOT_CA}")
        options.setdefault("backoff", fast_backoff())
        options.setdefault("freeze_gc", False)
        return SharedInformer(api_client, **options)

    return make


@contextlib.asynccontextmanager
async def running(*informers: SharedInformer) -> AsyncIterator[None]:
    """Run informers in a TaskGroup for the duration of the block, then stop them."""
    async with asyncio.TaskGroup() as tasks:
        runs = [tasks.create_task(i.run(), name=f"test-informer:{i.name}") for i in informers]
        try:
            yield
        finally:
            for run in runs:
                run.cancel()


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `condition()` holds (polling every 10 ms), or fail after `within` seconds."""
    async with asyncio.timeout(within):
        # Polling on purpose: the conditions are about handler side effects, nothing to await.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class Recorder:
    """Handlers that record every notification as (kind, name, resourceVersion)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.objects: list[Any] = []

    def on_add(self, obj: dict[str, Any]) -> None:
        self._record("add", obj)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._record("update", new)

    def on_delete(self, obj: Any) -> None:
        self._record("delete", obj)

    def _record(self, kind: str, obj: Any) -> None:
        self.objects.append(obj)
        inner = getattr(obj, "obj", obj)
        metadata = inner["metadata"]
        self.events.append((kind, metadata["name"], metadata["resourceVersion"]))

    def register(self, informer: SharedInformer) -> Recorder:
        informer.add_handler(on_add=self.on_add, on_update=self.on_update, on_delete=self.on_delete)
        return self
