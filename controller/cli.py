"""``rayop``: run the operator, render a RayCluster's objects, or try everything locally.

    rayop run     the operator, against a kubeconfig context or in-cluster
    rayop render  the Kubernetes objects a RayCluster manifest becomes (no cluster needed)
    rayop dev     kubesim + the CRD + the operator in one process, with the seed cluster

Errors a user can fix (a missing kubeconfig, a bad flag value) print one line naming the
problem and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence

import structlog

from controller.logs import configure_logging
from controller.options import OperatorOptions, default

__all__ = ["build_parser", "main"]

log = structlog.get_logger(__name__)

_RUN_EPILOG = """\
where the cluster is, first match wins:
  --in-cluster, --kubeconfig PATH, $KUBECONFIG, in-cluster when $KUBERNETES_SERVICE_HOST
  is set (inside a pod), ~/.kube/config.

examples:
  rayop run --kubeconfig ~/.kube/config --context kind-dev
  rayop run --namespace ml --namespace research --concurrency 16
  curl -s localhost:8080/metrics | grep rest_client_requests_total
"""

_DEV_EPILOG = """\
what happens:
  1. kubesim (the embedded Kubernetes: API server, workload controllers, kubelet) starts and
     writes a kubeconfig (default ./kubeconfig.yaml); its pods are real processes running
     real Ray when --runtime allows (see docs/real-ray.md), simulated otherwise;
  2. the RayCluster CRD from manifests/crd/ is installed and the operator starts;
  3. the files are applied (default: manifests/samples/seed-basic-ray-cluster.yaml);
  4. each RayCluster's progress (state, pods ready/desired) prints as it changes.
