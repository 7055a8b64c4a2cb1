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

Proxy settings (``HTTPS_PROXY``/``NO_PROXY``) are read once, here. kubernetes-asyncio opens its
aiohttp session with ``trust_env=True``, which makes aiohttp look the environment's proxy and
``~/.netrc`` up again, in a worker thread, on *every* request: that was the largest single item
of the operator's CPU profile (docs/performance.md). The session's per-request lookup is
switched off and the proxy the environment names for the API server, if any, is configured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config

__all__ = ["ConfigError", "describe_source", "env_proxy", "load_api_client"]


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
    if not configuration.proxy:
        configuration.proxy = env_proxy(configuration.host)
    api_client = ApiClient(configuration)
    session = api_client.rest_client.pool_manager
    if hasattr(session, "_trust_env"):  # aiohttp's private switch; see the module docstring
        session._trust_env = False
    return api_client


def env_proxy(url: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The proxy ``environ`` names for ``url`` (``HTTPS_PROXY`` for https, ``NO_PROXY`` honoured),
    as curl and Go read them: upper or lower case, ``NO_PROXY`` hosts matching as suffixes."""
    parts = urlsplit(url or "")
    scheme = parts.scheme or "https"
    proxy = environ.get(f"{scheme.upper()}_PROXY") or environ.get(f"{scheme}_proxy")
    if not proxy or _bypassed(parts.hostname or "", environ):
        return None
    return proxy


def _bypassed(host: str, environ: Mapping[str, str]) -> bool:
    no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    entries = [e.strip().lstrip(".") for e in no_proxy.split(",") if e.strip()]
    return "*" in entries or any(host == e or host.endswith(f".{e}") for e in entries)
