"""`kubectl logs` against kubesim: the kubelet's log files, options and errors, over real HTTP.

The simulated runtime writes one line when a container instance starts and one when it exits,
so a crash (kubesim's chaos) gives a container a previous instance with two lines.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim
from kubesim.common.clock import format_time
from kubesim.kubelet.logs import MAX_LINE_BYTES, ContainerLogs, NoLogs

Kubectl = Callable[..., Any]

TWO_CONTAINERS = """
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: nginx:1.27}
  - {name: sidecar, image: busybox:1.36}
"""
STARTED = re.compile(r"^\S+Z kubesim: container app started \(image docker.io/library/nginx:1.27\)")
EXITED = re.compile(r"^\S+Z kubesim: container app exited with code 3$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


@pytest.fixture
def kubectl(sim_with_workloads: KubeSim, kubectl_for: Callable[[KubeSim], Kubectl]) -> Kubectl:
    """kubectl against a kubesim with controllers and kubelet."""
    return kubectl_for(sim_with_workloads)


async def _running(sim: KubeSim, name: str = "web", *, restarts: int = 0) -> dict[str, Any]:
    """Wait (real time, bounded) until every container runs with `restarts` restarts of app."""
    for _ in range(500):
        pod = sim.cluster.get("pods", "default", name)
        statuses = {s["name"]: s for s in pod.get("status", {}).get("containerStatuses") or ()}
        running = statuses and all("running" in s["state"] for s in statuses.values())
        if running and statuses["app"]["restartCount"] == restarts:
            return pod
        await asyncio.sleep(0.02)
    raise AssertionError(f"pod {name} did not run with {restarts} restart(s): {pod.get('status')}")


async def _crash(sim: KubeSim, *, after: float = 0.0) -> None:
    """Let app run `after` seconds, crash it with code 3 and wait for its restart."""
    await _running(sim)
    await asyncio.sleep(after)
    sim.workloads.chaos("crash_container", {"pod": "web", "container": "app", "exit_code": 3})
    await _running(sim, restarts=1)


@pytest.mark.kubectl
async def test_logs_of_a_named_container(kubectl: Kubectl, sim_with_workloads: KubeSim) -> None:
    """`kubectl logs POD -c C` prints what that container wrote; without -c kubectl picks the first."""
    assert (await kubectl("apply", "-f", "-", stdin=TWO_CONTAINERS))[0] == 0
    await _running(sim_with_workloads)
    code, out, err = await kubectl("logs", "web", "-c", "app")
    assert code == 0, err
    assert [bool(STARTED.match(line)) for line in out.splitlines()] == [True]
    code, out, err = await kubectl("logs", "web", "-c", "sidecar")
    assert "container sidecar started (image docker.io/library/busybox:1.36)" in out
    code, out, err = await kubectl("logs", "web")
    assert code == 0
    assert 'Defaulted container "app" out of: app, sidecar' in err
    assert STARTED.match(out)


@pytest.mark.kubectl
async def test_timestamps_prefix_every_line(kubectl: Kubectl, sim_with_workloads: KubeSim) -> None:
    """--timestamps puts the kubelet's fixed-width RFC 3339 nanosecond stamp before each line."""
    assert (await kubectl("apply", "-f", "-", stdin=TWO_CONTAINERS))[0] == 0
    await _crash(sim_with_workloads)
    code, out, err = await kubectl("logs", "web", "-c", "app", "--previous", "--timestamps")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert all(STAMP.match(line) for line in lines)
    assert STARTED.match(STAMP.sub("", lines[0]))
    assert EXITED.match(STAMP.sub("", lines[1]))


@pytest.mark.kubectl
async def test_previous_shows_the_crashed_instance(
    kubectl: Kubectl, sim_with_workloads: KubeSim
) -> None:
    """--previous fails until the container restarted, then shows the instance that crashed."""
    assert (await kubectl("apply", "-f", "-", stdin=TWO_CONTAINERS))[0] == 0
    await _running(sim_with_workloads)
    code, out, err = await kubectl("logs", "web", "-c", "app", "--previous")
    assert code == 1
    assert err.strip() == (
        'Error from server (BadRequest): previous terminated container "app" in pod "web" not found'
    )
    await _crash(sim_with_workloads)
    code, out, err = await kubectl("logs", "web", "-c", "app", "--previous")
    assert code == 0, err
    assert [bool(STARTED.match(x)) or bool(EXITED.match(x)) for x in out.splitlines()] == [
        True,
        True,
    ]
    code, out, _ = await kubectl("logs", "web", "-c", "app")
    assert [bool(STARTED.match(line)) for line in out.splitlines()] == [True]


