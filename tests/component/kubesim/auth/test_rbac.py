"""RBAC authorization over HTTP: rules, bindings, aggregation, escalation prevention, reviews."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubesim import KubeSim
from tests.component.kubesim.auth.conftest import RBAC, Identity, binding, role

Account = Callable[..., Awaitable[Identity]]
PODS = "/api/v1/namespaces/default/pods"


def _pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x"}]}}


async def _grant(sim: KubeSim, rules: list[dict[str, Any]], *, to: str, name: str = "r") -> None:
    """A Role in default with `rules`, bound to ServiceAccount default/<to>."""
    admin = Identity(sim, sim.admin_token)
    code, body = await admin.post(f"{RBAC}/namespaces/default/roles", role(name, rules))
    assert code == 201, body
    code, body = await admin.post(
        f"{RBAC}/namespaces/default/rolebindings", binding(name, name, account=to)
    )
    assert code == 201, body


async def test_an_account_without_roles_gets_upstreams_403(sim: KubeSim, account: Account) -> None:
    """Every kind of refusal is worded exactly as kube-apiserver words it."""
    robot = await account(sim, "robot")
    code, body = await robot.get(PODS)
    assert (code, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'pods is forbidden: User "system:serviceaccount:default:robot" cannot list resource '
        '"pods" in API group "" in the namespace "default"'
    )
    code, body = await robot.get("/apis/apps/v1/namespaces/default/statefulsets/web/scale")
    assert body["message"] == (
        'statefulsets.apps "web" is forbidden: User "system:serviceaccount:default:robot" '
        'cannot get resource "statefulsets/scale" in API group "apps" in the namespace "default"'
    )
    assert body["details"] == {"name": "web", "group": "apps", "kind": "statefulsets"}
    code, body = await robot.get("/api/v1/nodes")
    assert body["message"].endswith(
        'cannot list resource "nodes" in API group "" at the cluster scope'
    )
    code, body = await robot.get("/metrics")
    assert (code, body["message"]) == (
        403,
        'forbidden: User "system:serviceaccount:default:robot" cannot get path "/metrics"',
    )
    # Discovery and /healthz are open to every authenticated user (system:discovery).
    assert (await robot.get("/apis"))[0] == 200
    assert (await robot.get("/healthz"))[0] == 200


async def test_a_role_grants_verbs_in_its_namespace_only(sim: KubeSim, account: Account) -> None:
    """A RoleBinding grants its Role's verbs in the binding's namespace, nothing more."""
    robot = await account(sim, "robot")
    await _grant(
        sim, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "create"]}], to="robot"
    )
    assert (await robot.get(PODS))[0] == 200
    assert (await robot.post(PODS, _pod("a")))[0] == 201
    assert (await robot.get(f"{PODS}/a"))[0] == 403  # get was not granted
    assert (await robot.get("/api/v1/namespaces/kube-system/pods"))[0] == 403
    assert (await robot.get("/api/v1/pods"))[0] == 403  # all namespaces is cluster scope


async def test_subresources_resource_names_and_wildcards(sim: KubeSim, account: Account) -> None:
    """`pods/log` is separate from `pods`; resourceNames limit to named objects; `*` matches."""
    admin = Identity(sim, sim.admin_token)
    await admin.post(PODS, _pod("a"))
    await admin.post(PODS, _pod("b"))
    robot = await account(sim, "robot")
    await _grant(
        sim,
        [
            {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": ["*"], "resources": ["configmaps"], "verbs": ["*"]},
        ],
        to="robot",
    )
    assert (await robot.get(f"{PODS}/a"))[0] == 200
    assert (await robot.get(f"{PODS}/b"))[0] == 403
    assert (await robot.get(PODS))[0] == 403  # resourceNames never grant list
    assert (await robot.get(f"{PODS}/b/log"))[0] == 200
    assert (await robot.get("/api/v1/namespaces/default/configmaps"))[0] == 200


async def test_aggregated_cluster_roles_pick_up_new_rules(sim: KubeSim, account: Account) -> None:
    """The built-in `view` role aggregates a new role labelled aggregate-to-view."""
    admin = Identity(sim, sim.admin_token)
    robot = await account(sim, "robot")
    code, _ = await admin.post(
        f"{RBAC}/namespaces/default/rolebindings",
        binding("viewer", "view", account="robot", cluster_role=True),
    )
    assert code == 201
    assert (await robot.get(PODS))[0] == 200
    assert (await robot.get("/api/v1/namespaces/default/secrets"))[0] == 403
    assert (await robot.get("/apis/ray.io/v1/namespaces/default/rayclusters"))[0] == 403
    extra = role(
        "ray-view",
        [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "list"]}],
        cluster=True,
        labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    )
    assert (await admin.post(f"{RBAC}/clusterroles", extra))[0] == 201
    view = sim.cluster.get("clusterroles.rbac.authorization.k8s.io", None, "view")
    assert {
        "apiGroups": ["ray.io"],
        "resources": ["rayclusters"],
        "verbs": ["get", "list"],
    } in view["rules"]
    # Aggregation reaches the role that is not named but matched (view -> edit -> admin).
    admin_role = sim.cluster.get("clusterroles.rbac.authorization.k8s.io", None, "admin")
    assert {
        "apiGroups": ["ray.io"],
        "resources": ["rayclusters"],
        "verbs": ["get", "list"],
    } in admin_role["rules"]
    code, _ = await robot.get("/apis/ray.io/v1/namespaces/default/rayclusters")
    assert code != 403  # 404: no CRD, but allowed


async def test_escalation_prevention_and_the_escalate_and_bind_verbs(
    sim: KubeSim, account: Account
) -> None:
    """A user who may write Roles cannot grant what they do not hold, unless escalate/bind."""
    robot = await account(sim, "robot")
    await _grant(
        sim,
        [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles", "rolebindings"],
                "verbs": ["create"],
            },
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        ],
        to="robot",
    )
    held = role("held", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    assert (await robot.post(f"{RBAC}/namespaces/default/roles", held))[0] == 201
    greedy = role(
        "greedy", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    )
    code, body = await robot.post(f"{RBAC}/namespaces/default/roles", greedy)
    assert code == 403
    assert body["message"] == (
        'roles.rbac.authorization.k8s.io "greedy" is forbidden: user '
        '"system:serviceaccount:default:robot" (groups=["system:serviceaccounts" '
        '"system:serviceaccounts:default" "system:authenticated"]) is attempting to grant RBAC '
        "permissions not currently held:\n"
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["list"]}'
    )
    # Binding a role whose rules the user holds is fine; one they do not hold is refused.
    ok = binding("held", "held", account="robot")
    assert (await robot.post(f"{RBAC}/namespaces/default/rolebindings", ok))[0] == 201
    too_much = binding("editor", "edit", account="robot", cluster_role=True)
    code, body = await robot.post(f"{RBAC}/namespaces/default/rolebindings", too_much)
    assert code == 403
    assert "attempting to grant RBAC permissions not currently held" in body["message"]
    # With escalate and bind the same writes pass.
    await _grant(
        sim,
        [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles", "clusterroles"],
                "verbs": ["escalate", "bind"],
            }
        ],
        to="robot",
        name="escalator",
    )
    assert (await robot.post(f"{RBAC}/namespaces/default/roles", greedy))[0] == 201
    assert (await robot.post(f"{RBAC}/namespaces/default/rolebindings", too_much))[0] == 201


async def test_impersonation_needs_the_impersonate_verb(sim: KubeSim, account: Account) -> None:
    """Impersonate-User works for the admin and is refused to an account without the verb."""
    admin = Identity(
        sim, sim.admin_token, headers={"Impersonate-User": "system:serviceaccount:default:robot"}
    )
    await account(sim, "robot")
    code, body = await admin.get(PODS)
    assert code == 403
    assert 'User "system:serviceaccount:default:robot" cannot list' in body["message"]
    other = await account(sim, "other")
    code, body = await other.get(PODS, headers={"Impersonate-User": "jane"})
    assert code == 403
    assert body["message"] == (
        'users "jane" is forbidden: User "system:serviceaccount:default:other" cannot '
        'impersonate resource "users" in API group "" at the cluster scope'
    )


async def test_access_and_rules_reviews(sim: KubeSim, account: Account) -> None:
    """SubjectAccessReview, SelfSubjectAccessReview and SelfSubjectRulesReview answer from RBAC."""
    robot = await account(sim, "robot")
    await _grant(
        sim, [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}], to="robot"
    )
    attrs = {"namespace": "default", "verb": "get", "group": "apps", "resource": "deployments"}
    code, answer = await robot.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "spec": {"resourceAttributes": attrs},
        },
    )
    assert (code, answer["status"]["allowed"]) == (201, True)
    admin = Identity(sim, sim.admin_token)
    code, answer = await admin.post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "spec": {
                "resourceAttributes": {**attrs, "verb": "delete"},
                "user": "system:serviceaccount:default:robot",
                "groups": ["system:authenticated"],
            }
        },
    )
    assert (code, answer["status"]["allowed"]) == (201, False)
    code, _ = await robot.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {"spec": {}})
    assert code == 403  # only system:basic-user's self reviews are open to everyone
    code, answer = await robot.post(
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {"spec": {"namespace": "default"}}
    )
    rules = answer["status"]["resourceRules"]
    assert {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]} in rules


@pytest.mark.kubectl
async def test_kubectl_auth_can_i(sim: KubeSim, account: Account, kubectl_for: Any) -> None:
    """`kubectl auth can-i` (with --as and --list) answers from RBAC."""
    kubectl = kubectl_for(sim)
    await account(sim, "robot")
    await _grant(
        sim,
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch"]}],
        to="robot",
    )
    who = "--as=system:serviceaccount:default:robot"
    code, out, _ = await kubectl("auth", "can-i", "get", "configmaps", who)
    assert (code, out.strip()) == (0, "yes")
    code, out, _ = await kubectl("auth", "can-i", "delete", "configmaps", who)
    assert (code, out.strip()) == (1, "no")
    code, out, err = await kubectl("auth", "can-i", "--list", who)
    assert code == 0, err
    lines = {" ".join(line.split()) for line in out.splitlines()}
    assert "configmaps [] [] [get watch]" in lines
    assert "selfsubjectaccessreviews.authorization.k8s.io [] [] [create]" in lines
    code, out, _ = await kubectl("auth", "can-i", "get", "/metrics", who)
    assert out.strip() == "no"
    code, out, _ = await kubectl("auth", "can-i", "get", "/healthz", who)
    assert out.strip() == "yes"


async def test_always_allow_skips_authorization_but_not_authentication() -> None:
    """`authorization="always-allow"` lets an account without roles in; bad tokens still 401."""
    async with KubeSim(controllers=False, authorization="always-allow") as sim:
        token = sim.cluster.auth.issue_token("default", "default")
        assert (await Identity(sim, token).get(PODS))[0] == 200
        assert (await Identity(sim, "junk").get(PODS))[0] == 401
    with pytest.raises(ValueError, match="authorization must be one of rbac, always-allow"):
        KubeSim(controllers=False, authorization="abac")


async def test_refused_writes_are_audited_with_the_real_user(
    sim: KubeSim, account: Account
) -> None:
    """The audit log names the authenticated user, for allowed and for refused writes."""
    robot = await account(sim, "robot")
    await _grant(
        sim, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}], to="robot"
    )
    await robot.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "ok"}})
    await robot.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": "no"}})
    entries = [
        (e["user"], e["resource"], e["code"])
        for e in sim.audit.entries
        if e["user"].endswith(":robot")
    ]
    assert entries == [
        ("system:serviceaccount:default:robot", "configmaps", 201),
        ("system:serviceaccount:default:robot", "secrets", 403),
    ]


async def test_exec_over_websocket_needs_create_too(sim: KubeSim, account: Account) -> None:
    """A GET of pods/exec (kubectl's WebSocket upgrade) needs `create` on pods/exec as well."""
    robot = await account(sim, "robot")
    await _grant(
        sim, [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}], to="robot"
    )
    code, body = await robot.get(f"{PODS}/p/exec?command=ls&stdout=true")
    assert code == 403
    assert body["message"] == (
        'pods "p" is forbidden: User "system:serviceaccount:default:robot" cannot create '
        'resource "pods/exec" in API group "" in the namespace "default"'
    )
