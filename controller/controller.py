"""The RayCluster controller: sample-controller's shape on asyncio.

Wiring happens in the constructor (informer handlers enqueue the owning RayCluster's key);
:meth:`RayClusterController.run` waits for the caches and runs ``concurrency`` workers; each
worker loops in :meth:`_process_next_item`, the only code that speaks the queue protocol;
:meth:`reconcile` takes a key, reads only the caches, and makes the cluster match the spec.

The queue protocol (client-go's, and controller-runtime's outcome contract), in one place,
:meth:`_finish`:

- ``get()`` hands a key to exactly one worker; the worker must call ``done(key)``. A key
  added while it is being reconciled is handed out again after ``done``, so one RayCluster is
  never reconciled by two workers at once and no change is missed.
- reconcile failed terminally (:class:`TerminalError`, or an API answer such as 422 that the
  same request will get again) → ``forget`` then ``add_after(terminal_requeue)``: one Warning,
  the status says why, a look again minutes later; never an exponential storm.
- reconcile raised anything else → rate-limited retry (5 ms doubling per failure, up to
  1000 s, and an overall 10 qps bucket), never sooner than the server's ``Retry-After``:
  transient API failures retry, a broken RayCluster backs off without delaying the others.
  (controller/outcomes.py has the table.)
- ``Result(requeue_after=s)`` → ``forget`` then ``add_after(s)``.
- success → ``forget`` (its failure count starts over).

NEVER modify objects from the caches: they are shared with every other reader.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import structlog
from prometheus_client import CollectorRegistry

from controller.api import ParseResult, RayCluster, autoscaler_compat_apply, parse_raycluster
from controller.api.constants import API_VERSION, KIND, LABEL_CLUSTER, ConditionType, EventReason
from controller.builders import BuildConfig, build_children, build_warnings
from controller.caches import CHILD_KIND_BY_NAME, Caches, ChildKey, owner_cluster
from controller.cluster_metrics import ClusterMetrics
from controller.diff import HASH_ANNOTATION, needs_apply, stamp
from controller.events import EventRecorder, rfc3339
from controller.kube import Conflict, KubeClient, KubeError
from controller.memo import WriteMemo
from controller.metrics import ControllerMetrics
from controller.observe import controlled_pods, dead_pod_reason, head_service, hpa_replicas
from controller.options import OperatorOptions
from controller.outcomes import (
    Failure,
    Result,
    TerminalError,
    classify,
    reconcile_error,
    retry_after,
)
from controller.scaledown import ScaleDown
from controller.shape import shape_of
from controller.status import compute_status, failed_status, pod_facts
from informers import DeletedFinalStateUnknown, wait_for_cache_sync
from workqueue import RateLimitingQueue, ShutDown

__all__ = ["ClusterKey", "RayClusterController", "Result", "TerminalError"]

log = structlog.get_logger(__name__)


class ClusterKey(NamedTuple):
    """The workqueue item: one RayCluster by namespace and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class RayClusterController:
    """Keeps every RayCluster's children, pods and status equal to its spec."""

    name = "raycluster"

    def __init__(
        self,
        *,
        client: KubeClient,
        caches: Caches,
        recorder: EventRecorder,
        registry: CollectorRegistry,
        options: OperatorOptions | None = None,
        build_config: BuildConfig | None = None,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.client = client
        self.caches = caches
        self.recorder = recorder
        options = options or OperatorOptions()
        self.concurrency = options.concurrency
        self.build_config = build_config or BuildConfig()
        self.reconcile_timeout = options.reconcile_timeout
        self.terminal_requeue = options.terminal_requeue
        self.clock = clock
        self.queue: RateLimitingQueue[ClusterKey] = RateLimitingQueue(
            name=self.name, registry=registry
        )
        self.registry = registry
        self.metrics = ControllerMetrics(registry, self.name, concurrency=self.concurrency)
        self.ready = asyncio.Event()
        self.memo = WriteMemo()
        # (namespace, kind, name) -> (desired fingerprint, resourceVersion) of the last child
        # version found to contain rayop's intent. A resourceVersion names one exact object
        # state, so the same pair needs no second comparison: steady-state reconciles skip the
        # (comparatively costly) deep containment check. Entries go when the child is deleted.
        self._verified: dict[tuple[str, str, str], tuple[str, str | None]] = {}
        # Per cluster, the children the API server refused for good (kept until the cluster
        # reconciles cleanly or goes): each is reported once and sent again only when the
        # desired object changes or terminal_requeue has passed.
        self._rejected: dict[ClusterKey, dict[ChildKey, _Rejection]] = {}
        # Per cluster, its parsed spec and desired children for the spec version last seen.
        self._intents: dict[ClusterKey, _Intent] = {}
        # Per cluster, the last refusal of another write (status, autoscaler names) reported.
        self._reported: dict[ClusterKey, str] = {}
        # Per cluster, the loop time before which the server asked not to hear from us again.
        self._not_before: dict[ClusterKey, float] = {}
        self.scaledown = ScaleDown(client, recorder)
        self.cluster_metrics = ClusterMetrics(
            registry, clusters=caches.list_clusters, enabled=self.ready.is_set
        )
        self._stopping = False
        self._ids = itertools.count(1)
        caches.watch(
            on_cluster=self._enqueue_cluster, on_child=self._enqueue_owner, on_pod=self._enqueue_pod
        )

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, sync_timeout: float = 120.0) -> None:
        """Wait for the caches, then reconcile with ``concurrency`` workers until stopped.

        The informers must be running (the caller owns them). Returns after :meth:`stop`
        once the in-flight reconciles finished.
        """
        if not await wait_for_cache_sync(*self.caches.all(), timeout=sync_timeout):
            raise RuntimeError(f"caches did not sync within {sync_timeout} s")
        log.info("caches synced; starting workers", workers=self.concurrency)
        self.ready.set()
        async with asyncio.TaskGroup() as group:
            for index in range(self.concurrency):
                group.create_task(self._run_worker(), name=f"{self.name}-worker-{index}")
        log.info("workers stopped")

    def stop(self) -> None:
        """Stop taking work: workers finish their current reconcile and exit."""
        self._stopping = True
        self.queue.shut_down()

    async def _run_worker(self) -> None:
        while await self._process_next_item():
            pass

    async def _process_next_item(self) -> bool:
        try:
            key = await self.queue.get()
        except ShutDown:
            return False
        try:
            if self._stopping:
                return False
            if self._hold_back(key):
                return True
            gauge = self.metrics.active_workers.labels(controller=self.name)
            gauge.inc()
            started = asyncio.get_running_loop().time()
            # Every log line of this reconcile, its outcome included, carries both fields.
            with structlog.contextvars.bound_contextvars(
                raycluster=str(key), reconcile_id=f"{next(self._ids):06x}"
            ):
                try:
                    result = await self._reconcile_with_timeout(key)
                except Exception as exc:  # every failure is an outcome for the queue
                    self._finish(key, None, exc, started)
                else:
                    self._finish(key, result, None, started)
                finally:
                    gauge.dec()
        finally:
            self.queue.done(key)
        return True

    def _finish(
        self, key: ClusterKey, result: Result | None, error: Exception | None, started: float
    ) -> None:
        """Map a reconcile outcome to queue operations and metrics (the only place that does)."""
        seconds = asyncio.get_running_loop().time() - started
        if error is not None and classify(error) is Failure.TERMINAL:
            self.queue.forget(key)
            self.queue.add_after(key, self.terminal_requeue)
            self.metrics.terminal_errors.labels(controller=self.name).inc()
            self.metrics.finished("error", seconds)
            if not isinstance(error, TerminalError):
                self._report_rejected(key, error)
            log.warning(
                "reconcile failed terminally; will look again later",
                error=str(error),
                requeue_after=self.terminal_requeue,
            )
        elif error is not None:
            delay = self.queue.rate_limiter.when(key)
            # Counted from the answer, not from now: the client held this reconcile's later
            # writes until the Retry-After (kube/client.py), so part of it may have passed.
            if hint := retry_after(error, now=asyncio.get_running_loop().time()):
                delay = max(delay, hint)
                self._not_before[key] = asyncio.get_running_loop().time() + hint
            self.queue.add_after(key, delay)
            self.metrics.finished("error", seconds)
            log.warning(
                "reconcile failed; will retry",
                error=str(error) or type(error).__name__,
                retries=self.queue.num_requeues(key),
                requeue_after=round(delay, 3),
                # API failures explain themselves; anything else is a bug: keep its traceback.
                exc_info=None if isinstance(error, KubeError | TimeoutError) else error,
            )
        elif result is not None and result.requeue_after:
            self._forget_refusals(key)
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
            self.metrics.finished("requeue_after", seconds)
        else:
            self._forget_refusals(key)
            self.queue.forget(key)
            self.metrics.finished("success", seconds)

    def _forget_refusals(self, key: ClusterKey) -> None:
        """A clean reconcile (or a cluster gone) ends every refusal on record for it."""
        self._rejected.pop(key, None)
        self._reported.pop(key, None)
        self._not_before.pop(key, None)

    def _hold_back(self, key: ClusterKey) -> bool:
        """Put ``key`` back if the server's Retry-After for it has not passed (True then).

        Informer events re-add a key at once; without this gate they would undo the wait.
        """
        wait = self._not_before.get(key, 0.0) - asyncio.get_running_loop().time()
        if wait <= 0:
            return False
        self.queue.add_after(key, wait)
        return True

    def _report_rejected(self, key: ClusterKey, error: Exception) -> None:
        """One Warning for a terminal refusal of a write other than a child's (status, compat)."""
        message = str(error)
        obj = self.caches.get_cluster(key.namespace, key.name)
        if obj is None or self._reported.get(key) == message:
            return
        self._reported[key] = message
        self.recorder.warning(
            _involved(obj),
            EventReason.REJECTED_BY_SERVER,
            f"The API server refused rayop's write for good: {message}",
        )

    async def _reconcile_with_timeout(self, key: ClusterKey) -> Result:
        async with asyncio.timeout(self.reconcile_timeout):
            return await self.reconcile(key)

    # ------------------------------------------------------------------ event handlers

    def _enqueue_cluster(self, obj: Any) -> None:
        meta = _unwrap(obj).get("metadata") or {}
        self.queue.add(ClusterKey(meta.get("namespace", ""), meta.get("name", "")))

    def _enqueue_owner(self, kind: str, obj: Any, deleted: bool) -> None:
        """A child changed: reconcile the RayCluster that controls it."""
        obj = _unwrap(obj)
        meta = obj.get("metadata") or {}
        if deleted:
            # A delete ends any write we were waiting to see: the next reconcile must recreate.
            child = (meta.get("namespace", ""), kind, meta.get("name", ""))
            self.memo.forget(child)
            self._verified.pop(child, None)
        owner = owner_cluster(obj)
        if owner:
            self.queue.add(ClusterKey(meta.get("namespace", ""), owner))

    def _enqueue_pod(self, obj: Any) -> None:
        """A Ray pod changed: reconcile the RayCluster named by its ``ray.io/cluster`` label."""
        meta = _unwrap(obj).get("metadata") or {}
        cluster = (meta.get("labels") or {}).get(LABEL_CLUSTER)
        if cluster:
            self.queue.add(ClusterKey(meta.get("namespace", ""), cluster))

    def enqueue_all(self) -> None:
        """Queue every cached RayCluster (a forced resync)."""
        for obj in self.caches.list_clusters():
            self._enqueue_cluster(obj)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: ClusterKey) -> Result:
        """Make the RayCluster ``key`` true: children applied, strays deleted, status written."""
        obj = self.caches.get_cluster(key.namespace, key.name)
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            self._intents.pop(key, None)
            return Result()  # gone or going: the garbage collector removes the children
        involved = _involved(obj)
        intent = self._intent(key, obj)
        parsed = intent.parsed
        if parsed.cluster is None:
            await self._report_invalid(obj, involved, [str(p) for p in parsed.problems])
            return Result()
        cluster = parsed.cluster
        seen = self._previous_status(obj).get("observedGeneration")
        if seen != cluster.metadata.generation:  # warn once per generation, not per reconcile
            for warning in [*parsed.warnings, *build_warnings(cluster)]:
                self.recorder.warning(involved, EventReason.SPEC_WARNING, str(warning))
        if not cluster.spec.managed_by_rayop:
            return Result()  # another controller (MultiKueue) owns this cluster: hands off
        await self._apply_autoscaler_compat(obj, cluster)

        desired = intent.desired()
        observed = self.caches.children_of(key.namespace, cluster.metadata.uid or "")
        if clashes := self._name_clashes(key, cluster.metadata.uid or "", desired):
            await self._report_invalid(obj, involved, clashes)  # before any write
            return Result()
        # Named pods get their deletion cost before a lower replicas goes out (scaledown.py).
        # Only pods this cluster's own workloads control (a label is not ownership: observe.py).
        pods = controlled_pods(self.caches.pods_of(key.namespace, key.name), desired, observed)
        desired, errors = await self.scaledown.run(involved, cluster, desired, observed, pods)
        errors += await self._apply_children(involved, desired, observed)
        errors += await self._delete_strays(involved, desired, observed)
        pods = controlled_pods(self.caches.pods_of(key.namespace, key.name), desired, observed)
        errors += await self._delete_dead_pods(involved, pods)

        previous = self._previous_status(obj)
        status = compute_status(
            shape_of(cluster, hpa_replicas=hpa_replicas(desired, observed)),
            pods=[pod_facts(p) for p in pods],
            head_service=head_service(desired, observed),
            previous=previous,
            now=rfc3339(self.clock()),
            apply_error="; ".join(str(e) for e in errors)[:1024],
            missing=sorted(f"{k.kind}/{k.name}" for k in desired if k not in observed),
        )
        if status != previous:
            changed = sorted(k for k in {*status, *previous} if status.get(k) != previous.get(k))
            log.debug("status changed", fields=changed)
            await self._apply_status(obj, status)
            self.cluster_metrics.observe_status(obj, previous, status, now=self.clock())
            self._transition_events(involved, previous, status)
        if errors:
            raise reconcile_error(errors)
        return Result()

    def _intent(self, key: ClusterKey, obj: Mapping[str, Any]) -> _Intent:
        """The cluster's parsed spec and desired children, built once per spec version.

        Parsing and building are pure functions of the spec, labels and annotations (and the
        build config, fixed per process), and were most of a steady-state reconcile's CPU: a
        cluster is reconciled on every event of any of its pods, while its spec rarely moves.
        ``metadata.generation`` moves with every spec change (the status subresource keeps
        status writes from moving it). The children are kept as JSON (about 8 KB a cluster,
        against some 40 KB as dicts) and decoded afresh for each reconcile.
        """
        meta = obj["metadata"]
        version = (meta.get("uid"), meta.get("generation"), meta.get("labels"),
                   meta.get("annotations"))  # fmt: skip
        cached = self._intents.get(key)
        if cached is not None and cached.version == version and meta.get("generation"):
            return cached
        # List items carry no apiVersion/kind; the informer watches ray.io/v1.
        parsed = parse_raycluster({**obj, "apiVersion": API_VERSION, "kind": KIND})
        children = b"[]"
        if parsed.cluster is not None and parsed.cluster.spec.managed_by_rayop:
            built = build_children(parsed.cluster, config=self.build_config)
            children = orjson.dumps([stamp(child) for child in built])
        intent = self._intents[key] = _Intent(version, parsed, children)
        return intent

    async def _apply_autoscaler_compat(self, obj: Mapping[str, Any], cluster: RayCluster) -> None:
        """Write the seed's autoscaler settings under the names the Ray autoscaler reads.

        The autoscaler reads the RayCluster itself and knows only KubeRay's
        ``idleTimeoutSeconds``/``upscalingMode``; a manifest written with the seed's
        ``idleTimeoutMinutes``/``upscalingSpeed`` would otherwise be silently ignored. Nothing
        is written once the stored object agrees (controller/api/compat.py).
        """
        body = autoscaler_compat_apply(dict(obj), cluster)
        if body is None:
            return
        await self.client.apply(body)
        log.info(
            "applied autoscaler option names", fields=sorted(body["spec"]["autoscalerOptions"])
        )

    async def _apply_children(
        self,
        involved: Mapping[str, Any],
        desired: Mapping[ChildKey, dict[str, Any]],
        observed: Mapping[ChildKey, Mapping[str, Any]],
    ) -> list[KubeError]:
        errors: list[KubeError] = []
        done: dict[EventReason, list[str]] = {EventReason.CREATED: [], EventReason.UPDATED: []}
        rejected = self._rejected.setdefault(_cluster_key(involved), {})
        for key, want in desired.items():
            try:
                verb = await self._apply_child(involved, key, want, observed.get(key), rejected)
            except KubeError as exc:
                errors.append(exc)
                continue
            if verb is not None:
                done[verb].append(f"{key.kind} {key.name}")
        # One Event per reconcile and verb, naming every child, rather than one per child: a new
        # cluster costs one Event write instead of seven, and describe reads just as well.
        for verb, children in done.items():
            if children:
                self.recorder.normal(involved, verb, f"{verb} {', '.join(children)}")
        return errors

    async def _apply_child(
        self,
        involved: Mapping[str, Any],
        key: ChildKey,
        want: dict[str, Any],
        have: Mapping[str, Any] | None,
        rejected: dict[ChildKey, _Rejection],
    ) -> EventReason | None:
        """Apply one child if it lacks rayop's intent; the verb done, None when nothing was.

        A failure is reported (log and Warning) and raised; a terminal refusal is recorded in
        ``rejected`` and reported once, not again when the same object meets the same answer.
        """
        meta = want["metadata"]
        memo_key = (meta["namespace"], key.kind, key.name)
        fingerprint = meta["annotations"][HASH_ANNOTATION]
        verified = (fingerprint, _rv(have))
        if have is not None and self._verified.get(memo_key) == verified:
            return None  # this very version already contained this very intent
        if not needs_apply(want, have):
            if have is not None:
                self._verified[memo_key] = verified
            return None
        now = asyncio.get_running_loop().time()
        if self.memo.wrote(memo_key, fingerprint, observed_rv=_rv(have), now=now):
            return None  # our own write, not yet in the cache
        refusal = rejected.get(key)
        if refusal is not None and refusal.still_holds(fingerprint, now):
            raise refusal.error  # the server refused this very object: do not send it again yet
        try:
            applied = await self.client.apply(want)
        except KubeError as exc:
            if exc.terminal:
                rejected[key] = _Rejection(fingerprint, exc, now + self.terminal_requeue)
            if not (exc.terminal and refusal is not None and refusal.error.message == exc.message):
                self._apply_failed(involved, key, exc)
            raise
        rejected.pop(key, None)
        self.memo.remember(
            memo_key, fingerprint=fingerprint, resource_version=_rv(applied) or "", now=now
        )
        verb = EventReason.CREATED if have is None else EventReason.UPDATED
        log.info("applied", kind=key.kind, name=key.name, action=verb.lower())
        return verb

    def _apply_failed(self, involved: Mapping[str, Any], key: ChildKey, exc: KubeError) -> None:
        """Log and report one failed child apply."""
        log.warning(
            "apply failed", kind=key.kind, name=key.name, error=exc.message, terminal=exc.terminal
        )
        self.recorder.warning(
            involved, EventReason.failed_to_apply(key.kind), f"{key.kind} {key.name}: {exc.message}"
        )

    async def _delete_strays(
        self,
        involved: Mapping[str, Any],
        desired: Mapping[ChildKey, Any],
        observed: Mapping[ChildKey, Mapping[str, Any]],
    ) -> list[KubeError]:
        """Delete children this RayCluster no longer wants (a removed group, a disabled HPA)."""
        errors: list[KubeError] = []
        for key, have in observed.items():
            if key in desired or (have.get("metadata") or {}).get("deletionTimestamp"):
                continue
            kind = CHILD_KIND_BY_NAME[key.kind]
            meta = have["metadata"]
            try:
                deleted = await self.client.delete(
                    kind.api_version, kind.kind, meta["namespace"], key.name, uid=meta.get("uid")
                )
            except Conflict:
                continue  # a successor with the same name exists; the next reconcile decides
            except KubeError as exc:
                errors.append(exc)
                continue
            if deleted:
                log.info("deleted", kind=key.kind, name=key.name)
                self.recorder.normal(
                    involved,
                    EventReason.deleted(key.kind),
                    f"Deleted {key.kind} {key.name}: no longer in the spec",
                )
        return errors

    async def _delete_dead_pods(
        self, involved: Mapping[str, Any], pods: list[Mapping[str, Any]]
    ) -> list[KubeError]:
        """Delete Ray pods that will never run again so their workload replaces them."""
        errors: list[KubeError] = []
        for pod in pods:
            why = dead_pod_reason(pod)
            if not why:
                continue
            meta = pod["metadata"]
            try:
                deleted = await self.client.delete(
                    "v1", "Pod", meta["namespace"], meta["name"], uid=meta.get("uid")
                )
            except Conflict:
                continue
            except KubeError as exc:
                errors.append(exc)
                continue
            if deleted:
                log.info("deleted dead pod", pod=meta["name"], why=why)
                self.recorder.normal(
                    involved,
                    EventReason.DELETED_POD,
                    f"Deleted pod {meta['name']} ({why}) so it is replaced",
                )
        return errors

    def _name_clashes(
        self, key: ClusterKey, uid: str, desired: Mapping[ChildKey, Any]
    ) -> list[str]:
        """Children this cluster would write that another RayCluster already controls: names
        can collide (``a`` + group ``b-c`` and ``a-b`` + group ``c`` both want ``a-b-c-...``),
        and writing would fight over one object forever."""
        found = []
        for child in desired:
            have = self.caches.get_child(child.kind, key.namespace, child.name)
            other = None if have is None else owner_cluster(have)
            owner_uids = {
                ref.get("uid")
                for ref in (have or {}).get("metadata", {}).get("ownerReferences") or []
            }
            # The same name with another uid: a deleted predecessor being collected, not a clash.
            if other is not None and other != key.name and uid not in owner_uids:
                found.append(
                    f"{child.kind} {child.name} already belongs to RayCluster {other} in this "
                    "namespace (the cluster and group names combine to the same child name); "
                    "rename this cluster or its group."
                )
        return found

    async def _report_invalid(
        self, obj: Mapping[str, Any], involved: Mapping[str, Any], problems: list[str]
    ) -> None:
        """Invalid spec: status failed and a Warning event, once per change (never a hot loop)."""
        meta = obj["metadata"]
        # Each problem is a sentence of its own ("field: what is wrong.").
        message = " ".join(problems) or "the spec is invalid"
        previous = self._previous_status(obj)
        status = failed_status(
            generation=int(meta.get("generation") or 0),
            message=message,
            previous=previous,
            now=rfc3339(self.clock()),
        )
        if status == previous:
            return
        log.warning("invalid spec", problems=problems)
        await self._apply_status(obj, status)
        self.recorder.warning(
            involved,
            EventReason.INVALID_SPEC,
            f"The RayCluster spec is invalid {meta.get('namespace')}/{meta.get('name')}: {message}",
        )

    def _transition_events(
        self, involved: Mapping[str, Any], before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        """Events for what a user must hear about: failing pods, a lost and a recovered head."""
        old, new = _conditions(before), _conditions(after)
        failure = new.get(ConditionType.REPLICA_FAILURE, {})
        if failure.get("status") == "True" and (
            old.get(ConditionType.REPLICA_FAILURE, {}).get("message") != failure.get("message")
        ):
            self.recorder.warning(involved, str(failure.get("reason")), str(failure.get("message")))
        head_before = old.get(ConditionType.HEAD_POD_READY, {}).get("status")
        head_after = new.get(ConditionType.HEAD_POD_READY, {}).get("status")
        if head_before == "True" and head_after != "True":
            head = new[ConditionType.HEAD_POD_READY]
            message = str(head.get("message") or head.get("reason"))
            self.recorder.warning(
                involved, EventReason.HEAD_POD_NOT_READY, f"The head pod is down: {message}"
            )
        elif head_before == "False" and head_after == "True" and _provisioned(before):
            self.recorder.normal(
                involved, EventReason.HEAD_POD_RECOVERED, "The head pod is running and ready again"
            )

    def _previous_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The status to compare with: ours if our last write has not reached the cache yet."""
        meta = obj["metadata"]
        entry = self.memo.in_flight(
            (meta["namespace"], "status", meta["name"]),
            observed_rv=_rv(obj),
            now=asyncio.get_running_loop().time(),
        )
        return dict(entry.payload) if entry is not None else dict(obj.get("status") or {})

    async def _apply_status(self, obj: Mapping[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "status": status,
        }
        applied = await self.client.apply(body, subresource="status")
        self.memo.remember(
            (meta["namespace"], "status", meta["name"]),
            fingerprint="",
            resource_version=_rv(applied) or "",
            now=asyncio.get_running_loop().time(),
            payload=status,
        )
        log.info("status applied", state=status.get("state", ""), reason=status.get("reason", ""))


# ---------------------------------------------------------------------- helpers


def _unwrap(obj: Mapping[str, Any] | DeletedFinalStateUnknown) -> Mapping[str, Any]:
    """The object itself, or the last known state inside a DeletedFinalStateUnknown tombstone."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.obj
    return obj


def _involved(obj: Mapping[str, Any]) -> dict[str, Any]:
    # List items carry no apiVersion/kind, so the reference is built, not copied.
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": obj["metadata"]}


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or []}


