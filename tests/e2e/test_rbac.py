"""rayop's RBAC manifests grant exactly what rayop calls, no less and no more.

One scenario drives every write path rayop has (children created, changed and deleted, a stray
child removed, a dead pod deleted, a named worker annotated for scale-down, status, events and
the leader-election Lease), and records what rayop sent:

- writes from kubesim's audit log (the operator's user agent),
- list/watch from the informers the running operator started,
- GETs and every other request from rayop's one client (``RequestLog`` only watches them go).

Then the ClusterRole's own rules must grant exactly those calls, and the rules it holds only
so that rayop may create the Ray autoscaler's Role (Kubernetes refuses to let a subject grant
permissions it does not hold: RBAC escalation prevention) must equal that Role's rules as the
builders make them. The Lease Role must grant exactly the Lease calls. Calls made by the rest of
the e2e suite (``operator_calls``, collected by ``conftest.py``) must be granted too.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import CustomObjectsApi

from controller.api import parse_raycluster
from controller.builders import BuildConfig, build_children
from controller.dev import CRD_DIR, load_manifests
from controller.kube import KubeClient, load_api_client
from controller.kube.lease import KubeLeaseClient
from controller.leaderelection import LeaderElectionConfig, LeaderElector
from controller.operator import Operator, OperatorOptions
from kubesim import KubeSim, WorkloadsConfig
from tests.e2e.harness import (
    NS,
    OPERATOR_NS,
    condition,
    operator_kubeconfig,
    small_cluster,
    wait_for,
)
from tests.e2e.rbac_audit import (
    CLUSTER_ROLE,
    DISCOVERY,
    LEASE_ROLE,
    Call,
    RequestLog,
    call_from_request,
    calls_from_audit,
    grants,
    load_rules,
    role_for,
    ungranted,
)

NAME = "rbac"
HPA = "rbac-hpa"
LEASE = "rayop-leader"


@dataclass
class Observed:
    """What rayop sent during the scenario."""

    writes: set[Call]
    requests: set[Call]
    informers: set[Call]

    @property
    def calls(self) -> set[Call]:
        """Every resource call (discovery requests need no rule)."""
        return {c for c in self.writes | self.requests | self.informers if c.verb != DISCOVERY}


@dataclass
class Scenario:
    """kubesim, a user client and the operator (with leader election) recording its requests."""

    sim: KubeSim
    user: KubeClient
    operator: Operator
    requests: RequestLog

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Apply as a user (field manager ``kubectl``)."""
        obj.setdefault("metadata", {}).setdefault("namespace", NS)
        return await self.user.apply(copy.deepcopy(obj))

    async def pods(self, group: str) -> dict[str, dict[str, Any]]:
        """Live pods of one worker group of the scenario's cluster, by name."""
        pods = await self.user.list("v1", "Pod", NS, label_selector=f"ray.io/group={group}")
        return {
            p["metadata"]["name"]: p
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and p["metadata"]["labels"].get("ray.io/cluster") == NAME
        }

    def operator_writes(self) -> list[dict[str, Any]]:
        """The operator's audited writes so far."""
        return [e for e in self.sim.audit.entries if calls_from_audit([e])]

    def observed(self) -> Observed:
        """The calls recorded so far, from the three sources."""
        informers: set[Call] = set()
        for informer in self.operator.caches.all():
            # The URL the informer lists and watches (SharedInformer has no public accessor).
            path = informer.reflector._client.path
            if informer.reflector.lists:
                informers.add(call_from_request("GET", path))
            if informer.reflector.watches:
                informers.add(call_from_request("GET", path, {"watch": "true"}))
        return Observed(
            writes=calls_from_audit(self.sim.audit.entries),
            requests=set(self.requests.calls),
            informers=informers,
        )


