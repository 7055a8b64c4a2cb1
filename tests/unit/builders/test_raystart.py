"""The ``ray start`` rules, case by case (reference/kuberay.md §2.1)."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from controller.builders.labels import NodeType
from controller.builders.raystart import (
    EnvRef,
    container_command,
    ray_start_command,
    resolve_params,
)

HEAD_ADDRESS = "rc-head-svc.ns.svc.cluster.local:6379"


def params(
    user: dict[str, str] | None = None,
    *,
    node_type: NodeType = NodeType.WORKER,
    limits: dict[str, str] | None = None,
    requests: dict[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    container = {"resources": {"limits": limits or {}, "requests": requests or {}}}
    return resolve_params(
        user or {}, node_type=node_type, container=container, head_address=HEAD_ADDRESS, **kwargs
    )


def command(user: dict[str, str] | None = None, **kwargs: Any) -> str:
    node_type = kwargs.get("node_type", NodeType.WORKER)
    return ray_start_command(params(user, **kwargs), node_type)


def test_worker_connects_to_the_head_service_fqdn() -> None:
    """A worker's ray start gets --address=<head svc FQDN>:6379 and no --head."""
    line = command()
    assert f"--address={HEAD_ADDRESS}" in line.split()
    assert "--head" not in line.split()


def test_head_starts_with_head_flag_and_dashboard_on_all_interfaces() -> None:
    """The head's ray start has --head and --dashboard-host=0.0.0.0, and no --address."""
    words = command(node_type=NodeType.HEAD).split()
    assert words[:3] == ["ray", "start", "--head"]
    assert "--dashboard-host=0.0.0.0" in words
    assert not any(w.startswith("--address") for w in words)


def test_user_address_and_dashboard_host_are_kept() -> None:
    """Flags the user gives win over the filled-in defaults."""
    assert "--address=elsewhere:1" in command({"address": "elsewhere:1"}).split()
    head = command({"dashboard-host": "127.0.0.1"}, node_type=NodeType.HEAD).split()
    assert "--dashboard-host=127.0.0.1" in head


def test_block_is_always_on_even_when_user_disables_it() -> None:
    """--block is forced: without it the container would exit right after starting Ray."""
    assert "--block" in command({"block": "false"}).split()


def test_metrics_and_agent_ports_default() -> None:
    """--metrics-export-port=8080 and --dashboard-agent-listen-port=52365 are filled in."""
    words = command().split()
    assert "--metrics-export-port=8080" in words
    assert "--dashboard-agent-listen-port=52365" in words


def test_flags_are_sorted_by_name() -> None:
    """Flags come in key order, so the command (and the pod template) is deterministic."""
    words = command({"zeta": "1", "alpha": "2"}).split()
    flags = [w for w in words if w.startswith("--")]
    assert flags == sorted(flags)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", ["--flag"]), ("True", ["--flag"]), ("false", []), ("FALSE", [])],
)
def test_boolean_values_are_switches(value: str, expected: list[str]) -> None:
    """ "true" renders a bare --flag, "false" drops it (case-insensitive)."""
    words = command({"flag": value}).split()
    assert [w for w in words if w.startswith("--flag")] == expected


@pytest.mark.parametrize("key", ["log-color", "include-dashboard", "include-log-monitor"])
def test_boolean_argument_flags_keep_their_value(key: str) -> None:
    """Ray flags that take a boolean argument get --key=false, not a dropped switch."""
    assert f"--{key}=false" in command({key: "false"}).split()


def test_no_monitor_on_head_under_autoscaling_only() -> None:
    """The head gets --no-monitor with in-tree autoscaling; workers and plain heads do not."""
    assert "--no-monitor" in command(node_type=NodeType.HEAD, autoscaling=True).split()
    assert "--no-monitor" not in command(node_type=NodeType.HEAD).split()
    assert "--no-monitor" not in command(autoscaling=True).split()


@pytest.mark.parametrize(
    "value",
    ["a; rm -rf /", "$(reboot)", "`id`", "x' && echo pwned '", 'q"uote', "new\nline", "$HOME"],
)
def test_values_cannot_inject_shell(value: str) -> None:
    """Every value reaches ray start as one literal argument, whatever shell syntax it holds."""
    line = command({"node-name": value})
    words = shlex.split(line)
    assert f"--node-name={value}" in words
    assert len(words) == len(shlex.split(command({"node-name": "plain"})))


def test_hostile_flag_name_cannot_inject_shell() -> None:
    """A flag name with shell syntax is quoted as a whole and stays one argument."""
    words = shlex.split(command({"x; reboot": "1"}))
    assert "--x; reboot=1" in words


def test_env_ref_expands_in_double_quotes() -> None:
    """A flag rayop takes from the environment renders as "${NAME}", expanded by the shell only."""
    line = command(extra={"redis-password": EnvRef("REDIS_PASSWORD")}, node_type=NodeType.HEAD)
    assert '--redis-password="${REDIS_PASSWORD}"' in line


