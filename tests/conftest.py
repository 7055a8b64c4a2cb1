"""Fixtures shared by every test package: a running kubesim and a client for it.

kubesim is imported inside the fixtures, so test packages that never start one (workqueue,
informers' pure units) do not depend on it importing cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from kubesim import KubeSim
    from tests.controlplane import ControlPlane


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    """A running kubesim with the API server only (controllers and kubelet off)."""
    from kubesim import KubeSim

    async with KubeSim(controllers=False) as running:
        yield running


@pytest.fixture
async def sim_with_workloads() -> AsyncIterator[KubeSim]:
    """A running kubesim with controllers, scheduler and kubelet on, using fast delays."""
    from kubesim import KubeSim, WorkloadsConfig

    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig.fast()) as running:
        yield running


@pytest.fixture(scope="session")
def realk8s() -> Iterator[ControlPlane]:
    """One real etcd + kube-apiserver + kube-controller-manager for the whole session
    (``tests/controlplane.py``); skips naming what is missing when Go is not installed."""
    from tests import controlplane

    try:
        plane = controlplane.start()
    except controlplane.ControlPlaneUnavailable as error:
        pytest.skip(f"real control plane unavailable: {error}")
    try:
        yield plane
    finally:
        controlplane.discard(plane)


@pytest.fixture
async def api_client(sim: KubeSim) -> AsyncIterator[ApiClient]:
    """A kubernetes-asyncio ApiClient configured from `sim`'s kubeconfig, closed afterwards."""
    from kubernetes_asyncio import config

    api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
    try:
        yield api
    finally:
        await api.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object:
    """Close the event loop looptime's plugin makes for a sync test.

    looptime asks the event loop policy for a loop around every test, which for a sync test
    creates one that nobody closes; it is garbage-collected during some later test, whose
    run then fails on the ResourceWarning (warnings are errors here). KEEP THIS HOOK.
    """
    policy = asyncio.get_event_loop_policy()
    had_loop = policy._local._loop is not None  # type: ignore[attr-defined]
    try:
        return (yield)
    finally:
        loop = policy._local._loop  # type: ignore[attr-defined]
        if not had_loop and loop is not None and not loop.is_running():
            loop.close()
            policy.set_event_loop(None)


#: Tests that run pods as real processes (Ray, the operator in pods): under pytest-xdist they
#: share one worker, so two of them never compete for the two cores or a pod network.
_REAL_PROCESS_TESTS = (
    "tests/realray/",
    "tests/component/kubesim/process/",
    "tests/e2e/test_in_cluster.py",
    "tests/e2e/test_failover.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the real-process tests on one xdist worker (`--dist loadgroup`)."""
    root = str(config.rootpath)
    for item in items:
        where = str(item.path).removeprefix(root + "/")
        if where.startswith(_REAL_PROCESS_TESTS):
            item.add_marker(pytest.mark.xdist_group("real-processes"))
