"""``log`` (every Ray pod's logs into a folder) and ``session`` (port-forward to the head).

``log`` writes ``DIR/<pod>/stdout.log`` for each pod's Ray container, as KubeRay's plugin
does, and ``DIR/<pod>/<container>.log`` for each other container (the autoscaler sidecar);
from each head it also copies Ray's own logs (``/tmp/ray/session_latest/logs``) with ``kubectl
exec ... tar``, as KubeRay's does, where the cluster can exec (a simulated pod cannot: the
line says why and the command goes on).
``session`` runs ``kubectl port-forward`` to the head Service like KubeRay's, after asking the
API server whether it serves port-forwarding at all, so a cluster that cannot is one line.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tarfile
from pathlib import Path
from typing import Any, TextIO

from controller.api.constants import LABEL_NODE_TYPE
from controller.api.names import head_service_name
from controller.kube import KubeClient
from controller.kubectl_ray.commands import find_cluster, parse_resource, ray_pods
from controller.kubectl_ray.connect import PluginError, Target

__all__ = ["NODE_TYPES", "collect_logs", "kubectl_prefix", "session_command"]

NODE_TYPES = ("all", "head", "worker")
#: KubeRay's session ports for a RayCluster: the dashboard and the Ray client.
SESSION_PORTS = (("Ray Dashboard", 8265), ("Ray Interactive Client", 10001))


async def _pod_log(kube: KubeClient, pod: dict[str, Any], container: str) -> bytes:
    """One container's log as the API server returns it (text, so not through ``request``)."""
    meta = pod["metadata"]
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log"
    response = await kube.api_client.call_api(
        path, "GET", query_params=[("container", container)], auth_settings=["BearerToken"],
        _preload_content=False,
    )  # fmt: skip
    try:
        body = await response.read()
    finally:
        response.release()
    if response.status >= 400:
        raise PluginError(
            f"Error retrieving log for Ray cluster node {meta['name']}: HTTP {response.status}"
        )
    return bytes(body)


def kubectl_prefix(kubeconfig: str | None, context: str | None) -> list[str]:
    """``kubectl`` with the plugin's own ``--kubeconfig``/``--context``, for what it runs."""
    return [
        "kubectl",
        *([f"--kubeconfig={kubeconfig}"] if kubeconfig else []),
        *(["--context", context] if context else []),
    ]


async def _copy_session_logs(pod: dict[str, Any], folder: Path, kubectl: list[str]) -> str:
    """Copy the head's ``/tmp/ray/session_latest/logs`` into ``folder``; say what happened."""
    meta = pod["metadata"]
    container = pod["spec"]["containers"][0]["name"]
    if shutil.which(kubectl[0]) is None:
        return f"Ray's session logs of {meta['name']} not copied: kubectl is not on PATH"
    proc = await asyncio.create_subprocess_exec(
        *kubectl, "exec", "-n", meta["namespace"], meta["name"], "-c", container, "--",
        "tar", "-cf", "-", "-C", "/tmp/ray/session_latest", "logs",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    archive, err = await proc.communicate()
    if proc.returncode != 0:
        reason = (err.decode(errors="replace").strip().splitlines() or ["exec failed"])[-1]
        return f"Ray's session logs of {meta['name']} not copied: {reason}"
    _extract(archive, folder)
    return f"Copied Ray's session logs of {meta['name']} into {folder}/logs/"


def _extract(archive: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")  # no absolute paths, links out or devices


async def collect_logs(
    kube: KubeClient,
    target: Target,
    arg: str,
    *,
    out_dir: str | None,
    node_type: str,
    kubectl: list[str],
    out: TextIO,
) -> Path:
    """Write every selected Ray pod's container logs under ``out_dir`` (default: the name)."""
    name = parse_resource(arg)
    await find_cluster(kube, target, name)
    pods = await ray_pods(kube, target.namespace, cluster=name)
    if node_type != "all":
        pods = [p for p in pods if (p["metadata"].get("labels") or {}).get(LABEL_NODE_TYPE)
                == node_type]  # fmt: skip
    if not pods:
        raise PluginError(f"No Ray nodes found for resource {name}")
    folder = _folder(out_dir, name)
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        out.write(f"Downloading log for Ray Node {pod_name}\n")
        for index, container in enumerate(pod["spec"].get("containers") or []):
            file = "stdout.log" if index == 0 else f"{container['name']}.log"
            _write(folder / pod_name / file, await _pod_log(kube, pod, container["name"]))
        if (pod["metadata"].get("labels") or {}).get(LABEL_NODE_TYPE) == "head":
            out.write(await _copy_session_logs(pod, folder / pod_name, kubectl) + "\n")
    out.write(f"Wrote the logs of {len(pods)} Ray nodes to {folder}/\n")
    return folder


def _folder(out_dir: str | None, name: str) -> Path:
    """``--out-dir`` must exist (as in KubeRay); the default ``./NAME`` is created."""
    if out_dir is not None and not Path(out_dir).is_dir():
        raise PluginError(f"Directory does not exist: {out_dir}")
    return Path(out_dir or name)


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


async def _serves_port_forward(kube: KubeClient) -> bool:
    resources = (await kube.request("GET", "/api/v1")).get("resources") or []
    return any(r.get("name") == "pods/portforward" for r in resources)


async def session_command(
    kube: KubeClient,
    target: Target,
    arg: str,
    *,
    kubeconfig: str | None,
    context: str | None,
    out: TextIO,
) -> list[str]:
    """The ``kubectl port-forward`` command line to run (after printing KubeRay's lines)."""
    name = parse_resource(arg)
    cluster = await find_cluster(kube, target, name)
    if not await _serves_port_forward(kube):
        raise PluginError(
            "this cluster's API server does not serve pods/portforward (kubesim has no "
            "port-forwarding), so no session can be opened"
        )
    if shutil.which("kubectl") is None:
        raise PluginError("kubectl is not on PATH; `kubectl ray session` runs kubectl port-forward")
    head = (cluster.get("status") or {}).get("head") or {}
    service = head.get("serviceName") or head_service_name(name)
    out.write(f"Forwarding ports to service {service}\n")
    for label, port in SESSION_PORTS:
        out.write(f"{label}: http://localhost:{port}\n")
    out.write("\n")
    argv = [*kubectl_prefix(kubeconfig, context), "port-forward",
            "-n", target.namespace, f"service/{service}"]  # fmt: skip
    argv += [f"{port}:{port}" for _, port in SESSION_PORTS]
    return argv
