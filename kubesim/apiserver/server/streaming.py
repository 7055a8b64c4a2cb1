"""pods/log and pods/exec: the API server's streaming subresources, relayed to the pod's node.

The API server checks what it can see in the pod object (the container named or defaulted, a
node assigned, a pod not completed), then hands the rest to whatever answers for the nodes, a
`NodeConnector` that the assembly registers (the kubelet side lives with the kubelet; this
package imports none of it). Without a connector (no kubelets) logs are empty and exec fails.

Logs (`GET .../pods/{name}/log`): `container`, `previous`, `tailLines`, `sinceSeconds`,
`sinceTime`, `timestamps`, `limitBytes`, validated as `PodLogOptions`; `follow` streams chunked
output until the container ends or the client goes.

Exec (`.../pods/{name}/exec?command=...&container=&stdin=&stdout=&stderr=&tty=`) speaks the
remote-command protocol over WebSocket, as kubectl >= 1.30 asks for it. Every message is binary,
its first byte a channel: 0 stdin, 1 stdout, 2 stderr, 3 error (one `Status` JSON when the command
ends: Success, or Failure with reason NonZeroExitCode and the code as the ExitCode cause), 4 resize
(`{"Width": cols, "Height": rows}`). `v5.channel.k8s.io` adds channel 255: the client's
`[255, 0]` closes stdin. `v4.channel.k8s.io` is served too. An error found before the upgrade is
an ordinary Status response (kubectl then retries over SPDY, which this server does not speak,
and prints `unable to upgrade connection: <message>`, as against a real cluster); an error the
node reports after it (e.g. a simulated container) goes on the error channel, which kubectl
prints as `error: <message>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import WSMsgType, web

from kubesim.apiserver import errors
from kubesim.apiserver.cluster import Cluster
from kubesim.apiserver.errors import Cause, StatusError
from kubesim.apiserver.server.codec import parse_bool, parse_int
from kubesim.apiserver.server.paths import ResourcePath

__all__ = [
    "EXEC_PROTOCOLS",
    "LogOptions",
    "NodeConnector",
    "RemoteProcess",
    "StreamingHandler",
    "choose_container",
    "log_options",
]

#: Remote-command subprotocols served, most preferred first.
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_STDIN, _STDOUT, _STDERR, _ERROR, _RESIZE, _CLOSE = 0, 1, 2, 3, 4, 255
_READ_SIZE = 32 * 1024


@dataclass(frozen=True, kw_only=True)
class LogOptions:
    """Validated PodLogOptions (`since_time` in seconds since the epoch)."""

    previous: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: float | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


class RemoteProcess(Protocol):
    """A command running for exec, as the node hands it over (`kubelet.exec.ExecProcess`)."""

    @property
    def stdin(self) -> Any:
        """`write(bytes)`, `async drain()`, `close()`; None when stdin was not asked for."""

    @property
    def stdout(self) -> Any:
        """`async read(n) -> bytes`, b"" at the end."""

    @property
    def stderr(self) -> Any:
        """Like stdout; None with a TTY."""

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal size."""

    async def wait(self) -> int:
        """The exit code."""
        ...

    def kill(self) -> None:
        """Stop the command (the client went away)."""


