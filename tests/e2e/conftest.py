"""Fixtures for the end-to-end tests (the harness itself is in ``harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.harness import Env, running_env

if TYPE_CHECKING:
    from tests.controlplane import ControlPlane
    from tests.e2e.backends import ApiEnv
    from tests.e2e.rbac_audit import Call


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    """kubesim + CRD + operator, Ray probes off (pods are ready within ~0.1 s)."""
    async with running_env(tmp_path) as running:
        yield running


@pytest.fixture(params=["kubesim", "realk8s"])
def backend(request: pytest.FixtureRequest) -> ControlPlane | None:
    """Which API server ``api_env`` talks to: kubesim (None) or the session's real one."""
    if request.param == "kubesim":
        return None
    plane: ControlPlane = request.getfixturevalue("realk8s")
    return plane


@pytest.fixture
async def api_env(backend: ControlPlane | None, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    """A fresh namespace with rayop's CRD on the backend of this parameter (``backends.py``)."""
    from tests.e2e.backends import api_env as running_api_env

    async with running_api_env(tmp_path, backend) as running:
        yield running


@pytest.fixture(scope="session", autouse=True)
def operator_calls() -> Iterator[set[Call]]:
    """The RBAC calls behind every write rayop makes in this e2e session; at the end, fails the
    session if the manifests in ``manifests/operator/`` do not grant one (``rbac_audit.py``)."""
    from tests.e2e.rbac_audit import record_operator_calls

    with record_operator_calls() as calls:
        yield calls
