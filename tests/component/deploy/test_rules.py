"""The shipped alerts (manifests/monitoring/prometheusrule.yaml) under `promtool test rules`.

Each alert gets a case where it fires and one where it stays quiet, on series shaped like the
ones rayop exports (two replicas scraped as job="rayop-metrics"). The promtool test file is
built here so the expected annotations are the rule's own; promtool evaluates the real rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.component.deploy.tools import MONITORING, run, tool_path

RULE = MONITORING / "prometheusrule.yaml"
JOB = 'job="rayop-metrics"'


@dataclass(frozen=True)
class Case:
    """Series for one alert, when to evaluate it, and the labels it fires with (or None)."""

    alert: str
    series: dict[str, str]
    at: str
    fires_with: dict[str, str] | None = field(default=None)


def _bucket(metric: str, le: str, values: str, extra: str = "") -> tuple[str, str]:
    return f'{metric}_bucket{{{extra}le="{le}"}}', values


QUEUE = "workqueue_queue_duration_seconds"
LIMITER = "rest_client_rate_limiter_duration_seconds"
Q = 'name="raycluster",'

CASES = [
    # Two standbys and no leader; then one leader.
    Case("RayopNoLeader", {
        f'leader_election_master_status{{name="rayop-leader",pod="a",{JOB}}}': "0x10",
        f'leader_election_master_status{{name="rayop-leader",pod="b",{JOB}}}': "0x10",
        f"up{{pod=\"a\",{JOB}}}": "1x10"}, "5m", {}),
    Case("RayopNoLeader", {
        f'leader_election_master_status{{name="rayop-leader",pod="a",{JOB}}}': "1x10",
        f'leader_election_master_status{{name="rayop-leader",pod="b",{JOB}}}': "0x10",
        f"up{{pod=\"a\",{JOB}}}": "1x10"}, "5m"),
    # Nothing scraped at all: both replicas gone.
    Case("RayopNoLeader", {f"up{{pod=\"a\",{JOB}}}": "0x10"}, "5m", {}),
    Case("RayopReconcileErrors", {
        'controller_runtime_reconcile_errors_total{controller="raycluster"}': "0+10x40"},
        "30m", {}),
    Case("RayopReconcileErrors", {
        'controller_runtime_reconcile_errors_total{controller="raycluster"}': "0+1x40"}, "30m"),
    Case("RayopQueueBacklog", {'workqueue_depth{name="raycluster"}': "60x20"}, "15m", {}),
    Case("RayopQueueBacklog", {'workqueue_depth{name="raycluster"}': "40x20"}, "15m"),
    Case("RayopQueueLatency", dict([
        _bucket(QUEUE, "10", "0x30", Q), _bucket(QUEUE, "60", "0+10x30", Q),
        _bucket(QUEUE, "+Inf", "0+10x30", Q)]), "20m", {}),
    Case("RayopQueueLatency", dict([
        _bucket(QUEUE, "10", "0+10x30", Q), _bucket(QUEUE, "60", "0+10x30", Q),
        _bucket(QUEUE, "+Inf", "0+10x30", Q)]), "20m"),
    Case("RayopStuckReconcile", {
        'workqueue_longest_running_processor_seconds{name="raycluster"}': "50x10"}, "8m", {}),
    Case("RayopStuckReconcile", {
        'workqueue_longest_running_processor_seconds{name="raycluster"}': "30x10"}, "8m"),
    Case("RayopAPIErrors", {
        'rest_client_requests_total{code="500",method="PATCH"}': "0+60x20",
        'rest_client_requests_total{code="<error>",method="DELETE"}': "0+6x20"}, "18m", {}),
    Case("RayopAPIErrors", {
        'rest_client_requests_total{code="200",method="PATCH"}': "0+60x20",
        'rest_client_requests_total{code="404",method="DELETE"}': "0+60x20"}, "18m"),
    Case("RayopClientThrottled", dict([
        _bucket(LIMITER, "1", "0x30", 'verb="PATCH",'), _bucket(LIMITER, "5", "0+10x30", 'verb="PATCH",'),
        _bucket(LIMITER, "+Inf", "0+10x30", 'verb="PATCH",')]), "25m", {}),
    Case("RayopClientThrottled", dict([
        _bucket(LIMITER, "0.01", "0+10x30", 'verb="PATCH",'), _bucket(LIMITER, "5", "0+10x30", 'verb="PATCH",'),
        _bucket(LIMITER, "+Inf", "0+10x30", 'verb="PATCH",')]), "25m"),
    Case("RayopWriteChurn", {
        'rest_client_requests_total{code="200",method="PATCH"}': "0+60x120"}, "100m", {}),
    Case("RayopWriteChurn", {
        'rest_client_requests_total{code="200",method="PATCH"}': "0+6x120"}, "100m"),
    Case("RayClusterNotProvisioned", {
        'kuberay_cluster_condition_provisioned{condition="false",name="big",namespace="ml",uid="u1"}':
        "1x40"}, "35m", {"namespace": "ml", "name": "big"}),
    Case("RayClusterNotProvisioned", {
        'kuberay_cluster_condition_provisioned{condition="false",name="big",namespace="ml",uid="u1"}':
        "1x10 _x30",
        'kuberay_cluster_condition_provisioned{condition="true",name="big",namespace="ml",uid="u1"}':
        "_x10 1x30"}, "35m"),
]  # fmt: skip


def _rules() -> dict[str, dict[str, Any]]:
    rule = yaml.safe_load(RULE.read_text())
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def _expanded(template: str, labels: dict[str, str]) -> str:
    """The rule's annotation as Prometheus expands it (our annotations use only $labels.X)."""
    for key, value in labels.items():
        template = template.replace(f"{{{{ $labels.{key} }}}}", value)
    return template


def _promtool_test(case: Case) -> dict[str, Any]:
    rule = _rules()[case.alert]
    expected = []
    if case.fires_with is not None:
        labels = {**case.fires_with, **rule["labels"]}
        annotations = {k: _expanded(v, labels) for k, v in rule.get("annotations", {}).items()}
        expected.append({"exp_labels": labels, "exp_annotations": annotations})
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
        "alert_rule_test": [
            {"eval_time": case.at, "alertname": case.alert, "exp_alerts": expected}
        ],
    }


def _rule_file(tmp_path: Path) -> Path:
    """The PrometheusRule's spec as the plain rule file Prometheus and promtool read."""
    path = tmp_path / "rayop-rules.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(RULE.read_text())["spec"], sort_keys=False))
    return path


def test_the_rules_are_valid(tmp_path: Path) -> None:
    """`promtool check rules` accepts the rule file: every expression parses."""
    result = run(tool_path("promtool"), "check", "rules", str(_rule_file(tmp_path)))
    assert result.code == 0, result.out + result.err
    assert f"SUCCESS: {len(_rules())} rules found" in result.out


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """No alert ships untested."""
    firing = {c.alert for c in CASES if c.fires_with is not None}
    quiet = {c.alert for c in CASES if c.fires_with is None}
    assert firing == quiet == set(_rules())


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c.alert}-{'fires' if c.fires_with is not None else 'quiet'}"
)
def test_promtool_unit_test(case: Case, tmp_path: Path) -> None:
    """The alert fires (with the expected labels and annotations) or stays quiet, as promtool sees it."""
    rules = _rule_file(tmp_path)
    spec = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [_promtool_test(case)],
    }
    test_file = tmp_path / "rayop-rules.test.yaml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run(tool_path("promtool"), "test", "rules", str(test_file))
    assert result.code == 0, result.out + result.err
    assert "SUCCESS" in result.out
