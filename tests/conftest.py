"""Fixtures shared by every test package: a running kubesim and a client for it.

kubesim is imported inside the fixtures, so test packages that never start one (workqueue,
informers' pure units) do not depend on it importing cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from kubesim import KubeSim


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    """A running kubesim with the API server only (controllers and kubelet off)."""
    from kubesim import KubeSim

    async with KubeSim(controllers=False) as running:
        yield running


@pytest.fixture
async def sim_with_workloads() -> AsyncIterator[KubeSim]:
    """A running kubesim with controllers, scheduler and kubelet on, using fast delays."""
    from kubesim import KubeSim
    from kubesim.controllers import WorkloadsConfig

    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig.fast()) as running:
        yield running


@pytest.fixture
async def api_client(sim: KubeSim) -> AsyncIterator[ApiClient]:
    """A kubernetes-asyncio ApiClient configured from `sim`'s kubeconfig, closed afterwards."""
    from kubernetes_asyncio import config

    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        yield api
    finally:
        await api.close()