def _provisioned(status: Mapping[str, Any]) -> bool:
    return _conditions(status).get(ConditionType.PROVISIONED, {}).get("status") == "True"


def _rv(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv is not None else None


def _cluster_key(involved: Mapping[str, Any]) -> ClusterKey:
    meta = involved["metadata"]
    return ClusterKey(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


@dataclass(frozen=True)
class _Intent:
    """One spec version of a cluster: its parse result and its stamped children (JSON)."""

    version: tuple[Any, ...]
    parsed: ParseResult
    children: bytes

    def desired(self) -> dict[ChildKey, dict[str, Any]]:
        """The desired children by key, decoded afresh (the caller may change them)."""
        return {_child_key(child): child for child in orjson.loads(self.children)}


@dataclass(frozen=True)
class _Rejection:
    """A child apply the API server refused for good: what was sent, the answer, and when."""

    fingerprint: str
    error: KubeError
    expires: float

    def still_holds(self, fingerprint: str, now: float) -> bool:
        """True while the same object would be sent again before the refusal expires."""
        # The slack: the loop may run the requeue's timer a clock tick before ``expires``.
        return self.fingerprint == fingerprint and now < self.expires - 1e-3


def _child_key(obj: Mapping[str, Any]) -> ChildKey:
    return ChildKey(str(obj["kind"]), str(obj["metadata"]["name"]))
