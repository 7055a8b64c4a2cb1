"""Helpers for kubesim's API conformance tests: raw HTTP access and object builders."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import structlog

from kubesim import KubeSim


class Raw:
    """Raw HTTP against a kubesim: what a client sees byte for byte (status, headers, body)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """(status, decoded JSON body or text, response)."""
        payload = data if data is not None else (orjson.dumps(body) if body is not None else None)
        hdrs = (
            {"Content-Type": content_type, **(headers or {})}
            if payload is not None
            else dict(headers or {})
        )
        async with self.session.request(method, path, data=payload, headers=hdrs) as resp:
            raw = await resp.read()
            try:
                decoded: Any = orjson.loads(raw)
            except orjson.JSONDecodeError:
                decoded = raw.decode()
            return resp.status, decoded, resp

    async def get(self, path: str, **kw: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        return await self.request("GET", path, **kw)

    async def post(
        self, path: str, body: Any = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        return await self.request("POST", path, body, **kw)

    async def put(
        self, path: str, body: Any = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        return await self.request("PUT", path, body, **kw)

    async def patch(
        self, path: str, body: Any, content_type: str, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        return await self.request("PATCH", path, body, content_type=content_type, **kw)

    async def delete(
        self, path: str, body: Any = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        return await self.request("DELETE", path, body, **kw)

    async def watch_lines(
        self, path: str, *, max_events: int = 100, headers: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Read a watch stream until it ends (or `max_events` arrived); one dict per line."""
        events: list[dict[str, Any]] = []
        async with self.session.get(path, headers=headers or {}) as resp:
            assert resp.status == 200, await resp.text()
            while len(events) < max_events:
                line = await resp.content.readline()
                if not line:
                    break
                events.append(orjson.loads(line))
        return events


@pytest.fixture
async def raw(sim: KubeSim) -> AsyncIterator[Raw]:
    """Raw HTTP access to the `sim` fixture's server."""
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        yield Raw(session)


def pod(
    name: str, *, labels: dict[str, str] | None = None, node: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A minimal valid Pod."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}], **spec},
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


def configmap(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    """A ConfigMap."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data or {"k": "v"},
    }


def statefulset(name: str, replicas: int | None = 1) -> dict[str, Any]:
    """A minimal valid StatefulSet."""
    spec: dict[str, Any] = {
        "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def widget_crd(*, scale: bool = True, versions: tuple[str, ...] = ("v1",)) -> dict[str, Any]:
    """A namespaced CRD `widgets.example.com` with status (and scale) subresources."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "size": {"type": "string", "enum": ["small", "large"], "default": "small"},
                    "items": {"type": "array", "items": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "selector": {"type": "string"},
                    "phase": {"type": "string"},
                },
            },
        },
    }
    subresources: dict[str, Any] = {"status": {}}
    if scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    return {
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
                "shortNames": ["wd"],
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == 0,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": subresources,
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "string", "jsonPath": ".spec.size"}
                    ],
                }
                for i, v in enumerate(versions)
            ],
        },
    }


def widget(name: str, **spec: Any) -> dict[str, Any]:
    """A Widget custom resource."""
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }


KubectlRunner = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def kubectl_for(tmp_path: Path) -> Callable[[KubeSim], KubectlRunner]:
    """Build a kubectl runner for a KubeSim: `await run(*args, stdin=None) -> (code, out, err)`.

    Skips the test with a reason when kubectl is not installed. Each runner uses the test's
    own --cache-dir, so discovery never leaks between tests."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed on this machine")

    def bind(sim: KubeSim) -> KubectlRunner:
        async def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(
                binary,
                f"--kubeconfig={sim.kubeconfig_path}",
                f"--cache-dir={tmp_path / 'kubectl-cache'}",
                *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            async with asyncio.timeout(30):
                out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
            assert proc.returncode is not None
            return proc.returncode, out.decode(), err.decode()

        return run

    return bind


class Make:
    """Object builders, handed to tests through the `make` fixture."""

    pod = staticmethod(pod)
    configmap = staticmethod(configmap)
    statefulset = staticmethod(statefulset)
    widget_crd = staticmethod(widget_crd)
    widget = staticmethod(widget)


@pytest.fixture
def make() -> type[Make]:
    """Builders of valid test objects (pods, configmaps, statefulsets, a Widget CRD)."""
    return Make


@pytest.fixture(autouse=True)
def _no_unhandled_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """In the API conformance tests, a request that crashed a handler (a 500 from a bug) fails the test."""
    module = request.node.module.__name__.rsplit(".", 1)[-1]
    if not module.startswith(("test_api_", "test_kubectl_")):
        yield
        return
    with structlog.testing.capture_logs() as logs:
        yield
    crashes = [entry for entry in logs if entry["event"] == "kubesim.unhandled_error"]
    assert not crashes, crashes
