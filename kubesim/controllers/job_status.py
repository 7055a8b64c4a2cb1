"""What the Job controller reads off its pods and writes into a Job's status (pure helpers).

A pod counts as failed as upstream's isPodFailed says; the failure time for the back-off is its
latest container finishedAt; restarts of running pods count against backoffLimit under
OnFailure; uncounted pods whose finalizer is gone move into the counters.
"""

from __future__ import annotations

from typing import Any

from kubesim.common.clock import parse_time

__all__ = [
    "KEEP_ZERO",
    "TRACKING_FINALIZER",
    "add_uid",
    "count_released",
    "finish_time",
    "finished_at",
    "has_finalizer",
    "job_condition",
    "job_finished",
    "past_backoff_on_failure",
    "pod_failed",
    "pod_phase",
    "suspended",
]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
_FINISHED = ("Complete", "Failed")


def job_finished(job: dict[str, Any]) -> str | None:
    """`Complete` or `Failed` when that condition is True (util.IsJobFinished), else None."""
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") in _FINISHED and cond.get("status") == "True":
            return str(cond["type"])
    return None


def finish_time(job: dict[str, Any]) -> float | None:
    """When a finished Job finished: completionTime, else its Failed condition's transition."""
    status = job.get("status") or {}
    done = parse_time(status.get("completionTime"))
    for cond in status.get("conditions") or ():
        if done is None and cond.get("type") in _FINISHED and cond.get("status") == "True":
            done = parse_time(cond.get("lastTransitionTime"))
    return done


def has_finalizer(pod: dict[str, Any]) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or ())


def pod_phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def pod_failed(pod: dict[str, Any], job: dict[str, Any]) -> bool:
    """isPodFailed: Failed, or (unless only failed pods are replaced) deleted before success."""
    if pod_phase(pod) == "Failed":
        return True
    if (job.get("spec") or {}).get("podReplacementPolicy") == "Failed":
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and pod_phase(pod) != "Succeeded"


def finished_at(pod: dict[str, Any], default: float) -> float:
    """The latest container finishedAt of a pod (getFinishedTime), else `default`."""
    times = [
        parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for c in (pod.get("status") or {}).get("containerStatuses") or ()
    ]
    found = [t for t in times if t is not None]
    return max(found) if found else default


KEEP_ZERO = frozenset({"uncountedTerminatedPods", "ready", "terminating"})


def suspended(job: dict[str, Any]) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


def past_backoff_on_failure(job: dict[str, Any], pods: list[dict[str, Any]], limit: int) -> bool:
    """pastBackoffLimitOnFailure: restarts of running/pending pods reach backoffLimit."""
    template = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    if template.get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(
        int(c.get("restartCount", 0))
        for p in pods
        if pod_phase(p) in ("Running", "Pending")
        for c in [
            *((p.get("status") or {}).get("initContainerStatuses") or ()),
            *((p.get("status") or {}).get("containerStatuses") or ()),
        ]
    )
    return restarts > 0 if limit == 0 else restarts >= limit


def job_condition(
    kind: str, reason: str, message: str, now: str, *, status: str = "True"
) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def add_uid(uncounted: dict[str, Any], which: str, uid: str) -> None:
    uids = uncounted.setdefault(which, [])
    if uid not in uids:
        uids.append(uid)


def count_released(status: dict[str, Any], with_finalizer: set[str]) -> None:
    """cleanUncountedPodsWithoutFinalizers: uncounted pods whose finalizer is gone are counted."""
    uncounted = status["uncountedTerminatedPods"]
    for which in ("succeeded", "failed"):
        uids = uncounted.get(which) or []
        kept = [u for u in uids if u in with_finalizer]
        if len(kept) != len(uids):
            status[which] = int(status.get(which, 0)) + len(uids) - len(kept)
        if kept:
            uncounted[which] = kept
        else:
            uncounted.pop(which, None)
