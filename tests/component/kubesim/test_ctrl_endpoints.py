"""The Endpoints and EndpointSlice controllers through kubernetes-asyncio: what a real cluster shows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim, WorkloadsConfig
from kubesim.common.podutil import key_of
from kubesim.controllers.endpoints import endpoint_subsets
from kubesim.controllers.endpoints_common import TriggerTimes
from kubesim.controllers.endpointslices import MAX_ENDPOINTS, desired_groups, plan_slices
from tests.component.kubesim.polling import poller

pytestmark = pytest.mark.looptime

eventually = poller(every=0.5, within=120.0)

SLICE_LABELS = {
    "kubernetes.io/service-name": "web",
    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
}


class Env:
    """A running kubesim and its API, with reads that return plain API dicts."""

    def __init__(self, sim: KubeSim, api: client.ApiClient) -> None:
        self.sim = sim
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)

    async def endpoints(self, name: str = "web") -> dict[str, Any] | None:
        try:
            obj = await self.core.read_namespaced_endpoints(name, "default")
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(self.api.sanitize_for_serialization(obj))

    async def slices(self, service: str = "web") -> list[dict[str, Any]]:
        found = await self.discovery.list_namespaced_endpoint_slice(
            "default", label_selector=f"kubernetes.io/service-name={service}"
        )
        return [dict(self.api.sanitize_for_serialization(s)) for s in found.items]

    async def ready_ips(self) -> list[str]:
        pods = (await self.core.list_namespaced_pod("default", label_selector="app=web")).items
        return sorted(p.status.pod_ip for p in pods if p.status.pod_ip and _ready(p))

    def endpoint_writes(self) -> list[tuple[str, str]]:
        return [
            (w["verb"], w["resource"])
            for w in self.sim.audit.writes()
            if w["resource"] in ("endpoints", "endpointslices")
        ]


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """kubesim with default (realistic) delays on fake time."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            yield Env(sim, api)
        finally:
            await api.close()


def service(**spec: Any) -> dict[str, Any]:
    """A Service `web` selecting app=web, port `http` (80) to the pods' port named `http`."""
    body = {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        **spec,
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": body,
    }


def statefulset(replicas: int = 2) -> dict[str, Any]:
    """A StatefulSet `web` governed by Service `web`, its container port 8080 named `http`."""
    container = {
        "name": "nginx",
        "image": "nginx:1.25",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container]},
            },
        },
    }


async def start(env: Env, *, replicas: int = 2, **spec: Any) -> None:
    await env.core.create_namespaced_service("default", service(**spec))
    await env.apps.create_namespaced_stateful_set("default", statefulset(replicas))


async def test_headless_service_endpoints_name_statefulset_pods(env: Env) -> None:
    """A headless Service's Endpoints list the ready pods with their hostnames and the named port."""
    await start(env, clusterIP="None")

    async def all_ready() -> Any:
        ips = await env.ready_ips()
        ep = await env.endpoints()
        if len(ips) == 2 and ep and ep.get("subsets"):
            addresses = ep["subsets"][0].get("addresses") or []
            return ep if sorted(a["ip"] for a in addresses) == ips else None
        return None

    ep = await eventually(all_ready)
    assert ep["metadata"]["labels"] == {"tier": "front", "service.kubernetes.io/headless": ""}
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]
    [subset] = ep["subsets"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(a["hostname"], a["targetRef"]["name"]) for a in subset["addresses"]] == [
        ("web-0", "web-0"),
        ("web-1", "web-1"),
    ]
    assert all(a["nodeName"] == "kubesim-node-0" for a in subset["addresses"])
    assert "notReadyAddresses" not in subset

    [slice_] = await env.slices()
    assert slice_["metadata"]["labels"] == {
        "tier": "front",
        "service.kubernetes.io/headless": "",
        **SLICE_LABELS,
    }
    assert slice_["metadata"]["name"].startswith("web-")
    [owner] = slice_["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Service", "web", True)
    assert slice_["addressType"] == "IPv4"
    assert slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [
        (e["hostname"], e["conditions"])
        for e in sorted(slice_["endpoints"], key=lambda e: e["hostname"])
    ] == [
        ("web-0", {"ready": True, "serving": True, "terminating": False}),
        ("web-1", {"ready": True, "serving": True, "terminating": False}),
    ]


async def test_unready_pod_moves_to_not_ready_addresses_and_back(env: Env) -> None:
    """A pod failing readiness leaves `addresses` for `notReadyAddresses`; ready=false in its slice."""
    await start(env)
    await eventually(lambda: _subset_count(env, "addresses", 2))
    env.sim.workloads.set_not_ready("web-1")
    ep = await eventually(lambda: _subset_count(env, "notReadyAddresses", 1))
    [subset] = ep["subsets"]
    assert [a["targetRef"]["name"] for a in subset["addresses"]] == ["web-0"]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["web-1"]
    [slice_] = await env.slices()
    conditions = {e["targetRef"]["name"]: e["conditions"] for e in slice_["endpoints"]}
    assert conditions["web-1"] == {"ready": False, "serving": False, "terminating": False}
    env.sim.workloads.set_not_ready("web-1", ready=True)
    await eventually(lambda: _subset_count(env, "addresses", 2))


