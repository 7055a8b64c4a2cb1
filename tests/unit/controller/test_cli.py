"""Unit tests for the rayop CLI: help that answers questions, errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import build_parser, main
from controller.dev import ManifestError, load_manifests, progress_line


def test_run_help_lists_every_flag_and_the_config_order(capsys: pytest.CaptureFixture[str]) -> None:
    """`rayop run --help` documents each flag and where the cluster config comes from."""
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--kubeconfig", "--context", "--in-cluster", "--namespace", "--concurrency", "--qps",
        "--burst", "--metrics-addr", "--health-addr", "--leader-elect", "--lease-name",
        "--lease-namespace", "--log-format", "--log-level", "--drain-timeout", "--resync-period",
    ):  # fmt: skip
        assert flag in text, flag
    assert "~/.kube/config" in text
    assert "KUBERNETES_SERVICE_HOST" in text


def test_dev_help_explains_how_to_reach_kubesim(capsys: pytest.CaptureFixture[str]) -> None:
    """`rayop dev --help` says what it starts and how to point kubectl at it."""
    with pytest.raises(SystemExit):
        main(["dev", "--help"])
    text = capsys.readouterr().out
    assert "export KUBECONFIG" in text
    assert "seed-basic-ray-cluster.yaml" in text


def test_missing_kubeconfig_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kubeconfig that does not exist: exit 2, one line naming the flag and the file."""
    code = main(["run", "--kubeconfig", str(tmp_path / "nope.yaml"), "--log-format", "json"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"rayop run: --kubeconfig: kubeconfig file {tmp_path / 'nope.yaml'} does not exist"
    ]


def test_bad_concurrency_is_rejected_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    """--concurrency 0 is refused with a sentence, not a traceback."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run", "--concurrency", "0"])
    assert exc.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_dev_with_a_missing_file_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rayop dev -f missing.yaml` fails before starting anything, naming the file."""
    code = main(["dev", "-f", str(tmp_path / "missing.yaml")])
    assert code == 2
    assert "missing.yaml: cannot read" in capsys.readouterr().err


def test_load_manifests_rejects_non_objects(tmp_path: Path) -> None:
    """A YAML document that is not a Kubernetes object is reported with its position."""
    path = tmp_path / "x.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n- just a list\n")
    with pytest.raises(ManifestError, match="document 2 is not a Kubernetes object"):
        load_manifests([path])


def test_progress_line_counts_ready_pods_from_the_status() -> None:
    """The dev progress line shows state and Ray pods ready out of desired (head + workers),
    all from one status, so the counts and the reason agree."""
    cluster = {
        "metadata": {"namespace": "default", "name": "c"},
        "status": {
            "state": "",
            "desiredWorkerReplicas": 2,
            "readyWorkerReplicas": 1,
            "reason": "1/2 workers ready",
            "conditions": [{"type": "HeadPodReady", "status": "True"}],
        },
    }
    assert progress_line(cluster) == "default/c  state=-  pods 2/3 ready  (1/2 workers ready)"


def test_progress_line_of_an_invalid_cluster_gives_the_reason_only() -> None:
    """A failed (invalid) cluster shows why, not a pod count it will never reach."""
    cluster = {
        "metadata": {"namespace": "default", "name": "bad"},
        "status": {"state": "failed", "reason": "spec.rayVersion: is required."},
    }
    assert progress_line(cluster) == "default/bad  state=failed  (spec.rayVersion: is required.)"


def test_flag_defaults_are_the_operator_options_defaults() -> None:
    """`rayop run` with no flags builds exactly OperatorOptions() (one source of defaults)."""
    from controller.cli import build_parser, operator_options
    from controller.options import OperatorOptions

    assert operator_options(build_parser().parse_args(["run"])) == OperatorOptions()


def test_run_serves_on_loopback_outside_a_pod_and_on_all_interfaces_in_one() -> None:
    """Unset --metrics-addr/--health-addr bind 127.0.0.1 on a laptop, 0.0.0.0 in a pod; an
    explicit address is kept either way (issue 16)."""
    from controller.cli import _serving_addrs, build_parser

    for in_cluster, host in ((False, "127.0.0.1"), (True, "0.0.0.0")):
        args = build_parser().parse_args(["run"])
        _serving_addrs(args, in_cluster=in_cluster)
        assert (args.metrics_addr, args.health_addr) == (f"{host}:8080", f"{host}:8081")
    args = build_parser().parse_args(["run", "--metrics-addr", "0.0.0.0:9000"])
    _serving_addrs(args, in_cluster=False)
    assert args.metrics_addr == "0.0.0.0:9000"
