"""rayop runs with the identity manifests/ give it, and RBAC is enforced on it.

The harness installs the ServiceAccount, ClusterRole, Lease Role and bindings of
``manifests/operator/`` and hands the operator a token of that ServiceAccount, so every e2e test
exercises the shipped RBAC. Here: the operator's calls are made (and audited) as that account;
a verb removed from the ClusterRole breaks the operator visibly; the Role rayop creates for the
Ray autoscaler allows every call the autoscaler makes, and a verb removed from it is refused;
``kubectl auth can-i --list`` shows exactly what the manifests grant.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.builders.autoscaler import role_rules
from tests.e2e.harness import (
    NS,
    OPERATOR_NS,
    OPERATOR_USER,
    Env,
    operator_manifests,
    running_env,
    small_cluster,
    wait_for,
)
from tests.e2e.rbac_audit import AUTOSCALER_CALLS, CLUSTER_ROLE, LEASE_ROLE, grants, load_rules

RBAC = "rbac.authorization.k8s.io"


def _without(manifests: list[dict[str, Any]], *, resource: str, verb: str) -> list[dict[str, Any]]:
    """The manifests with `verb` removed from the ClusterRole rule naming `resource`."""
    edited = copy.deepcopy(manifests)
    (role,) = [m for m in edited if m["kind"] == "ClusterRole"]
    (rule,) = [r for r in role["rules"] if resource in r["resources"] and verb in r["verbs"]][:1]
    rule["verbs"].remove(verb)
    return edited


async def test_the_operator_writes_as_its_service_account(env: Env) -> None:
    """Every write rayop makes is authenticated as system:serviceaccount:rayop-system:rayop."""
    await env.apply(small_cluster("who"))
    await wait_for(lambda: env.status("who"), what="the first status")
    users = {e["user"] for e in env.rayop_writes()}
    assert users == {OPERATOR_USER}
    assert all(e["code"] < 400 for e in env.rayop_writes())


async def test_a_verb_missing_from_the_cluster_role_breaks_the_operator(tmp_path: Path) -> None:
    """Without `patch` on rayclusters/status the operator's status writes are refused (403):
    the children appear, the status never does."""
    manifests = _without(operator_manifests(), resource="rayclusters/status", verb="patch")
    async with running_env(tmp_path, manifests=manifests) as env:
        await env.apply(small_cluster("mute"))

        def refused() -> list[dict[str, Any]]:
            return [
                e
                for e in env.rayop_writes()
                if e["code"] == 403
                and (e["resource"], e["subresource"]) == ("rayclusters", "status")
            ]

        (first, *_) = await wait_for(refused, what="the operator's status write to be refused")
        assert (first["user"], first["verb"]) == (OPERATOR_USER, "patch")
        assert await env.get("apps/v1", "StatefulSet", "mute-g0-worker") is not None
        assert await env.status("mute") == {}


async def _call(url: str, token: str, method: str, path: str, query: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"}
    body: Any = None
    if method == "PATCH":
        headers["Content-Type"] = (
            "application/json-patch+json"
            if "rayclusters" in path
            else "application/strategic-merge-patch+json"
        )
        body = b"[]" if "rayclusters" in path else b"{}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{url}{path}{'?' + query if query else ''}", data=body, headers=headers
        ) as response,
    ):
        return response.status, await response.text()


async def _autoscaler_token(env: Env, account: str) -> str:
    answer = await env.user.request(
        "POST", f"/api/v1/namespaces/{NS}/serviceaccounts/{account}/token", body={"spec": {}}
    )
    return str(answer["status"]["token"])


async def _calls(env: Env, token: str, cluster: str, head: str) -> dict[tuple[str, str], int]:
    codes = {}
    for method, path, query in AUTOSCALER_CALLS:
        concrete = path.format(ns=NS, cluster=cluster, head=head)
        code, _ = await _call(env.sim.url, token, method, concrete, query.format(cluster=cluster))
        codes[(method, path)] = code
    return codes


async def test_the_autoscaler_role_rayop_creates_allows_every_autoscaler_call(env: Env) -> None:
    """A token of the autoscaler's ServiceAccount (made by rayop) gets none of its calls refused."""
    await env.apply(small_cluster("auto", enableInTreeAutoscaling=True))
    await wait_for(
        lambda: env.get(f"{RBAC}/v1", "RoleBinding", "auto"), what="the autoscaler's RoleBinding"
    )
    head = await wait_for(lambda: env.pods("auto"), what="the cluster's pods")
    head_name = next(
        p["metadata"]["name"]
        for p in head
        if p["metadata"]["labels"].get("ray.io/node-type") == "head"
    )
    token = await _autoscaler_token(env, "auto")
    codes = await _calls(env, token, "auto", head_name)
    assert 403 not in codes.values(), codes


