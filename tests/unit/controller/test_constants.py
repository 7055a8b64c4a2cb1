"""The operator's shared names live in controller/api/constants.py and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import controller
from controller.api.constants import ConditionType, EventReason

ROOT = Path(controller.__file__).parent
CONSTANTS = ROOT / "api" / "constants.py"
# A string literal that starts with the group: a label, an annotation or an apiVersion.
_RETYPED = re.compile(r"""(?<![\w.])[rbf]?["']ray\.io/""")


def test_no_ray_io_string_literal_outside_the_constants_module() -> None:
    """No module of controller/ but constants.py spells a "ray.io/..." string."""
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}"
        for path in sorted(ROOT.rglob("*.py"))
        if path != CONSTANTS
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _RETYPED.search(line)
    ]
    assert offenders == []


def test_the_grep_finds_a_retyped_label() -> None:
    """The pattern above matches the ways a literal can be written (so the test can fail)."""
    for line in ['x = "ray.io/cluster"', "get('ray.io/group')", 'f"ray.io/{x}"']:
        assert _RETYPED.search(line), line
    assert not _RETYPED.search("see ``ray.io/cluster`` in the docs")


def test_condition_types_are_kuberays_names() -> None:
    """The five condition types rayop writes, spelled as KubeRay spells them."""
    assert sorted(ConditionType) == sorted(
        ["HeadPodReady", "RayClusterProvisioned", "ReplicaFailure", "RayClusterSuspended", "Ready"]
    )


def test_per_kind_event_reasons() -> None:
    """Per-child reasons are formed the way KubeRay forms them."""
    assert EventReason.failed_to_apply("Service") == "FailedToApplyService"
    assert EventReason.deleted("HorizontalPodAutoscaler") == "DeletedHorizontalPodAutoscaler"
