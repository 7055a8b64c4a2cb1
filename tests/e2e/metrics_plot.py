"""Draw the dashboard's series from a Prometheus range query into one PNG (matplotlib).

The picture in docs/operations.md comes from here: tests/e2e/test_prometheus.py scrapes a real
rayop with a real Prometheus while RayClusters come, scale and go, asks for each panel's
series, and calls ``plot``. Grafana itself cannot be had on this machine, so this stands in
for a screenshot of the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to a file

import matplotlib.pyplot as plt


@dataclass(frozen=True)
class Series:
    """One line: its legend and its (seconds since start, value) points."""

    label: str
    points: list[tuple[float, float]]


def plot(panels: dict[str, list[Series]], path: Path, *, title: str) -> int:
    """One small chart per panel, two columns, shared time axis in seconds; returns the
    PNG's size in bytes."""
    rows = (len(panels) + 1) // 2
    figure, axes = plt.subplots(rows, 2, figsize=(11, 2.6 * rows), sharex=True)
    flat = list(axes.flat)
    for axis, (name, series) in zip(flat, panels.items(), strict=False):
        for line in series:
            xs, ys = zip(*line.points, strict=True) if line.points else ((), ())
            axis.plot(xs, ys, label=line.label, linewidth=1.4)
        axis.set_title(name, fontsize=10)
        axis.grid(alpha=0.3)
        if 0 < len(series) <= 6:
            axis.legend(fontsize=7, loc="upper left")
    for axis in flat[len(panels) :]:
        axis.set_visible(False)
    for axis in flat[-2:]:
        axis.set_xlabel("seconds")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path.stat().st_size
