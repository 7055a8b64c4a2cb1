"""Plot bench_operator.py results against N: converge time (rayop and the write floor) and RSS.

    .venv/bin/pip install -e '.[bench]'         # matplotlib
    .venv/bin/python benchmarks/plot_operator.py R100.json R1000.json -o docs/img/bench_operator.png

Each JSON is one ``bench_operator.py --out`` file (one N). Left: seconds until every RayCluster
is Ready, rayop against the floor. Right: rayop's RSS at the end of the converge (steady), its
peak during the converge, and its peak while restarting against the converged cluster.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["main"]

MIB = 1024 * 1024


def _points(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    rows = sorted(results, key=lambda r: r["settings"]["clusters"])
    runs = [r["main"]["rayop_runs"][-1] for r in rows]
    return {
        "n": [r["settings"]["clusters"] for r in rows],
        "rayop_s": [r["main"]["rayop"]["wall_to_ready_s"] for r in rows],
        "floor_s": [r["main"]["floor"]["wall_to_ready_s"] for r in rows],
        "steady_mib": [run["rss_bytes"] / MIB for run in runs],
        "peak_mib": [run["peak_rss_bytes"] / MIB for run in runs],
        "restart_peak_mib": [r.get("resync", {}).get("peak_rss_bytes", 0) / MIB for r in rows],
    }


def main(argv: list[str] | None = None) -> int:
    """Read the results, draw the two panels, write the PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="bench_operator.py JSON files")
    parser.add_argument("-o", "--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="rayop on kubesim (bench_operator.py)")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = _points([json.loads(path.read_text()) for path in args.results])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(p["n"], p["rayop_s"], "o-", label="rayop")
    left.plot(p["n"], p["floor_s"], "s--", label="write floor")
    left.set(xlabel="RayClusters (N)", ylabel="seconds until all Ready", xscale="log")
    left.legend()
    right.plot(p["n"], p["steady_mib"], "o-", label="steady (after converge)")
    right.plot(p["n"], p["peak_mib"], "^--", label="peak while converging")
    right.plot(p["n"], p["restart_peak_mib"], "v:", label="peak while restarting")
    right.set(xlabel="RayClusters (N)", ylabel="rayop RSS (MiB)", xscale="log")
    right.legend()
    fig.suptitle(args.title)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
