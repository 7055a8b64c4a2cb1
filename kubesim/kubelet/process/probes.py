"""Probes executed for real, as the kubelet's prober does them.

httpGet and tcpSocket connect from the host to the pod's IP (the host reaches every pod through
the bridge); exec runs the command inside the container's namespaces (`nsenter` into its
process's network, mount and UTS namespaces) with the container's environment. Results follow
prober/worker.go: nothing runs before `initialDelaySeconds`; then one probe per `periodSeconds`,
each bounded by `timeoutSeconds`; the result flips after `successThreshold` successes or
`failureThreshold` failures in a row. Readiness starts as failure, liveness as success,
startup as unknown. Every failed probe is reported (the kubelet's `Unhealthy` event).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ExecTarget", "ProbeSettings", "handler_kind", "probe_loop", "run_handler"]

_USER_AGENT = "kube-probe/1.32"


@dataclass(frozen=True)
class ExecTarget:
    """How to run a command inside a container: the argv prefix, environment and directory."""

    prefix: Sequence[str]
    env: dict[str, str]
    cwd: str


@dataclass(frozen=True)
class ProbeSettings:
    """A probe's timing, with the API's defaults."""

    initial_delay: float
    period: float
    time_limit: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, probe: dict[str, Any]) -> ProbeSettings:
        """Read a probe's fields (defaults: 0, 10, 1, 1, 3)."""
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            time_limit=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )


def handler_kind(handler: dict[str, Any]) -> str:
    """Which handler a probe or lifecycle hook uses."""
    for kind in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        if kind in handler:
            return kind
    return ""


def _port(value: Any, container: dict[str, Any]) -> int:
    """A port number, or a named container port resolved."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    for port in container.get("ports") or ():
        if port.get("name") == value:
            return int(port["containerPort"])
    raise ValueError(f"port {value!r} is not a named port of the container")


async def _http_get(
    spec: dict[str, Any], pod_ip: str, container: dict[str, Any]
) -> tuple[bool, str]:
    host = str(spec.get("host") or pod_ip)
    port = _port(spec.get("port"), container)
    path = str(spec.get("path") or "/")
    scheme = str(spec.get("scheme") or "HTTP").lower()
    url = f"{scheme}://{host}:{port}{path}"
    context = None
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
    except OSError as exc:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: {_reason(exc)}'
    try:
        headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or ()}
        headers.setdefault("Host", f"{host}:{port}")
        headers.setdefault("User-Agent", _USER_AGENT)
        headers.setdefault("Accept", "*/*")
        headers["Connection"] = "close"
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write((request + "\r\n").encode())
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").split()
    finally:
        writer.close()
    code = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


async def _tcp(spec: dict[str, Any], pod_ip: str, container: dict[str, Any]) -> tuple[bool, str]:
    host = str(spec.get("host") or pod_ip)
    port = _port(spec.get("port"), container)
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return False, f"dial tcp {host}:{port}: connect: {_reason(exc)}"
    writer.close()
    return True, ""


async def _exec(command: Sequence[str], target: ExecTarget, time_limit: float) -> tuple[bool, str]:
    proc = await asyncio.create_subprocess_exec(
        *target.prefix,
        *command,
        env=target.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"command {list(command)!r} timed out"
    if proc.returncode == 0:
        return True, ""
    text = output.decode(errors="replace").strip()
    return False, text or f"command {list(command)!r} exited with {proc.returncode}"


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


async def run_handler(
    handler: dict[str, Any],
    *,
    pod_ip: str,
    container: dict[str, Any],
    target: ExecTarget | None,
    time_limit: float,
) -> tuple[bool, str]:
    """Run one probe or hook handler; (success, failure message)."""
    kind = handler_kind(handler)
    try:
        if kind == "exec":
            if target is None:
                return False, "the container is not running"
            return await _exec(handler["exec"].get("command") or [], target, time_limit)
        if kind == "httpGet":
            return await asyncio.wait_for(
                _http_get(handler["httpGet"], pod_ip, container), time_limit
            )
        if kind == "tcpSocket":
            return await asyncio.wait_for(_tcp(handler["tcpSocket"], pod_ip, container), time_limit)
        if kind == "sleep":
            await asyncio.sleep(float(handler["sleep"].get("seconds") or 0))
            return True, ""
    except TimeoutError:
        return False, f"{kind} timed out after {time_limit:g}s"
    except ValueError as exc:
        return False, str(exc)
    return False, f"{kind or 'this'} probe handler is not supported by kubesim's process runtime"


async def probe_loop(
    probe: dict[str, Any],
    *,
    initial: bool | None,
    check: Callable[[float], Any],
    report: Callable[[bool, str, bool | None], None],
) -> None:
    """Probe until cancelled; `report(ok, message, result)` after each attempt.

    `check(time_limit)` is an awaitable factory returning (ok, message); `result` is the probe's
    current result after the thresholds are applied (starting at `initial`; None is unknown,
    as a startup probe is until it passes or fails `failureThreshold` times).
    """
    settings = ProbeSettings.of(probe)
    await asyncio.sleep(settings.initial_delay)
    result, streak = initial, 0
    last_ok: bool | None = None
    while True:
        ok, message = await check(settings.time_limit)
        streak = streak + 1 if ok == last_ok else 1
        last_ok = ok
        threshold = settings.success_threshold if ok else settings.failure_threshold
        if streak >= threshold:
            result = ok
        report(ok, message, result)
        await asyncio.sleep(settings.period)
