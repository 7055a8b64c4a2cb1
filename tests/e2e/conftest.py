"""Fixtures for the end-to-end tests (the harness itself is in ``harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import Env, running_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    """kubesim + CRD + operator, Ray probes off (pods are ready within ~0.1 s)."""
    async with running_env(tmp_path) as running:
        yield running
