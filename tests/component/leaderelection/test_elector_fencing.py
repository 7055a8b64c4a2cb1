"""Fencing: a leader stops writing at its renew deadline, on a foreign holder and after a clock
jump, before any further write leaves the process (issue 16). Fake loop time, in-memory Lease."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller import leaderelection
from controller.kube import KubeClient, NotLeading, load_api_client
from controller.leaderelection import LeaderElector, LeadershipLost
from kubesim import KubeSim
from tests.component.leaderelection.test_elector_timing import (
    NAME,
    NS,
    MemoryLeases,
    _config,
    _lead_forever,
)


class TimedLeases(MemoryLeases):
    """MemoryLeases that also remembers the loop time of every stored write."""

    def __init__(self) -> None:
        super().__init__()
        self.written_at: list[float] = []

    def _store(self, key: tuple[str, str], lease: dict[str, object]) -> dict[str, object]:  # type: ignore[override]
        self.written_at.append(asyncio.get_running_loop().time())
        return super()._store(key, lease)  # type: ignore[arg-type]


async def _leading(leases: MemoryLeases) -> tuple[LeaderElector, asyncio.Task[None]]:
    elector = LeaderElector(leases, _config("a", release=False))
    started = asyncio.Event()
    task = asyncio.create_task(elector.run(lambda: _lead_forever(started)))
    await started.wait()
    return elector, task


@pytest.mark.looptime
async def test_writes_stop_at_the_renew_deadline_counted_from_the_last_successful_renewal() -> None:
    """With the API server gone, is_leading() turns False exactly 10 s after the last renewal
    that succeeded (not after the last attempt), and the work is cancelled by then."""
    leases = TimedLeases()
    loop = asyncio.get_running_loop()
    elector, task = await _leading(leases)
    await asyncio.sleep(5)
    leases.failing = True
    last_renewal = leases.written_at[-1]
    await asyncio.sleep(last_renewal + 10 - 0.01 - loop.time())
    assert elector.is_leading(), "still inside the renew deadline"
    await asyncio.sleep(0.02)
    assert not elector.is_leading(), "past the renew deadline: writes must be fenced"
    with pytest.raises(LeadershipLost):
        await task
    assert loop.time() <= last_renewal + 10 + 0.01


@pytest.mark.looptime
async def test_a_foreign_holder_stops_the_leader_at_once() -> None:
    """When the leader reads the Lease held by someone else, it steps down at that read and
    never writes the Lease again."""
    leases = TimedLeases()
    loop = asyncio.get_running_loop()
    elector, task = await _leading(leases)
    lease = dict(leases.leases[(NS, NAME)])
    lease["spec"] = {**lease["spec"], "holderIdentity": "b"}
    leases._store((NS, NAME), lease)
    taken_at = loop.time()
    with pytest.raises(LeadershipLost, match="held by b"):
        await task
    assert loop.time() - taken_at <= 2.0 + 0.01, "one retry period at most"
    assert not elector.is_leading()
    assert leases.writes[-1] == "b"


@pytest.mark.looptime
async def test_a_clock_jump_after_a_pause_fences_before_any_renewal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A suspend the loop clock did not see (CLOCK_BOOTTIME jumped 30 s) fences the leader at
    once and its renew loop gives up without writing the Lease."""
    leases = TimedLeases()
    elector, task = await _leading(leases)
    writes = len(leases.writes)
    real = leaderelection._boottime
    monkeypatch.setattr(leaderelection, "_boottime", lambda: real() + 30.0)
    assert not elector.is_leading()
    with pytest.raises(LeadershipLost):
        await task
    assert len(leases.writes) == writes, "no renewal may be sent after the deadline"


async def test_a_fenced_client_sends_no_write_but_still_reads(tmp_path: Path) -> None:
    """KubeClient's write guard refuses writes in-process (NotLeading); nothing reaches the
    server (kubesim's audit log stays empty), and reads still work for a standby's caches."""
    async with KubeSim(kubeconfig_path=tmp_path / "kc.yaml") as sim:
        client = KubeClient(
            await load_api_client(kubeconfig=str(sim.kubeconfig_path)),
            qps=0,
            write_guard=lambda: False,
        )
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fenced", "namespace": "default"},
        }
        with pytest.raises(NotLeading):
            await client.apply(config_map)
        with pytest.raises(NotLeading):
            await client.delete("v1", "ConfigMap", "default", "fenced")
        listed = await client.list("v1", "ConfigMap", "default")
        assert "fenced" not in [c["metadata"]["name"] for c in listed]
        await client.close()
        assert [w for w in sim.audit.writes() if w["resource"] == "configmaps"] == []