@pytest.mark.kubectl
async def test_tail_and_limit_bytes(kubectl: Kubectl, sim_with_workloads: KubeSim) -> None:
    """--tail=N keeps the last N lines (0: none); --limit-bytes cuts the output."""
    assert (await kubectl("apply", "-f", "-", stdin=TWO_CONTAINERS))[0] == 0
    await _crash(sim_with_workloads)
    _, out, _ = await kubectl("logs", "web", "-c", "app", "--previous", "--tail=1")
    assert [bool(EXITED.match(line)) for line in out.splitlines()] == [True]
    _, out, _ = await kubectl("logs", "web", "-c", "app", "--previous", "--tail=0")
    assert out == ""
    _, whole, _ = await kubectl("logs", "web", "-c", "app", "--previous")
    _, out, _ = await kubectl("logs", "web", "-c", "app", "--previous", "--limit-bytes=30")
    assert out == whole[:30]


@pytest.mark.kubectl
async def test_since_skips_older_lines(kubectl: Kubectl, sim_with_workloads: KubeSim) -> None:
    """--since and --since-time drop the lines written before that moment."""
    assert (await kubectl("apply", "-f", "-", stdin=TWO_CONTAINERS))[0] == 0
    await _running(sim_with_workloads)
    await asyncio.sleep(2.0)
    clock = sim_with_workloads.workloads.clock
    middle_at = clock.now()
    middle = format_time(middle_at)
    await asyncio.sleep(2.0)
    sim_with_workloads.workloads.chaos(
        "crash_container", {"pod": "web", "container": "app", "exit_code": 3}
    )
    await _running(sim_with_workloads, restarts=1)
    _, out, _ = await kubectl("logs", "web", "-c", "app", "--previous", f"--since-time={middle}")
    assert [bool(EXITED.match(line)) for line in out.splitlines()] == [True]
    # A relative window reaching back to between the start line and `middle`, however long
    # this machine took to get here (the start line is 2 s older than `middle`).
    since = math.ceil(clock.now() - middle_at)
    _, out, _ = await kubectl("logs", "web", "-c", "app", "--previous", f"--since={since}s")
    assert [bool(EXITED.match(line)) for line in out.splitlines()] == [True]
    _, out, _ = await kubectl("logs", "web", "-c", "app", "--previous", "--since=1h")
    assert len(out.splitlines()) == 2


@pytest.mark.kubectl
async def test_follow_ends_when_the_container_ends(
    kubectl: Kubectl, sim_with_workloads: KubeSim, kubectl_for: Callable[[KubeSim], Kubectl]
) -> None:
    """-f streams the running instance and returns once that instance exits."""
    assert (await kubectl("apply", "-f", "-", stdin=TWO_CONTAINERS))[0] == 0
    await _running(sim_with_workloads)
    follow = asyncio.create_task(kubectl("logs", "-f", "web", "-c", "app"))
    await asyncio.sleep(1.0)
    assert not follow.done(), "kubectl logs -f returned while the container runs"
    sim_with_workloads.workloads.chaos(
        "crash_container", {"pod": "web", "container": "app", "exit_code": 3}
    )
    async with asyncio.timeout(10):
        code, out, err = await follow
    assert code == 0, err
    assert [bool(STARTED.match(x)) or bool(EXITED.match(x)) for x in out.splitlines()] == [
        True,
        True,
    ]


@pytest.mark.kubectl
async def test_waiting_container_says_why(kubectl: Kubectl, sim_with_workloads: KubeSim) -> None:
    """A container whose image cannot be pulled has no log; kubectl says it waits and why."""
    sim_with_workloads.workloads.chaos("fail_image_pull", {"image": "busybox:1.36"})
    assert (await kubectl("apply", "-f", "-", stdin=TWO_CONTAINERS))[0] == 0
    for _ in range(500):
        statuses = sim_with_workloads.cluster.get("pods", "default", "web")["status"]
        waiting = [
            s["state"]["waiting"]["reason"]
            for s in statuses.get("containerStatuses") or ()
            if s["name"] == "sidecar" and "waiting" in s["state"]
        ]
        if waiting in (["ErrImagePull"], ["ImagePullBackOff"]):
            break
        await asyncio.sleep(0.02)
    code, _, err = await kubectl("logs", "web", "-c", "sidecar")
    assert code == 1
    assert err.strip() in {
        f'Error from server (BadRequest): container "sidecar" in pod "web" is waiting to start: {why}'
        for why in ("image can't be pulled", "trying and failing to pull image")
    }


