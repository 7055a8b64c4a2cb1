"""Fixtures shared by every test package: a running kubesim and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    """A running kubesim with the API server only (controllers and kubelet off)."""
    async with KubeSim(controllers=False) as running:
        yield running


@pytest.fixture
async def sim_with_workloads() -> AsyncIterator[KubeSim]:
    """A running kubesim with controllers, scheduler and kubelet on, using fast delays."""
    from kubesim.controllers import WorkloadsConfig

    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig.fast()) as running:
        yield running


@pytest.fixture
async def api_client(sim: KubeSim) -> AsyncIterator[client.ApiClient]:
    """A kubernetes-asyncio ApiClient configured from `sim`'s kubeconfig, closed afterwards."""
    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        yield api
    finally:
        await api.close()
