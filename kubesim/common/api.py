"""The slice of KS-CORE's `kubesim.apiserver.cluster.Cluster` that the workloads use, as a Protocol.

Controllers and the kubelet talk to the API only through these plain methods (state changes
never await), as named users, so their writes go through the same verb semantics, audit log and
watch events as any HTTP client's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kubesim.apiserver.errors import StatusError

__all__ = ["ClusterAPI", "StatusError", "error_code"]


class ClusterAPI(Protocol):
    """What `kubesim.apiserver.cluster.Cluster` offers (see /tmp/team/contracts.md)."""

    def resource(self, plural_or_kind: str, group: str = "", version: str | None = None) -> Any:
        """ResourceInfo of a served resource."""

    def get(self, res: Any, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object (read-only); StatusError 404 when missing."""

    def list(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        """(items, list resourceVersion)."""

    def create(
        self,
        res: Any,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        user: str = ...,
        field_manager: str | None = None,
        subresource: str | None = None,
        owned: bool = False,
    ) -> dict[str, Any]:
        """Create an object (`owned=True` hands `obj` over instead of copying it)."""

    def update(
        self,
        res: Any,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        *,
        user: str = ...,
        field_manager: str | None = None,
        subresource: str | None = None,
        owned: bool = False,
    ) -> dict[str, Any]:
        """Replace an object (or a subresource)."""

    def patch(
        self,
        res: Any,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        patch_type: str,
        user: str = ...,
        field_manager: str | None = None,
        force: bool = False,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Patch an object (json, merge, strategic or apply)."""

    def delete(
        self,
        res: Any,
        namespace: str | None,
        name: str,
        *,
        user: str = ...,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Delete an object."""

    def get_scale(self, res: Any, namespace: str | None, name: str) -> dict[str, Any]:
        """The autoscaling/v1 Scale of a scalable object."""

    def subscribe(
        self, res: Any, callback: Callable[[str, dict[str, Any]], None]
    ) -> Callable[[], None]:
        """Call `callback(event_type, obj)` after each committed change; returns unsubscribe."""


def error_code(exc: BaseException) -> int | None:
    """The HTTP code of an API error, None for anything else."""
    return exc.code if isinstance(exc, StatusError) else None
