"""The kubeconfig kubesim writes: one cluster, one user, one context, all named `kubesim`.

kubectl and kubernetes-asyncio both load it. The user carries the cluster admin's bearer token
(`kubesim-admin`, group `system:masters`; see `kubesim.apiserver.auth`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

__all__ = ["kubeconfig_dict", "write_kubeconfig"]


def kubeconfig_dict(
    url: str, *, ca_pem: bytes | None = None, namespace: str = "default", token: str = "kubesim"
) -> dict[str, Any]:
    """The kubeconfig document for a kubesim at `url`."""
    cluster: dict[str, Any] = {"server": url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubesim", "cluster": cluster}],
        "users": [{"name": "kubesim", "user": {"token": token}}],
        "contexts": [
            {
                "name": "kubesim",
                "context": {"cluster": "kubesim", "user": "kubesim", "namespace": namespace},
            }
        ],
        "current-context": "kubesim",
        "preferences": {},
    }


def write_kubeconfig(
    path: Path, url: str, *, ca_pem: bytes | None = None, token: str = "kubesim"
) -> Path:
    """Write the kubeconfig (mode 0600) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = kubeconfig_dict(url, ca_pem=ca_pem, token=token)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