In another shell: export KUBECONFIG=$PWD/kubeconfig.yaml; kubectl get rayclusters,pods
Ctrl-C stops everything.
"""


#: ``--leader-elect-<flag>`` seconds, with client-go's (and LeaderElectionConfig's) defaults.
_LEASE_TIMINGS = {"lease-duration": 15.0, "renew-deadline": 10.0, "retry-period": 2.0}


def _loopback(addr: str) -> str:
    """``addr`` with its host replaced by 127.0.0.1: outside a pod, serve only this machine."""
    return "127.0.0.1:" + addr.rpartition(":")[2]


def _serving_addrs(args: argparse.Namespace, *, in_cluster: bool) -> None:
    """Fill unset ``--metrics-addr``/``--health-addr``: all interfaces in a pod (the kubelet
    and Prometheus reach it there), loopback elsewhere (a laptop's port is nobody's business)."""
    for name in ("metrics_addr", "health_addr"):
        if getattr(args, name) is None:
            setattr(args, name, default(name) if in_cluster else _loopback(default(name)))


def build_parser() -> argparse.ArgumentParser:
    """The ``rayop`` argument parser (also used by the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="rayop",
        description="A Kubernetes operator for Ray clusters (KubeRay-compatible RayCluster API).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the operator against a cluster",
        description="Watch RayClusters and keep their StatefulSets, Services, HPAs and RBAC "
        "equal to their spec; report progress in status and events.",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_cluster_flags(run)
    _add_operator_flags(run)
    _add_log_flags(run)
    run.add_argument("--metrics-addr", default=None, metavar="HOST:PORT",
                     help="serve /metrics here; 0 disables (default: "
                     f"{default('metrics_addr')} in a pod, {_loopback(default('metrics_addr'))} "
                     "otherwise)")  # fmt: skip
    run.add_argument("--health-addr", default=None, metavar="HOST:PORT",
                     help="serve /healthz and /readyz here; 0 disables (default: "
                     f"{default('health_addr')} in a pod, {_loopback(default('health_addr'))} "
                     "otherwise)")  # fmt: skip
    run.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=None,
                     help="run workers only while holding a Lease, so several replicas can run; "
                     "default: on in-cluster, off otherwise")  # fmt: skip
    run.add_argument(
        "--lease-name", default="rayop-leader", help="Lease name (default %(default)s)"
    )
    run.add_argument("--lease-namespace", default=None,
                     help="Lease namespace (default: $POD_NAMESPACE, else the in-cluster "
                     "namespace, else 'default')")  # fmt: skip
    for flag, default_seconds in _LEASE_TIMINGS.items():
        run.add_argument(f"--leader-elect-{flag}", type=float, default=default_seconds,
                         metavar="SECONDS", help="leader election timing, as client-go's "
                         "(default %(default)s)")  # fmt: skip

    render = sub.add_parser(
        "render",
        help="print the objects a RayCluster manifest becomes",
        description="Print the child objects rayop would create for each RayCluster in the "
        "files. No cluster needed. Invalid input prints every problem with its field path "
        "and exits 1.",
    )
    render.add_argument("-f", "--filename", action="append", required=True, metavar="FILE",
                        help="a RayCluster manifest ('-' for stdin); repeatable")  # fmt: skip
    render.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml",
                        help="output format (default %(default)s)")  # fmt: skip

    dev = sub.add_parser(
        "dev",
        help="kubesim + CRD + operator in one process, with the seed RayCluster",
        description="Try rayop with no cluster: start kubesim in-process, install the CRD, "
        "run the operator and apply RayCluster manifests.",
        epilog=_DEV_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dev.add_argument("-f", "--filename", action="append", default=None, metavar="FILE",
                     help="manifest to apply (repeatable); default: the seed sample")  # fmt: skip
    dev.add_argument("--kubeconfig-out", default="kubeconfig.yaml", metavar="PATH",
                     help="where to write kubesim's kubeconfig (default %(default)s)")  # fmt: skip
    dev.add_argument("--port", type=int, default=0,
                     help="kubesim's API port (default: any free port)")  # fmt: skip
    dev.add_argument("--runtime", choices=("auto", "process", "simulated"), default="auto",
                     help="how kubesim runs pods: process = real processes (real Ray; root, "
                     "iproute2 and Ray installed), simulated = timers; auto = process when "
                     "this host can (default %(default)s)")  # fmt: skip
    _add_operator_flags(dev)
    _add_log_flags(dev)
    # Progress lines are the show in dev; logs only when something goes wrong.
    dev.set_defaults(log_level="warning")
    return parser


def _add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file to use")
    parser.add_argument("--context", help="kubeconfig context (default: its current-context)")
    parser.add_argument("--in-cluster", action="store_true",
                        help="use the pod's service account (automatic inside a pod)")  # fmt: skip


def _add_operator_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", action="append", default=[], metavar="NS",
                        help="watch only this namespace (repeatable); default: all")  # fmt: skip
    parser.add_argument("--concurrency", type=_positive_int, default=default("concurrency"),
                        metavar="N",
                        help="RayClusters reconciled in parallel (default %(default)s; "
                        "KubeRay's is 1)")  # fmt: skip
    parser.add_argument("--qps", type=float, default=default("qps"),
                        help="client-side API request rate; <= 0 disables (default %(default)s)")  # fmt: skip
    parser.add_argument("--burst", type=_positive_int, default=default("burst"),
                        help="client-side API burst (default %(default)s)")  # fmt: skip
    parser.add_argument("--resync-period", type=float, default=default("resync_period"),
                        metavar="SECONDS",
                        help="re-reconcile every cached RayCluster this often, from the cache "
                        "(no API reads; a safety net for missed events); 0 disables "
                        "(default %(default)s)")  # fmt: skip
    parser.add_argument("--drain-timeout", type=float, default=default("drain_timeout"),
                        metavar="SECONDS",
                        help="on SIGTERM, how long in-flight reconciles may finish "
                        "(default %(default)s)")  # fmt: skip


