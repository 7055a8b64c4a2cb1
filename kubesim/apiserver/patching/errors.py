"""The two exceptions the patch and apply engine raises; KS-CORE turns them into `Status` bodies.

PatchError      a patch that cannot be decoded (400), is too large (413), does not apply
                (422), or an apply configuration the server cannot type (500)
ApplyConflict   a server-side apply that would change fields another manager owns (409)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["ApplyConflict", "PatchError", "manager_identifier"]

# 500 has no reason: the real server wraps errors that are not a Status as reason "" (Unknown).
_REASONS = {
    400: "BadRequest",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "",
}

#: The message the real server sends for any JSON patch operation that fails to apply
#: (`NewGenericServerResponse(422, ...)` keeps its own generic text and drops the library's).
JSON_PATCH_REJECTED = "the server rejected our request due to an error in our request"


class PatchError(Exception):
    """A patch the server refuses.

    `code` is 400 (the body cannot be decoded as this patch type), 413 (a JSON patch of more
    than 10,000 operations), 422 (it decodes but does not apply) or 500 (an apply
    configuration with duplicate or keyless list items, which the real server reports as an
    internal error with an empty reason). `reason` and `message` are the real server's;
    `details` is the Status ``details`` object (``{}`` when the real server sends an empty
    one, None for none); `detail` is the underlying explanation, kept for logs and tests even
    where the real server hides it behind a generic message.
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        detail: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = _REASONS.get(code, "BadRequest")
        self.message = message
        self.detail = detail if detail is not None else message
        self.details = details

    @classmethod
    def bad_request(cls, message: str) -> PatchError:
        """A 400 BadRequest whose message is `message`."""
        return cls(400, message)

    @classmethod
    def json_patch_failed(cls, detail: str) -> PatchError:
        """A 422 for a JSON patch operation that does not apply (`detail` says why)."""
        return cls(422, JSON_PATCH_REJECTED, detail=detail, details={})


def _print_manager(manager: dict[str, str]) -> str:
    """How the real server names a manager in a conflict (`managedfields/internal/conflict.go`)."""
    out = f'"{manager["manager"]}"'
    if manager.get("subresource"):
        out += f' with subresource "{manager["subresource"]}"'
    if manager.get("operation") == "Update":
        out += f" using {manager.get('apiVersion', '')}"
    return out


class ApplyConflict(Exception):
    """A server-side apply that would change fields other managers own (HTTP 409 Conflict).

    `conflicts` lists ``(manager, field path)`` pairs, e.g. ``("kube-controller-manager",
    ".spec.replicas")``; `message` is worded like the real server's; `causes` are the Status
    ``details.causes`` (type ``FieldManagerConflict``), one per conflicting field.
    """

    def __init__(self, conflicts: Sequence[tuple[dict[str, str], str]]) -> None:
        # Paths arrive in field-set order per manager; the sort is stable.
        ordered = sorted(conflicts, key=lambda item: manager_identifier(item[0]))
        self.conflicts: list[tuple[str, str]] = [(m["manager"], path) for m, path in ordered]
        self.causes: list[dict[str, str]] = [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {_print_manager(m)}",
                "field": path,
            }
            for m, path in ordered
        ]
        self.message = _conflict_message(ordered)
        self.code = 409
        self.reason = "Conflict"
        super().__init__(self.message)


def manager_identifier(manager: dict[str, str]) -> str:
    """A manager's identifier as the real server builds it (``BuildManagerIdentifier``): the
    JSON of its entry without fieldsType, fieldsV1 and time, in ManagedFieldsEntry's field
    order. The server sorts managers by it."""
    parts = [f'"manager":{json.dumps(manager["manager"])}']
    for name in ("operation", "apiVersion", "subresource"):
        if manager.get(name):
            parts.append(f'"{name}":{json.dumps(manager[name])}')
    return "{" + ",".join(parts) + "}"


def _conflict_message(conflicts: Sequence[tuple[dict[str, str], str]]) -> str:
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {_print_manager(manager)}: {path}"
    lines: list[str] = []
    last: dict[str, str] | None = None
    for manager, path in conflicts:
        if manager != last:
            lines.append(f"conflicts with {_print_manager(manager)}:")
            last = manager
        lines.append(f"- {path}")
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
