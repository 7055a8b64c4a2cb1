"""The kubelets' streaming endpoints (containerLogs, exec) as the API server reaches them.

`NodeStreams` implements the API server's `NodeConnector` for every kubelet of a `Workloads`:
it finds the pod's node, decides from the pod's container status which instance's log a request
means (the kubelet's `validateContainerLogStatus`, errors worded as upstream's), and hands exec to
the node's runtime. Failures become the `Status` errors the API server relays (400 BadRequest, as
the kubelet answers them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from kubesim.apiserver import errors
from kubesim.kubelet.agent import Kubelet
from kubesim.kubelet.exec import ExecProcess, ExecRefused
from kubesim.kubelet.logs import NoLogs
from kubesim.kubelet.runtime import ContainerRuntime

if TYPE_CHECKING:
    from kubesim.apiserver.server.streaming import LogOptions

__all__ = ["NodeStreams", "log_instance"]


class NodeStreams:
    """Logs and exec for pods on any of `kubelets` (a live mapping: nodes come and go)."""

    def __init__(self, kubelets: Mapping[str, Kubelet]) -> None:
        self._kubelets = kubelets

    def read_logs(self, pod: dict[str, Any], container: str, options: LogOptions) -> bytes:
        """The container's log, as the kubelet answers `containerLogs`."""
        runtime, uid, previous = self._log_request(pod, container, options)
        try:
            return runtime.logs.read(uid, container, previous=previous, **_options(options))
        except NoLogs as exc:
            raise errors.bad_request(_no_logs(pod, container, previous=options.previous)) from exc

    def follow_logs(
        self, pod: dict[str, Any], container: str, options: LogOptions
    ) -> AsyncIterator[bytes]:
        """The log, then what the container instance writes until it ends."""
        runtime, uid, previous = self._log_request(pod, container, options)
        try:
            return runtime.logs.follow(uid, container, previous=previous, **_options(options))
        except NoLogs as exc:
            raise errors.bad_request(_no_logs(pod, container, previous=options.previous)) from exc

    async def exec(
        self, pod: dict[str, Any], container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> ExecProcess:
        """Start `argv` in the container through the node's runtime."""
        runtime = self._runtime(pod)
        try:
            return await runtime.exec(
                str(pod["metadata"]["uid"]), container, argv, tty=tty, stdin=stdin
            )
        except ExecRefused as exc:
            raise errors.bad_request(str(exc)) from exc
        except OSError as exc:
            raise errors.internal_error(f"failed to exec in container: {exc}") from exc

    def _runtime(self, pod: dict[str, Any]) -> ContainerRuntime:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        kubelet = self._kubelets.get(node)
        if kubelet is None:
            raise errors.service_unavailable(f'no kubelet answers for node "{node}"')
        return kubelet.runtime

    def _log_request(
        self, pod: dict[str, Any], container: str, options: LogOptions
    ) -> tuple[ContainerRuntime, str, bool]:
        """(runtime, pod uid, whether the instance before the newest is meant)."""
        previous = log_instance(pod, container, previous=options.previous)
        return self._runtime(pod), str(pod["metadata"]["uid"]), previous


def _options(options: LogOptions) -> dict[str, Any]:
    """The PodLogOptions a node's `ContainerLogs` takes besides `previous`."""
    return {
        "tail_lines": options.tail_lines,
        "since_seconds": options.since_seconds,
        "since_time": options.since_time,
        "timestamps": options.timestamps,
        "limit_bytes": options.limit_bytes,
    }


def log_instance(pod: dict[str, Any], container: str, *, previous: bool) -> bool:
    """Whether the log meant is the instance before the newest (else the newest).

    Follows the kubelet: `previous` means `lastState.terminated`, which is the newest instance
    while the container waits to restart (CrashLoopBackOff) and the one before otherwise; without
    `previous`, a running or terminated container's own log, or its last terminated one while it
    waits. Raises the kubelet's BadRequest when there is no such instance.
    """
    name = pod["metadata"]["name"]
    status = _container_status(pod, container)
    if status is None:
        raise errors.bad_request(f'container "{container}" in pod "{name}" is not available')
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    if previous:
        if not last.get("containerID"):
            raise errors.bad_request(_no_logs(pod, container, previous=True))
        return "waiting" not in state
    if "running" in state or "terminated" in state or last.get("containerID"):
        return False
    reason = (state.get("waiting") or {}).get("reason")
    if reason == "ErrImagePull":
        reason = "image can't be pulled"
    elif reason == "ImagePullBackOff":
        reason = "trying and failing to pull image"
    if reason:
        raise errors.bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: {reason}'
        )
    raise errors.bad_request(
        f'container "{container}" in pod "{name}" is waiting to start - no logs yet'
    )


def _container_status(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for entry in status.get(key) or ():
            if entry.get("name") == container:
                return dict(entry)
    return None


def _no_logs(pod: dict[str, Any], container: str, *, previous: bool) -> str:
    name = pod["metadata"]["name"]
    if previous:
        return f'previous terminated container "{container}" in pod "{name}" not found'
    return f'container "{container}" in pod "{name}" is waiting to start - no logs yet'
