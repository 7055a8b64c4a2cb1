"""Benchmark the kubelet's container log files (`kubesim.kubelet.logs.ContainerLogs`).

Run: ``.venv/bin/python benchmarks/bench_container_logs.py [--pods N] [--lines N]``.
Prints a table and writes ``benchmarks/results/bench_container_logs.json``.

What it measures, on the log root kubesim picks (tmpfs when roomy) and on the default
temporary directory for comparison:

- ``instance``: what the simulated runtime does per container instance (a writer, a start
  line, an exit line, close), in microseconds;
- ``remove``: deleting one pod's log files;
- ``feed``: raw output fed in 64 KiB chunks, lines per second;
- ``read all`` / ``tail 10``: one `kubectl logs` of a log of ``--lines`` lines, milliseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine

from kubesim.kubelet.logs import ContainerLogs

RESULTS = Path(__file__).parent / "results" / "bench_container_logs.json"
START = "2026-12-08T04:13:55Z kubesim: container c started (image docker.io/library/nginx:1.27)"


def _lifecycle(logs: ContainerLogs, pods: int) -> dict[str, float]:
    started = time.perf_counter()
    for index in range(pods):
        writer = logs.writer(f"pod-{index}", "c", 0)
        writer.write_line("stdout", START)
        writer.write_line("stdout", "2026-12-08T04:13:56Z kubesim: container c exited with code 0")
        writer.close()
    written = time.perf_counter()
    for index in range(pods):
        logs.remove(f"pod-{index}")
    removed = time.perf_counter()
    return {
        "instance_us": (written - started) / pods * 1e6,
        "remove_us": (removed - written) / pods * 1e6,
    }


def _volume(logs: ContainerLogs, lines: int) -> dict[str, float]:
    writer = logs.writer("big", "c", 0)
    text = b"".join(b"line %d of some container output\n" % i for i in range(lines))
    started = time.perf_counter()
    for offset in range(0, len(text), 65536):
        writer.feed("stdout", text[offset : offset + 65536])
    writer.close()
    fed = time.perf_counter()
    whole = logs.read("big", "c")
    read = time.perf_counter()
    tail = logs.read("big", "c", tail_lines=10)
    tailed = time.perf_counter()
    assert whole.count(b"\n") == lines
    assert tail.count(b"\n") == 10
    logs.remove("big")
    return {
        "feed_lines_per_s": lines / (fed - started),
        "read_all_ms": (read - fed) * 1e3,
        "tail_10_ms": (tailed - read) * 1e3,
    }


def main() -> None:
    """Measure on kubesim's own root and on the default temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "pods": args.pods, "lines": args.lines}
    with tempfile.TemporaryDirectory(prefix="kubesim-bench-logs-") as disk:
        for name, logs in (
            ("kubesim_root", ContainerLogs()),
            ("default_tmpdir", ContainerLogs(Path(disk))),
        ):
            results[name] = {"root": str(logs.root.parent)}
            results[name].update(_lifecycle(logs, args.pods))
            results[name].update(_volume(logs, args.lines))
            logs.close()
    print(
        f"{'root':<16}{'instance µs':>12}{'remove µs':>11}{'feed lines/s':>14}"
        f"{'read all ms':>13}{'tail 10 ms':>12}"
    )
    for name in ("kubesim_root", "default_tmpdir"):
        row = results[name]
        print(
            f"{row['root']:<16}{row['instance_us']:>12.0f}{row['remove_us']:>11.0f}"
            f"{row['feed_lines_per_s']:>14.0f}{row['read_all_ms']:>13.1f}{row['tail_10_ms']:>12.1f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