class TestResourceDetection:
    """num-cpus, memory, num-gpus and accelerators from the Ray container's resources."""

    def test_cpu_limit_rounds_up(self) -> None:
        """A 500m CPU limit starts Ray with --num-cpus=1 (Go's Quantity.Value rounds up)."""
        assert params(limits={"cpu": "500m"})["num-cpus"] == "1"
        assert params(limits={"cpu": "2"})["num-cpus"] == "2"

    def test_cpu_request_used_without_limit(self) -> None:
        """Without a CPU limit, the CPU request gives --num-cpus."""
        assert params(requests={"cpu": "3"})["num-cpus"] == "3"
        assert params(limits={"cpu": "2"}, requests={"cpu": "1"})["num-cpus"] == "2"

    def test_no_cpu_anywhere_leaves_num_cpus_to_ray(self) -> None:
        """No CPU limit or request: --num-cpus is not passed and Ray detects it."""
        assert "num-cpus" not in params()

    def test_memory_from_limit_in_bytes_not_from_request(self) -> None:
        """--memory is the memory limit in bytes; a request alone does not set it."""
        assert params(limits={"memory": "1Gi"})["memory"] == str(2**30)
        assert params(limits={"memory": "40G"})["memory"] == str(40 * 10**9)
        assert "memory" not in params(requests={"memory": "1Gi"})

    def test_user_flags_win_over_detection(self) -> None:
        """num-cpus: "0" on the head keeps tasks off it even with a CPU limit."""
        assert params({"num-cpus": "0"}, limits={"cpu": "4"})["num-cpus"] == "0"

    def test_gpu_from_first_nonzero_gpu_limit(self) -> None:
        """num-gpus comes from the first non-zero GPU-like limit, by name."""
        assert params(limits={"nvidia.com/gpu": "4"})["num-gpus"] == "4"
        assert params(limits={"amd.com/gpu": "0", "nvidia.com/gpu": "2"})["num-gpus"] == "2"
        assert params(limits={"nvidia.com/mig-1g.5gb": "1"})["num-gpus"] == "1"
        assert "num-gpus" not in params(limits={"nvidia.com/gpu": "0"})

    def test_tpu_limit_becomes_a_custom_resource(self) -> None:
        """A google.com/tpu limit adds {"TPU": n} to --resources."""
        assert params(limits={"google.com/tpu": "4"})["resources"] == '{"TPU":4}'

    def test_accelerator_merges_with_user_resources(self) -> None:
        """The TPU is added to the user's own custom resources, KubeRay's escaped form included."""
        escaped = '"{\\"Custom1\\": 1}"'
        got = params({"resources": escaped}, limits={"google.com/tpu": "4"})["resources"]
        assert got == '{"Custom1":1,"TPU":4}'

    def test_user_accelerator_is_not_doubled(self) -> None:
        """A TPU the user already declared in --resources is left as they wrote it."""
        got = params({"resources": '{"TPU": 8}'}, limits={"google.com/tpu": "4"})["resources"]
        assert got == '{"TPU":8}'

    def test_group_resources_override_flags(self) -> None:
        """The group resources map sets num-cpus, memory, num-gpus and custom resources."""
        got = params(
            group_resources={"CPU": "3", "memory": "2Gi", "GPU": "1", "Custom": "2"},
            limits={"cpu": "8"},
        )
        assert got["num-cpus"] == "3"
        assert got["memory"] == str(2 * 2**30)
        assert got["num-gpus"] == "1"
        assert got["resources"] == '{"Custom":2}'

    def test_malformed_quantity_is_left_to_ray(self) -> None:
        """A quantity that does not parse never crashes the builder; the flag is just not set."""
        assert "num-cpus" not in params(limits={"cpu": "lots"})


def test_group_labels_become_sorted_label_flag() -> None:
    """Group labels become --labels=k1=v1,k2=v2 in key order."""
    assert params(group_labels={"b": "2", "a": "1"})["labels"] == "a=1,b=2"


class TestContainerCommand:
    """How the generated line becomes the container's command and args."""

    def test_default_runs_ray_start_under_bash_with_ulimit(self) -> None:
        """With no user command, bash runs ulimit then ray start."""
        cmd, args = container_command(None, None, "ray start --block")
        assert cmd == ["/bin/bash", "-c", "--"]
        assert args == ["ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; ray start --block"]

    def test_user_command_runs_first(self) -> None:
        """A user's command and args run before ray start, joined by &&."""
        _, args = container_command(["echo"], ["hi"], "ray start --block")
        assert args is not None
        assert args[0].startswith("echo hi && ulimit")

    def test_user_ray_start_is_kept(self) -> None:
        """A user command that already runs ray start is left alone."""
        assert container_command(["sh", "-c", "ray start --head"], None, "x") == (
            ["sh", "-c", "ray start --head"],
            None,
        )

    def test_overwrite_annotation_keeps_user_command(self) -> None:
        """ray.io/overwrite-container-cmd keeps the user's command untouched."""
        assert container_command(["python"], ["app.py"], "x", overwrite=True) == (
            ["python"],
            ["app.py"],
        )
