"""``pair``: a fresh kubesim and the session's real kube-apiserver, with one namespace on both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from tests.differential.wire import Pair, Server, make_session

if TYPE_CHECKING:
    from tests.controlplane import ControlPlane


@pytest.fixture
async def pair(realk8s: ControlPlane) -> AsyncIterator[Pair]:
    """kubesim (API server only, GC on) and the real server; namespace ``d-<random>`` on both."""
    from kubesim import KubeSim

    namespace = f"d-{uuid.uuid4().hex[:8]}"
    async with KubeSim(controllers=False) as sim:
        workdir = realk8s.workdir
        sessions = (
            make_session(),
            make_session(ca_pem=realk8s.pki.ca_pem,
                         cert=(str(workdir / "admin.crt"), str(workdir / "admin.key"))),
        )  # fmt: skip
        try:
            both = Pair(
                Server(
                    "kubesim", sim.url, sessions[0], {"Authorization": f"Bearer {sim.admin_token}"}
                ),
                Server("kube-apiserver", realk8s.url, sessions[1]),
                namespace,
            )
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            await both.both("POST", "/api/v1/namespaces", body=ns)
            yield both
            await both.real.call("DELETE", f"/api/v1/namespaces/{namespace}")
        finally:
            for session in sessions:
                await session.close()
