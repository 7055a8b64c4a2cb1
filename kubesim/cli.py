"""The `kubesim` command (also `python -m kubesim`).

    kubesim serve [--port N] [--kubeconfig-out P] [--tls] [--no-controllers] ...
    kubesim serve --runtime process [--image-map IMAGE=DIR ...]   # real processes (root)
    kubesim fault add --verb create --resource pods --error 503 --rate 0.5
    kubesim fault add --resource statefulsets --latency 0.2
    kubesim fault clear | list | close-watches [--resource R] | shrink-history [--resource R]
    kubesim chaos ACTION [key=value ...]

`fault` and `chaos` talk to a running kubesim found through `--server` or a kubeconfig
(`--kubeconfig`, else $KUBECONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import signal
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import structlog
import yaml

from kubesim.apiserver.auth import AUTHORIZATION_MODES
from kubesim.common.config import WorkloadsConfig
from kubesim.hostcheck import HostUnavailable, missing_prerequisite

__all__ = ["main"]


def _serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run a simulated cluster until interrupted")
    serve.add_argument("--port", type=int, default=0, help="port to listen on (0: pick a free one)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--kubeconfig-out",
        type=Path,
        default=None,
        help="where to write the kubeconfig (default: a temporary file)",
    )
    serve.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a generated throwaway CA"
    )
    serve.add_argument(
        "--no-controllers",
        action="store_true",
        help="API server only: no controllers, scheduler or kubelet",
    )
    serve.add_argument(
        "--audit-log",
        type=Path,
        default=None,
        help="append every audited write to this JSON-lines file",
    )
    serve.add_argument(
        "--history-size",
        type=int,
        default=10_000,
        help="watch events kept per resource for resumes",
    )
    serve.add_argument(
        "--bookmark-interval", type=float, default=60.0, help="seconds between watch bookmarks"
    )
    serve.add_argument(
        "--authorization",
        choices=AUTHORIZATION_MODES,
        default="rbac",
        help="rbac (default): HTTP requests are authorized by Roles and bindings; "
        "always-allow: every authenticated or anonymous request is allowed",
    )
    WorkloadsConfig.add_arguments(serve)


def _fault_parser(sub: Any) -> None:
    fault = sub.add_parser("fault", help="inject API faults into a running kubesim")
    _target_args(fault)
    actions = fault.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a fault rule")
    add.add_argument(
        "--verb",
        default="*",
        help="get, list, watch, create, update, patch, delete, deletecollection or *",
    )
    add.add_argument(
        "--resource", default="*", help="plural resource name, optionally plural/subresource, or *"
    )
    add.add_argument(
        "--error", type=int, default=None, help="answer this HTTP code instead (500, 503, 429, ...)"
    )
    add.add_argument(
        "--rate", type=float, default=1.0, help="fraction of matching requests affected (0-1)"
    )
    add.add_argument("--latency", type=float, default=0.0, help="seconds of added latency")
    add.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds for 429")
    add.add_argument("--count", type=int, default=None, help="stop after this many hits")
    actions.add_parser("clear", help="remove every fault rule")
    actions.add_parser("list", help="show the fault rules")
    close = actions.add_parser("close-watches", help="end open watch streams")
    close.add_argument("--resource", default=None)
    close.add_argument("--group", default="")
    shrink = actions.add_parser(
        "shrink-history", help="forget watch history so resumes get 410 Expired"
    )
    shrink.add_argument("--resource", default=None)
    shrink.add_argument("--group", default="")
    shrink.add_argument("--keep", type=int, default=0)


def _target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=None, help="kubesim URL (default: from the kubeconfig)")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig of the running kubesim (default: $KUBECONFIG)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `kubesim` command."""
    parser = argparse.ArgumentParser(
        prog="kubesim", description="An embedded, simulated Kubernetes cluster."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _fault_parser(sub)
    chaos = sub.add_parser("chaos", help="run a chaos action of the workload controllers")
    _target_args(chaos)
    chaos.add_argument("chaos_action", help="e.g. crash_container, fail_pod, delete_node")
    chaos.add_argument(
        "params", nargs="*", help="key=value parameters (values parsed as JSON when possible)"
    )
    return parser


def _configure_logging() -> None:
    """Plain tracebacks, never local variables: structlog's default console renderer prints
    every frame's locals through rich, which for a deep RecursionError means minutes of output."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
            ),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def _warn_if_exposed(host: str) -> None:
    """One line when kubesim listens beyond loopback: anyone who reaches it may use it."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print(
            f"kubesim serve: warning: listening on {host}, reachable from other machines; "
            "kubesim is a test cluster (its fault and chaos endpoints are open to its users)",
            file=sys.stderr,
        )


