"""The API server's error objects: one exception that carries the exact `Status` body.

Every failure a client can see leaves kubesim as a `StatusError`, worded the way
kube-apiserver words it (`k8s.io/apimachinery/pkg/api/errors`). The constructors below are the
only place these sentences live, so tests and clients can rely on them::

    StatusError(code, reason, message, details)
     ├── not_found / already_exists / conflict            404 / 409 / 409
     ├── invalid (field causes)                           422
     ├── bad_request / method_not_allowed / not_acceptable 400 / 405 / 406
     ├── unsupported_media_type / entity_too_large        415 / 413
     ├── forbidden                                        403
     ├── expired (410 `Expired`, watch and continue)      410
     ├── too_many_requests (Retry-After)                  429
     ├── internal_error / service_unavailable / timeout   500 / 503 / 504
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_REQUEST_BODY_BYTES",
    "Cause",
    "StatusError",
    "already_exists",
    "bad_request",
    "conflict",
    "entity_too_large",
    "expired",
    "forbidden",
    "internal_error",
    "invalid",
    "method_not_allowed",
    "not_acceptable",
    "not_found",
    "path_not_found",
    "qualified_resource",
    "service_unavailable",
    "timeout",
    "too_many_requests",
    "unsupported_media_type",
]

#: kube-apiserver refuses request bodies above 3 MiB (`maxRequestBodyBytes`).
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Cause:
    """One entry of `details.causes`: a field-level problem (`field/errors.go` ErrorType)."""

    type: str
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The wire form (`StatusCause`); empty members are omitted like Go's omitempty."""
        out = {"reason": self.type, "message": self.message, "field": self.field}
        return {k: v for k, v in out.items() if v}

    def error_string(self) -> str:
        """`field: Message` as joined into an Invalid error's message."""
        return f"{self.field}: {self.message}" if self.field else self.message


class StatusError(Exception):
    """An error the API server answers with a `Status` object instead of the resource."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        """The exact `Status` body kube-apiserver sends for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # metav1.Status omits an empty reason (StatusReasonUnknown)
            body["reason"] = self.reason
        if self.details is not None:  # an empty StatusDetails still serialises as {}
            body["details"] = self.details
        body["code"] = self.code
        return body

    def __repr__(self) -> str:
        return f"StatusError({self.code}, {self.reason!r}, {self.message!r})"


def qualified_resource(resource: str, group: str) -> str:
    """`pods`, `statefulsets.apps`: the resource as error messages print it."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    if kind:
        out["kind"] = kind
    out.update({k: v for k, v in extra.items() if v not in (None, "", [])})
    return out


def not_found(resource: str, group: str, name: str) -> StatusError:
    """404: `pods "p1" not found` (details.kind holds the resource, as upstream does)."""
    return StatusError(
        404,
        "NotFound",
        f'{qualified_resource(resource, group)} "{name}" not found',
        _details(name, group, resource),
    )


def path_not_found() -> StatusError:
    """404 for a path that names no resource."""
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(
    resource: str, group: str, name: str, *, retry_after: int | None = None
) -> StatusError:
    """409 AlreadyExists; a generated-name collision also carries retryAfterSeconds."""
    details = _details(name, group, resource, retryAfterSeconds=retry_after)
    return StatusError(
        409,
        "AlreadyExists",
        f'{qualified_resource(resource, group)} "{name}" already exists',
        details,
    )


def conflict(resource: str, group: str, name: str, detail: str | None = None) -> StatusError:
    """409 Conflict: a stale resourceVersion or a failed precondition."""
    why = detail or (
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified_resource(resource, group)} "{name}": {why}',
        _details(name, group, resource),
    )


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> StatusError:
    """422 Invalid: `Kind.group "name" is invalid: field: Problem[, ...]`."""
    qualified_kind = f"{kind}.{group}" if group else kind
    errors = [c.error_string() for c in causes]
    joined = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    details = _details(name, group, kind)
    details["causes"] = [c.to_dict() for c in causes]
    return StatusError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> StatusError:
    """400 BadRequest with the given message and no details."""
    return StatusError(400, "BadRequest", message)


def method_not_allowed(resource: str, group: str, verb: str) -> StatusError:
    """405: `<verb> is not supported on resources of kind "<resource>"`."""
    qualified = qualified_resource(resource, group)
    return StatusError(
        405,
        "MethodNotAllowed",
        f'{verb} is not supported on resources of kind "{qualified}"',
        _details("", group, resource),
    )


def not_acceptable(message: str) -> StatusError:
    """406 NotAcceptable."""
    return StatusError(406, "NotAcceptable", message)


def unsupported_media_type(accepted: list[str], extra: str = "") -> StatusError:
    """415: `the body of the request was in an unknown format - accepted media types include: ...`."""
    message = "the body of the request was in an unknown format - accepted media types include: "
    message += ", ".join(accepted)
    if extra:
        message += f" ({extra})"
    return StatusError(415, "UnsupportedMediaType", message)


def entity_too_large(limit: int = MAX_REQUEST_BODY_BYTES) -> StatusError:
    """413: the request body is above the server's limit."""
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def forbidden(resource: str, group: str, name: str, why: str) -> StatusError:
    """403 Forbidden: `<resource> "<name>" is forbidden: <why>`."""
    who = qualified_resource(resource, group)
    message = f'{who} "{name}" is forbidden: {why}' if name else f"{who} is forbidden: {why}"
    return StatusError(403, "Forbidden", message, _details(name, group, resource))


def expired(message: str) -> StatusError:
    """410 Expired (servers since 1.18 send `Expired`, not `Gone`)."""
    return StatusError(410, "Expired", message)


def too_many_requests(retry_after: int = 1) -> StatusError:
    """429 TooManyRequests with `retryAfterSeconds` (and a Retry-After header)."""
    return StatusError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        {"retryAfterSeconds": retry_after},
        retry_after=retry_after,
    )


def internal_error(message: str) -> StatusError:
    """500 InternalError: `Internal error occurred: <message>`."""
    return StatusError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )


def untranslated(message: str) -> StatusError:
    """500 with no reason: an error a storage layer returned that no registry translated.

    Upstream's `ErrorToAPIStatus` answers a plain Go error this way (code 500, the error's
    text, reason left empty)."""
    return StatusError(500, "", message)


def service_unavailable(
    message: str = "the server is currently unable to handle the request",
) -> StatusError:
    """503 ServiceUnavailable."""
    return StatusError(503, "ServiceUnavailable", message)


def timeout(message: str, retry_after: int = 1) -> StatusError:
    """504 Timeout."""
    return StatusError(
        504,
        "Timeout",
        f"Timeout: {message}",
        {"retryAfterSeconds": retry_after},
        retry_after=retry_after,
    )