def _add_log_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-format", choices=("auto", "json", "console"), default="auto",
                        help="auto: console on a terminal, JSON otherwise (default)")  # fmt: skip
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"),
                        help="(default %(default)s)")  # fmt: skip


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rayop`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "render":
        from controller.render import render_command

        return render_command(list(args.filename), args.output)
    configure_logging(fmt=args.log_format, level=args.log_level)
    try:
        if args.command == "run":
            return asyncio.run(_run(args))
        from controller.dev import ManifestError, prepare_dev, run_dev
        from kubesim.hostcheck import HostUnavailable

        try:
            plan = prepare_dev(
                files=args.filename,
                kubeconfig_out=args.kubeconfig_out,
                port=args.port,
                options=operator_options(args),
                runtime=args.runtime,
            )
        except (ManifestError, HostUnavailable) as exc:
            raise UserError(str(exc)) from None
        try:
            return asyncio.run(run_dev(plan))
        except OSError as exc:  # e.g. --port already taken: the machine's answer, in one line
            raise UserError(
                f"cannot serve kubesim or the operator: {exc.strerror or exc}"
            ) from None
    except KeyboardInterrupt:
        return 130
    except UserError as exc:
        print(f"rayop {args.command}: {exc}", file=sys.stderr)
        return 2


class UserError(Exception):
    """A problem the user can fix (bad flag, missing kubeconfig); printed without a traceback."""


async def _run(args: argparse.Namespace) -> int:
    from controller.kube import ConfigError, KubeClient, load_api_client
    from controller.kube.lease import KubeLeaseClient
    from controller.leaderelection import (
        LeaderElectionConfig,
        LeaderElector,
        LeadershipLost,
        default_identity,
    )
    from controller.operator import USER_AGENT, Operator, PreflightError

    try:
        api_client = await load_api_client(
            kubeconfig=args.kubeconfig, context=args.context, in_cluster=args.in_cluster
        )
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    in_cluster = args.in_cluster or (
        not args.kubeconfig and not os.environ.get("KUBECONFIG")
        and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )  # fmt: skip
    _serving_addrs(args, in_cluster=in_cluster)
    try:
        options = operator_options(args)
        operator = Operator(api_client, options)
    except ValueError as exc:
        await api_client.close()
        raise UserError(str(exc)) from None
    leader_elect = in_cluster if args.leader_elect is None else args.leader_elect
    if leader_elect:
        lease_ns = args.lease_namespace or os.environ.get("POD_NAMESPACE") or _pod_namespace()
        identity = default_identity()
        try:
            config = LeaderElectionConfig(
                name=args.lease_name, namespace=lease_ns, identity=identity,
                lease_duration=args.leader_elect_lease_duration,
                renew_deadline=args.leader_elect_renew_deadline,
                retry_period=args.leader_elect_retry_period,
            )  # fmt: skip
        except ValueError as exc:
            await api_client.close()
            raise UserError(f"--leader-elect-*: {exc}") from None
        # Audit logs tell the replicas apart by the identity the Lease shows.
        api_client.user_agent = f"{USER_AGENT} ({identity})"
        operator.attach_elector(
            LeaderElector(
                KubeLeaseClient(KubeClient(api_client)), config, registry=operator.registry
            )
        )
    _install_signal_handlers(operator.stop)
    try:
        await operator.run()
    except PreflightError as exc:
        raise UserError(str(exc)) from None
    except LeadershipLost:
        # controller-runtime exits too: a process that may still hold writes must not go on.
        log.error("leader election lost; exiting")
        return 1
    return 0


def operator_options(args: argparse.Namespace) -> OperatorOptions:
    """The :class:`OperatorOptions` the flags ask for."""
    return OperatorOptions(
        namespaces=tuple(args.namespace),
        concurrency=args.concurrency,
        qps=args.qps,
        burst=args.burst,
        # Unset (None) means the in-pod default until _serving_addrs has decided.
        health_addr=getattr(args, "health_addr", "0") or default("health_addr"),
        metrics_addr=getattr(args, "metrics_addr", "0") or default("metrics_addr"),
        drain_timeout=args.drain_timeout,
        resync_period=args.resync_period or None,
    )


def _pod_namespace() -> str:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    try:
        with open(path) as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def _install_signal_handlers(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
