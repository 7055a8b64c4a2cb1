"""The CronJob controller (upstream's cronjob_controllerv2, in miniature): Jobs on a schedule.

Each sync: forget finished or vanished Jobs from `status.active` (noting `lastSuccessfulTime`),
find the most recent unmet schedule time since `lastScheduleTime` (or creation, or
`startingDeadlineSeconds` ago), and start a Job named `<cronjob>-<scheduled minutes since the
epoch>` unless that time is too late, the Job exists, or `concurrencyPolicy` says otherwise
(Forbid skips, Replace deletes the running ones). Finished Jobs beyond the history limits are
deleted oldest first. The CronJob is looked at again just after its next schedule time.

Schedules are parsed by croniter (five fields or an `@hourly`-style macro) in `spec.timeZone`
(UTC when unset, as a kube-controller-manager running in UTC). Time comes from the event loop,
so tests on looptime's fake clock can run a schedule for days in a moment. The API server
stamps `creationTimestamp` from the wall clock, which the loop's clock need not match, so a
CronJob's first schedule time is the first one after this controller saw it (in a live
cluster, that is its creation).
"""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo
from typing import Any

from croniter import croniter

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock, format_time, parse_time
from kubesim.common.config import WorkloadsConfig
from kubesim.common.podutil import ObjectKey, controller_uid, owner_reference
from kubesim.common.store import Cache
from kubesim.controllers.base import Controller
from kubesim.controllers.job import job_finished

__all__ = ["SCHEDULED_TIMESTAMP_ANNOTATION", "CronJobController", "parse_schedule"]

SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
#: upstream's nextScheduleDelta: look again this long after the schedule time.
_NEXT_DELTA = 0.1
_MANY_MISSED = 100
#: Up to this many missed times are stepped through one by one (exact for irregular schedules).
_STEP_LIMIT = 1000


def parse_schedule(schedule: str) -> str | None:
    """None when croniter and upstream's standard parser both take `schedule`, else why not."""
    fields = schedule.split()
    if not fields:
        return "empty spec string"
    if fields[0].startswith("@"):
        if len(fields) != 1 or not croniter.is_valid(fields[0]):
            return f"unrecognized descriptor: {schedule}"
        return None
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    if not croniter.is_valid(schedule):
        return f"a field is out of range or malformed: {schedule}"
    return None