@pytest.fixture
async def scenario(tmp_path: Path) -> AsyncIterator[Scenario]:
    """kubesim (fast workloads) with the CRD, and a leader-electing operator."""
    async with KubeSim(
        kubeconfig_path=tmp_path / "kubeconfig.yaml", workloads_config=WorkloadsConfig.fast()
    ) as sim:
        user = KubeClient(
            await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0,
            field_manager="kubectl",
        )  # fmt: skip
        for crd in load_manifests(sorted(CRD_DIR.glob("*.yaml"))):
            await user.apply(crd)
        kubeconfig = await operator_kubeconfig(sim, user, tmp_path / "rayop.yaml")
        api = await load_api_client(kubeconfig=str(kubeconfig))
        operator = Operator(
            api,
            OperatorOptions(health_addr="0", metrics_addr="0", qps=0, drain_timeout=5.0),
            build_config=BuildConfig(inject_probes=False),
        )
        requests = RequestLog()
        requests.attach(operator.client)
        lease_client = KubeClient(api, qps=0)
        requests.attach(lease_client)
        operator.attach_elector(
            LeaderElector(
                KubeLeaseClient(lease_client),
                LeaderElectionConfig(
                    name=LEASE,
                    namespace=OPERATOR_NS,
                    identity="rbac-test",
                    lease_duration=15.0,
                    renew_deadline=10.0,
                    retry_period=0.2,
                ),
                registry=operator.registry,
            )
        )
        task = asyncio.create_task(operator.run(), name="operator")
        try:
            await wait_for(operator.controller.ready.is_set, what="operator caches to sync")
            yield Scenario(sim, user, operator, requests)
        finally:
            operator.stop()
            await asyncio.wait_for(task, timeout=15)
            await user.close()


def _cluster() -> dict[str, Any]:
    """Two groups: g0 under the in-tree autoscaler (a Deployment), g1 a fixed StatefulSet; the
    seed's idleTimeoutMinutes makes rayop write the autoscaler's own field name (a patch)."""
    manifest = small_cluster(NAME, replicas=2, groups=2, enableInTreeAutoscaling=True)
    manifest["spec"]["workerGroupSpecs"][1].update(replicas=1, workloadKind="StatefulSet")
    manifest["spec"]["autoscalerOptions"] = {"idleTimeoutMinutes": 1}
    return manifest


def _hpa_cluster() -> dict[str, Any]:
    """One group sized by a HorizontalPodAutoscaler (which excludes the in-tree autoscaler)."""
    manifest = small_cluster(HPA)
    group = manifest["spec"]["workerGroupSpecs"][0]
    del group["replicas"]
    group.update(minReplicas=1, maxReplicas=2, horizontalPodAutoscaler={})
    return manifest


def _ready(pod: dict[str, Any]) -> bool:
    return condition(pod.get("status") or {}, "Ready").get("status") == "True"


