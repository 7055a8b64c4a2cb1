"""`kubectl ray` with the real kubectl as the plugin host, against kubesim and rayop.

kubectl finds ``kubectl-ray`` on PATH (the venv's bin, where the console script is installed)
and runs it with the user's arguments, as for any plugin. Each test drives what a user types
and checks what they would see: the table, the cluster that appeared or scaled, the folder of
logs, and, for every mistake, one line on stderr and exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.kubectl_ray.cli import main
from tests.component.deploy.tools import Result, arun
from tests.e2e.harness import NS, Env, condition, wait_for

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(180)]

BIN = Path(sys.executable).parent


async def ray(env: Env, *args: str, stdin: str | None = None, cwd: Path | None = None) -> Result:
    """``kubectl ray ARGS`` against the env's kubesim."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (the plugin host)")
    assert (BIN / "kubectl-ray").exists(), "kubectl-ray is not installed: run `make install`"
    command = ["kubectl", "ray", *args]
    if stdin is not None:
        command = ["sh", "-c", f'printf "{stdin}" | "$@"', "sh", *command]
    if cwd is not None:
        command = ["sh", "-c", f'cd "{cwd}" && exec "$@"', "sh", *command]
    return await arun(*command, env={
        "KUBECONFIG": str(env.sim.kubeconfig_path),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    })  # fmt: skip


def one_line_error(result: Result, *expected: str) -> None:
    """The bad-input contract: exit 1, one line on stderr naming the problem, no traceback."""
    assert result.code == 1, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    for text in expected:
        assert text in lines[0]


