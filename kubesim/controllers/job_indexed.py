"""The Indexed completion mode of Jobs (upstream's indexed_job_utils), kept apart from job.py.

Each index in `[0, completions)` must succeed once. A pod for index i is `<job>-<i>-<5 chars>`,
carries the index as annotation and label `batch.kubernetes.io/job-completion-index`, hostname
`<job>-<i>` and `JOB_COMPLETION_INDEX` in every container's environment (from that annotation,
through the downward API). `status.completedIndexes` lists the succeeded indexes in upstream's
interval form (`0-2,4`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "INDEX_KEY",
    "completion_index",
    "format_indexes",
    "indexed_pod",
    "is_indexed",
    "parse_indexes",
    "pending_indexes",
    "succeeded_indexes",
    "surplus_pods",
]

INDEX_KEY = "batch.kubernetes.io/job-completion-index"


def is_indexed(job: dict[str, Any]) -> bool:
    """spec.completionMode is Indexed."""
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def completion_index(pod: dict[str, Any], completions: int) -> int | None:
    """The pod's index from its annotation, None when missing or out of range."""
    raw = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    if raw is None or not str(raw).isdigit():
        return None
    index = int(raw)
    return index if index < completions else None


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """`0-2,4` → {0, 1, 2, 4} (indexes at or past `completions` dropped)."""
    found: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            found.update(range(int(first), int(last or first) + 1))
    return {i for i in found if i < completions}


def format_indexes(indexes: set[int]) -> str:
    """{0, 1, 2, 4} → `0-2,4` (orderedIntervals.String)."""
    parts: list[str] = []
    ordered = sorted(indexes)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[start], ordered[end]
        parts.append(str(first) if first == last else f"{first}-{last}")
        start = end + 1
    return ",".join(parts)


def succeeded_indexes(job: dict[str, Any], pods: list[dict[str, Any]]) -> set[int]:
    """calculateSucceededIndexes: the recorded ones plus indexes of pods that succeeded."""
    completions = int((job.get("spec") or {}).get("completions") or 0)
    done = parse_indexes((job.get("status") or {}).get("completedIndexes"), completions)
    for pod in pods:
        index = completion_index(pod, completions)
        if index is not None and (pod.get("status") or {}).get("phase") == "Succeeded":
            done.add(index)
    return done


def surplus_pods(
    active: list[dict[str, Any]], done: set[int], completions: int
) -> list[dict[str, Any]]:
    """Active pods to delete: for a succeeded, out-of-range or already covered index."""
    seen: set[int] = set()
    surplus = []
    for pod in sorted(active, key=lambda p: str(p["metadata"].get("creationTimestamp", ""))):
        index = completion_index(pod, completions)
        if index is None or index in done or index in seen:
            surplus.append(pod)
        else:
            seen.add(index)
    return surplus


def pending_indexes(
    completions: int, done: set[int], active: list[dict[str, Any]], count: int
) -> list[int]:
    """firstPendingIndexes: the lowest `count` indexes neither succeeded nor running."""
    running = {completion_index(p, completions) for p in active}
    pending = (i for i in range(completions) if i not in done and i not in running)
    return [i for _, i in zip(range(count), pending, strict=False)]


def indexed_pod(pod: dict[str, Any], job_name: str, index: int) -> None:
    """Make a new Job pod the pod of `index` (name, annotation, label, hostname, env)."""
    meta = pod["metadata"]
    meta["generateName"] = f"{job_name}-{index}-"
    meta.setdefault("annotations", {})[INDEX_KEY] = str(index)
    meta.setdefault("labels", {})[INDEX_KEY] = str(index)
    spec = pod["spec"]
    spec.setdefault("hostname", f"{job_name}-{index}")
    env = {
        "name": "JOB_COMPLETION_INDEX",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}},
    }
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        variables = container.setdefault("env", [])
        if not any(v.get("name") == "JOB_COMPLETION_INDEX" for v in variables):
            variables.append(dict(env))
