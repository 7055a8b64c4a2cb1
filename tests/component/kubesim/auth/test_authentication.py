"""Authentication: the kubeconfig's admin token, ServiceAccount tokens, 401 and anonymous."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubesim import KubeSim
from tests.component.kubesim.auth.conftest import Identity

WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


async def test_the_kubeconfig_token_is_the_cluster_admin(tls_sim: KubeSim) -> None:
    """The kubeconfig's token authenticates as kubesim-admin in system:masters."""
    code, answer = await Identity(tls_sim, tls_sim.admin_token).post(WHOAMI, REVIEW)
    assert code == 201
    assert answer["status"]["userInfo"] == {
        "username": "kubesim-admin",
        "groups": ["system:masters", "system:authenticated"],
    }


async def test_an_unknown_token_gets_upstreams_401(sim: KubeSim) -> None:
    """A token kubesim did not issue is 401 with the exact Status kube-apiserver sends."""
    code, body = await Identity(sim, "not-a-token").get("/api/v1/namespaces")
    assert code == 401
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


async def test_service_account_token_identity_and_groups(
    sim: KubeSim, account: Callable[..., Awaitable[Identity]]
) -> None:
    """A TokenRequest token authenticates as system:serviceaccount:<ns>:<name> with its groups."""
    client = await account(sim, "robot")
    code, answer = await client.post(WHOAMI, REVIEW)
    assert code == 201
    info = answer["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:robot"
    assert info["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    assert info["uid"] == sim.cluster.get("serviceaccounts", "default", "robot")["metadata"]["uid"]


async def test_a_deleted_service_accounts_token_stops_working(
    sim: KubeSim, account: Callable[..., Awaitable[Identity]]
) -> None:
    """Deleting the account (even recreating one of the same name) invalidates its tokens."""
    client = await account(sim, "robot")
    assert (await client.post(WHOAMI, REVIEW))[0] == 201
    sim.cluster.delete("serviceaccounts", "default", "robot")
    assert (await client.post(WHOAMI, REVIEW))[0] == 401
    sim.cluster.create("serviceaccounts", "default", {"metadata": {"name": "robot"}})
    assert (await client.post(WHOAMI, REVIEW))[0] == 401


async def test_a_pod_bound_token_dies_with_its_pod(sim: KubeSim) -> None:
    """issue_token(..., bound_pod) is what the kubelet mounts: valid while the pod lives."""
    pod = sim.cluster.create(
        "pods",
        "default",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
    )
    token = sim.cluster.auth.issue_token(
        "default", "default", bound_pod=(pod["metadata"]["name"], pod["metadata"]["uid"])
    )
    client = Identity(sim, token)
    code, answer = await client.post(WHOAMI, REVIEW)
    assert (code, answer["status"]["userInfo"]["username"]) == (
        201,
        "system:serviceaccount:default:default",
    )
    sim.cluster.delete("pods", "default", "p")
    assert (await client.post(WHOAMI, REVIEW))[0] == 401


async def test_a_token_for_another_audience_is_refused(sim: KubeSim) -> None:
    """A token requested for another audience does not authenticate to the API server, but a
    TokenReview naming that audience accepts it."""
    token = sim.cluster.auth.issue_token("default", "default", audiences=["vault"])
    assert (await Identity(sim, token).post(WHOAMI, REVIEW))[0] == 401
    admin = Identity(sim, sim.admin_token)
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
    code, answer = await admin.post(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {**review, "spec": {"token": token, "audiences": ["vault"]}},
    )
    assert code == 201
    assert answer["status"]["authenticated"] is True
    assert answer["status"]["user"]["username"] == "system:serviceaccount:default:default"
    code, answer = await admin.post(
        "/apis/authentication.k8s.io/v1/tokenreviews", {**review, "spec": {"token": "junk"}}
    )
    assert answer["status"].get("authenticated") is not True


async def test_no_token_over_https_is_anonymous(tls_sim: KubeSim) -> None:
    """Without a token over HTTPS a request is system:anonymous: /version yes, pods no."""
    anonymous = Identity(tls_sim)
    code, version = await anonymous.get("/version")
    assert (code, version["major"]) == (200, "1")
    code, body = await anonymous.get("/api/v1/namespaces/default/pods")
    assert code == 403
    assert body["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        'in the namespace "default"'
    )
    assert body["details"] == {"kind": "pods"}


async def test_token_request_validates_expiration(sim: KubeSim) -> None:
    """TokenRequest refuses lifetimes under 10 minutes, as upstream."""
    code, body = await Identity(sim, sim.admin_token).post(
        "/api/v1/namespaces/default/serviceaccounts/default/token",
        {"spec": {"expirationSeconds": 60}},
    )
    assert code == 422
    assert "may not specify a duration less than 10 minutes" in body["message"]
    code, body = await Identity(sim, sim.admin_token).post(
        "/api/v1/namespaces/default/serviceaccounts/ghost/token", {"spec": {}}
    )
    assert code == 404


async def test_kubectl_whoami_and_create_token(sim: KubeSim, kubectl_for: Any) -> None:
    """`kubectl auth whoami` and `kubectl create token` work; the token authenticates."""
    kubectl = kubectl_for(sim)
    code, out, err = await kubectl("auth", "whoami")
    assert code == 0, err
    assert "kubesim-admin" in out
    assert "system:masters" in out
    code, out, err = await kubectl("create", "token", "default", "-n", "kube-system")
    assert code == 0, err
    code, answer = await Identity(sim, out.strip()).post(WHOAMI, REVIEW)
    assert answer["status"]["userInfo"]["username"] == "system:serviceaccount:kube-system:default"