class CronJobController(Controller):
    """Starts the Jobs of CronJobs on their schedules."""

    name = "cronjob-controller"

    def __init__(
        self,
        *,
        cluster: ClusterAPI,
        config: WorkloadsConfig,
        clock: Clock,
        cronjobs: Cache,
        jobs: Cache,
    ) -> None:
        super().__init__(cluster=cluster, config=config, clock=clock)
        self.cronjobs = cronjobs
        self.jobs = jobs
        #: uid → when this controller first saw the CronJob (loop-clock epoch seconds).
        self._first_seen: dict[str, float] = {}
        self.watch_owners(cronjobs)
        self.watch_children(jobs)
        cronjobs.add_handler(self._on_cronjob)

    def _on_cronjob(self, event: str, old: dict[str, Any] | None, obj: dict[str, Any]) -> None:
        uid = str(obj["metadata"].get("uid", ""))
        if event == "DELETED":
            self._first_seen.pop(uid, None)
        else:
            self._first_seen.setdefault(uid, self.clock.now())

    # ------------------------------------------------------------------ sync

    def reconcile(self, key: ObjectKey) -> float | None:
        """Track the CronJob's Jobs, start one if a schedule time is due, trim the history."""
        cj = self.cronjobs.get(key)
        if cj is None:
            return None
        jobs = self.jobs.owned_by(cj["metadata"]["uid"])
        status = copy.deepcopy(cj.get("status") or {})
        self._track(cj, jobs, status)
        requeue = None
        if not cj["metadata"].get("deletionTimestamp"):
            requeue = self._schedule(cj, status)
            self._trim_history(cj, self.jobs.owned_by(cj["metadata"]["uid"]), status)
        if not status.get("active"):
            status.pop("active", None)
        self.write_status(self.cronjobs.resource, cj, status)
        return requeue

    def _track(
        self, cj: dict[str, Any], jobs: list[dict[str, Any]], status: dict[str, Any]
    ) -> None:
        """Drop finished and vanished Jobs from status.active; note the last success."""
        active = status.setdefault("active", [])
        active_uids = {ref.get("uid") for ref in active}
        for job in jobs:
            meta = job["metadata"]
            finished = job_finished(job)
            if finished is None:
                if meta["uid"] not in active_uids:
                    message = (
                        f"Saw a job that the controller did not create or forgot: {meta['name']}"
                    )
                    self.events.warning(cj, "UnexpectedJob", message)
                continue
            if meta["uid"] in active_uids:
                active[:] = [r for r in active if r.get("uid") != meta["uid"]]
                message = f"Saw completed job: {meta['name']}, condition: {finished}"
                self.events.normal(cj, "SawCompletedJob", message)
            completed = (job.get("status") or {}).get("completionTime")
            last = status.get("lastSuccessfulTime")
            newer = last is None or (parse_time(completed) or 0) > (parse_time(last) or 0)
            if finished == "Complete" and completed and newer:
                status["lastSuccessfulTime"] = completed
        children = {j["metadata"]["uid"] for j in jobs}
        for ref in list(active):
            if ref.get("uid") not in children and not self._exists(ref):
                self.events.normal(cj, "MissingJob", f"Active job went missing: {ref.get('name')}")
                active.remove(ref)

    def _exists(self, ref: dict[str, Any]) -> bool:
        try:
            self.cluster.get(self.jobs.resource, ref.get("namespace"), str(ref.get("name")))
        except StatusError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def _schedule(self, cj: dict[str, Any], status: dict[str, Any]) -> float | None:
        """Start the Job of the most recent unmet schedule time; seconds to the next one."""
        spec = cj.get("spec") or {}
        zone = self._zone(cj)
        if zone is None or spec.get("suspend"):
            return None
        schedule = str(spec.get("schedule", ""))
        problem = parse_schedule(schedule)
        if problem is not None:
            message = f'unparseable schedule: "{schedule}" : {problem}'
            self.events.warning(cj, "UnparseableSchedule", message)
            return None
        now = self.clock.now()
        earliest = self._earliest(cj, status)
        deadline = spec.get("startingDeadlineSeconds")
        since = max(earliest, now - float(deadline)) if deadline is not None else earliest
        due, missed = _most_recent(schedule, zone, since, now)
        next_in = _next_after(schedule, zone, max(now, earliest)) + _NEXT_DELTA - now
        if due is None:
            return max(next_in, 0.0)
        if missed > _MANY_MISSED:
            message = (
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                "or check clock skew"
            )
            self.events.warning(cj, "TooManyMissedTimes", message)
        if deadline is not None and due + float(deadline) < now:
            stamp = dt.datetime.fromtimestamp(due, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
            self.events.warning(
                cj, "MissSchedule", f"Missed scheduled time to start a job: {stamp}"
            )
            return max(next_in, 0.0)
        name = f"{cj['metadata']['name']}-{int(due) // 60}"
        active = status.setdefault("active", [])
        if any(r.get("name") == name for r in active) or status.get(
            "lastScheduleTime"
        ) == format_time(due):
            return max(next_in, 0.0)
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            message = (
                "Not starting job because prior execution is running and concurrency policy is "
                "Forbid"
            )
            self.events.normal(cj, "JobAlreadyActive", message)
            return max(next_in, 0.0)
        if policy == "Replace":
            for ref in list(active):
                self._delete_job(cj, ref, status)
        self._start(cj, name, due, zone, status)
        return max(next_in, 0.0)

    def _zone(self, cj: dict[str, Any]) -> dt.tzinfo | None:
        name = (cj.get("spec") or {}).get("timeZone")
        if name is None:
            return dt.UTC
        try:
            return zoneinfo.ZoneInfo(str(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            message = f'invalid timeZone: "{name}": unknown time zone {name}'
            self.events.warning(cj, "UnknownTimeZone", message)
            return None

    def _earliest(self, cj: dict[str, Any], status: dict[str, Any]) -> float:
        last = parse_time(status.get("lastScheduleTime"))
        if last is not None:
            return last
        seen = self._first_seen.get(cj["metadata"]["uid"])
        if seen is not None:
            return seen
        return parse_time(cj["metadata"].get("creationTimestamp")) or self.clock.now()

    def _start(
        self, cj: dict[str, Any], name: str, due: float, zone: dt.tzinfo, status: dict[str, Any]
    ) -> None:
        """Create the Job for schedule time `due` and add it to status.active."""
        template = (cj.get("spec") or {}).get("jobTemplate") or {}
        meta = template.get("metadata") or {}
        scheduled = dt.datetime.fromtimestamp(due, zone).isoformat()
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": cj["metadata"]["namespace"],
                "labels": dict(meta.get("labels") or {}),
                "annotations": {
                    **(meta.get("annotations") or {}),
                    SCHEDULED_TIMESTAMP_ANNOTATION: scheduled.replace("+00:00", "Z"),
                },
                "ownerReferences": [owner_reference(cj, kind="CronJob", api_version="batch/v1")],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        namespace = cj["metadata"]["namespace"]
        try:
            created = self.cluster.create(self.jobs.resource, namespace, job, user=self.user)
        except StatusError as exc:
            if exc.code != 409:
                self.events.warning(cj, "FailedCreate", f"Error creating job: {exc}")
                raise
            created = self.cluster.get(self.jobs.resource, namespace, name)
            if controller_uid(created) != cj["metadata"]["uid"]:
                return
        else:
            self.events.normal(cj, "SuccessfulCreate", f"Created job {name}")
        active = status.setdefault("active", [])
        if not any(r.get("uid") == created["metadata"]["uid"] for r in active):
            active.append(_reference(created))
        status["lastScheduleTime"] = format_time(due)

    # ------------------------------------------------------------------ history

    def _trim_history(
        self, cj: dict[str, Any], jobs: list[dict[str, Any]], status: dict[str, Any]
    ) -> None:
        """Delete the oldest finished Jobs beyond successful/failedJobsHistoryLimit."""
        spec = cj.get("spec") or {}
        limits = (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit"))
        for kind, name in limits:
            limit = spec.get(name)
            if limit is None:
                continue
            done = sorted((j for j in jobs if job_finished(j) == kind), key=_start_order)
            for job in done[: max(len(done) - int(limit), 0)]:
                self._delete_job(cj, _reference(job), status)

    def _delete_job(self, cj: dict[str, Any], ref: dict[str, Any], status: dict[str, Any]) -> None:
        """Delete a Job (its pods in the background) and forget it in status.active."""
        try:
            self.cluster.delete(
                self.jobs.resource,
                ref.get("namespace"),
                str(ref.get("name")),
                user=self.user,
                propagation_policy="Background",
            )
        except StatusError as exc:
            if exc.code != 404:
                self.events.warning(cj, "FailedDelete", f"Deleted job: {exc}")
                raise
        active = status.get("active") or []
        active[:] = [r for r in active if r.get("uid") != ref.get("uid")]
        self.events.normal(cj, "SuccessfulDelete", f"Deleted job {ref.get('name')}")


def _reference(job: dict[str, Any]) -> dict[str, Any]:
    """The ObjectReference status.active holds."""
    meta = job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "resourceVersion": meta["resourceVersion"],
        "uid": meta["uid"],
    }


def _start_order(job: dict[str, Any]) -> tuple[bool, float, str]:
    """byJobStartTime: by status.startTime (missing last), then by name."""
    start = parse_time((job.get("status") or {}).get("startTime"))
    return (start is None, start or 0.0, job["metadata"]["name"])


def _next_after(schedule: str, zone: dt.tzinfo, after: float) -> float:
    """The first schedule time strictly after `after` (epoch seconds)."""
    start = dt.datetime.fromtimestamp(after, zone)
    return float(croniter(schedule, start).get_next(float))


def _most_recent(
    schedule: str, zone: dt.tzinfo, since: float, now: float
) -> tuple[float | None, int]:
    """mostRecentScheduleTime: the latest schedule time in (since, now], and how many there are."""
    first = _next_after(schedule, zone, since)
    if first > now:
        return None, 0
    second = _next_after(schedule, zone, first)
    if second > now:
        return first, 1
    interval = max(round(second - first), 1)
    missed = int((now - first) // interval) + 1
    latest = cursor = first
    if missed > _STEP_LIMIT:
        # Skip ahead close to `now` instead of stepping through years of minutes (as upstream).
        cursor = first + (missed - 2) * interval - 1
    while (candidate := _next_after(schedule, zone, cursor)) <= now:
        latest = cursor = candidate
    return latest, missed