async def test_publish_not_ready_addresses_lists_unready_pods_as_ready(env: Env) -> None:
    """With publishNotReadyAddresses, unready pods stay in `addresses` and their slice says ready."""
    await start(env, clusterIP="None", publishNotReadyAddresses=True)
    await eventually(lambda: _subset_count(env, "addresses", 2))
    env.sim.workloads.set_not_ready("web-0")

    async def unready_in_slice() -> Any:
        slices = await env.slices()
        by_name = {e["targetRef"]["name"]: e["conditions"] for s in slices for e in s["endpoints"]}
        return by_name if by_name.get("web-0", {}).get("serving") is False else None

    conditions = await eventually(unready_in_slice)
    assert conditions["web-0"] == {"ready": True, "serving": False, "terminating": False}
    ep = await env.endpoints()
    assert ep is not None
    assert len(ep["subsets"][0]["addresses"]) == 2
    assert "notReadyAddresses" not in ep["subsets"][0]


async def test_terminating_pod_leaves_endpoints_and_is_marked_terminating_in_slices(
    env: Env,
) -> None:
    """A deleted pod in its grace period is gone from Endpoints; its slice endpoint says terminating."""
    await start(env, replicas=1)
    await eventually(lambda: _subset_count(env, "addresses", 1))
    seen: list[dict[str, Any]] = []

    def record(event: str, obj: dict[str, Any]) -> None:
        for endpoint in obj.get("endpoints") or ():
            seen.append(endpoint["conditions"])

    env.sim.cluster.subscribe(
        env.sim.cluster.resource("endpointslices", "discovery.k8s.io"), record
    )
    await env.core.delete_namespaced_pod("web-0", "default", grace_period_seconds=5)
    ep = await eventually(lambda: _no_subsets(env))
    assert "subsets" not in ep
    assert {"ready": False, "serving": True, "terminating": True} in seen


async def _no_subsets(env: Env) -> dict[str, Any] | None:
    ep = await env.endpoints()
    return ep if ep is not None and not ep.get("subsets") else None


async def _subset_count(env: Env, field: str, count: int) -> dict[str, Any] | None:
    ep = await env.endpoints()
    subsets = (ep or {}).get("subsets") or []
    return ep if subsets and len(subsets[0].get(field) or []) == count else None


async def test_settled_service_costs_no_writes(env: Env) -> None:
    """Once settled, pod annotation changes and a full resync write no Endpoints or slices."""
    await start(env)
    await eventually(lambda: _subset_count(env, "addresses", 2))
    await eventually(lambda: _quiet(env))
    before = len(env.endpoint_writes())
    await env.core.patch_namespaced_pod(
        "web-0", "default", {"metadata": {"annotations": {"a": "b"}}}
    )
    for controller in (
        env.sim.workloads.endpoints_controller,
        env.sim.workloads.endpointslice_controller,
    ):
        for svc in env.sim.workloads.services:
            controller.queue.add(key_of(svc))
    await _settle()
    assert env.endpoint_writes()[before:] == []


async def _quiet(env: Env) -> bool:
    count = len(env.endpoint_writes())
    await _settle()
    return len(env.endpoint_writes()) == count


async def _settle() -> None:
    await asyncio.sleep(5)


async def test_deleting_the_service_removes_its_endpoints_and_slices(env: Env) -> None:
    """The Endpoints go with their Service; the slices follow through the garbage collector."""
    await start(env)
    await eventually(lambda: _subset_count(env, "addresses", 2))
    await env.core.delete_namespaced_service("web", "default")

    async def gone() -> bool:
        return await env.endpoints() is None and await env.slices() == []

    await eventually(gone)


