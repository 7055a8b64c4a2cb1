"""How the plugin reaches the cluster, and how it fails.

The kubeconfig is found as kubectl finds it (``--kubeconfig``, ``$KUBECONFIG``,
``~/.kube/config``); the namespace is ``-n`` or the context's, else ``default``, as for kubectl.
Everything a user can get wrong raises ``PluginError``, which ``cli`` prints as one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.kube import KubeClient, load_api_client
from controller.kube.config import ConfigError, describe_source

__all__ = ["FIELD_MANAGER", "PluginError", "Target", "connect", "resolve_target"]

#: KubeRay's plugin applies with this field manager; so do we, so ownership reads the same.
FIELD_MANAGER = "ray-kubectl-plugin"


class PluginError(Exception):
    """Something the user can fix; the message is the one line printed before exit 1."""


@dataclass(frozen=True)
class Target:
    """Where a command looks: one namespace, or all of them (``-A``)."""

    namespace: str
    all_namespaces: bool = False

    def where(self) -> str:
        """The words KubeRay's messages end with: 'in namespace X' or 'in any namespace'."""
        return "in any namespace" if self.all_namespaces else f"in namespace {self.namespace}"


def resolve_target(
    *, namespace: str | None, all_namespaces: bool, kubeconfig: str | None, context: str | None
) -> Target:
    """The namespace from ``-n``, else the kubeconfig context's, else ``default``."""
    if namespace:
        return Target(namespace, all_namespaces)
    return Target(_context_namespace(kubeconfig, context) or "default", all_namespaces)


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    try:
        source, paths = describe_source(kubeconfig=kubeconfig)
    except ConfigError:
        return None
    if source == "in-cluster" or paths is None:
        sa = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        return sa.read_text().strip() if sa.exists() else None
    docs: list[dict[str, Any]] = []
    for path in paths.split(os.pathsep):
        if path:
            loaded = yaml.safe_load(Path(path).expanduser().read_text()) or {}
            docs.append(loaded if isinstance(loaded, dict) else {})
    name = context or next((d["current-context"] for d in docs if d.get("current-context")), None)
    for doc in docs:
        for entry in doc.get("contexts") or []:
            if entry.get("name") == name:
                return (entry.get("context") or {}).get("namespace") or None
    return None


async def connect(*, kubeconfig: str | None, context: str | None) -> KubeClient:
    """A client for the cluster, unthrottled (one user, a handful of requests)."""
    try:
        api = await load_api_client(kubeconfig=kubeconfig, context=context)
    except ConfigError as exc:
        raise PluginError(str(exc)) from None
    return KubeClient(api, qps=0, field_manager=FIELD_MANAGER)
