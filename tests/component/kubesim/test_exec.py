"""`kubectl exec` against kubesim: the WebSocket remote-command protocol end to end.

The simulated runtime has no processes, so it refuses exec and kubectl must say why. To prove the
protocol itself (stdin, stdout, stderr, exit code, TTY, resize), the node's runtime is wrapped in a
test double of the runtime seam whose exec runs the command on this host through
`kubelet.exec.spawn`, as the process runtime does inside the pod; the clients are the real kubectl
and kubernetes-asyncio's WebSocket client.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.stream import WsApiClient

from kubesim import KubeSim, WorkloadsConfig
from kubesim.kubelet.exec import ExecProcess, spawn
from kubesim.kubelet.runtime import ContainerRuntime

Kubectl = Callable[..., Any]
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "box"},
    "spec": {"containers": [{"name": "shell", "image": "busybox:1.36"}]},
}


class HostExec:
    """The simulated runtime, except that exec runs the command on this host."""

    def __init__(self, inner: ContainerRuntime) -> None:
        self._inner = inner
        self.spawned: list[ExecProcess] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def exec(
        self, uid: str, container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> ExecProcess:
        process = await spawn(argv, tty=tty, stdin=stdin)
        self.spawned.append(process)
        return process


@pytest.fixture
async def sim() -> AsyncIterator[KubeSim]:
    """A kubesim with kubelets (fast delays)."""
    async with KubeSim(workloads_config=WorkloadsConfig.fast()) as running:
        yield running


@pytest.fixture
async def host_sim(sim: KubeSim) -> KubeSim:
    """`sim` with every node's runtime running exec on this host, and pod `box` running."""
    await sim.workloads.started.wait()
    for kubelet in sim.workloads.kubelets.values():
        kubelet.runtime = HostExec(kubelet.runtime)
    sim.cluster.create("pods", "default", POD)
    await _running(sim)
    return sim


async def _running(sim: KubeSim) -> None:
    for _ in range(500):
        status = sim.cluster.get("pods", "default", "box").get("status") or {}
        if any("running" in s["state"] for s in status.get("containerStatuses") or ()):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("pod box is not running")


@pytest.fixture
def kubectl(host_sim: KubeSim, kubectl_for: Callable[[KubeSim], Kubectl]) -> Kubectl:
    """kubectl against `host_sim`."""
    return kubectl_for(host_sim)


@pytest.mark.kubectl
async def test_simulated_container_refuses_exec(
    sim: KubeSim, kubectl_for: Callable[[KubeSim], Kubectl]
) -> None:
    """With the simulated runtime, kubectl exec prints why it cannot work and exits non-zero."""
    sim.cluster.create("pods", "default", POD)
    await _running(sim)
    code, out, err = await kubectl_for(sim)("exec", "box", "--", "ls")
    assert code == 1
    assert out == ""
    assert err.strip() == (
        'error: container "shell" is simulated by kubesim (--runtime simulated): '
        "exec needs --runtime process"
    )


