"""Clients with an identity for kubesim's authentication and authorization tests.

`Identity` sends requests as one bearer token (or none) over real HTTP(S). kubesim over plain
HTTP treats a request without a token as its admin (kubectl sends no credentials there), so the
anonymous tests use the `tls_sim` fixture.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import yaml

from kubesim import KubeSim

RBAC = "/apis/rbac.authorization.k8s.io/v1"


class Identity:
    """One client identity: every request carries its token (none when empty)."""

    def __init__(
        self, sim: KubeSim, token: str = "", *, headers: dict[str, str] | None = None
    ) -> None:
        self.sim = sim
        self.headers = dict(headers or {})
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    async def request(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        """(status, decoded JSON body or text)."""
        ssl_context: ssl.SSLContext | bool = False
        if self.sim.url.startswith("https"):
            config = yaml.safe_load(self.sim.kubeconfig_path.read_text())
            ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
            ssl_context = ssl.create_default_context(cadata=ca.decode())
        headers = {**self.headers, **kw.pop("headers", {})}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, self.sim.url + path, json=body, headers=headers, ssl=ssl_context, **kw
            ) as response,
        ):
            text = await response.text()
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, text

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.request("POST", path, body, **kw)


@pytest.fixture
async def tls_sim() -> AsyncIterator[KubeSim]:
    """kubesim over HTTPS, API server only (no token there means system:anonymous)."""
    async with KubeSim(tls=True, controllers=False) as running:
        yield running


@pytest.fixture
def account() -> Callable[..., Awaitable[Identity]]:
    """`await account(sim, name, namespace="default")`: create a ServiceAccount and return a
    client authenticated with a TokenRequest token for it."""

    async def make(sim: KubeSim, name: str, namespace: str = "default") -> Identity:
        admin = Identity(sim, sim.admin_token)
        base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
        code, _ = await admin.post(base, {"metadata": {"name": name}})
        assert code in (201, 409)
        code, answer = await admin.post(f"{base}/{name}/token", {"spec": {}})
        assert code == 201, answer
        return Identity(sim, answer["status"]["token"])

    return make


def role(
    name: str, rules: list[dict[str, Any]], *, cluster: bool = False, **meta: Any
) -> dict[str, Any]:
    """A Role (or ClusterRole) object."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole" if cluster else "Role",
        "metadata": {"name": name, **meta},
        "rules": rules,
    }


def binding(
    name: str,
    role_name: str,
    *,
    account: str,
    namespace: str = "default",
    cluster_role: bool = False,
    cluster: bool = False,
) -> dict[str, Any]:
    """A RoleBinding (or ClusterRoleBinding) of a role to the ServiceAccount default/<account>."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding" if cluster else "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole" if cluster_role or cluster else "Role",
            "name": role_name,
        },
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
