"""The Job controller: run pods to completion, count them, and finish the Job as upstream does.

One sync (upstream's syncJob, in miniature): count the pods that finished since the last sync,
decide whether the Job has failed (backoffLimit, activeDeadlineSeconds) or succeeded
(completions), otherwise create or delete pods towards `min(parallelism, completions left)`,
then track: finished pods go into `status.uncountedTerminatedPods`, lose their
`batch.kubernetes.io/job-tracking` finalizer and move into `succeeded`/`failed`. A finishing Job
first gets the interim condition (SuccessCriteriaMet or FailureTarget) and only gets Complete or
Failed once no pod is left uncounted or terminating. Replacement pods after failures wait out
upstream's back-off (10 s doubling, at most 10 min). Finished Jobs with
`ttlSecondsAfterFinished` are deleted (foreground) when it runs out, as the TTL controller does.
Indexed completion mode lives in job_indexed.py.
Not simulated: podFailurePolicy, successPolicy, backoffLimitPerIndex.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

import structlog

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock, parse_time
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, is_active, is_ready, key_of
from kubesim.common.store import Cache
from kubesim.controllers import job_indexed as indexed
from kubesim.controllers import job_status as st
from kubesim.controllers.base import BURST_REPLICAS, Controller
from kubesim.controllers.job_status import TRACKING_FINALIZER, job_finished
from kubesim.controllers.ranking import pods_to_delete

__all__ = ["TRACKING_FINALIZER", "JobController", "job_finished"]

log = structlog.get_logger(__name__)

_MANAGED_BY = "kubernetes.io/job-controller"
#: upstream's MaxJobPodFailureBackOff, as a multiple of the base back-off (10 min / 10 s).
_MAX_BACKOFF_FACTOR = 60


@dataclass
class _Backoff:
    """Upstream's backoffRecord: failures since the last success, and when the last one was."""

    failures: int = 0
    last_failure: float = 0.0


@dataclass
class _Sync:
    """What one sync knows (upstream's syncJobCtx)."""

    job: dict[str, Any]
    status: dict[str, Any]
    pods: list[dict[str, Any]]
    active: list[dict[str, Any]]
    succeeded: int
    failed: int
    ready: int
    terminating: int
    #: (type, reason, message) of the condition the Job is finishing with, if any.
    finishing: tuple[str, str, str] | None = None
    backoff: _Backoff = field(default_factory=_Backoff)
    #: The succeeded indexes of an Indexed Job (None for NonIndexed).
    indexes: set[int] | None = None
    requeue: list[float] = field(default_factory=list)


