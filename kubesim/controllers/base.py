"""The shape every kubesim controller shares: a keyed queue, one worker, `reconcile(key)`.

`reconcile` returns None when the object is settled, or seconds after which to look again
(minReadySeconds, stabilization windows). An exception is logged and the key retried after a
short back-off, like a controller's rate-limited requeue.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock
from kubesim.common.config import WorkloadsConfig
from kubesim.common.events import EventRecorder
from kubesim.common.podutil import ObjectKey, key_of
from kubesim.common.queue import KeyQueue, QueueShutDown
from kubesim.common.store import Cache

__all__ = ["Controller"]

log = structlog.get_logger(__name__)

#: Upstream's `burstReplicas`: the most pods a ReplicaSet sync creates or deletes at once.
BURST_REPLICAS = 500
_BACKOFF_BASE = 0.005
_BACKOFF_MAX = 1000.0


class Controller:
    """Base class: subclasses set `name` and implement `reconcile`."""

    name = "controller"

    def __init__(self, *, cluster: ClusterAPI, config: WorkloadsConfig, clock: Clock) -> None:
        self.cluster = cluster
        self.config = config
        self.clock = clock
        self.user = f"system:serviceaccount:kube-system:{self.name}"
        self.queue: KeyQueue[ObjectKey] = KeyQueue(self.name)
        self.events = EventRecorder(
            cluster, clock, component=self.name, user=self.user, enabled=config.record_events
        )
        # uid → key of the objects this controller owns, to map children to their owner.
        self._owner_keys: dict[str, ObjectKey] = {}
        #: Consecutive failed reconciles per key (forgotten on success).
        self._failures: dict[ObjectKey, int] = {}

    def within_budget(self, obj: dict[str, Any], kind: str, replicas: int) -> int:
        """`replicas`, or the per-workload pod budget with a FailedCreate event when it is more."""
        budget = self.config.max_pods_per_workload
        if budget <= 0 or replicas <= budget:
            return replicas
        self.events.warning(
            obj,
            "FailedCreate",
            f"{kind} {obj['metadata']['name']} asks for {replicas} pods; kubesim creates at most "
            f"{budget} per workload (--max-pods-per-workload)",
        )
        return budget

    def _backoff(self, key: ObjectKey) -> float:
        """The next retry delay of a failing key: client-go's default controller rate limiter
        (5 ms doubling per failure, at most 1,000 s)."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return float(min(_BACKOFF_BASE * 2.0**failures, _BACKOFF_MAX))

    def reconcile(self, key: ObjectKey) -> float | None:
        """Drive object `key` towards its spec; return a requeue delay or None."""
        raise NotImplementedError

    async def run(self) -> None:
        """Process keys until cancelled."""
        try:
            while True:
                key = await self.queue.get()
                try:
                    again = self.reconcile(key)
                    self._failures.pop(key, None)
                except StatusError as exc:
                    # An API answer (409 on a name still taken, 403 from admission, ...):
                    # expected in a live cluster, so no traceback; retried with back-off.
                    again = self._backoff(key)
                    log.info("reconcile_retry", controller=self.name, key=str(key),
                             code=exc.code, error=exc.message, retry_in=again)  # fmt: skip
                except Exception:
                    log.exception("reconcile_failed", controller=self.name, key=str(key))
                    again = self._backoff(key)
                finally:
                    self.queue.done(key)
                if again is not None:
                    self.queue.add_after(key, again)
                await asyncio.sleep(0)
        except QueueShutDown:
            return

    # ------------------------------------------------------------------ handler helpers

    def watch_owners(self, cache: Cache) -> None:
        """Enqueue objects of `cache` (the controller's own kind) on every change."""

        def on_owner(event: str, old: dict[str, Any] | None, obj: dict[str, Any]) -> None:
            key = key_of(obj)
            uid = str(obj["metadata"].get("uid", ""))
            if event == "DELETED":
                self._owner_keys.pop(uid, None)
            else:
                self._owner_keys[uid] = key
            self.queue.add(key)

        cache.add_handler(on_owner)

    def watch_children(self, cache: Cache) -> None:
        """Enqueue the controller owner of each changed object of `cache`, if it is ours."""

        def on_child(event: str, old: dict[str, Any] | None, obj: dict[str, Any]) -> None:
            for ref in obj["metadata"].get("ownerReferences") or ():
                if ref.get("controller"):
                    key = self._owner_keys.get(str(ref.get("uid")))
                    if key is not None:
                        self.queue.add(key)

        cache.add_handler(on_child)

    # ------------------------------------------------------------------ write helpers

    def write_status(
        self, res: Any, obj: dict[str, Any], status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """PUT /status when `status` differs from the stored one; the new object or None."""
        if status == obj.get("status"):
            return None
        meta = obj["metadata"]
        body = {
            "metadata": {
                "name": meta["name"],
                "namespace": meta.get("namespace", ""),
                "resourceVersion": meta["resourceVersion"],
            },
            "status": status,
        }
        try:
            return self.cluster.update(
                res,
                meta.get("namespace"),
                meta["name"],
                body,
                user=self.user,
                subresource="status",
                owned=True,
            )
        except StatusError as exc:
            if exc.code in (404, 409):
                self.queue.add(key_of(obj))
                return None
            raise

    def delete_quietly(self, res: Any, obj: dict[str, Any], **kwargs: Any) -> bool:
        """DELETE with a uid precondition; False when it was already gone or replaced."""
        meta = obj["metadata"]
        try:
            self.cluster.delete(
                res,
                meta.get("namespace"),
                meta["name"],
                user=self.user,
                preconditions={"uid": meta["uid"]},
                **kwargs,
            )
        except StatusError as exc:
            if exc.code in (404, 409):
                return False
            raise
        return True