async def test_a_verb_missing_from_the_autoscaler_role_is_refused(env: Env) -> None:
    """The autoscaler Role's rules less `patch` on rayclusters, bound to a fresh account: the
    autoscaler's scale request (a JSON patch of the RayCluster) is refused with upstream's 403."""
    await env.apply(small_cluster("lean"))
    pods = await wait_for(lambda: env.pods("lean"), what="the cluster's pods")
    head_name = pods[0]["metadata"]["name"]
    rules = copy.deepcopy(role_rules("lean"))
    next(r for r in rules if r["apiGroups"] == ["ray.io"])["verbs"].remove("patch")
    for obj in (
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "lean-autoscaler"}},
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": "lean-autoscaler"},
            "rules": rules,
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "lean-autoscaler"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "lean-autoscaler"},
            "subjects": [{"kind": "ServiceAccount", "name": "lean-autoscaler", "namespace": NS}],
        },
    ):
        await env.apply(obj)
    token = await _autoscaler_token(env, "lean-autoscaler")
    codes = await _calls(env, token, "lean", head_name)
    refused = {call for call, code in codes.items() if code == 403}
    assert refused == {("PATCH", "/apis/ray.io/v1/namespaces/{ns}/rayclusters/{cluster}")}
    _, text = await _call(
        env.sim.url, token, "PATCH", f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/lean", ""
    )
    assert (
        'rayclusters.ray.io \\"lean\\" is forbidden: User \\"system:serviceaccount:default:lean-autoscaler\\" '
        'cannot patch resource \\"rayclusters\\" in API group \\"ray.io\\" in the namespace \\"default\\"'
    ) in text


def _can_i_rows(out: str) -> dict[str, set[str]]:
    """`kubectl auth can-i --list` rows: resource (or URL) -> verbs."""
    rows: dict[str, set[str]] = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        name = fields[0].strip("[]")  # non-resource rows: `[/healthz]  []  [get]`
        verbs = line[line.rindex("[") + 1 : line.rindex("]")].split()
        rows.setdefault(name, set()).update(verbs)
    return rows


def _granted(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    rows: dict[str, set[str]] = {}
    for call in grants(rules):
        base, _, sub = call.resource.partition("/")  # kubectl prints `rayclusters.ray.io/status`
        name = f"{base}.{call.group}" if call.group else base
        name += f"/{sub}" if sub else ""
        rows.setdefault(name, set()).add(call.verb)
    return rows


@pytest.mark.kubectl
async def test_kubectl_can_i_list_shows_what_the_manifests_grant(env: Env) -> None:
    """`kubectl auth can-i --list --as=<rayop's account>` prints the manifests' rules, plus the
    self-reviews and discovery URLs every authenticated user has."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    who = f"--as={OPERATOR_USER}"
    cache = f"--cache-dir={env.sim.kubeconfig_path.parent / 'kube-cache'}"
    results = {}
    for namespace in (NS, OPERATOR_NS):
        proc = await asyncio.create_subprocess_exec(
            kubectl, f"--kubeconfig={env.sim.kubeconfig_path}", cache, "auth", "can-i", "--list", who, "-n", namespace,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        results[namespace] = _can_i_rows(out.decode())
    everyone = {
        "selfsubjectreviews.authentication.k8s.io": {"create"},
        "selfsubjectaccessreviews.authorization.k8s.io": {"create"},
        "selfsubjectrulesreviews.authorization.k8s.io": {"create"},
    }
    cluster_role = _granted(load_rules(CLUSTER_ROLE, "ClusterRole"))
    resources = {k: v for k, v in results[NS].items() if not k.startswith("/")}
    assert resources == {**cluster_role, **everyone}
    in_own_namespace = {k: v for k, v in results[OPERATOR_NS].items() if not k.startswith("/")}
    lease = _granted(load_rules(LEASE_ROLE, "Role"))
    assert in_own_namespace == {**cluster_role, **lease, **everyone}
    assert results[NS]["/healthz"] == results[NS]["/api/*"] == {"get"}
