"""`kubesim serve --runtime process --image-map IMAGE=DIR`, as a user starts it.

A pod whose image is mapped runs from that environment, and reaches the API server the way an
in-cluster client does: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT_HTTPS` with
the service-account CA and token — so the certificate covers the bridge address.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

#: What the pod runs: an in-cluster GET of /version, printing the server's gitVersion.
IN_CLUSTER_GET = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
url = "https://%s:%s/version" % (os.environ["KUBERNETES_SERVICE_HOST"],
                                 os.environ["KUBERNETES_SERVICE_PORT_HTTPS"])
request = urllib.request.Request(url, headers={"Authorization": "Bearer " + open(sa + "/token").read()})
context = ssl.create_default_context(cafile=sa + "/ca.crt")
print(url, json.load(urllib.request.urlopen(request, context=context, timeout=10))["gitVersion"])
"""


async def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", f"--kubeconfig={kubeconfig}", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    return proc.returncode or 0, out.decode()


async def test_serve_with_an_image_map_runs_an_in_cluster_client(
    real_ray_host: None, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    serve = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubesim", "serve", "--runtime", "process",
        "--image-map", f"example.com/tools:1={sys.prefix}", f"--kubeconfig-out={kubeconfig}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert serve.stdout is not None
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            line = await asyncio.wait_for(serve.stdout.readline(), 60)
            assert line, "".join(lines)
            lines.append(line.decode())
        api_line = next(line for line in lines if line.startswith("pods run as real processes"))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "client", "namespace": "default"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "main", "image": "example.com/tools:1",
                     "command": ["python", "-c", IN_CLUSTER_GET]},
                ],
            },
        }  # fmt: skip
        code, out = await _kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(pod))
        assert code == 0, out

        async def finished() -> str:
            _, phase = await _kubectl(kubeconfig, "get", "pod", "client", "-o",
                                      "jsonpath={.status.phase}")  # fmt: skip
            return phase if phase in ("Succeeded", "Failed") else ""

        phase = await wait_for(finished, within=60, what="the client pod to finish")
        _, log = await _kubectl(kubeconfig, "logs", "client", "-c", "main")
        assert phase == "Succeeded", log
        url, version = log.split()[-2:]
        assert url.startswith("https://"), log
        assert url.endswith(":443/version"), log
        assert url.removesuffix("/version") in api_line, (url, api_line)
        assert version.startswith("v1."), log
    finally:
        serve.send_signal(signal.SIGTERM)
        await asyncio.wait_for(serve.wait(), 60)
    assert serve.returncode == 0