async def _drive_every_write_path(s: Scenario) -> None:
    """Everything rayop writes, once each; each step waits for the write it causes."""
    manifest = _cluster()
    await s.apply(manifest)
    await s.apply(_hpa_cluster())
    await wait_for(lambda: _wrote(s, "horizontalpodautoscalers", HPA), what="the HPA")

    async def up() -> bool:
        g0, g1 = await s.pods("g0"), await s.pods("g1")
        return len(g0) == 2 and len(g1) == 1 and all(map(_ready, [*g0.values(), *g1.values()]))

    await wait_for(up, what="the workers of g0 and g1 to be ready")

    # A dead pod: rayop deletes it so its ReplicaSet replaces it (a StatefulSet would itself).
    dead = sorted(await s.pods("g0"))[0]
    assert s.sim.workloads is not None
    s.sim.workloads.fail_pod(pod=dead, namespace=NS, reason="Error")
    await wait_for(lambda: _deleted(s, "pods", dead), what=f"rayop to delete dead pod {dead}")

    # The autoscaler scales g0 down naming a worker: rayop annotates it with a deletion cost.
    victim = await wait_for(lambda: _ready_worker(s, "g0", besides=dead), what="a g0 worker")
    await CustomObjectsApi(s.user.api_client).patch_namespaced_custom_object(
        "ray.io", "v1", NS, "rayclusters", NAME,
        [
            {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 1},
            {"op": "replace", "path": "/spec/workerGroupSpecs/0/scaleStrategy",
             "value": {"workersToDelete": [victim]}},
        ],
        _content_type="application/json-patch+json",
    )  # fmt: skip
    await wait_for(lambda: victim not in _alive_names(s), what=f"{victim} to go")
    assert any(
        e["resource"] == "pods" and e["verb"] == "patch" and e["name"] == victim
        for e in s.operator_writes()
    ), "rayop did not annotate the named worker"

    # An invalid RayCluster: a failed status and a Warning event.
    bad = small_cluster(f"{NAME}-bad")
    bad["spec"]["workerGroupSpecs"][0]["template"] = {"spec": {"containers": []}}
    await s.apply(bad)
    await wait_for(lambda: _wrote(s, "events", f"{NAME}-bad."), what="the invalid-spec event")

    # A child rayop no longer wants (as an older rayop left it): rayop deletes it.
    owner = await s.user.get("ray.io/v1", "RayCluster", NS, NAME)
    stray = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{NAME}-stray",
            "labels": {"app.kubernetes.io/managed-by": "rayop"},
            "ownerReferences": [
                {
                    "apiVersion": "ray.io/v1",
                    "kind": "RayCluster",
                    "name": NAME,
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {"ports": [{"port": 80}], "selector": {"x": "y"}},
    }
    await s.apply(stray)
    await wait_for(lambda: _deleted(s, "services", f"{NAME}-stray"), what="the stray Service")

    # A removed group, in-tree autoscaling switched off, an HPA dropped: all deleted.
    manifest["spec"]["workerGroupSpecs"] = manifest["spec"]["workerGroupSpecs"][:1]
    manifest["spec"]["enableInTreeAutoscaling"] = False
    await s.apply(manifest)
    await s.apply(small_cluster(HPA))
    for resource, name in [
        ("statefulsets", f"{NAME}-g1-worker"),
        ("roles", NAME),
        ("rolebindings", NAME),
        ("serviceaccounts", NAME),
        ("horizontalpodautoscalers", f"{HPA}-g0-worker"),
        ("deployments", None),  # an autoscaled or HPA group back to a fixed StatefulSet
    ]:
        await wait_for(partial(_deleted, s, resource, name), what=f"rayop to delete {resource}")


async def _ready_worker(s: Scenario, group: str, *, besides: str) -> str | None:
    names = [n for n, p in (await s.pods(group)).items() if _ready(p) and n != besides]
    return min(names, default=None)


def _alive_names(s: Scenario) -> set[str]:
    pods, _ = s.sim.cluster.list(s.sim.cluster.resource("pods"), NS)
    return {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def _deleted(s: Scenario, resource: str, name: str | None = None) -> bool:
    return any(
        e["verb"] == "delete" and e["resource"] == resource and (name is None or e["name"] == name)
        for e in s.operator_writes()
    )


def _wrote(s: Scenario, resource: str, prefix: str) -> bool:
    return any(
        e["resource"] == resource and str(e["name"]).startswith(prefix) for e in s.operator_writes()
    )


def _renewed(s: Scenario) -> bool:
    return any(e["verb"] == "update" and e["resource"] == "leases" for e in s.operator_writes())


def _autoscaler_role_rules() -> list[dict[str, Any]]:
    """The rules of the Role rayop creates for the Ray autoscaler, as the builders make it, for
    every cluster: its ``resourceNames`` (the one cluster's name) dropped, as the ClusterRole
    must hold them for whatever cluster rayop makes a Role for."""
    parsed = parse_raycluster(_cluster() | {"metadata": {"name": "x", "namespace": NS, "uid": "u"}})
    assert parsed.cluster is not None, parsed.problems
    (role,) = [c for c in build_children(parsed.cluster) if c["kind"] == "Role"]
    assert all(rule.get("resourceNames", ["x"]) == ["x"] for rule in role["rules"])
    return [{k: v for k, v in rule.items() if k != "resourceNames"} for rule in role["rules"]]


def _split_escalation_rules(
    rules: list[dict[str, Any]], held: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The ClusterRole's own rules: it must end with the autoscaler Role's rules, verbatim."""
    assert rules[len(rules) - len(held) :] == held, (
        "the ClusterRole must end with the rules of the autoscaler Role (held for escalation "
        f"prevention), exactly as the builders make them: {held}"
    )
    return rules[: len(rules) - len(held)]


def _describe(calls: set[Call]) -> str:
    return ", ".join(sorted(map(str, calls))) or "none"


async def test_rbac_manifests_grant_exactly_the_calls_rayop_makes(
    scenario: Scenario, operator_calls: set[Call]
) -> None:
    """The ClusterRole and Lease Role grant every call rayop makes and nothing it does not."""
    await _drive_every_write_path(scenario)
    await wait_for(partial(_renewed, scenario), what="the leader to renew its Lease")
    observed = scenario.observed()
    calls = observed.calls
    cluster_calls = {c for c in calls if role_for(c) == "ClusterRole"}
    lease_calls = calls - cluster_calls

    # Every call of the scenario and of the e2e tests that ran before is granted.
    assert ungranted(calls | operator_calls) == []

    # No rule or verb the scenario did not need, except the escalation-prevention block.
    held = _autoscaler_role_rules()
    own = _split_escalation_rules(load_rules(CLUSTER_ROLE, "ClusterRole"), held)
    unused = grants(own) - cluster_calls
    assert not unused, f"ClusterRole grants calls rayop never makes: {_describe(unused)}"
    missing = cluster_calls - grants(own)
    assert not missing, (
        "rayop's own rules must cover its calls without leaning on the rules held for "
        f"escalation prevention: {_describe(missing)}"
    )
    assert grants(load_rules(LEASE_ROLE, "Role")) == lease_calls, _describe(lease_calls)


def test_a_call_outside_the_manifests_is_reported() -> None:
    """A write path without its rule, or an unknown resource, is named with the role to fix."""
    new_path = Call("deletecollection", "", "pods")
    lease_patch = Call("patch", "coordination.k8s.io", "leases")
    assert ungranted({new_path, lease_patch, Call("patch", "", "events")}) == [
        "deletecollection pods.core (missing from the ClusterRole)",
        "patch leases.coordination.k8s.io (missing from the Role)",
    ]


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/apis/ray.io/v1", None, Call(DISCOVERY, "", "/apis/ray.io/v1")),
        ("GET", "/api/v1/pods", None, Call("list", "", "pods")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, Call("watch", "", "pods")),
        (
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
            None,
            Call("get", "coordination.k8s.io", "leases"),
        ),
        (
            "PATCH",
            "/apis/ray.io/v1/namespaces/ns/rayclusters/c/status",
            None,
            Call("patch", "ray.io", "rayclusters/status"),
        ),
        ("DELETE", "/api/v1/namespaces/ns/pods/p", None, Call("delete", "", "pods")),
        (
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
            None,
            Call("update", "coordination.k8s.io", "leases"),
        ),
        ("GET", "/api/v1/namespaces/ns", None, Call("get", "", "namespaces")),
    ],
)
def test_requests_map_to_the_verbs_rbac_checks(
    method: str, path: str, query: dict[str, str] | None, expected: Call
) -> None:
    """Request paths become the (verb, group, resource) the API server authorizes."""
    assert call_from_request(method, path, query) == expected


def test_an_apply_that_creates_needs_create_too() -> None:
    """A server-side apply answered 201 needs ``create`` as well as ``patch``; status does not."""
    entry = {"user_agent": "rayop/0.1.0", "verb": "patch", "group": "apps",
             "resource": "deployments", "subresource": None, "code": 201}  # fmt: skip
    status = entry | {"group": "ray.io", "resource": "rayclusters", "subresource": "status"}
    other = entry | {"user_agent": "kubectl/v1.32", "resource": "secrets"}
    assert calls_from_audit([entry, status, other]) == {
        Call("patch", "apps", "deployments"),
        Call("create", "apps", "deployments"),
        Call("patch", "ray.io", "rayclusters/status"),
    }


def test_the_roles_are_bound_to_the_service_account_the_operator_runs_as() -> None:
    """Both roles reach the Deployment's ServiceAccount; the Lease Role is in the Lease's
    namespace (the Deployment's own: no --lease-namespace, so POD_NAMESPACE decides)."""
    docs = [
        obj
        for path in sorted(CLUSTER_ROLE.parent.glob("*.yaml"))
        for obj in yaml.safe_load_all(path.read_text())
        if obj
    ]
    by_kind = {obj["kind"]: obj for obj in docs}
    deployment, account = by_kind["Deployment"], by_kind["ServiceAccount"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    meta = account["metadata"]
    subject = {"kind": "ServiceAccount", "name": meta["name"], "namespace": meta["namespace"]}
    for binding, role in [("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")]:
        assert by_kind[binding]["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role,
            "name": by_kind[role]["metadata"]["name"],
        }
        assert by_kind[binding]["subjects"] == [subject]
    args = pod["containers"][0]["args"]
    assert not any(a.startswith("--lease-namespace") for a in args)
    assert {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in pod["containers"][0]["env"]
    assert by_kind["Role"]["metadata"]["namespace"] == meta["namespace"]