async def test_service_without_selector_gets_no_endpoints(env: Env) -> None:
    """Endpoints of a selectorless Service are the user's: the controllers write none."""
    await env.core.create_namespaced_service(
        "default", {"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 80}]}}
    )
    await env.apps.create_namespaced_stateful_set("default", statefulset(1))
    await _settle()
    assert await env.endpoints("manual") is None
    assert await env.slices("manual") == []


async def test_service_without_pods_has_empty_endpoints_and_a_placeholder_slice(env: Env) -> None:
    """No pods: Endpoints without subsets and one slice without endpoints or ports, as upstream."""
    await env.core.create_namespaced_service("default", service())
    ep = await eventually(lambda: env.endpoints())
    assert "subsets" not in ep
    [slice_] = await eventually(lambda: env.slices())
    assert slice_["endpoints"] in (None, [])
    assert "ports" not in slice_ or slice_["ports"] is None


async def test_kubernetes_service_endpoints_point_at_the_api_server(env: Env) -> None:
    """`default/kubernetes` gets the address the assembly hands over, put back when deleted."""
    env.sim.workloads.set_apiserver_address("10.250.0.1", 6443)
    ep = await eventually(lambda: env.endpoints("kubernetes"))
    assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    assert ep["subsets"] == [
        {
            "addresses": [{"ip": "10.250.0.1"}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }
    ]
    [slice_] = await env.slices("kubernetes")
    assert slice_["metadata"]["name"] == "kubernetes"
    assert slice_["endpoints"] == [{"addresses": ["10.250.0.1"], "conditions": {"ready": True}}]
    await env.core.delete_namespaced_endpoints("kubernetes", "default")
    await eventually(lambda: env.endpoints("kubernetes"))


@pytest.mark.kubectl
@pytest.mark.looptime(False)
async def test_kubectl_get_endpoints_and_endpointslices(kubectl_for: Any) -> None:
    """`kubectl get endpoints,endpointslices` prints upstream's columns (real time: kubectl runs)."""
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig.fast()) as sim:
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            env = Env(sim, api)
            await start(env, replicas=4)
            await poller(every=0.05, within=20.0)(lambda: _subset_count(env, "addresses", 4))
            ips = await env.ready_ips()
            code, out, err = await kubectl_for(sim)(
                "get", "endpoints,endpointslices", "-l", "tier=front"
            )
        finally:
            await api.close()
    assert code == 0, err
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0] == ["NAME", "ENDPOINTS", "AGE"]
    shown = ",".join(f"{ip}:8080" for ip in ips[:3])
    assert lines[1][:5] == ["endpoints/web", shown, "+", "1", "more..."]
    assert lines[2] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert lines[3][1:7] == ["IPv4", "8080", ",".join(ips[:3]), "+", "1", "more..."]


# ---------------------------------------------------------------------- pure functions


def _pod(
    name: str, ip: str, *, ready: bool = True, port: int = 8080, **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", **meta},
        "spec": {
            "nodeName": "n",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_named_target_port_resolving_differently_splits_subsets() -> None:
    """Pods whose named port resolves differently land in separate subsets (RepackSubsets)."""
    svc = service()
    svc["metadata"]["namespace"] = "default"
    svc["spec"]["ports"].append({"name": "metrics", "port": 9090, "targetPort": 9090})
    pods = [_pod("a", "10.0.0.1"), _pod("b", "10.0.0.2", port=9000), _pod("c", "10.0.0.3")]
    subsets = endpoint_subsets(svc, pods)
    assert [
        ([a["ip"] for a in s["addresses"]], [(p.get("name"), p["port"]) for p in s["ports"]])
        for s in subsets
    ] == [
        (["10.0.0.1", "10.0.0.3"], [("http", 8080)]),
        (["10.0.0.2"], [("http", 9000)]),
        (["10.0.0.1", "10.0.0.2", "10.0.0.3"], [("metrics", 9090)]),
    ]


def test_slices_hold_at_most_100_endpoints_and_keep_endpoints_in_place() -> None:
    """150 pods make two slices; adding one pod later changes one slice only."""
    svc = service()
    svc["metadata"]["namespace"] = "default"
    pods = [_pod(f"p{i}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(150)]
    labels = {"x": "y"}
    plan = plan_slices([], desired_groups(svc, pods, {}), labels)
    assert sorted(len(endpoints) for _, endpoints in plan.create) == [50, MAX_ENDPOINTS]
    stored = [
        {"metadata": {"name": f"web-{i}", "labels": labels}, "ports": ports, "endpoints": eps}
        for i, (ports, eps) in enumerate(plan.create)
    ]
    pods.append(_pod("new", "10.0.9.9"))
    again = plan_slices(stored, desired_groups(svc, pods, {}), labels)
    assert (again.create, again.delete) == ([], [])
    [(obj, _, endpoints)] = again.update
    assert len(endpoints) == len(obj["endpoints"]) + 1


def test_trigger_time_is_the_earliest_change_not_yet_synced() -> None:
    """First sync: the Service's creation; then the earliest new Ready transition, else none."""
    svc = service()
    svc["metadata"].update(namespace="default", creationTimestamp="2026-01-01T00:00:00Z")

    def pod(name: str, since: str) -> dict[str, Any]:
        obj = _pod(name, "10.0.0.1")
        obj["status"]["conditions"][0]["lastTransitionTime"] = since
        return obj

    triggers = TriggerTimes()
    first = [pod("a", "2026-01-01T00:00:05Z")]
    assert triggers.compute(svc, first) == "2026-01-01T00:00:00Z"
    assert triggers.compute(svc, first) is None
    later = [pod("a", "2026-01-01T00:00:09Z"), pod("b", "2026-01-01T00:00:07Z")]
    assert triggers.compute(svc, later) == "2026-01-01T00:00:07Z"
