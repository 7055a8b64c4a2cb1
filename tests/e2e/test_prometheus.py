"""A real Prometheus (Debian's package) scrapes a real `rayop run` process.

kubesim runs in-process with its workloads; rayop runs as its own process with leader election
against it and reconciles a RayCluster to provisioned; Prometheus scrapes rayop's /metrics on
loopback every second and loads the shipped alert rules. The tests then ask Prometheus, over its
HTTP API, for every series docs/operations.md promises, and run every panel query of the shipped
Grafana dashboard through promtool against it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from kubesim import KubeSim, WorkloadsConfig
from tests.component.deploy.tools import (
    MONITORING,
    REPO,
    arun,
    free_port,
    stop,
    tool_path,
)
from tests.e2e.harness import condition, fast_probes, small_cluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CLUSTER = "scraped"
DASHBOARD = MONITORING / "rayop-dashboard.json"
OPERATIONS = REPO / "docs" / "operations.md"


@dataclass
class Scrape:
    """A Prometheus that has scraped a running rayop, and how to ask it."""

    url: str
    rayop_log: Path
    user: KubeClient
    started: float
    """Wall-clock time Prometheus was started (its first possible sample)."""

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (fails on a query error)."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/api/v1/query", params={"query": expr}) as response,
        ):
            body = await response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        return list(body["data"]["result"])

    async def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """A range query's matrix at a 1 s step."""
        params = {"query": expr, "start": str(start), "end": str(end), "step": "1"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/api/v1/query_range", params=params) as response,
        ):
            body = await response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        return list(body["data"]["result"])

    async def get(self, path: str) -> Any:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}{path}") as response:
            return (await response.json())["data"]


