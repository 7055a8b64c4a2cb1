"""API fault injection: make kubesim slow, flaky or forgetful on purpose, at run time.

Rules match a verb and a resource (`"*"` for any) and, with probability `rate` (drawn from a
seeded RNG, so tests are deterministic), add latency and/or answer an error instead of
serving the request: 500 InternalError, 503 ServiceUnavailable, 429 TooManyRequests with
Retry-After, or any other code. `count` limits how many requests a rule hits.

Besides rules: `close_watches()` ends open watch streams (clients re-watch from their last
resourceVersion) and `shrink_history()` forgets watch history so those resumes get 410 Expired.

Switch faults from tests (`sim.faults.add(...)`), over HTTP (`POST /kubesim/v1/faults`), or
from the command line (`python -m kubesim fault ...`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from kubesim.apiserver import errors
from kubesim.apiserver.errors import StatusError

if TYPE_CHECKING:
    from kubesim.apiserver.cluster import Cluster

__all__ = ["FaultRule", "Faults"]

#: Status reasons of the codes a rule may answer with (apimachinery's StatusReason names).
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    504: "Timeout",
}
VERBS = frozenset(
    {"*", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)


@dataclass(slots=True)
class FaultRule:
    """One injected fault. `resource` is a plural, optionally `plural/subresource`."""

    verb: str = "*"
    resource: str = "*"
    error: int | None = None
    rate: float = 1.0
    latency: float = 0.0
    retry_after: int = 1
    message: str = ""
    count: int | None = None

    def __post_init__(self) -> None:
        if self.verb not in VERBS:
            raise ValueError(f"fault verb: {self.verb!r} is not one of {sorted(VERBS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate: {self.rate} is not between 0 and 1")
        if self.latency < 0:
            raise ValueError(f"fault latency: {self.latency} must be >= 0")
        if self.error is not None and not 400 <= self.error <= 599:
            raise ValueError(f"fault error: {self.error} is not an HTTP error code (400-599)")

    def matches(self, verb: str, resource: str, subresource: str | None) -> bool:
        """Whether a request of this verb and resource is subject to the rule."""
        if self.verb != "*" and self.verb != verb:
            return False
        if self.resource == "*":
            return True
        full = f"{resource}/{subresource}" if subresource else resource
        return self.resource in (resource, full)

    def to_error(self) -> StatusError:
        """The error the rule answers with."""
        code = self.error or 500
        if code == 429:
            return errors.too_many_requests(self.retry_after)
        if code == 503:
            return errors.service_unavailable(
                self.message or "the server is currently unable to handle the request"
            )
        if code == 500:
            return errors.internal_error(self.message or "injected fault")
        reason = _REASONS.get(code, "InternalError" if code >= 500 else "BadRequest")
        return errors.StatusError(code, reason, self.message or f"injected fault ({code})")


class Faults:
    """The fault rules of one KubeSim, plus the watch-level faults."""

    def __init__(self, cluster: Cluster, *, seed: int | None = None) -> None:
        self._cluster = cluster
        self.rules: list[FaultRule] = []
        self.rng = random.Random(seed)

    def add(self, **rule: Any) -> FaultRule:
        """Add a rule (keyword arguments are `FaultRule` fields); returns it."""
        unknown = set(rule) - {f.name for f in fields(FaultRule)}
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        added = FaultRule(**rule)
        self.rules.append(added)
        return added

    def remove(self, rule: FaultRule) -> None:
        """Remove one rule."""
        if rule in self.rules:
            self.rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def seed(self, seed: int) -> None:
        """Reseed the RNG that decides whether a rule with rate < 1 fires."""
        self.rng.seed(seed)

    def decide(
        self, verb: str, resource: str, subresource: str | None
    ) -> tuple[float, StatusError | None]:
        """(added latency, error or None) for one request. Called once per request."""
        if not self.rules:
            return 0.0, None
        latency = 0.0
        failure: StatusError | None = None
        for rule in list(self.rules):
            if not rule.matches(verb, resource, subresource):
                continue
            if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            latency += rule.latency
            if rule.error is not None and failure is None:
                failure = rule.to_error()
        return latency, failure

    def close_watches(self, resource: str | None = None, group: str = "") -> int:
        """End open watch streams (all, or of one resource); returns how many."""
        key = None if resource in (None, "*") else (group, str(resource))
        return self._cluster.broadcaster.close_all(key)

    def shrink_history(self, resource: str | None = None, group: str = "", keep: int = 0) -> None:
        """Forget all but `keep` events of watch history, so older resumes get 410 Expired."""
        histories = self._cluster.broadcaster
        current = self._cluster.resource_version
        if resource in (None, "*"):
            for key in list(histories.histories) + [i.key for i in self._cluster.registry]:
                histories.history(key).shrink(keep, current)
        else:
            histories.history((group, str(resource))).shrink(keep, current)

    def to_json(self) -> list[dict[str, Any]]:
        """The current rules as JSON-able dicts."""
        return [asdict(r) for r in self.rules]

    def handle_admin(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply one `POST /kubesim/v1/faults` command: add, clear, close_watches, shrink_history, seed."""
        action = body.get("action", "add")
        params = {k: v for k, v in body.items() if k != "action"}
        if action == "add":
            self.add(**params)
        elif action == "clear":
            self.clear()
        elif action == "close_watches":
            return {"closed": self.close_watches(params.get("resource"), params.get("group", ""))}
        elif action == "shrink_history":
            self.shrink_history(
                params.get("resource"), params.get("group", ""), int(params.get("keep", 0))
            )
        elif action == "seed":
            self.seed(int(params["seed"]))
        else:
            raise ValueError(
                f"unknown fault action {action!r} (add, clear, close_watches, shrink_history, seed)"
            )
        return {"rules": self.to_json()}
