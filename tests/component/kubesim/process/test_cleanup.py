"""What the process runtime leaves on the host: nothing, even after a SIGKILLed kubesim."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kubesim.kubelet.process import cleanup
from kubesim.kubelet.process.cleanup import HostUnavailable, require_host
from kubesim.kubelet.process.host import ProcessHost
from tests.component.kubesim.process.conftest import claim_host, leftovers

# A kubesim-to-be that sets up one pod with a process in it, then is SIGKILLed.
_DOOMED = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys
    from pathlib import Path
    from kubesim.kubelet.process.cleanup import Instance
    from kubesim.kubelet.process.network import Network
    from kubesim.kubelet.process.sandbox import Sandbox

    instance = Instance.create()
    network = Network(instance, sys.argv[1])
    network.add_pod("deadbeef-0000", sys.argv[2])
    sandbox = Sandbox(instance.root / "deadbeef", pod={"metadata": {"name": "p"}}, lookup=None)
    (instance.root / "deadbeef").mkdir()
    sandbox._tmpfs(instance.root / "deadbeef" / "shm", 1 << 20)
    sleeper = subprocess.Popen(
        ["nsenter", "--net=" + network.netns_path("deadbeef-0000"), "sleep", "300"],
        env={"PATH": "/usr/bin:/bin", "KS_TEST": sys.argv[3]},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    print(json.dumps({"id": instance.id, "sleeper": sleeper.pid}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_kubesim_after_a_sigkilled_one_removes_what_it_left() -> None:
    """Namespaces, veths, bridge, mounts, directory and processes of a dead instance go."""
    marker = f"doomed-{os.getpid()}"
    probe = claim_host()  # a free pod CIDR for the doomed kubesim
    cidr = probe.pod_network.pod_cidr
    probe.close()
    pod_ip = cidr.replace("0.0/16", "0.2")
    result = subprocess.run(
        [sys.executable, "-c", _DOOMED, cidr, pod_ip, marker],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    left = json.loads(result.stdout.splitlines()[-1])
    assert len(leftovers(left["id"], marker)) >= 5  # netns, bridge, veth, mount, dir, process
    assert _alive(left["sleeper"])

    host = claim_host()
    try:
        assert leftovers(left["id"], marker) == []
        assert not _alive(left["sleeper"])
    finally:
        host.close()
    assert leftovers(host.instance.id, marker) == []


def test_a_live_instance_is_never_touched() -> None:
    """Two kubesims at once: the second sweeps nothing of the first, and each cleans its own."""
    first = claim_host()
    try:
        second = claim_host()
        try:
            assert Path(f"/sys/class/net/{first.pod_network.bridge}").exists()
            assert first.instance.id not in cleanup.sweep_stale()
        finally:
            second.close()
        assert Path(f"/sys/class/net/{first.pod_network.bridge}").exists()
        assert not Path(f"/sys/class/net/{second.pod_network.bridge}").exists()
    finally:
        first.close()
    assert leftovers(first.instance.id, "-") == []


def test_pod_cidr_overlapping_a_host_route_is_refused() -> None:
    """A second kubesim on the same pod CIDR is refused with the route it would clash with."""
    first = claim_host()
    narrower = first.pod_network.pod_cidr.replace("/16", "/24")
    try:
        with pytest.raises(HostUnavailable, match=f"pod CIDR {narrower} overlaps the host route"):
            ProcessHost(pod_cidr=narrower)
    finally:
        first.close()
    assert not (cleanup.ROOT / first.instance.id).exists()


def test_without_root_or_ip_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Constructing the runtime without root and iproute2 names both, in one line."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(cleanup.shutil, "which", lambda tool: None if tool == "ip" else "/x")
    with pytest.raises(HostUnavailable) as info:
        require_host()
    message = str(info.value)
    assert "\n" not in message
    assert "root (running as uid 1000)" in message
    assert "`ip` command (iproute2)" in message
