"""Where the operator finds its cluster: flags, KUBECONFIG, ~/.kube/config, or in-cluster.

The order is controller-runtime's, chosen explicitly because kubernetes-asyncio's own
``load_config`` prefers the kubeconfig *over* in-cluster and reads ``$KUBECONFIG`` at import
time:

1. ``--in-cluster``: the pod's service account, always.
2. ``--kubeconfig PATH``: that file.
3. ``$KUBECONFIG`` (a list separated by ``:``, merged as kubectl does).
4. ``KUBERNETES_SERVICE_HOST`` set (we run in a pod): the service account.
5. ``~/.kube/config`` if it exists.

``--context`` picks a kubeconfig context. Kubeconfigs are loaded with
``persist_config=False``: the operator never rewrites a user's kubeconfig.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config

__all__ = ["ConfigError", "describe_source", "load_api_client"]


class ConfigError(Exception):
    """No usable cluster configuration was found; the message says what was tried."""


def describe_source(
    *,
    kubeconfig: str | None = None,
    in_cluster: bool = False,
    environ: Mapping[str, str] = os.environ,
    home: Path | None = None,
) -> tuple[str, str | None]:
    """Decide where to load from: ``("in-cluster", None)`` or ``("kubeconfig", paths)``.

    Pure: reads only its arguments (``environ`` and ``home`` default to the process's).
    """
    if in_cluster:
        return "in-cluster", None
    explicit = kubeconfig or environ.get("KUBECONFIG")
    if explicit:
        missing = [p for p in explicit.split(os.pathsep) if p and not Path(p).expanduser().exists()]
        if missing:
            origin = "--kubeconfig" if kubeconfig else "KUBECONFIG"
            raise ConfigError(f"{origin}: kubeconfig file {missing[0]} does not exist")
        return "kubeconfig", explicit
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return "in-cluster", None
    default = (home or Path.home()) / ".kube" / "config"
    if default.exists():
        return "kubeconfig", str(default)
    raise ConfigError(
        "no cluster configuration: pass --kubeconfig or --in-cluster, set KUBECONFIG, "
        f"or create {default}"
    )


async def load_api_client(
    *, kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False
) -> ApiClient:
    """Build a kubernetes-asyncio ``ApiClient`` from the first source that applies (see module doc)."""
    source, paths = describe_source(kubeconfig=kubeconfig, in_cluster=in_cluster)
    configuration = Configuration()
    try:
        if source == "in-cluster":
            # kubernetes-asyncio leaves this loader unannotated.
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await load_kube_config(
                config_file=paths,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except ConfigException as exc:
        raise ConfigError(f"cannot load {source} configuration: {exc}") from exc
    return ApiClient(configuration)