async def _serve(args: argparse.Namespace) -> int:
    from kubesim.sim import KubeSim

    _configure_logging()
    _warn_if_exposed(args.host)

    workloads_config = None
    if not args.no_controllers:
        try:
            workloads_config = WorkloadsConfig.from_args(args)
        except ValueError as exc:  # a flag value out of range: a user mistake, not a crash
            print(f"kubesim serve: {exc}", file=sys.stderr)
            return 2
        if workloads_config.runtime == "process":
            missing = missing_prerequisite()
            if missing is not None:
                print(f"kubesim serve: {missing}", file=sys.stderr)
                return 2
    sim = KubeSim(
        port=args.port,
        tls=args.tls,
        kubeconfig_path=args.kubeconfig_out,
        controllers=not args.no_controllers,
        host=args.host,
        history_size=args.history_size,
        bookmark_interval=args.bookmark_interval,
        audit_path=args.audit_log,
        workloads_config=workloads_config,
        authorization=args.authorization,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await sim.__aenter__()
    except HostUnavailable as exc:
        print(f"kubesim serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, or the address is not ours
        print(f"kubesim serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        print(f"kubesim is serving at {sim.url}", flush=True)
        print(f"export KUBECONFIG={sim.kubeconfig_path}", flush=True)
        if sim.pod_host is not None:
            print(f"pods run as real processes; they reach the API at "
                  f"https://{sim.pod_host.api_host}:{sim.pod_host.api_port}", flush=True)  # fmt: skip
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
    finally:
        await sim.__aexit__(None, None, None)
    return 0


def _target(args: argparse.Namespace) -> tuple[str, ssl.SSLContext | None, str]:
    path = args.kubeconfig or (
        Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
        if os.environ.get("KUBECONFIG")
        else None
    )
    config: dict[str, Any] = {}
    if path is not None:
        config = yaml.safe_load(path.read_text()) or {}
    cluster = ((config.get("clusters") or [{}])[0]).get("cluster") or {}
    server = args.server or cluster.get("server")
    if not server:
        raise SystemExit(
            "kubesim: no server given (use --server URL, --kubeconfig P or $KUBECONFIG)"
        )
    context = None
    if str(server).startswith("https://"):
        context = ssl.create_default_context()
        if cluster.get("certificate-authority-data"):
            context.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
            )
    user = ((config.get("users") or [{}])[0]).get("user") or {}
    return str(server).rstrip("/"), context, str(user.get("token") or "")


def _post(args: argparse.Namespace, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    server, context, token = _target(args)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        server + path, data=data, method="POST" if body is not None else "GET", headers=headers
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read() or b"{}")
            return result
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", str(exc))
        except ValueError:
            message = str(exc)
        raise SystemExit(f"kubesim: {message}")
    except urllib.error.URLError as exc:
        raise SystemExit(f"kubesim: cannot reach {server}: {exc.reason}")


def _fault(args: argparse.Namespace) -> int:
    if args.action == "list":
        result = _post(args, "/kubesim/v1/faults", None)
    elif args.action == "add":
        rule = {
            "action": "add",
            "verb": args.verb,
            "resource": args.resource,
            "error": args.error,
            "rate": args.rate,
            "latency": args.latency,
            "retry_after": args.retry_after,
            "count": args.count,
        }
        result = _post(args, "/kubesim/v1/faults", rule)
    elif args.action == "clear":
        result = _post(args, "/kubesim/v1/faults", {"action": "clear"})
    elif args.action == "close-watches":
        result = _post(
            args,
            "/kubesim/v1/faults",
            {"action": "close_watches", "resource": args.resource, "group": args.group},
        )
    else:
        result = _post(
            args,
            "/kubesim/v1/faults",
            {
                "action": "shrink_history",
                "resource": args.resource,
                "group": args.group,
                "keep": args.keep,
            },
        )
    print(json.dumps(result, indent=2))
    return 0


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise SystemExit(f"kubesim chaos: parameter {text!r} is not key=value")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def _chaos(args: argparse.Namespace) -> int:
    body = {"action": args.chaos_action, **dict(_parse_param(p) for p in args.params)}
    print(json.dumps(_post(args, "/kubesim/v1/chaos", body), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kubesim` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return asyncio.run(_serve(args))
    if args.command == "fault":
        return _fault(args)
    return _chaos(args)


if __name__ == "__main__":
    sys.exit(main())
