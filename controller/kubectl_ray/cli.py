"""``kubectl-ray``: arguments, dispatch, and the error contract.

Every mistake a user can make (an unknown cluster or group, a replica count that is not a
whole number, a bad quantity, an unreachable cluster) prints one line on stderr,
``error: ...`` as kubectl prints its own, and exits 1; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from controller.kube import KubeClient, KubeError
from controller.kubectl_ray import collect, commands
from controller.kubectl_ray.connect import PluginError, Target, connect, resolve_target
from controller.kubectl_ray.generate import RAY_VERSION, ClusterConfig, GroupConfig, from_file

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse that fails like the rest of the plugin: one line, exit 1."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(1)


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _pairs(text: str) -> dict[str, str]:
    """``a=b,c=d`` → {a: b, c: d} (pflag's StringToString)."""
    out: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE pairs, got {item!r}")
        out[key] = value
    return out


def _common(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context")
    if all_namespaces:
        parser.add_argument("-A", "--all-namespaces", action="store_true",
                            help="across all namespaces")  # fmt: skip


def _get_parsers(sub: argparse._SubParsersAction[_Parser]) -> None:
    get = sub.add_parser("get", help="show Ray clusters, worker groups or nodes")
    kinds = get.add_subparsers(dest="kind", required=True, metavar="RESOURCE")
    cluster = kinds.add_parser("cluster", aliases=["clusters"], help="Ray clusters")
    cluster.add_argument("name", nargs="?")
    for kind, aliases, arg in (("workergroup", ["workergroups"], "group"),
                               ("node", ["nodes"], "node")):  # fmt: skip
        parser = kinds.add_parser(kind, aliases=aliases, help=f"Ray {kind}s")
        parser.add_argument(arg, nargs="?")
        parser.add_argument("-c", "--ray-cluster", help="only this Ray cluster")
        _common(parser, all_namespaces=True)
    _common(cluster, all_namespaces=True)


def _create_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    create = sub.add_parser("create", help="create a Ray cluster")
    kinds = create.add_subparsers(dest="kind", required=True, metavar="RESOURCE")
    cluster = kinds.add_parser("cluster", help="create a Ray cluster from flags or --file")
    cluster.add_argument("name", nargs="?")
    add = cluster.add_argument
    add("--ray-version", default=RAY_VERSION, help="Ray version (default %(default)s)")
    add("--image", default="", help="image (default rayproject/ray:<ray-version>)")
    for role in ("head", "worker"):
        add(f"--{role}-cpu", default="2", help=f"CPUs of the {role} (default %(default)s)")
        add(f"--{role}-memory", default="4Gi", help=f"memory of the {role} (default %(default)s)")
        add(f"--{role}-gpu", default="0", help=f"GPUs of the {role} (default %(default)s)")
        add(f"--{role}-ephemeral-storage", default="", help=f"ephemeral storage of the {role}")
        add(f"--{role}-ray-start-params", type=_pairs, default={}, metavar="K=V,...")
        add(f"--{role}-node-selectors", type=_pairs, default={}, metavar="K=V,...")
    add("--worker-tpu", default="0", help="TPUs of each worker (default %(default)s)")
    add("--worker-replicas", type=_whole, default=1, help="workers (default %(default)s)")
    add("--num-of-hosts", type=_whole, default=1, help="hosts per worker replica (default 1)")
    add("--labels", type=_pairs, default={}, metavar="K=V,...")
    add("--annotations", type=_pairs, default={}, metavar="K=V,...")
    add("--autoscaler", choices=("v1", "v2"), help="enable the Ray autoscaler of this version")
    add("--file", help="a KubeRay plugin cluster config file (YAML)")
    add("--dry-run", action="store_true", help="print the RayCluster instead of creating it")
    add("--wait", action="store_true", help="wait until the cluster is provisioned")
    add("--timeout", type=float, default=300.0, help="seconds --wait waits (default 300)")
    _common(cluster)


def build_parser() -> argparse.ArgumentParser:
    """The ``kubectl ray`` parser (the docs and tests use it too)."""
    parser = _Parser(prog="kubectl ray", description="Manage Ray clusters run by rayop "
                     "(the KubeRay kubectl plugin's commands).")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)  # fmt: skip
    _get_parsers(sub)
    _create_parser(sub)
    scale = sub.add_parser("scale", help="scale a worker group")
    kinds = scale.add_subparsers(dest="kind", required=True, metavar="RESOURCE")
    cluster = kinds.add_parser("cluster", help="scale a worker group of a Ray cluster")
    cluster.add_argument("name")
    cluster.add_argument("-w", "--worker-group", required=True)
    cluster.add_argument("-r", "--replicas", type=_whole)
    cluster.add_argument("--min-replicas", type=_whole)
    cluster.add_argument("--max-replicas", type=_whole)
    _common(cluster)
    delete = sub.add_parser("delete", help="delete a Ray cluster")
    delete.add_argument("name", metavar="RAYCLUSTER | raycluster/NAME")
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask")
    _common(delete)
    log = sub.add_parser("log", aliases=["logs"], help="download every Ray pod's logs")
    log.add_argument("name", metavar="RAYCLUSTER | raycluster/NAME")
    log.add_argument("--out-dir", help="existing folder to write into (default: ./NAME)")
    log.add_argument("--node-type", choices=collect.NODE_TYPES, default="all")
    _common(log)
    session = sub.add_parser("session", help="port-forward the dashboard and client ports")
    session.add_argument("name", metavar="RAYCLUSTER | raycluster/NAME")
    _common(session)
    return parser


def _cluster_config(args: argparse.Namespace, namespace: str) -> ClusterConfig:
    if args.file:
        config = from_file(args.file)
        if args.name and config.name and args.name != config.name:
            raise PluginError(f"the cluster name in the config file {config.name!r} does not "
                              f"match the cluster name {args.name!r}")  # fmt: skip
        config.name = args.name or config.name
        config.namespace = config.namespace or namespace
        if not config.name:
            raise PluginError("the cluster name is required")
        return config

    def group(role: str, **extra: object) -> GroupConfig:
        flags = {k: getattr(args, f"{role}_{k}") for k in ("cpu", "memory", "gpu",
                 "ephemeral_storage", "ray_start_params", "node_selectors")}  # fmt: skip
        return GroupConfig(**flags, **extra)  # type: ignore[arg-type]

    if not args.name:
        raise PluginError("the cluster name is required: kubectl ray create cluster NAME")
    workers = group("worker", tpu=args.worker_tpu, replicas=args.worker_replicas,
                    num_of_hosts=args.num_of_hosts)  # fmt: skip
    return ClusterConfig(
        name=args.name, namespace=namespace, ray_version=args.ray_version,
        image=args.image, labels=args.labels, annotations=args.annotations,
        autoscaler=args.autoscaler or "", head=group("head"), workers=[workers],
    )  # fmt: skip


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    target = resolve_target(namespace=args.namespace,
                            all_namespaces=getattr(args, "all_namespaces", False),
                            kubeconfig=args.kubeconfig, context=args.context)  # fmt: skip
    if args.command == "create" and args.dry_run:
        commands.print_cluster(_cluster_config(args, target.namespace), out)
        return 0
    kube = await connect(kubeconfig=args.kubeconfig, context=args.context)
    try:
        return await _dispatch(kube, args, target, out)
    finally:
        await kube.close()


async def _dispatch(kube: KubeClient, args: argparse.Namespace, target: Target, out: TextIO) -> int:
    command, kind = args.command, getattr(args, "kind", None)
    if command == "get" and kind in ("cluster", "clusters"):
        await commands.get_clusters(kube, target, args.name, out)
    elif command == "get" and kind in ("workergroup", "workergroups"):
        await commands.get_workergroups(kube, target, group=args.group, cluster=args.ray_cluster,
                                        out=out)  # fmt: skip
    elif command == "get":
        await commands.get_nodes(kube, target, node=args.node, cluster=args.ray_cluster, out=out)
    elif command == "create":
        await commands.create_cluster(kube, _cluster_config(args, target.namespace),
                                      wait=args.timeout if args.wait else None, out=out)  # fmt: skip
    elif command == "scale":
        scale = commands.Scale(args.worker_group, args.replicas, args.min_replicas,
                               args.max_replicas)  # fmt: skip
        if scale.replicas is None and scale.min_replicas is None and scale.max_replicas is None:
            raise PluginError("must specify at least one of --replicas, --min-replicas, or "
                              "--max-replicas (non-negative integers)")  # fmt: skip
        await commands.scale_cluster(kube, target, args.name, scale, out)
    elif command == "delete":
        answer = None
        if not args.yes:
            name = commands.parse_resource(args.name)
            await commands.find_cluster(kube, target, name)  # not found: say so, do not ask
            out.write(f"Are you sure you want to delete the following resources?\n"
                      f"  raycluster/{name}\n(y/yes/n/no) ")  # fmt: skip
            out.flush()
            answer = sys.stdin.readline()
        await commands.delete(kube, target, args.name, yes=args.yes, answer=answer, out=out)
    elif command in ("log", "logs"):
        kubectl = collect.kubectl_prefix(args.kubeconfig, args.context)
        await collect.collect_logs(kube, target, args.name, out_dir=args.out_dir,
                                   node_type=args.node_type, kubectl=kubectl, out=out)  # fmt: skip
    else:
        argv = await collect.session_command(kube, target, args.name, kubeconfig=args.kubeconfig,
                                             context=args.context, out=out)  # fmt: skip
        out.flush()
        os.execvp(argv[0], argv)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kubectl-ray`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args, sys.stdout))
    except (PluginError, KubeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"error: {message}\n")
        return 1
    except KeyboardInterrupt:
        return 130
