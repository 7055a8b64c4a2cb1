"""Status answers map onto the informers' error tree."""

from __future__ import annotations

from informers.errors import ApiError, Expired, ServerError, TooManyRequests, api_error


def test_status_codes_map_to_error_types() -> None:
    """410 → Expired, 429 → TooManyRequests (with Retry-After), 5xx → ServerError."""
    expired = api_error(
        200, {"code": 410, "reason": "Expired", "message": "too old resource version: 1 (5)"}
    )
    assert isinstance(expired, Expired)
    assert expired.message == "too old resource version: 1 (5)"
    throttled = api_error(429, {"code": 429, "reason": "TooManyRequests"}, retry_after=2)
    assert isinstance(throttled, TooManyRequests)
    assert throttled.retry_after == 2
    assert isinstance(api_error(503, None), ServerError)
    forbidden = api_error(403, {"reason": "Forbidden", "message": "no"})
    assert type(forbidden) is ApiError
    assert str(forbidden) == "403 Forbidden: no"