def table(result: Result) -> list[dict[str, str]]:
    """A printed table as rows keyed by column (columns are split on runs of 3+ spaces)."""
    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    starts = [
        i for i in range(len(header)) if header[i] != " " and (i == 0 or header[i - 1] == " ")
    ]
    names = header.split()
    # Column names may hold one space ("DESIRED WORKERS"): cut at the starts after 2+ spaces.
    starts = [s for s in starts if s == 0 or header[s - 2 : s] == "  "]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {n: row[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
        for row in rows
    ]


async def provisioned(env: Env, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status = await env.status(name)
        found = condition(status, "RayClusterProvisioned").get("status") == "True"
        return status if found else None

    return await wait_for(check, within=20, what=f"{name} to be provisioned")


async def test_create_get_scale_delete(env: Env) -> None:
    """A cluster made from flags comes up under rayop; get shows it; scale and delete work."""
    created = await ray(env, "create", "cluster", "demo", "--worker-replicas", "2",
                        "--head-cpu", "500m", "--head-memory", "1Gi",
                        "--worker-cpu", "1", "--worker-memory", "2Gi")  # fmt: skip
    assert created.code == 0, created.err
    assert created.out == "Created Ray cluster: demo\n"
    spec = (await env.cluster("demo"))["spec"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["name"] == "ray-head"
    assert head["image"] == "rayproject/ray:2.52.0"
    assert head["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                 "limits": {"memory": "1Gi"}}  # fmt: skip
    assert spec["workerGroupSpecs"][0]["groupName"] == "default-group"
    await provisioned(env, "demo")

    (row,) = table(await ray(env, "get", "cluster", "demo"))
    assert row["NAME"] == "demo"
    assert row["DESIRED WORKERS"] == "2"
    assert row["AVAILABLE WORKERS"] == "2"
    assert row["CPUS"] == "2500m"
    assert row["MEMORY"] == "5Gi"
    assert row["CONDITION"] == "RayClusterProvisioned"
    assert row["STATUS"] == "ready"

    (group,) = table(await ray(env, "get", "workergroups", "-c", "demo"))
    assert group["NAME"] == "default-group"
    assert group["REPLICAS"] == "2/2"
    assert group["CPUS"] == "2"
    assert group["MEMORY"] == "4Gi"
    nodes = table(await ray(env, "get", "nodes", "-c", "demo"))
    assert sorted(n["TYPE"] for n in nodes) == ["head", "worker", "worker"]
    assert {n["WORKER GROUP"] for n in nodes if n["TYPE"] == "worker"} == {"default-group"}

    scaled = await ray(env, "scale", "cluster", "demo", "-w", "default-group", "-r", "3")
    assert scaled.code == 0, scaled.err
    assert scaled.out == (
        "Updated worker group default-group in Ray cluster demo in namespace default "
        "(Scaled Replicas: 2 to 3)\n"
    )

    async def three_workers() -> bool:
        return len([p for p in await env.pods("demo") if "worker" in p["metadata"]["name"]]) == 3

    await wait_for(three_workers, what="rayop to bring up the third worker")

    kept = await ray(env, "delete", "demo", stdin="n\\n")
    assert "Canceled deletion." in kept.out
    assert await env.get("ray.io/v1", "RayCluster", "demo")
    deleted = await ray(env, "delete", "raycluster/demo", "--yes")
    assert deleted.out == "Deleted raycluster demo\n"
    assert await env.get("ray.io/v1", "RayCluster", "demo") is None


async def test_create_from_a_kuberay_config_file(env: Env, tmp_path: Path) -> None:
    """`--file` takes KubeRay's plugin config format: several worker groups, GPUs, labels."""
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump({
        "name": "from-file", "ray-version": "2.46.0", "labels": {"team": "ml"},
        "head": {"cpu": "1", "memory": "2Gi"},
        "worker-groups": [
            {"name": "cpu", "replicas": 1, "cpu": "2", "memory": "4Gi"},
            {"name": "gpu", "replicas": 0, "cpu": "4", "memory": "8Gi", "gpu": "1"},
        ],
    }))  # fmt: skip
    result = await ray(env, "create", "cluster", "--file", str(config))
    assert result.code == 0, result.err
    cluster = await env.cluster("from-file")
    assert cluster["metadata"]["labels"]["team"] == "ml"
    groups = cluster["spec"]["workerGroupSpecs"]
    assert [g["groupName"] for g in groups] == ["cpu", "gpu"]
    gpu = groups[1]["template"]["spec"]["containers"][0]
    assert gpu["image"] == "rayproject/ray:2.46.0"
    assert gpu["resources"]["limits"] == {"memory": "8Gi", "nvidia.com/gpu": "1"}
    rows = table(await ray(env, "get", "workergroup", "gpu"))
    assert [(r["NAME"], r["REPLICAS"], r["GPUS"]) for r in rows] == [("gpu", "0/0", "0")]


async def test_log_collects_every_pods_logs_into_a_folder(env: Env, tmp_path: Path) -> None:
    """`log NAME` writes NAME/<pod>/stdout.log for each Ray pod (and one file per sidecar)."""
    assert (await ray(env, "create", "cluster", "logged", "--worker-replicas", "2")).code == 0
    await provisioned(env, "logged")
    result = await ray(env, "log", "logged", cwd=tmp_path)
    assert result.code == 0, result.err
    pods = sorted(p["metadata"]["name"] for p in await env.pods("logged"))
    assert sorted(p.name for p in (tmp_path / "logged").iterdir()) == pods
    for pod in pods:
        text = (tmp_path / "logged" / pod / "stdout.log").read_text()
        assert "started" in text, text
    assert result.out.endswith(f"Wrote the logs of {len(pods)} Ray nodes to logged/\n")
    # Ray's own logs come out of the head by exec; a simulated pod cannot exec, and says so.
    (copied,) = [line for line in result.out.splitlines() if "session logs" in line]
    assert copied.startswith(("Copied Ray's session logs of logged-head-0",
                              "Ray's session logs of logged-head-0 not copied: "))  # fmt: skip

    heads = await ray(env, "log", "logged", "--node-type", "head", "--out-dir", str(tmp_path))
    assert heads.out.count("Downloading log for Ray Node") == 1


BAD_INPUT: list[tuple[tuple[str, ...], list[str]]] = [
    (("get", "cluster", "nope"), ["Ray cluster nope not found in namespace default"]),
    (("scale", "cluster", "nope", "-w", "g", "-r", "1"), ["Ray cluster nope not found"]),
    (("delete", "nope", "-y"), ["Ray cluster nope not found"]),
    (("delete", "nope"), ["Ray cluster nope not found"]),  # said before asking
    (("log", "nope"), ["Ray cluster nope not found"]),
    (("session", "nope"), ["Ray cluster nope not found"]),
    (("scale", "cluster", "there", "-w", "gpu", "-r", "1"),
     ["worker group gpu not found in Ray cluster there", "Available worker groups: default-group"]),
    (("scale", "cluster", "there", "-w", "default-group", "-r", "two"),
     ["--replicas", "expected a whole number, got 'two'"]),
    (("scale", "cluster", "there", "-w", "default-group", "-r", "-1"), ["--replicas"]),
    (("scale", "cluster", "there", "-w", "default-group", "-r", "9", "--max-replicas", "4"),
     ["cannot set --replicas (9) greater than --max-replicas (4)"]),
    (("scale", "cluster", "there", "-w", "default-group"), ["must specify at least one of"]),
    (("get", "workergroup", "gpu"), ["Ray worker group gpu not found in namespace default"]),
    (("create", "cluster", "there"), ["the Ray cluster there in namespace default already exists"]),
    (("create", "cluster", "bad", "--worker-memory", "lots"),
     ["worker group default-group memory: 'lots' is not a valid resource quantity"]),
    (("create", "cluster", "Bad_Name"), ["metadata.name"]),
    (("delete", "rayjob/x", "-y"), ["unsupported resource type: rayjob"]),
    (("get", "frobs"), ["invalid choice: 'frobs'"]),
]  # fmt: skip


def in_process(env: Env, *args: str) -> Result:
    """``kubectl-ray ARGS`` through its ``main`` in this process (run it in a thread: it runs
    its own event loop while kubesim serves from the test's)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([*args, "--kubeconfig", str(env.sim.kubeconfig_path)])
        except SystemExit as exit_:  # argparse's way out, as from the console script
            code = int(exit_.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


async def test_bad_input_through_kubectl_is_one_line_and_exit_1(env: Env) -> None:
    """The issue's three: an unknown cluster, a wrong group, a replica count that is no number."""
    assert (await ray(env, "create", "cluster", "there")).code == 0
    one_line_error(await ray(env, "get", "cluster", "nope"),
                   "Ray cluster nope not found in namespace default")  # fmt: skip
    one_line_error(await ray(env, "scale", "cluster", "there", "-w", "gpu", "-r", "1"),
                   "worker group gpu not found in Ray cluster there")  # fmt: skip
    one_line_error(await ray(env, "scale", "cluster", "there", "-w", "default-group", "-r", "two"),
                   "--replicas", "expected a whole number, got 'two'")  # fmt: skip


async def test_every_bad_input_is_one_line_and_exit_1(env: Env) -> None:
    """Every mistake in BAD_INPUT, through the plugin's own entry point (no process per case)."""
    assert (await ray(env, "create", "cluster", "there")).code == 0
    for args, expected in BAD_INPUT:
        result = await asyncio.to_thread(in_process, env, *args)
        try:
            one_line_error(result, *expected)
        except AssertionError as exc:
            raise AssertionError(f"kubectl ray {' '.join(args)}: {exc}") from None


async def test_a_bad_config_file_is_one_line(env: Env, tmp_path: Path) -> None:
    """An unknown key or a non-integer replica count in --file names the field."""
    config = tmp_path / "c.yaml"
    config.write_text("name: f\nworker-groups:\n  - name: g\n    replicas: many\n")
    one_line_error(await asyncio.to_thread(in_process, env, "create", "cluster", "--file", str(config)),
                   "worker-groups[0].replicas: expected a non-negative integer")  # fmt: skip
    config.write_text("name: f\nhead:\n  cpus: 2\n")
    one_line_error(await asyncio.to_thread(in_process, env, "create", "cluster", "--file", str(config)),
                   "head.cpus: unknown field")  # fmt: skip
    one_line_error(await asyncio.to_thread(in_process, env, "create", "cluster", "--file", str(tmp_path / "none.yaml")),
                   "does not exist")  # fmt: skip


BAD_INPUT.append(
    # kubesim serves no pods/portforward: `session` says so instead of hanging in kubectl.
    (("session", "there"), ["does not serve pods/portforward"])
)


async def test_dry_run_prints_a_valid_raycluster_without_a_cluster(env: Env) -> None:
    """`create cluster --dry-run` prints the RayCluster (what rayop render accepts)."""
    result = await ray(env, "create", "cluster", "preview", "--head-gpu", "1", "--dry-run")
    assert result.code == 0, result.err
    cluster = yaml.safe_load(result.out)
    assert cluster["kind"] == "RayCluster"
    assert cluster["metadata"] == {"name": "preview", "namespace": NS}
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert [p["containerPort"] for p in head["ports"]] == [6379, 8265, 10001]
    assert await env.get("ray.io/v1", "RayCluster", "preview") is None
