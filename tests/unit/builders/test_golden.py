"""`rayop render` of the seed and every KubeRay sample matches its reviewed golden output."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from controller.render import render_command

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
SAMPLES = sorted((GOLDEN / "samples").glob("*.yaml"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _render(sample: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = render_command([str(sample)], "yaml", stdout=out, stderr=err)
    # Messages name the file; keep the golden independent of where the checkout lives.
    return code, out.getvalue(), err.getvalue().replace(str(sample.parent) + "/", "")


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        if actual:
            path.write_text(actual)
        elif path.exists():
            path.unlink()
        return
    expected = path.read_text() if path.exists() else ""
    assert actual == expected, f"{path.name} differs; regenerate with UPDATE_GOLDEN=1 and review"


def test_every_sample_has_a_golden() -> None:
    """The seed and all nine KubeRay samples are covered."""
    assert len(SAMPLES) == 10


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_render_matches_golden(sample: Path) -> None:
    """Rendering the sample succeeds and prints exactly the reviewed objects and warnings."""
    code, stdout, stderr = _render(sample)
    assert code == 0, stderr
    _check(GOLDEN / "render" / f"{sample.stem}.yaml", stdout)
    _check(GOLDEN / "render" / f"{sample.stem}.stderr", stderr)
