"""Fixtures for the controller unit tests."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _no_implicit_event_loop(
    request: pytest.FixtureRequest, event_loop_policy: asyncio.AbstractEventLoopPolicy
) -> None:
    """Keep sync tests from creating (and leaking) an event loop.

    looptime asks the policy for the current loop before every test; for a sync test that runs
    before any async one, the policy would create a loop that nobody closes (a ResourceWarning,
    an error under our warning filters). Marking the loop as explicitly unset prevents it.
    """
    if not inspect.iscoroutinefunction(request.function):
        event_loop_policy.set_event_loop(None)


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """Undo any logging configuration a test made (the CLI tests log to captured streams)."""
    yield
    structlog.reset_defaults()