async def test_log_errors_over_http(sim_with_workloads: KubeSim) -> None:
    """The API names the containers to choose from, rejects bad options, and 404s a missing pod."""
    import aiohttp

    sim_with_workloads.cluster.create("pods", "default", _two_container_pod())
    await _running(sim_with_workloads)
    base = f"{sim_with_workloads.url}/api/v1/namespaces/default/pods"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/web/log") as resp:
            assert resp.status == 400
            body = await resp.json()
        assert body["message"] == (
            "a container name must be specified for pod web, choose one of: [app sidecar]"
        )
        async with http.get(f"{base}/web/log?container=nope") as resp:
            assert (await resp.json())["message"] == "container nope is not valid for pod web"
        async with http.get(f"{base}/web/log?container=app&tailLines=-1") as resp:
            assert resp.status == 422
            assert (await resp.json())["message"] == (
                'PodLogOptions "web" is invalid: '
                "tailLines: Invalid value: -1: must be greater than or equal to 0"
            )
        async with http.get(
            f"{base}/web/log?container=app&sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"
        ) as resp:
            assert resp.status == 422
        async with http.get(f"{base}/gone/log") as resp:
            assert resp.status == 404


async def test_log_files_go_with_the_pod(sim_with_workloads: KubeSim) -> None:
    """Each instance has a CRI-format file under the node's log root; deleting the pod removes them."""
    created = sim_with_workloads.cluster.create("pods", "default", _two_container_pod())
    await _crash(sim_with_workloads)
    runtime = next(iter(sim_with_workloads.workloads.kubelets.values())).runtime
    folder = runtime.logs.root / created["metadata"]["uid"] / "app"
    assert sorted(p.name for p in folder.iterdir()) == ["0.log", "1.log"]
    records = (folder / "0.log").read_text().splitlines()
    assert [r.split(" ", 3)[1:3] for r in records] == [["stdout", "F"], ["stdout", "F"]]
    sim_with_workloads.cluster.delete("pods", "default", "web", grace_period_seconds=0)
    for _ in range(250):
        if not folder.parent.exists():
            break
        await asyncio.sleep(0.02)
    assert not folder.parent.exists()


async def test_container_logs_split_and_flush_raw_output(tmp_path: Path) -> None:
    """Raw output becomes one record per line, long lines partial records, and a last line is kept."""
    logs = ContainerLogs(tmp_path, now=lambda: 1_700_000_000.5)
    writer = logs.writer("uid", "c", 0)
    writer.feed("stdout", b"one\ntw")
    writer.feed("stderr", b"err\n")
    writer.feed("stdout", b"o\n" + b"x" * (MAX_LINE_BYTES + 5) + b"\nlast")
    writer.close()
    text = (tmp_path / "uid" / "c" / "0.log").read_bytes().splitlines()
    assert [line.split(b" ", 3)[1:3] for line in text] == [
        [b"stdout", b"F"],
        [b"stderr", b"F"],
        [b"stdout", b"F"],
        [b"stdout", b"P"],
        [b"stdout", b"F"],
        [b"stdout", b"F"],
    ]
    assert text[0].startswith(b"2023-11-14T22:13:20.500000000Z stdout F one")
    body = logs.read("uid", "c")
    assert body == b"one\nerr\ntwo\n" + b"x" * (MAX_LINE_BYTES + 5) + b"\nlast\n"
    with pytest.raises(NoLogs):
        logs.read("uid", "c", previous=True)


async def test_follow_yields_new_lines_until_the_instance_ends(tmp_path: Path) -> None:
    """follow() streams what is written after it started and stops at the writer's close."""
    logs = ContainerLogs(tmp_path)
    writer = logs.writer("uid", "c", 0)
    writer.write_line("stdout", "first")
    chunks: list[bytes] = []

    async def collect() -> None:
        async for chunk in logs.follow("uid", "c", tail_lines=5):
            chunks.append(chunk)

    task = asyncio.create_task(collect())
    await asyncio.sleep(0.05)
    writer.write_line("stderr", "second")
    await asyncio.sleep(0.05)
    assert not task.done()
    writer.close()
    async with asyncio.timeout(5):
        await task
    assert b"".join(chunks) == b"first\nsecond\n"


def _two_container_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "containers": [
                {"name": "app", "image": "nginx:1.27"},
                {"name": "sidecar", "image": "busybox:1.36"},
            ]
        },
    }
