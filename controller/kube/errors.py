"""The exception tree every Kubernetes API failure becomes, translated once at the boundary.

Nothing above ``controller.kube`` ever sees an aiohttp or kubernetes-asyncio exception: the
client turns each failed request into exactly one of these, keeping the server's ``Status``
reason and message so logs and events can quote them::

    KubeError                    any failed request (.code, .reason, .message, .body)
    ├── TransportError           no HTTP answer: connection refused/reset, timeout   (transient)
    ├── NotLeading               a write refused in-process: this replica is not the leader
    ├── BadRequest        400    the server cannot decode the request               (terminal)
    ├── NotFound          404    the object (or its namespace) does not exist
    ├── Conflict          409    resourceVersion/uid precondition, AlreadyExists, apply conflict (transient)
    ├── Gone              410    resourceVersion too old (watch/list); relist
    ├── Invalid           422    the server rejected the object: .causes has field and message (terminal)
    ├── TooManyRequests   429    API priority and fairness / client throttling      (transient)
    └── ServerError       5xx    the API server failed                              (transient)

The class decides what the controller does next (controller/outcomes.py):

- ``terminal``: the server refused *this object* (schema, validation, strict decoding); the same
  request fails the same way until the object or the server's schema changes. One Warning
  event, the status says why, a slow requeue, no retry storm.
- ``transient``: a retry soon may succeed. Rate-limited retry, never sooner than the server's
  ``retry_after`` (the ``Retry-After`` header, else ``Status.details.retryAfterSeconds``).
- neither (401, 403, 404, ...): missing RBAC, a deleted namespace. Retried with backoff like a
  transient failure, because an administrator's fix makes the next try succeed.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "BadRequest",
    "Conflict",
    "Gone",
    "Invalid",
    "KubeError",
    "NotFound",
    "NotLeading",
    "ServerError",
    "TooManyRequests",
    "TransportError",
    "error_from_response",
]


class KubeError(Exception):
    """A request to the Kubernetes API failed.

    ``code`` is the HTTP status (0 when there was no answer), ``reason`` the ``Status.reason``
    (e.g. ``"NotFound"``), ``message`` the server's human sentence, ``body`` the decoded
    ``Status`` object (empty when the body was not one) and ``retry_after`` the seconds the
    server asked the client to wait (None when it did not say).
    """

    #: A retry soon may succeed.
    transient = False
    #: The same request will fail the same way: do not retry it soon.
    terminal = False

    def __init__(
        self,
        message: str,
        *,
        code: int = 0,
        reason: str = "",
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.body: dict[str, Any] = body or {}
        self.retry_after = retry_after
        #: Loop time the client received the answer (None when not from KubeClient.request).
        self.raised_at: float | None = None

    @property
    def causes(self) -> list[dict[str, Any]]:
        """The ``Status.details.causes`` list (field-level reasons), empty when absent."""
        details = self.body.get("details") or {}
        causes = details.get("causes") or []
        return list(causes)


class TransportError(KubeError):
    """No HTTP answer: the connection failed or the request timed out."""

    transient = True


class NotLeading(KubeError):
    """A write was refused before it left the process: this replica does not hold the lease
    (or its renew deadline has passed). Nothing was sent; the process is about to exit."""

    transient = True


class BadRequest(KubeError):
    """400: the server cannot decode the request (unknown or duplicate field, bad patch)."""

    terminal = True


class NotFound(KubeError):
    """404: the object or its namespace does not exist."""


class Conflict(KubeError):
    """409: a precondition failed, the object already exists, or an apply conflicted."""

    transient = True


class Gone(KubeError):
    """410: the requested resourceVersion is too old."""


class Invalid(KubeError):
    """422: the server rejected the object; ``causes`` names each field and problem."""

    terminal = True


class TooManyRequests(KubeError):
    """429: the server (or API priority and fairness) asks the client to slow down."""

    transient = True


class ServerError(KubeError):
    """5xx: the API server failed to process the request."""

    transient = True


_BY_CODE: dict[int, type[KubeError]] = {
    400: BadRequest,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_response(code: int, body: bytes, *, retry_after: str | None = None) -> KubeError:
    """Build the exception for an HTTP error answer (``code`` >= 400) from its raw body.

    ``retry_after`` is the raw ``Retry-After`` header, if the answer had one.
    """
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
    return cls(
        message,
        code=code,
        reason=reason,
        body=status,
        retry_after=_retry_after(retry_after, status),
    )


def _retry_after(header: str | None, status: dict[str, Any]) -> float | None:
    """Seconds to wait: the header (delta-seconds; Kubernetes never sends a date), else the
    ``retryAfterSeconds`` detail; None when neither is a positive number."""
    details = status.get("details") or {}
    for raw in (header, details.get("retryAfterSeconds") if isinstance(details, dict) else None):
        try:
            seconds = float(raw) if raw is not None else 0.0
        except (TypeError, ValueError):
            continue
        if seconds > 0:
            return seconds
    return None
