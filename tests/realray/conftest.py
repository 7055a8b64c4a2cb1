"""Fixtures of the real-Ray group: skip with the missing piece named, and prove nothing leaked.

Every test here starts kubesim with the process runtime, so pods are real `ray start` processes
in their own namespaces. They need root, iproute2, Ray in this environment and kubectl; where one
is missing each test is skipped naming it (CI has them all, so there they run).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from kubesim.hostcheck import missing_prerequisite, ray_importable
from tests.realray.hoststate import (
    INSTANCES,
    HostState,
    become_subreaper,
    live_descendants,
    reap_zombies,
)

#: How long teardown may take to make the last pod process go before it counts as a leak.
LEFTOVER_GRACE = 15.0


def _missing() -> str | None:
    missing = missing_prerequisite()
    if missing is None and not ray_importable():
        missing = "Ray in this environment (make install-ray)"
    if missing is None and shutil.which("kubectl") is None:
        missing = "kubectl"
    return missing


@pytest.fixture(scope="session")
def real_ray_host() -> None:
    """Skip unless this host can run real Ray pods; then adopt every orphaned descendant."""
    missing = _missing()
    if missing is not None:
        pytest.skip(f"real Ray under kubesim needs {missing}")
    become_subreaper()


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """After the test: no process, network object or mount of kubesim's is left on the host.

    Processes this worker already ran before the test (a session's control plane, say) are
    not the test's."""
    INSTANCES.clear()
    before = set(live_descendants())
    yield
    ids = tuple(INSTANCES)
    deadline = time.monotonic() + LEFTOVER_GRACE
    while True:
        reap_zombies()
        processes = {pid: cmd for pid, cmd in live_descendants().items() if pid not in before}
        objects = HostState.of(ids).lines()
        if (not processes and not objects) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not processes, f"pod processes left after the test: {processes}"
    assert not objects, f"host objects left after the test: {objects}"