async def _http_ok(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


def _prometheus_config(tmp_path: Path, target: str) -> Path:
    rules = tmp_path / "rayop-rules.yaml"
    spec = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]
    rules.write_text(yaml.safe_dump(spec, sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        # The job name the ServiceMonitor would produce (the Service's name); the alerts use it.
        "scrape_configs": [
            {"job_name": "rayop-metrics", "static_configs": [{"targets": [target]}]}
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def scrape(tmp_path: Path) -> AsyncIterator[Scrape]:
    prometheus = tool_path("prometheus")
    async with KubeSim(
        kubeconfig_path=tmp_path / "kc.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        user = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0,
                          field_manager="kubectl")  # fmt: skip
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        metrics, health, web = free_port(), free_port(), free_port()
        rayop_log = tmp_path / "rayop.log"
        with rayop_log.open("wb") as log:
            rayop = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "controller", "run", "--kubeconfig", str(sim.kubeconfig_path),
                "--leader-elect", "--lease-namespace=default", "--lease-name=rayop-leader",
                f"--metrics-addr=127.0.0.1:{metrics}", f"--health-addr=127.0.0.1:{health}",
                "--log-format=json", cwd=REPO, stdout=log, stderr=log,
            )  # fmt: skip
        prom_log = (tmp_path / "prometheus.log").open("wb")
        started = time.time()
        prom = await asyncio.create_subprocess_exec(
            prometheus, f"--config.file={_prometheus_config(tmp_path, f'127.0.0.1:{metrics}')}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{web}",
            stdout=prom_log, stderr=prom_log,
        )  # fmt: skip
        try:
            await wait_for(lambda: _http_ok(f"http://127.0.0.1:{health}/readyz"), within=30,
                           what="rayop's /readyz")  # fmt: skip
            await user.apply(fast_probes(small_cluster(CLUSTER, replicas=1)))

            async def provisioned() -> bool:
                cluster = await user.get("ray.io/v1", "RayCluster", "default", CLUSTER)
                found = condition(cluster.get("status") or {}, "RayClusterProvisioned")
                return found.get("status") == "True"

            await wait_for(provisioned, within=30, what="the RayCluster to be provisioned")
            scrape = Scrape(f"http://127.0.0.1:{web}", rayop_log, user, started)
            await wait_for(lambda: _http_ok(f"{scrape.url}/-/ready"), within=30,
                           what="Prometheus to be ready")  # fmt: skip

            async def scraped_provisioned() -> list[dict[str, Any]]:
                return await scrape.query(
                    f'kuberay_cluster_condition_provisioned{{condition="true",name="{CLUSTER}"}}'
                )

            await wait_for(scraped_provisioned, within=30, what="a scrape after provisioning")
            yield scrape
        finally:
            await stop(prom)
            prom_log.close()
            await stop(rayop)
            await user.close()


def _promised_metrics() -> dict[str, str]:
    """docs/operations.md's "Every metric" table: name → type."""
    text = OPERATIONS.read_text().split("### Every metric", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z_:]+)` \| (counter|gauge|histogram) \|", text, re.MULTILINE)
    return dict(rows)


async def test_prometheus_scrapes_every_series_the_docs_promise(scrape: Scrape) -> None:
    """Each metric in the docs' table is in Prometheus with samples, from job rayop-metrics."""
    promised = _promised_metrics()
    assert len(promised) >= 20
    assert {name.split("_")[0] for name in promised} == {
        "controller", "workqueue", "rest", "kuberay", "leader",
    }  # fmt: skip
    (up,) = await scrape.query('up{job="rayop-metrics"}')
    assert up["value"][1] == "1"
    missing = []
    for name, kind in promised.items():
        series = name + ("_count" if kind == "histogram" else "")
        if not await scrape.query(f'{series}{{job="rayop-metrics"}}'):
            missing.append(series)
    assert not missing, f"promised but not scraped: {missing}"


async def test_the_scraped_values_tell_the_story(scrape: Scrape) -> None:
    """One leader, successful reconciles, writes, and the cluster provisioned with a duration."""
    (leader,) = await scrape.query('leader_election_master_status{name="rayop-leader"}')
    assert leader["value"][1] == "1"
    (success,) = await scrape.query(
        'controller_runtime_reconcile_total{controller="raycluster",result="success"}'
    )
    assert float(success["value"][1]) >= 1
    assert await scrape.query('rest_client_requests_total{method="PATCH",code=~"20."} > 0')
    (duration,) = await scrape.query(
        f'kuberay_cluster_provisioned_duration_seconds{{name="{CLUSTER}",namespace="default"}}'
    )
    assert 0 < float(duration["value"][1]) < 60


async def test_prometheus_loads_the_alert_rules_and_none_fires(scrape: Scrape) -> None:
    """The shipped rules load into a real Prometheus, evaluate cleanly, and a healthy rayop
    triggers none of them (RayopNoLeader in particular: the leader's gauge is 1)."""
    groups = (await scrape.get("/api/v1/rules"))["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 9

    async def evaluated() -> bool:
        rules = [r for g in (await scrape.get("/api/v1/rules"))["groups"] for r in g["rules"]]
        return all(r.get("lastEvaluation", "").startswith("2") for r in rules) and all(
            r["health"] == "ok" for r in rules
        )

    await wait_for(evaluated, within=10, what="every rule to be evaluated healthy")

    async def quiet() -> bool:
        # Evaluations before the first scrape saw no `up` yet and may hold RayopNoLeader
        # pending for a moment; the next evaluation with data clears it.
        return not (await scrape.get("/api/v1/alerts"))["alerts"]

    await wait_for(quiet, within=10, what="no alert pending or firing for a healthy rayop")


def _dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of the shipped dashboard, with Grafana's
    $__rate_interval given the value Grafana would pick for a 1 s scrape interval."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", "1m"))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


_NOT_METRICS = {
    "sum", "max", "min", "count", "avg", "rate", "irate", "increase", "histogram_quantile",
    "by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads: identifiers outside label matchers, grouping
    clauses, ranges and strings that are not functions or keywords."""
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare))
    return {n for n in names if n not in _NOT_METRICS}


def test_metric_names_are_found_in_an_expression() -> None:
    """The extraction the dashboard test relies on (label names and functions left out)."""
    expr = 'histogram_quantile(0.99, sum by (le, verb) (rate(x_bucket{code=~"5..",a="b"}[1m]))) / max(y)'
    assert metric_names(expr) == {"x_bucket", "y"}


async def test_every_dashboard_query_parses_and_reads_exported_metrics(scrape: Scrape) -> None:
    """promtool runs each panel query against the Prometheus that scraped rayop: it parses,
    returns data, and every metric it names is one rayop exports."""
    promtool = tool_path("promtool")
    queries = _dashboard_queries()
    assert len(queries) >= 15
    for title, expr in queries:

        async def answered(title: str = title, expr: str = expr) -> list[Any]:
            result = await arun(promtool, "query", "instant", "-o", "json", scrape.url, expr)
            assert result.code == 0, f"{title}: {expr}: {result.err}"
            return list(json.loads(result.out))

        # A rate needs two scrapes in its window: give a young series a few seconds.
        await wait_for(answered, within=15, what=f"data for {title!r}: {expr}")
        for name in metric_names(expr):
            series = await scrape.query(f'{{__name__="{name}",job="rayop-metrics"}}')
            assert series, f"{title}: {name} is not exported by rayop"


def _legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


async def _busy_minute(scrape: Scrape) -> None:
    """What the picture shows: three clusters arrive, one scales up, one is deleted."""
    for index in range(3):
        await scrape.user.apply(fast_probes(small_cluster(f"burst-{index}", replicas=2)))
    await asyncio.sleep(4)
    await scrape.user.apply(fast_probes(small_cluster("burst-0", replicas=4)))
    await asyncio.sleep(4)
    await scrape.user.delete("ray.io/v1", "RayCluster", "default", "burst-1")
    await asyncio.sleep(6)


async def test_plot_the_dashboard_series(scrape: Scrape, tmp_path: Path) -> None:
    """Each time-series panel of the dashboard has data over a busy stretch, drawn into a PNG
    (``RAYOP_PLOT=docs/images/rayop-metrics.png`` writes the docs' copy)."""
    from tests.e2e.metrics_plot import Series, plot

    loop_start = scrape.started
    await _busy_minute(scrape)
    end = time.time()
    dashboard = json.loads(DASHBOARD.read_text())
    panels: dict[str, list[Series]] = {}
    for panel in dashboard["panels"]:
        if panel["type"] not in ("timeseries", "bargauge"):
            continue
        series = []
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "10s")
            for result in await scrape.query_range(expr, loop_start, end):
                points = [(t - loop_start, float(v)) for t, v in result["values"]]
                series.append(Series(_legend(target["legendFormat"], result["metric"]), points))
        assert series, f"{panel['title']}: no data over the busy stretch"
        panels[panel["title"]] = series
    path = Path(os.environ.get("RAYOP_PLOT") or tmp_path / "rayop-metrics.png")
    title = "rayop scraped by Prometheus 2.42 (1 s interval) on kubesim"
    assert plot(panels, path, title=title) > 10_000
