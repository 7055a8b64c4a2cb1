"""manifests/monitoring/: the PrometheusRule and the Grafana dashboard, as shipped.

What Prometheus makes of them (the rules load and stay quiet on a healthy rayop; every panel's
query parses and reads metrics rayop exports) is in tests/e2e/test_prometheus.py; the alerts'
firing behaviour is in test_rules.py. Here: the shapes a Prometheus Operator and Grafana's
dashboard sidecar rely on, and that the kustomization packs the dashboard as they expect.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.component.deploy.tools import MONITORING, REPO

DASHBOARD = MONITORING / "rayop-dashboard.json"


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def test_the_dashboard_covers_what_operators_watch() -> None:
    """Reconcile rate/errors/latency, queue depth/latency, API requests by code, clusters by
    condition and provisioned duration each have a panel reading the right metric."""
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in _panels()}
    wanted = {
        "Reconcile rate by result": "controller_runtime_reconcile_total",
        "Reconcile errors": "controller_runtime_reconcile_errors_total",
        "Reconcile latency": "controller_runtime_reconcile_time_seconds_bucket",
        "Queue depth": "workqueue_depth",
        "Queue latency": "workqueue_queue_duration_seconds_bucket",
        "API requests by method and code": "rest_client_requests_total",
        "Clusters by provisioned condition": "kuberay_cluster_condition_provisioned",
        "Time to provisioned": "kuberay_cluster_provisioned_duration_seconds",
    }
    for title, metric in wanted.items():
        assert metric in exprs[title], title


def test_the_dashboard_is_importable() -> None:
    """Unique panel ids, a fixed uid, every query on the ${datasource} variable, and no two
    panels overlapping on the grid (Grafana would shuffle them)."""
    dashboard = _dashboard()
    assert dashboard["uid"] == "rayop-operator"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def test_the_prometheus_rule_is_well_formed() -> None:
    """One group of alerts, each with a severity and a summary."""
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    (group,) = rule["spec"]["groups"]
    for alert in group["rules"]:
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


def test_the_operations_guide_links_both() -> None:
    """docs/operations.md points at the rule file and the dashboard."""
    text = (REPO / "docs" / "operations.md").read_text()
    assert "../manifests/monitoring/prometheusrule.yaml" in text
    assert "../manifests/monitoring/rayop-dashboard.json" in text


@pytest.mark.kubectl
def test_kustomize_packs_the_dashboard_for_grafanas_sidecar() -> None:
    """`kubectl kustomize manifests/monitoring` yields the PrometheusRule and a ConfigMap
    labelled grafana_dashboard=1 holding the dashboard verbatim, valid for Kubernetes."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(MONITORING)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    objects = {o["kind"]: o for o in yaml.safe_load_all(rendered)}
    assert set(objects) == {"ConfigMap", "PrometheusRule"}
    config_map = objects["ConfigMap"]
    kubernetes_validate.validate(config_map, "1.32", strict=True)
    assert config_map["metadata"]["name"] == "rayop-dashboard"
    assert config_map["metadata"]["namespace"] == "rayop-system"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["data"]["rayop-dashboard.json"] == DASHBOARD.read_text()