class JobController(Controller):
    """Creates the pods of Jobs and reports their progress."""

    name = "job-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        jobs: Cache,
        pods: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.jobs = jobs
        self.pods = pods
        self._backoffs: dict[ObjectKey, _Backoff] = {}
        self.watch_owners(jobs)
        self.watch_children(pods)
        pods.add_handler(self._on_pod)

    # ------------------------------------------------------------------ sync

    def reconcile(self, key: ObjectKey) -> float | None:
        """One syncJob; returns when to look again (deadline, back-off, TTL)."""
        job = self.jobs.get(key)
        if job is None:
            self._backoffs.pop(key, None)
            return None
        if (job.get("spec") or {}).get("managedBy", _MANAGED_BY) != _MANAGED_BY:
            return None
        if job_finished(job):
            self._backoffs.pop(key, None)
            return self._expire(job)
        sync = self._observe(key, job)
        self._decide(sync)
        if sync.finishing is not None:
            # A finishing Job deletes what is still running; it is not done before they are gone.
            self._delete_pods(sync, sync.active)
        else:
            if not job["metadata"].get("deletionTimestamp"):
                self._manage(sync)
            self._check_complete(sync)
        self._track(key, sync)
        return min(sync.requeue) if sync.requeue else None

    def _observe(self, key: ObjectKey, job: dict[str, Any]) -> _Sync:
        """Count pods: active, ready, terminating, and finished but not yet counted."""
        status = copy.deepcopy(job.get("status") or {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        pods = self.pods.owned_by(job["metadata"]["uid"])
        active = [p for p in pods if is_active(p)]
        seen_ok = set(uncounted.get("succeeded") or ())
        seen_bad = set(uncounted.get("failed") or ())
        new_ok = [
            p
            for p in pods
            if st.has_finalizer(p)
            and st.pod_phase(p) == "Succeeded"
            and p["metadata"]["uid"] not in seen_ok
        ]
        new_bad = [
            p
            for p in pods
            if st.has_finalizer(p)
            and st.pod_failed(p, job)
            and p["metadata"]["uid"] not in seen_bad
        ]
        sync = _Sync(
            job=job,
            status=status,
            pods=pods,
            active=active,
            succeeded=int(status.get("succeeded", 0)) + len(new_ok) + len(seen_ok),
            failed=int(status.get("failed", 0)) + len(new_bad) + len(seen_bad),
            ready=sum(1 for p in active if is_ready(p)),
            terminating=sum(
                1
                for p in pods
                if p["metadata"].get("deletionTimestamp")
                and st.pod_phase(p) not in ("Succeeded", "Failed")
            ),
        )
        if indexed.is_indexed(job):
            sync.indexes = indexed.succeeded_indexes(job, pods)
            sync.succeeded = len(sync.indexes)
        if not status.get("startTime") and not st.suspended(job):
            status["startTime"] = self.clock.rfc3339()
        sync.backoff = self._next_backoff(key, new_ok, new_bad)
        return sync

    def _next_backoff(
        self, key: ObjectKey, new_ok: list[dict[str, Any]], new_bad: list[dict[str, Any]]
    ) -> _Backoff:
        """newBackoffRecord: a success resets the count; failures add to it."""
        old = self._backoffs.get(key, _Backoff())
        if new_ok:
            return _Backoff()
        if not new_bad:
            return old
        now = self.clock.now()
        last = max(st.finished_at(p, now) for p in new_bad)
        return _Backoff(old.failures + len(new_bad), last)

    def _decide(self, sync: _Sync) -> None:
        """Whether the Job is finishing, and how (the order upstream evaluates it in)."""
        job, spec = sync.job, sync.job.get("spec") or {}
        for cond in sync.status.get("conditions") or ():
            if cond.get("status") != "True":
                continue
            if cond.get("type") == "SuccessCriteriaMet":
                sync.finishing = ("SuccessCriteriaMet", cond["reason"], cond["message"])
                return
            if cond.get("type") == "FailureTarget":
                sync.finishing = ("FailureTarget", cond["reason"], cond["message"])
        if sync.finishing is not None:
            return
        limit = int(spec.get("backoffLimit", 6))
        if sync.failed > limit or st.past_backoff_on_failure(job, sync.pods, limit):
            message = "Job has reached the specified backoff limit"
            sync.finishing = ("FailureTarget", "BackoffLimitExceeded", message)
            return
        deadline = spec.get("activeDeadlineSeconds")
        start = parse_time(sync.status.get("startTime"))
        if deadline is None or start is None or st.suspended(job):
            return
        left = start + float(deadline) - self.clock.now()
        if left <= 0:
            message = "Job was active longer than specified deadline"
            sync.finishing = ("FailureTarget", "DeadlineExceeded", message)
        else:
            sync.requeue.append(left)

    def _check_complete(self, sync: _Sync) -> None:
        """Completions reached (or, without completions, any success and nothing active)."""
        completions = (sync.job.get("spec") or {}).get("completions")
        active = len(sync.active)
        if completions is None:
            done = sync.succeeded > 0 and active == 0
        else:
            done = sync.succeeded >= int(completions) and active == 0
        if done:
            message = "Reached expected number of succeeded pods"
            sync.finishing = ("SuccessCriteriaMet", "CompletionsReached", message)
        else:
            self._suspend_condition(sync)

    def _suspend_condition(self, sync: _Sync) -> None:
        suspended = st.suspended(sync.job)
        kind, reason, message = (
            ("True", "JobSuspended", "Job suspended")
            if suspended
            else ("False", "JobResumed", "Job resumed")
        )
        conditions = sync.status.setdefault("conditions", [])
        current = next((c for c in conditions if c.get("type") == "Suspended"), None)
        if current is None and not suspended:
            return
        if current is not None and current.get("status") == kind:
            return
        now = self.clock.rfc3339()
        fresh = st.job_condition("Suspended", reason, message, now, status=kind)
        if current is None:
            conditions.append(fresh)
        else:
            current.update(fresh)
        self.events.normal(sync.job, "Suspended" if suspended else "Resumed", message)
        if suspended:
            sync.status.pop("startTime", None)
        else:
            sync.status["startTime"] = now

    # ------------------------------------------------------------------ pods

    def _manage(self, sync: _Sync) -> None:
        """manageJob: delete surplus pods, or create missing ones once the back-off allows."""
        job, spec = sync.job, sync.job.get("spec") or {}
        active = len(sync.active)
        if st.suspended(job):
            self._delete_pods(sync, sync.active)
            return
        parallelism = int(spec.get("parallelism", 1))
        completions = spec.get("completions")
        if completions is None:
            want = active if sync.succeeded > 0 else parallelism
        else:
            want = max(0, min(int(completions) - sync.succeeded, parallelism))
        surplus = (
            indexed.surplus_pods(sync.active, sync.indexes, int(completions or 0))
            if sync.indexes is not None
            else []
        )
        if surplus or active > want:
            now = self.clock.now()
            victims = surplus or pods_to_delete(sync.active, active - want, related=(), now=now)
            self._delete_pods(sync, victims[:BURST_REPLICAS])
            return
        waiting = sync.terminating if spec.get("podReplacementPolicy") == "Failed" else 0
        missing = self.within_budget(job, "Job", want) - waiting - active
        if missing <= 0:
            return
        wait = self._backoff_remaining(sync.backoff)
        if wait > 0:
            sync.requeue.append(wait)
            return
        count = min(missing, BURST_REPLICAS)
        if sync.indexes is None:
            slots: list[int | None] = [None] * count
        else:
            total = int(completions or 0)
            slots = [*indexed.pending_indexes(total, sync.indexes, sync.active, count)]
        for index in slots:
            sync.active.append(self._create_pod(job, index))
        if missing > BURST_REPLICAS:
            sync.requeue.append(0.0)

    def _backoff_remaining(self, backoff: _Backoff) -> float:
        if backoff.failures == 0:
            return 0.0
        base = self.config.job_backoff_base
        delay = min(base * 2.0 ** (backoff.failures - 1), base * _MAX_BACKOFF_FACTOR)
        return max(0.0, delay - (self.clock.now() - backoff.last_failure))

    def _create_pod(self, job: dict[str, Any], index: int | None) -> dict[str, Any]:
        pod = self.pod_from_template(job, kind="Job", api_version="batch/v1")
        pod["metadata"]["finalizers"] = [*pod["metadata"].get("finalizers", ()), TRACKING_FINALIZER]
        if index is not None:
            indexed.indexed_pod(pod, job["metadata"]["name"], index)
        return self.create_pod(job, self.pods.resource, pod)

    def _delete_pods(self, sync: _Sync, victims: list[dict[str, Any]]) -> int:
        """Delete pods (keeping their finalizer; tracking removes it); how many went."""
        deleted = 0
        for pod in list(victims):
            if self.delete_quietly(self.pods.resource, pod):
                self.events.normal(
                    sync.job, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}"
                )
            deleted += 1
            sync.ready -= is_ready(pod)
            sync.terminating += 1
            sync.active.remove(pod)
        return deleted

    # ------------------------------------------------------------------ tracking

    def _track(self, key: ObjectKey, sync: _Sync) -> None:
        """trackJobStatusAndRemoveFinalizers, then the final condition once nothing is pending."""
        job, status = sync.job, sync.status
        uncounted = status["uncountedTerminatedPods"]
        with_finalizer = {p["metadata"]["uid"] for p in sync.pods if st.has_finalizer(p)}
        st.count_released(status, with_finalizer)
        failing = sync.finishing is not None and sync.finishing[0] == "FailureTarget"
        release: list[dict[str, Any]] = []
        for pod in sync.pods:
            if not st.has_finalizer(pod):
                continue
            uid = pod["metadata"]["uid"]
            failed = st.pod_failed(pod, job)
            ok = st.pod_phase(pod) == "Succeeded"
            if not (job["metadata"].get("deletionTimestamp") or sync.finishing or ok or failed):
                continue
            release.append(pod)
            if ok and sync.indexes is None and uid not in (uncounted.get("failed") or ()):
                st.add_uid(uncounted, "succeeded", uid)
            elif not ok and (failed or failing):
                st.add_uid(uncounted, "failed", uid)
        if sync.indexes is not None:
            status["completedIndexes"] = indexed.format_indexes(sync.indexes)
            status["succeeded"] = len(sync.indexes)
        final = self._interim_condition(sync)
        status["active"] = len(sync.active)
        status["ready"] = max(sync.ready, 0)
        status["terminating"] = sync.terminating
        written = self._flush(job, status)
        if written is None:
            return  # a conflict: write_status has requeued the Job
        self._backoffs[key] = sync.backoff
        for pod in release:
            self._release(pod)
            with_finalizer.discard(pod["metadata"]["uid"])
        st.count_released(status, with_finalizer)
        pending = uncounted.get("succeeded") or uncounted.get("failed") or sync.terminating > 0
        if final is not None and not pending:
            self._finish(written, status, final)
        else:
            self._flush(written, status)

    def _interim_condition(self, sync: _Sync) -> tuple[str, str, str] | None:
        """Add FailureTarget/SuccessCriteriaMet; the final condition (Failed/Complete) to set."""
        if sync.finishing is None:
            return None
        kind, reason, message = sync.finishing
        conditions = sync.status.setdefault("conditions", [])
        if not any(c.get("type") == kind for c in conditions):
            conditions.append(st.job_condition(kind, reason, message, self.clock.rfc3339()))
        return ("Failed" if kind == "FailureTarget" else "Complete", reason, message)

    def _finish(
        self, job: dict[str, Any], status: dict[str, Any], final: tuple[str, str, str]
    ) -> None:
        kind, reason, message = final
        now = self.clock.rfc3339()
        status["conditions"].append(st.job_condition(kind, reason, message, now))
        if kind == "Complete":
            status["completionTime"] = now
        if self._flush(job, status) is None:
            return
        if kind == "Complete":
            self.events.normal(job, "Completed", "Job completed")
        else:
            self.events.warning(job, reason, message)

    def _flush(self, job: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        """Write `status` (zero counters left out, as omitempty does); the Job to write next."""
        body = {k: v for k, v in status.items() if v not in (0, None, [], "") or k in st.KEEP_ZERO}
        if body == job.get("status"):
            return job
        return self.write_status(self.jobs.resource, job, copy.deepcopy(body))

    def _release(self, pod: dict[str, Any]) -> None:
        """Remove the tracking finalizer (a pod already gone is fine)."""
        meta = pod["metadata"]
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}
        try:
            self.cluster.patch(
                self.pods.resource,
                meta.get("namespace"),
                meta["name"],
                patch,
                patch_type="strategic",
                user=self.user,
            )
        except StatusError as exc:
            if exc.code != 404:
                raise

    def _on_pod(self, event: str, old: dict[str, Any] | None, pod: dict[str, Any]) -> None:
        """A tracked pod whose Job is gone loses its finalizer (upstream's orphan cleanup)."""
        if event == "DELETED" or not st.has_finalizer(pod):
            return
        for ref in pod["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "Job":
                owner = str(ref.get("uid"))
                if owner not in self._owner_keys:
                    # Later: at startup the Jobs' cache may not have replayed its Jobs yet.
                    loop = asyncio.get_running_loop()
                    loop.call_soon(self._release_orphan, key_of(pod), owner)

    def _release_orphan(self, key: ObjectKey, owner: str) -> None:
        pod = self.pods.get(key)
        if pod is None or not st.has_finalizer(pod) or owner in self._owner_keys:
            return
        try:
            self._release(pod)
        except StatusError as exc:
            log.info("job_orphan_release_failed", pod=str(key), code=exc.code, error=exc.message)

    # ------------------------------------------------------------------ TTL after finished

    def _expire(self, job: dict[str, Any]) -> float | None:
        """The TTL-after-finished controller: delete the Job (foreground) once its TTL is up."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None or job["metadata"].get("deletionTimestamp"):
            return None
        finished = st.finish_time(job)
        left = (finished or self.clock.now()) + float(ttl) - self.clock.now()
        if left > 0:
            return left
        self.delete_quietly(self.jobs.resource, job, propagation_policy="Foreground")
        return None
