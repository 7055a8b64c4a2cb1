"""The informers' own error tree: what went wrong talking to the API server, in one place.

::

    InformerError
    ├── ApiError            the server answered with a Status (code, reason, message)
    │   ├── Expired         410 Gone / Expired: the resourceVersion is too old → relist
    │   ├── TooManyRequests 429: back off (honours Retry-After)
    │   └── ServerError     5xx
    └── ConnectionLost      refused, reset, truncated, or silent for longer than the read timeout

aiohttp and asyncio exceptions are translated here (``raise ... from exc``) and nowhere else,
so the reflector decides on these types only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "ConnectionLost",
    "Expired",
    "InformerError",
    "ServerError",
    "TooManyRequests",
    "api_error",
]


class InformerError(Exception):
    """Base of every error a reflector handles."""


class ApiError(InformerError):
    """The API server refused a request with a ``Status``."""

    def __init__(self, code: int, reason: str, message: str, *, retry_after: float | None = None):
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class Expired(ApiError):
    """410: the requested resourceVersion is no longer in the server's history."""


class TooManyRequests(ApiError):
    """429: the server asks the client to slow down."""


class ServerError(ApiError):
    """A 5xx answer."""


class ConnectionLost(InformerError):
    """The connection failed, broke mid-stream, or went silent past the read timeout."""


def api_error(code: int, status: Any, *, retry_after: float | None = None) -> ApiError:
    """Build the right :class:`ApiError` from an HTTP code and a decoded ``Status`` body."""
    reason = ""
    message = ""
    if isinstance(status, dict):
        code = int(status.get("code") or code)
        reason = str(status.get("reason") or "")
        message = str(status.get("message") or "")
    if code == 410 or reason in ("Expired", "Gone"):
        return Expired(code, reason or "Expired", message, retry_after=retry_after)
    if code == 429:
        return TooManyRequests(code, reason or "TooManyRequests", message, retry_after=retry_after)
    if code >= 500:
        return ServerError(code, reason or "InternalError", message, retry_after=retry_after)
    return ApiError(code, reason or "Unknown", message, retry_after=retry_after)
