"""What a reconcile's outcome means for its key: the error's class decides, in one place.

controller-runtime's Reconcile contract, with the failure split the API server's answers allow
(controller/kube/errors.py draws the tree)::

    outcome                               queue                                  also
    ------------------------------------  -------------------------------------  -------------
    Result()                              forget                                 -
    Result(requeue_after=s)               forget, add_after(s)                   -
    terminal: TerminalError, or a         forget, add_after(terminal_requeue)    one Warning
      KubeError with .terminal (422, 400)   (minutes; never exponential)          event; status
    transient, or any other error         add_after(max(rate limiter's delay,    -
      (5xx, 429, 409, timeouts, bugs)       Retry-After))

A terminal failure is reported once, where it happens (the child apply that the server refused
names its kind and the server's reason in a Warning and in the ``ReplicaFailure`` condition), and
is then looked at again after a long delay, because a CRD or webhook change on the server can
make the same object acceptable. Retrying it with exponential backoff would only hammer the API
server with a request that cannot succeed (18 retries of one 422 in the first 20 minutes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from controller.kube import KubeError

__all__ = [
    "Failure",
    "Rejected",
    "Result",
    "TerminalError",
    "classify",
    "reconcile_error",
    "retry_after",
]


@dataclass(frozen=True)
class Result:
    """What a successful reconcile asks of the queue: nothing, or a look again later."""

    requeue_after: float | None = None


class TerminalError(Exception):
    """A failure retrying soon cannot fix; the key is looked at again after a long delay."""


class Rejected(TerminalError):
    """The API server refused an object for good; the reconcile already reported it."""


class Failure(Enum):
    """The two ways a reconcile can fail, as far as the queue is concerned."""

    TERMINAL = "terminal"
    RETRY = "retry"


def classify(error: BaseException) -> Failure:
    """TERMINAL for a :class:`TerminalError` or a terminal API answer; RETRY for the rest."""
    if isinstance(error, TerminalError):
        return Failure.TERMINAL
    if isinstance(error, KubeError) and error.terminal:
        return Failure.TERMINAL
    return Failure.RETRY


def retry_after(error: BaseException, *, now: float | None = None) -> float:
    """The seconds the server asked us to wait before trying again (0 when it did not ask);
    with ``now`` (loop time), only what is left of them since the answer came."""
    if not isinstance(error, KubeError) or not error.retry_after:
        return 0.0
    if now is None or error.raised_at is None:
        return error.retry_after
    return max(0.0, error.raised_at + error.retry_after - now)


def reconcile_error(errors: Sequence[KubeError]) -> Exception:
    """The one exception a reconcile with these write failures raises.

    Any retryable failure wins (the reconcile must run again soon, and no sooner than the
    longest ``Retry-After``); when every failure is terminal, a :class:`Rejected` naming them.
    """
    retryable = [e for e in errors if not e.terminal]
    if retryable:
        return max(retryable, key=retry_after)
    return Rejected("; ".join(e.message for e in errors))