@pytest.mark.kubectl
async def test_exit_code_and_output_streams(kubectl: Kubectl) -> None:
    """stdout and stderr arrive separately and kubectl exits with the command's exit code."""
    code, out, err = await kubectl(
        "exec", "box", "--", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert code == 3
    assert out == "out\n"
    assert err == "err\ncommand terminated with exit code 3\n"
    code, out, err = await kubectl("exec", "box", "-c", "shell", "--", "true")
    assert (code, out, err) == (0, "", "")


@pytest.mark.kubectl
async def test_stdin_reaches_the_command_and_ends(kubectl: Kubectl) -> None:
    """-i sends stdin; its end reaches the command (v5's close signal), so `cat` finishes."""
    code, out, err = await kubectl("exec", "-i", "box", "--", "cat", stdin="hello\nworld\n")
    assert (code, out, err) == (0, "hello\nworld\n", "")


@pytest.mark.kubectl
async def test_tty_with_resize(host_sim: KubeSim, tmp_path: Path) -> None:
    """-it gives the command a terminal sized like kubectl's, and a resize reaches it."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed on this machine")
    # Each line typed prints the terminal size; end of input (^D) ends the loop with code 5.
    script = "while read line; do stty size; done; exit 5"
    argv = [binary, f"--kubeconfig={host_sim.kubeconfig_path}", f"--cache-dir={tmp_path}"]
    terminal = await spawn(
        [*argv, "exec", "-it", "box", "--", "sh", "-c", script], tty=True, stdin=True
    )
    terminal.resize(111, 33)
    assert terminal.stdin is not None
    seen = bytearray()

    async def reader() -> None:
        while chunk := await terminal.stdout.read(4096):
            seen.extend(chunk)

    async def type_until(text: bytes) -> None:
        """Press Enter every 0.2 s until `text` shows (the resize may trail the keystrokes)."""
        assert terminal.stdin is not None
        while text not in seen:
            terminal.stdin.write(b"\r")
            await asyncio.sleep(0.2)

    reading = asyncio.create_task(reader())
    async with asyncio.timeout(30):
        await type_until(b"33 111")
        terminal.resize(122, 44)
        await type_until(b"44 122")
        terminal.stdin.write(b"\x04")
        assert await terminal.wait() == 5
        await reading
    assert b"command terminated with exit code 5" in seen


async def test_websocket_v4_client(host_sim: KubeSim) -> None:
    """kubernetes-asyncio's v4 client gets stdout on channel 1 and the exit code as a Status."""
    configuration = client.Configuration()
    await config.load_kube_config(str(host_sim.kubeconfig_path), client_configuration=configuration)
    async with WsApiClient(configuration=configuration) as ws_api:
        api = client.CoreV1Api(api_client=ws_api)
        socket = await api.connect_get_namespaced_pod_exec(
            "box",
            "default",
            command=["sh", "-c", "echo hi; exit 2"],
            stdout=True,
            stderr=True,
            _preload_content=False,
        )
        channels: dict[int, bytes] = {}
        async with socket as ws:
            async for message in ws:
                channels[message.data[0]] = channels.get(message.data[0], b"") + message.data[1:]
    assert channels[1] == b"hi\n"
    status = orjson.loads(channels[3])
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert WsApiClient.parse_error_data(channels[3]) == 2


async def test_client_leaving_kills_the_command(host_sim: KubeSim) -> None:
    """When the client closes the WebSocket mid-command, the command is killed."""
    import aiohttp

    url = (
        f"{host_sim.url}/api/v1/namespaces/default/pods/box/exec"
        "?command=sleep&command=30&stdout=true"
    )
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        await asyncio.sleep(0.2)
    runtime = next(iter(host_sim.workloads.kubelets.values())).runtime
    async with asyncio.timeout(5):
        assert await runtime.spawned[0].wait() == 137


@pytest.mark.kubectl
async def test_errors_before_the_upgrade(kubectl: Kubectl, host_sim: KubeSim) -> None:
    """A bad container or an unscheduled pod is refused before the upgrade, as a Status."""
    code, _, err = await kubectl("exec", "box", "-c", "nope", "--", "true")
    assert code == 1
    assert "container nope is not valid for pod box" in err
    unscheduled = {"schedulerName": "nobody", "containers": POD["spec"]["containers"]}
    host_sim.cluster.create(
        "pods", "default", {**POD, "metadata": {"name": "nowhere"}, "spec": unscheduled}
    )
    code, _, err = await kubectl("exec", "nowhere", "--", "true")
    assert code == 1
    assert "pod nowhere does not have a host assigned" in err


async def test_spdy_is_refused_with_a_reason(host_sim: KubeSim) -> None:
    """An SPDY exec (old kubectl) gets a 400 that says to use WebSocket."""
    import aiohttp

    url = f"{host_sim.url}/api/v1/namespaces/default/pods/box/exec?command=true&stdout=true"
    headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["message"].startswith("kubesim serves exec over WebSocket only, not SPDY")
