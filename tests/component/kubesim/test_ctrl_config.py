"""WorkloadsConfig: CLI flags, defaults, and clear errors for bad values."""

from __future__ import annotations

import argparse

import pytest

from kubesim import WorkloadsConfig


def _parse(*argv: str) -> WorkloadsConfig:
    parser = argparse.ArgumentParser()
    WorkloadsConfig.add_arguments(parser)
    return WorkloadsConfig.from_args(parser.parse_args(list(argv)))


def test_flags_override_only_what_is_given() -> None:
    """`--nodes 3 --node-gpus 8 --image-pull-delay 2` set those fields; the rest keep defaults."""
    config = _parse(
        "--nodes", "3", "--node-gpus", "8", "--image-pull-delay", "2", "--record-events", "false"
    )
    assert (config.nodes, config.node_gpus, config.image_pull_delay) == (3, 8, 2.0)
    assert config.record_events is False
    assert config.crash_backoff_base == WorkloadsConfig().crash_backoff_base == 10.0


def test_bad_flag_values_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """A non-number for a numeric flag is an argparse error naming the flag."""
    with pytest.raises(SystemExit):
        _parse("--nodes", "many")
    assert "--nodes" in capsys.readouterr().err


def test_negative_values_are_rejected_with_the_field_name() -> None:
    """Negative delays or counts raise ValueError naming the field."""
    with pytest.raises(ValueError, match=r"WorkloadsConfig.image_pull_delay: must be >= 0, got -1"):
        WorkloadsConfig(image_pull_delay=-1)


def test_fast_keeps_real_ratios_small() -> None:
    """fast() shrinks every delay below 0.1 s and disables the HPA stabilization window."""
    fast = WorkloadsConfig.fast()
    assert max(fast.image_pull_delay, fast.container_create_delay, fast.start_to_ready_delay) < 0.1
    assert fast.hpa_downscale_stabilization == 0
