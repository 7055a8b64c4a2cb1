"""ServiceAccount admission: a pod's account must exist, and its token is projected into it.

As upstream's plugin: `serviceAccountName` defaults to `default` (the API defaults already did);
a missing account is 403 (`error looking up service account ns/name: serviceaccount "name" not
found`), which is what makes a StatefulSet or ReplicaSet record FailedCreate; unless the pod or
its account turns automounting off, a projected `kube-api-access-xxxxx` volume (token, the
cluster CA from `kube-root-ca.crt`, the namespace) is mounted read-only into every container at
/var/run/secrets/kubernetes.io/serviceaccount, where the process runtime puts the files.
"""

from __future__ import annotations

import random
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.store import Store

__all__ = ["MOUNT_PATH", "TOKEN_EXPIRATION", "admit_service_account", "display_name"]

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
#: The expiry the plugin asks for (1 h plus 7 s, so kubelets can tell the projected tokens).
TOKEN_EXPIRATION = 3607
_MIRROR = "kubernetes.io/config.mirror"
_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def display_name(meta: dict[str, Any]) -> str:
    """The name upstream's admission errors print: the generateName prefix for generated
    names (`pods "web-7d9f-" is forbidden`), else the name."""
    name = str(meta.get("name") or "")
    prefix = str(meta.get("generateName") or "")
    if prefix and name.startswith(prefix[:58]) and len(name) == len(prefix[:58]) + 5:
        return prefix
    return name


def _projected_volume(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "fieldRef": {
                                    "apiVersion": "v1",
                                    "fieldPath": "metadata.namespace",
                                },
                                "path": "namespace",
                            }
                        ]
                    }
                },
            ],
        },
    }


def admit_service_account(store: Store, pod: dict[str, Any], rng: random.Random) -> None:
    """Check the pod's ServiceAccount and project its token (mutates `pod`)."""
    meta = pod["metadata"]
    if _MIRROR in (meta.get("annotations") or {}):
        return
    spec = pod.setdefault("spec", {})
    account_name = spec.get("serviceAccountName") or "default"
    spec["serviceAccountName"] = account_name
    namespace = meta["namespace"]
    try:
        account = store.get("serviceaccounts", namespace, account_name)
    except errors.StatusError:
        raise errors.forbidden(
            "pods",
            "",
            display_name(meta),
            f'error looking up service account {namespace}/{account_name}: serviceaccount "{account_name}" not found',
        )
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    if automount is False:
        return
    containers = [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]
    needing = [
        c
        for c in containers
        if not any(m.get("mountPath") == MOUNT_PATH for m in c.get("volumeMounts") or [])
    ]
    if not needing:
        return
    volume = "kube-api-access-" + "".join(rng.choice(_CHARS) for _ in range(5))
    spec.setdefault("volumes", []).append(_projected_volume(volume))
    for container in needing:
        container.setdefault("volumeMounts", []).append(
            {"name": volume, "readOnly": True, "mountPath": MOUNT_PATH}
        )
