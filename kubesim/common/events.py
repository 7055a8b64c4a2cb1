"""Controller and kubelet events (core/v1 `Event`), aggregated like client-go's recorder.

A repeat of the same (object, type, reason, message, source) within the cache's lifetime bumps
`count` and `lastTimestamp` of the existing Event instead of creating a new one, which is what
`kubectl describe` shows as `(x3 over 2m)`. Failures to record are swallowed: events are best
effort in Kubernetes too.
"""

from __future__ import annotations

import itertools
from typing import Any

import structlog

from kubesim.common.api import ClusterAPI, StatusError
from kubesim.common.clock import Clock

__all__ = ["EventRecorder"]

log = structlog.get_logger(__name__)
_seq = itertools.count(1)
# Series remembered for aggregation; beyond this the oldest half is forgotten (client-go keeps
# an LRU of 4096 per recorder).
_MAX_SERIES = 4096


class EventRecorder:
    """Writes Events as one component (e.g. `statefulset-controller`, or `kubelet` on a host)."""

    def __init__(
        self,
        cluster: ClusterAPI,
        clock: Clock,
        *,
        component: str,
        user: str,
        host: str = "",
        enabled: bool = True,
    ) -> None:
        self._cluster = cluster
        self._clock = clock
        self._component = component
        self._user = user
        self._host = host
        self._enabled = enabled
        self._res: Any = None
        self._seen: dict[tuple[str, str, str, str, str], tuple[str, str, int]] = {}

    def normal(
        self, obj: dict[str, Any], reason: str, message: str, *, field_path: str = ""
    ) -> None:
        """Record a Normal event about `obj`."""
        self.record(obj, "Normal", reason, message, field_path=field_path)

    def warning(
        self, obj: dict[str, Any], reason: str, message: str, *, field_path: str = ""
    ) -> None:
        """Record a Warning event about `obj`."""
        self.record(obj, "Warning", reason, message, field_path=field_path)

    def record(
        self, obj: dict[str, Any], type_: str, reason: str, message: str, *, field_path: str = ""
    ) -> None:
        """Create or bump the Event for (obj, type, reason, message)."""
        if not self._enabled:
            return
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid", "")), type_, reason, message, field_path)
        now = self._clock.rfc3339()
        try:
            if self._res is None:
                self._res = self._cluster.resource("events")
            seen = self._seen.get(key)
            if seen is not None:
                self._bump(seen, key, now)
                return
            event = self._new_event(obj, namespace, type_, reason, message, field_path, now)
            self._cluster.create(self._res, namespace, event, user=self._user, owned=True)
            if len(self._seen) >= _MAX_SERIES:
                for stale in list(self._seen)[: _MAX_SERIES // 2]:
                    del self._seen[stale]
            self._seen[key] = (namespace, event["metadata"]["name"], 1)
        except StatusError as exc:
            log.debug("event_not_recorded", reason=reason, code=exc.code, message=str(exc))

    def _bump(
        self, seen: tuple[str, str, int], key: tuple[str, str, str, str, str], now: str
    ) -> None:
        namespace, name, count = seen
        try:
            self._cluster.patch(
                self._res,
                namespace,
                name,
                {"count": count + 1, "lastTimestamp": now},
                patch_type="merge",
                user=self._user,
            )
            self._seen[key] = (namespace, name, count + 1)
        except StatusError:
            # The Event expired or was deleted: start a new series.
            del self._seen[key]

    def _new_event(
        self,
        obj: dict[str, Any],
        namespace: str,
        type_: str,
        reason: str,
        message: str,
        field_path: str,
        now: str,
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        involved = {
            "apiVersion": obj.get("apiVersion", "v1"),
            "kind": obj.get("kind", ""),
            "name": meta["name"],
            "namespace": meta.get("namespace", namespace),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        stamp = int(self._clock.now() * 1e9) + next(_seq)
        source = {"component": self._component}
        if self._host:
            source["host"] = self._host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{stamp:x}", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self._component,
            "reportingInstance": self._host,
        }
