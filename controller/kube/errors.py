"""The exception tree every Kubernetes API failure becomes, translated once at the boundary.

Nothing above ``controller.kube`` ever sees an aiohttp or kubernetes-asyncio exception: the
client turns each failed request into exactly one of these, keeping the server's ``Status``
reason and message so logs and events can quote them::

    KubeError                    any failed request (.code, .reason, .message, .body)
    ├── TransportError           no HTTP answer: connection refused/reset, timeout   (transient)
    ├── NotFound          404    the object (or its namespace) does not exist
    ├── Conflict          409    resourceVersion/uid precondition, AlreadyExists, apply conflict (transient)
    ├── Gone              410    resourceVersion too old (watch/list); relist
    ├── Invalid           422    the server rejected the object: .causes has field and message
    ├── TooManyRequests   429    API priority and fairness / client throttling      (transient)
    └── ServerError       5xx    the API server failed                              (transient)

Any other status (400 BadRequest, 401, 403, ...) is a plain ``KubeError``: those are bugs or
missing RBAC, and retrying them with backoff is the right and only thing a controller can do.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "Conflict",
    "Gone",
    "Invalid",
    "KubeError",
    "NotFound",
    "ServerError",
    "TooManyRequests",
    "TransportError",
    "error_from_response",
]


class KubeError(Exception):
    """A request to the Kubernetes API failed.

    ``code`` is the HTTP status (0 when there was no answer), ``reason`` the ``Status.reason``
    (e.g. ``"NotFound"``), ``message`` the server's human sentence and ``body`` the decoded
    ``Status`` object (empty when the body was not one).
    """

    transient = False

    def __init__(
        self, message: str, *, code: int = 0, reason: str = "", body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.body: dict[str, Any] = body or {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        """The ``Status.details.causes`` list (field-level reasons), empty when absent."""
        details = self.body.get("details") or {}
        causes = details.get("causes") or []
        return list(causes)


class TransportError(KubeError):
    """No HTTP answer: the connection failed or the request timed out."""

    transient = True


class NotFound(KubeError):
    """404: the object or its namespace does not exist."""


class Conflict(KubeError):
    """409: a precondition failed, the object already exists, or an apply conflicted."""

    transient = True


class Gone(KubeError):
    """410: the requested resourceVersion is too old."""


class Invalid(KubeError):
    """422: the server rejected the object; ``causes`` names each field and problem."""


class TooManyRequests(KubeError):
    """429: the server (or API priority and fairness) asks the client to slow down."""

    transient = True


class ServerError(KubeError):
    """5xx: the API server failed to process the request."""

    transient = True


_BY_CODE: dict[int, type[KubeError]] = {
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_response(code: int, body: bytes) -> KubeError:
    """Build the exception for an HTTP error answer (``code`` >= 400) from its raw body."""
    status: dict[str, Any] = {}
    try:
        decoded = orjson.loads(body) if body else {}
        if isinstance(decoded, dict):
            status = decoded
    except orjson.JSONDecodeError:
        pass
    message = str(status.get("message") or body[:500].decode("utf-8", "replace") or code)
    reason = str(status.get("reason") or "")
    cls = _BY_CODE.get(code, ServerError if code >= 500 else KubeError)
    return cls(message, code=code, reason=reason, body=status)