class NodeConnector(Protocol):
    """What the API server asks of the nodes (the kubelet's containerLogs and exec endpoints).

    Every method may raise `StatusError`; `pod` is the stored object, status included.
    """

    def read_logs(self, pod: dict[str, Any], container: str, options: LogOptions) -> bytes:
        """The container's log as the kubelet answers it."""
        ...

    def follow_logs(
        self, pod: dict[str, Any], container: str, options: LogOptions
    ) -> AsyncIterator[bytes]:
        """The log, then what the container writes until it ends (errors raised at once)."""
        ...

    async def exec(
        self, pod: dict[str, Any], container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> RemoteProcess:
        """Start `argv` in the container."""
        ...


class StreamingHandler:
    """Serves pods/log and pods/exec for one API server."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        #: Registered by the assembly once the nodes run; None without kubelets.
        self.connector: NodeConnector | None = None

    async def serve(self, request: web.Request, rp: ResourcePath, verb: str) -> web.StreamResponse:
        """Answer a request for `rp` (a pods/log or pods/exec path)."""
        if rp.name is None or (rp.subresource == "log" and verb != "get"):
            raise errors.method_not_allowed(rp.info.plural, rp.info.group, verb)
        pod = self.cluster.get(rp.info, rp.namespace, rp.name)
        container = choose_container(pod, request.query.get("container", ""))
        if rp.subresource == "log":
            return await self._logs(request, pod, container)
        return await self._exec(request, pod, container)

    # ------------------------------------------------------------------ logs

    async def _logs(
        self, request: web.Request, pod: dict[str, Any], container: str
    ) -> web.StreamResponse:
        options = log_options(request.query, pod["metadata"]["name"])
        connector = self.connector
        if not (pod.get("spec") or {}).get("nodeName") or connector is None:
            # Upstream answers an unscheduled pod's log with an empty stream.
            return web.Response(body=b"", content_type="text/plain")
        if not parse_bool(request.query.get("follow")):
            body = connector.read_logs(pod, container, options)
            return web.Response(body=body, content_type="text/plain")
        chunks = connector.follow_logs(pod, container, options)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        pump = asyncio.create_task(_copy(chunks, response), name="kubesim-log-follow")
        while not pump.done():
            await asyncio.wait({pump}, timeout=1.0)
            transport = request.transport
            if transport is None or transport.is_closing():
                pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await pump
            await response.write_eof()
        return response

    # ------------------------------------------------------------------ exec

    async def _exec(
        self, request: web.Request, pod: dict[str, Any], container: str
    ) -> web.StreamResponse:
        query = request.query
        argv = query.getall("command", [])
        if not argv:
            raise errors.bad_request("you must specify at least 1 command")
        name, spec = pod["metadata"]["name"], pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise errors.bad_request(
                f"cannot exec into a container in a completed pod; current phase is {phase}"
            )
        if not spec.get("nodeName"):
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        if not _running(pod, container):
            raise errors.bad_request(f'container not found ("{container}")')
        socket = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, autoping=True)
        ready = socket.can_prepare(request)
        if not ready.ok and "spdy" in request.headers.get("Upgrade", "").lower():
            raise errors.bad_request(
                "kubesim serves exec over WebSocket only, not SPDY: use kubectl 1.30 or newer "
                "without KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"
            )
        if not ready.ok:
            raise errors.bad_request("Upgrade request required")
        if ready.protocol is None:
            raise errors.bad_request(
                f"none of the offered subprotocols is served; use one of {', '.join(EXEC_PROTOCOLS)}"
            )
        await socket.prepare(request)
        session = _ExecSession(socket, argv=argv, query=request.query)
        await session.run(self.connector, pod, container)
        return socket


class _ExecSession:
    """One exec over one WebSocket: relay the channels, then report the exit."""

    def __init__(self, socket: web.WebSocketResponse, *, argv: list[str], query: Any) -> None:
        self.socket = socket
        self.argv = argv
        self.tty = parse_bool(query.get("tty"))
        self.stdin = parse_bool(query.get("stdin"))
        self.stdout = parse_bool(query.get("stdout"))
        self.stderr = parse_bool(query.get("stderr")) and not self.tty
        self.v5 = socket.ws_protocol == EXEC_PROTOCOLS[0]

    async def run(
        self, connector: NodeConnector | None, pod: dict[str, Any], container: str
    ) -> None:
        try:
            if connector is None:
                raise errors.service_unavailable("no kubelet runs this pod's node")
            process = await connector.exec(
                pod, container, self.argv, tty=self.tty, stdin=self.stdin
            )
        except StatusError as exc:
            await self._finish({"status": "Failure", "message": exc.message})
            return
        inputs = asyncio.create_task(self._relay_input(process), name="kubesim-exec-input")
        outputs = asyncio.create_task(self._relay_output(process), name="kubesim-exec-output")
        try:
            await asyncio.wait({inputs, outputs}, return_when=asyncio.FIRST_COMPLETED)
            if not outputs.done():  # the client went away first
                process.kill()
                outputs.cancel()
                return
            await self._finish(self._exit_status(await process.wait()))
        finally:
            inputs.cancel()
            outputs.cancel()
            process.kill()

    async def _relay_output(self, process: RemoteProcess) -> None:
        streams = [(_STDOUT, process.stdout, self.stdout)]
        if process.stderr is not None:
            streams.append((_STDERR, process.stderr, self.stderr))
        await asyncio.gather(*(self._send(*s) for s in streams))

    async def _send(self, channel: int, source: Any, wanted: bool) -> None:
        prefix = bytes([channel])
        while data := await source.read(_READ_SIZE):
            if wanted:
                await self.socket.send_bytes(prefix + data)

    async def _relay_input(self, process: RemoteProcess) -> None:
        async for message in self.socket:
            if message.type is not WSMsgType.BINARY or not message.data:
                continue
            channel, data = message.data[0], message.data[1:]
            if channel == _STDIN and process.stdin is not None:
                process.stdin.write(data)
                await process.stdin.drain()
            elif channel == _RESIZE:
                size = orjson.loads(data)
                process.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
            elif channel == _CLOSE and self.v5 and data[:1] == bytes([_STDIN]) and process.stdin:
                process.stdin.close()

    def _exit_status(self, code: int) -> dict[str, Any]:
        if code == 0:
            return {"status": "Success"}
        command = " ".join(self.argv)
        return {
            "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command "
            f"[{command}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }

    async def _finish(self, status: dict[str, Any]) -> None:
        body = orjson.dumps({"metadata": {}, **status})
        with contextlib.suppress(ConnectionError):
            await self.socket.send_bytes(bytes([_ERROR]) + body)
        await self.socket.close()


async def _copy(chunks: AsyncIterator[bytes], response: web.StreamResponse) -> None:
    async for chunk in chunks:
        await response.write(chunk)


def choose_container(pod: dict[str, Any], requested: str) -> str:
    """The container a log or exec request means (`validateContainer` in the pod registry)."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    mains = [str(c["name"]) for c in spec.get("containers") or ()]
    every = [
        c["name"]
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or ()
    ]
    if requested:
        if requested not in every:
            raise errors.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(mains) == 1:
        return mains[0]
    if not mains:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    raise errors.bad_request(
        f"a container name must be specified for pod {name}, choose one of: [{' '.join(every)}]"
    )


def log_options(query: Any, name: str) -> LogOptions:
    """PodLogOptions from the query, validated as upstream (422 PodLogOptions ... is invalid)."""
    tail = parse_int("tailLines", query.get("tailLines"))
    limit = parse_int("limitBytes", query.get("limitBytes"))
    since_seconds = parse_int("sinceSeconds", query.get("sinceSeconds"))
    since_text = query.get("sinceTime")
    since_time = _parse_time(since_text) if since_text else None
    causes: list[Cause] = []
    if tail is not None and tail < 0:
        causes.append(_invalid("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        causes.append(_invalid("limitBytes", limit, "must be greater than 0"))
    if since_seconds is not None and since_time is not None:
        message = "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
        causes.append(Cause("FieldValueForbidden", "", message))
    elif since_seconds is not None and since_seconds < 1:
        causes.append(_invalid("sinceSeconds", since_seconds, "must be greater than 0"))
    if causes:
        raise errors.invalid("PodLogOptions", "", name, causes)
    return LogOptions(
        previous=parse_bool(query.get("previous")),
        tail_lines=tail,
        since_seconds=since_seconds,
        since_time=since_time,
        timestamps=parse_bool(query.get("timestamps")),
        limit_bytes=limit,
    )


def _invalid(field: str, value: int, detail: str) -> Cause:
    return Cause("FieldValueInvalid", field, f"Invalid value: {value}: {detail}")


def _parse_time(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise errors.bad_request(
            f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse "{text}"'
        )


def _running(pod: dict[str, Any], container: str) -> bool:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for entry in status.get(key) or ():
            if entry.get("name") == container:
                return "running" in (entry.get("state") or {})
    return False
