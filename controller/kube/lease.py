"""The Lease calls leader election makes (:class:`controller.leaderelection.LeaseClient`).

Leases are the one place rayop does not use server-side apply: leader election needs
optimistic concurrency (create must fail if the Lease exists, replace must fail if it changed
since it was read), which POST and PUT-with-resourceVersion give and apply does not.
"""

from __future__ import annotations

from typing import Any

from controller.kube.client import KubeClient
from controller.kube.errors import Conflict, NotFound
from controller.kube.resources import object_path, resource_for
from controller.leaderelection import LeaseConflictError

__all__ = ["KubeLeaseClient"]

_LEASE = resource_for("coordination.k8s.io/v1", "Lease")


class KubeLeaseClient:
    """``get_lease``/``create_lease``/``replace_lease`` over a :class:`KubeClient`."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""
        try:
            return await self._client.request("GET", object_path(_LEASE, namespace, name))
        except NotFound:
            return None

    async def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        """POST the Lease; :class:`LeaseConflictError` if it exists already."""
        try:
            return await self._client.request("POST", _LEASE.collection_path(namespace), body=lease)
        except Conflict as exc:
            raise LeaseConflictError(exc.message) from exc

    async def replace_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        """PUT the Lease with its resourceVersion; :class:`LeaseConflictError` on 409."""
        path = object_path(_LEASE, namespace, lease["metadata"]["name"])
        try:
            return await self._client.request("PUT", path, body=lease)
        except Conflict as exc:
            raise LeaseConflictError(exc.message) from exc
