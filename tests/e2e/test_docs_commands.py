"""The user docs' commands work: every runnable block in them runs against kubesim with the
operator running, and every command exits 0.

Marker convention: a ``<!-- test: run -->`` comment on the line just before a
```` ```console ```` fence marks that block runnable. Inside a console block a line starting
with ``$ `` is a command; a trailing backslash continues it on the next line, and a
here-document (``<<'EOF'``) runs to its terminator line. Every other line is sample output:
only a table's column names are compared with what kubectl prints (ages, IPs, generated names
and, with timing, the rows themselves differ between runs). Blocks without the marker
need a real cluster, Docker or a long-running process, and the docs say so next to them.

One kubesim and one ``rayop run`` (with leader election on the ``rayop-system`` Lease, as
installed) serve every doc; the kustomization in ``manifests/`` and the seed RayCluster are
applied first, as a reader following ``install.md`` would have. Each doc's blocks run in
order, by bash, in the repository root, with ``KUBECONFIG`` set, ``kubectl`` wrapped to pass
``--cache-dir`` and ``rayop`` bound to this checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from shlex import quote
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
MARKER = "<!-- test: run -->"
PROGRAMS = ("kubectl", "rayop")

# The pages whose commands this test runs, in reading order (later pages assume the install).
USER_DOCS = (
    "install.md",
    "operations.md",
    "troubleshooting.md",
    "migrating-from-kuberay.md",
)
LINKED_DOCS = ("index.md", *USER_DOCS)

_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@dataclass(frozen=True)
class Command:
    """One runnable command: where it starts in its file, its full text, and the sample output
    the page shows under it."""

    line: int
    text: str
    output: tuple[str, ...] = ()


def runnable_commands(markdown: str) -> list[Command]:
    """The commands of every console block marked runnable, in document order."""
    lines = markdown.splitlines()
    commands: list[Command] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != MARKER:
            index += 1
            continue
        fence = index + 1
        if fence >= len(lines) or not lines[fence].strip().startswith("```console"):
            raise ValueError(f"line {index + 1}: {MARKER} must be followed by a ```console block")
        index = fence + 1
        indent = len(lines[fence]) - len(lines[fence].lstrip())
        block: list[Command] = []
        while index < len(lines) and lines[index].strip() != "```":
            line = lines[index][indent:]
            if not line.startswith("$ "):
                if block:
                    last = block[-1]
                    block[-1] = Command(last.line, last.text, (*last.output, line))
                index += 1
                continue
            start = index
            parts = [line[2:]]
            while parts[-1].endswith("\\") and index + 1 < len(lines):
                index += 1
                parts.append(lines[index][indent:])
            heredoc = _HEREDOC.search("\n".join(parts))
            if heredoc:
                terminator = heredoc.group(2)
                while index + 1 < len(lines):
                    index += 1
                    parts.append(lines[index][indent:])
                    if parts[-1].strip() == terminator:
                        break
            block.append(Command(start + 1, "\n".join(parts)))
            index += 1
        commands.extend(block)
        index += 1
    return commands


def table_header(output: str | tuple[str, ...]) -> list[str] | None:
    """The column names of a kubectl table (its first line starts with ``NAME``), else None."""
    lines = output.splitlines() if isinstance(output, str) else list(output)
    if not lines or not lines[0].startswith("NAME "):
        return None
    return lines[0].split()


# ------------------------------------------------------------------ the parser itself


def test_commands_are_parsed_with_continuations_and_heredocs() -> None:
    """A continued line and a here-document are one command each; output lines are skipped."""
    markdown = "\n".join(
        [
            "text",
            MARKER,
            "```console",
            "$ kubectl get pods",
            "NAME   READY",
            "$ kubectl patch x \\",
            "    -p '{}'",
            "x patched",
            "$ kubectl apply -f - <<'EOF'",
            "kind: RayCluster",
            "$ not a command inside the heredoc",
            "EOF",
            "raycluster created",
            "```",
            "```console",
            "$ docker build .",
            "```",
        ]
    )
    assert runnable_commands(markdown) == [
        Command(4, "kubectl get pods", ("NAME   READY",)),
        Command(6, "kubectl patch x \\\n    -p '{}'", ("x patched",)),
        Command(
            9,
            "kubectl apply -f - <<'EOF'\nkind: RayCluster\n$ not a command inside the heredoc\nEOF",
            ("raycluster created",),
        ),
    ]


def test_marker_must_precede_a_console_block() -> None:
    """A misplaced marker is an error naming its line, not a silently skipped block."""
    with pytest.raises(ValueError, match="line 1: "):
        runnable_commands(f"{MARKER}\n```yaml\nkind: X\n```\n")


@pytest.mark.parametrize("doc", USER_DOCS)
def test_runnable_commands_are_kubectl_or_rayop(doc: str) -> None:
    """Every user page has runnable commands, and each is a kubectl or rayop command (the
    programs this test binds to kubesim and the checkout)."""
    commands = runnable_commands((DOCS / doc).read_text())
    assert commands, f"{doc} has no block marked {MARKER}"
    for command in commands:
        program = command.text.split(maxsplit=1)[0]
        assert program in PROGRAMS, f"{doc}:{command.line}: {program!r} is not {PROGRAMS}"


@pytest.mark.parametrize("doc", LINKED_DOCS)
def test_relative_links_resolve(doc: str) -> None:
    """Every relative link on the page points at a file or directory that exists."""
    text = (DOCS / doc).read_text()
    missing = [
        target
        for target in _LINK.findall(text)
        if "://" not in target and not (DOCS / target).exists()
    ]
    assert not missing, f"{doc} links to missing files: {missing}"


# ------------------------------------------------------------------ running them


@dataclass(frozen=True)
class DocsCluster:
    """kubesim plus ``rayop run``, and the environment the docs' commands run in."""

    env: dict[str, str]
    metrics_url: str

    def run(
        self, command: str, *, stdin: str | None = None, timeout: float = 50.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` with bash in the repository root."""
        return subprocess.run(
            ["bash", "-c", f"set -o pipefail\n{command}"],
            cwd=REPO,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, command: str, *, stdin: str | None = None) -> Any:
        """Run a kubectl command that prints JSON; fail the test if it fails."""
        done = self.run(command, stdin=stdin)
        assert done.returncode == 0, f"`{command}`: {done.stderr}"
        return json.loads(done.stdout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Callable[[], bool], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.1)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _spawn(module_args: list[str], *, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m MODULE ARGS...`` in the repository root, output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *module_args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def docs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsCluster]:
    """kubesim with workloads, ``kubectl apply -k manifests/``, ``rayop run`` leading on the
    ``rayop-system/rayop-leader`` Lease, and the seed RayCluster applied."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the docs' commands need it")
    tmp = tmp_path_factory.mktemp("docs")
    kubeconfig = tmp / "kubeconfig.yaml"
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    wrappers = {
        "kubectl": f'exec {quote(kubectl)} --cache-dir={quote(str(tmp / "cache"))} "$@"',
        "rayop": f'exec {quote(sys.executable)} -m controller "$@"',
    }
    for name, body in wrappers.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig),
        "PYTHONUNBUFFERED": "1",
    }
    health, metrics = _free_port(), _free_port()
    cluster = DocsCluster(env, f"http://127.0.0.1:{metrics}/metrics")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fast = "--container-create-delay 0.1 --image-pull-delay 0.1 --start-to-ready-delay 0.2"
        kubesim = ["kubesim", "serve", "--kubeconfig-out", str(kubeconfig), *fast.split()]
        procs.append(_spawn(kubesim, log=tmp / "kubesim.log", env=env))
        _wait(
            lambda: kubeconfig.exists() and cluster.run("kubectl get ns").returncode == 0,
            within=20,
            what="kubesim to serve",
        )
        setup = cluster.run("kubectl apply -k manifests/")
        assert setup.returncode == 0, setup.stderr
        flags = "--leader-elect --lease-namespace rayop-system --log-format json"
        rayop = ["controller", "run", "--kubeconfig", str(kubeconfig), *flags.split()]
        rayop += ["--health-addr", f"127.0.0.1:{health}", "--metrics-addr", f"127.0.0.1:{metrics}"]
        procs.append(_spawn(rayop, log=tmp / "rayop.log", env=env))
        _wait(
            lambda: _ready(f"http://127.0.0.1:{health}/readyz"),
            within=30,
            what="rayop's /readyz",
        )
        _wait(
            lambda: cluster.run("kubectl -n rayop-system get lease rayop-leader").returncode == 0,
            within=20,
            what="rayop to take the Lease",
        )
        seed = cluster.run("kubectl apply -f manifests/samples/seed-basic-ray-cluster.yaml")
        assert seed.returncode == 0, seed.stderr
        yield cluster
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.mark.kubectl
@pytest.mark.parametrize("doc", USER_DOCS)
def test_doc_commands_succeed_against_kubesim(docs_cluster: DocsCluster, doc: str) -> None:
    """Each runnable command of the page, run in order against kubesim and the operator,
    exits 0."""
    for command in runnable_commands((DOCS / doc).read_text()):
        done = docs_cluster.run(command.text)
        where = f"docs/{doc}:{command.line}: `{command.text}`"
        assert done.returncode == 0, (
            f"{where} exited {done.returncode}\n"
            f"stdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}"
        )
        # Where the page shows a table and kubectl printed one, the columns are the same (the
        # rows depend on timing: a pod may not exist yet when the command runs).
        documented, printed = table_header(command.output), table_header(done.stdout)
        if documented is not None and printed is not None:
            assert printed == documented, (
                f"{where} prints columns {printed}, the page shows {documented}"
            )


def _kuberay_children(cluster: str, uid: str) -> str:
    """What KubeRay leaves behind for ``cluster``: bare head and worker pods with its names and
    labels, and a headless head Service, all controlled by the RayCluster."""
    owner = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": cluster, "uid": uid,
             "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    items: list[dict[str, Any]] = []
    for name, node_type, group in (
        (f"{cluster}-head-x7k2p", "head", "headgroup"),
        (f"{cluster}-workers-worker-abcde", "worker", "workers"),
    ):
        labels = {"ray.io/cluster": cluster, "ray.io/node-type": node_type,
                  "ray.io/group": group, "ray.io/is-ray-node": "yes",
                  "app.kubernetes.io/name": "kuberay",
                  "app.kubernetes.io/created-by": "kuberay-operator"}  # fmt: skip
        items.append(
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
             "spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.52.0"}]}}
        )  # fmt: skip
    items.append(
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": f"{cluster}-head-svc", "ownerReferences": [owner],
                      "labels": {"ray.io/cluster": cluster, "ray.io/node-type": "head"}},
         "spec": {"clusterIP": "None", "selector": {"ray.io/cluster": cluster,
                                                     "ray.io/node-type": "head"},
                  "ports": [{"name": "gcs-server", "port": 6379}]}}
    )  # fmt: skip
    # A stream of JSON objects (kubectl reads several from one input): kubesim's OpenAPI has no
    # schema for a v1 List, so kubectl's validation of a List fails there.
    return "\n".join(json.dumps(item) for item in items)


@pytest.mark.kubectl
def test_kuberay_pods_are_left_running_as_the_migration_guide_says(
    docs_cluster: DocsCluster,
) -> None:
    """migrating-from-kuberay.md's warning holds: rayop neither adopts nor deletes KubeRay's
    pods, does not count them in status (nor take KubeRay's head for its own: only pods its
    workloads control count), and its head Service selects KubeRay's head pod too."""
    cluster = "migrated"
    spec: dict[str, Any] = {
        "rayVersion": "2.52.0",
        "workerGroupSpecs": [
            {"groupName": "workers", "replicas": 1, "minReplicas": 1, "maxReplicas": 2}
        ],
    }
    manifest = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": cluster}}
    # KubeRay's objects must exist before rayop first reconciles the cluster: apply it first
    # with a spec rayop refuses to act on (state failed, nothing created), add KubeRay's
    # children, then make the spec valid, which is when rayop takes over.
    refused = {**manifest, "spec": {**spec, "authOptions": {"mode": "token"}}}
    docs_cluster.json("kubectl apply -o json -f -", stdin=json.dumps(refused))
    uid = docs_cluster.json(f"kubectl get raycluster {cluster} -o json")["metadata"]["uid"]
    created = docs_cluster.run("kubectl create -f -", stdin=_kuberay_children(cluster, uid))
    assert created.returncode == 0, created.stderr
    try:
        docs_cluster.json(
            "kubectl apply -o json -f -", stdin=json.dumps({**manifest, "spec": spec})
        )

        def counted() -> bool:
            status = docs_cluster.json(f"kubectl get raycluster {cluster} -o json").get("status")
            head = ((status or {}).get("head") or {}).get("podName")
            return head == f"{cluster}-head-0" and (status or {}).get("state") == "ready"

        _wait(counted, within=30, what="status to report rayop's own head, ready")
        status = docs_cluster.json(f"kubectl get raycluster {cluster} -o json")["status"]
        assert status["availableWorkerReplicas"] == 1, "KubeRay's worker is not counted"
        pods = docs_cluster.json(f"kubectl get pods -l ray.io/cluster={cluster} -o json")
        names = {pod["metadata"]["name"] for pod in pods["items"]}
        assert {f"{cluster}-head-x7k2p", f"{cluster}-workers-worker-abcde"} <= names
        assert f"{cluster}-head-0" in names
        service = docs_cluster.json(f"kubectl get service {cluster}-head-svc -o json")
        assert service["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "rayop"
        assert service["spec"]["clusterIP"] == "None"
        kuberay_head = next(p for p in pods["items"] if p["metadata"]["name"].endswith("x7k2p"))
        selector = service["spec"]["selector"].items()
        assert selector <= kuberay_head["metadata"]["labels"].items()
    finally:
        docs_cluster.run(f"kubectl delete raycluster {cluster} --wait=false")


def documented_metrics(markdown: str) -> set[str]:
    """The metric names in the first column of operations.md's "Every metric" table."""
    section = markdown.split("### Every metric", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


@pytest.mark.kubectl
def test_every_exported_metric_is_documented_and_no_other(docs_cluster: DocsCluster) -> None:
    """operations.md's metric table names exactly the families a leading rayop exports."""
    with urllib.request.urlopen(docs_cluster.metrics_url, timeout=5) as response:
        exposition = response.read().decode()
    exported = {
        name
        for name in re.findall(r"^# HELP (\S+)", exposition, flags=re.MULTILINE)
        if not name.endswith("_created")  # prometheus_client's creation-time series
    }
    documented = documented_metrics((DOCS / "operations.md").read_text())
    assert documented == exported, (
        f"exported but not documented: {sorted(exported - documented)}; "
        f"documented but not exported: {sorted(documented - exported)}"
    )


def test_documented_tuning_flags_and_defaults_match_rayop_run() -> None:
    """Every flag in operations.md's tuning table exists in `rayop run`, with the numeric
    default the page states."""
    from controller.cli import build_parser

    parser = build_parser()
    run = parser.parse_args(["run"])
    text = (DOCS / "operations.md").read_text()
    section = text.split("## Concurrency and API rate limits", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (`--[^|]+)\| ([^|]+)\|", section, flags=re.MULTILINE)
    assert rows, "no flag table found"
    for flags_cell, defaults_cell in rows:
        flags = re.findall(r"--[a-z-]+", flags_cell)
        defaults = [d.strip() for d in defaults_cell.split(",")]
        for flag, default in zip(flags, defaults, strict=False):
            dest = flag.removeprefix("--").replace("-", "_")
            assert hasattr(run, dest), f"`rayop run` has no {flag}"
            if default.replace(".", "", 1).isdigit():
                assert float(getattr(run, dest)) == float(default), f"{flag} default"
