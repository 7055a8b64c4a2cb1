"""Unit tests for the pure parts of controller.kube: throttling, errors, config source order."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from controller.kube import (
    BadRequest,
    ConfigError,
    Conflict,
    Invalid,
    KubeError,
    NotFound,
    ServerError,
    TokenBucket,
    TooManyRequests,
)
from controller.kube.config import describe_source
from controller.kube.errors import error_from_response
from controller.kube.resources import object_path, resource_for
from controller.outcomes import Failure, TerminalError, classify


def test_token_bucket_disabled_with_non_positive_qps() -> None:
    """qps <= 0 never waits, as in client-go."""
    bucket = TokenBucket(qps=0, burst=1)
    assert all(bucket.reserve(0.0) == 0.0 for _ in range(100))


def test_errors_translate_by_status_code_and_keep_the_servers_words() -> None:
    """Each HTTP status becomes its exception class with the Status reason and message."""
    body = orjson.dumps(
        {
            "kind": "Status",
            "reason": "Invalid",
            "message": 'RayCluster "x" is invalid',
            "details": {"causes": [{"field": "spec.x", "message": "bad"}]},
        }
    )
    err = error_from_response(422, body)
    assert isinstance(err, Invalid)
    assert (err.code, err.reason, err.message) == (422, "Invalid", 'RayCluster "x" is invalid')
    assert err.causes == [{"field": "spec.x", "message": "bad"}]
    assert isinstance(error_from_response(404, b"{}"), NotFound)
    assert isinstance(error_from_response(409, b""), Conflict)
    assert isinstance(error_from_response(429, b""), TooManyRequests)
    assert isinstance(error_from_response(503, b"not json"), ServerError)
    assert error_from_response(503, b"not json").message == "not json"
    plain = error_from_response(403, b"{}")
    assert type(plain) is KubeError


def test_the_error_class_decides_terminal_or_retry() -> None:
    """422 and 400 are terminal; throttling, server errors, conflicts and 403/404 retry."""
    for terminal in (Invalid("x"), BadRequest("x"), TerminalError("x")):
        assert classify(terminal) is Failure.TERMINAL
    for retry in (TooManyRequests("x"), ServerError("x"), Conflict("x"), NotFound("x"),
                  KubeError("forbidden", code=403), TimeoutError(), ValueError()):  # fmt: skip
        assert classify(retry) is Failure.RETRY


def test_retry_after_comes_from_the_header_or_the_status_details() -> None:
    """Retry-After: the header when present, else Status.details.retryAfterSeconds."""
    body = orjson.dumps({"kind": "Status", "details": {"retryAfterSeconds": 7}})
    assert error_from_response(429, body).retry_after == 7
    assert error_from_response(429, body, retry_after="3").retry_after == 3
    assert error_from_response(503, b"", retry_after="junk").retry_after is None
    assert error_from_response(500, b"{}").retry_after is None


def test_resource_paths() -> None:
    """Kinds map to their REST paths, core and named groups alike."""
    sts = resource_for("apps/v1", "StatefulSet")
    assert (
        object_path(sts, "ns", "a", "status") == "/apis/apps/v1/namespaces/ns/statefulsets/a/status"
    )
    assert resource_for("v1", "Pod").collection_path(None) == "/api/v1/pods"
    crd = resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert (
        object_path(crd, "ignored", "x")
        == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x"
    )


def test_config_source_order(tmp_path: Path) -> None:
    """--in-cluster, then --kubeconfig, then KUBECONFIG, then in-pod, then ~/.kube/config."""
    kc = tmp_path / "kc.yaml"
    kc.write_text("apiVersion: v1\n")
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text("apiVersion: v1\n")
    in_pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert describe_source(in_cluster=True, kubeconfig=str(kc), environ={}) == ("in-cluster", None)
    assert describe_source(kubeconfig=str(kc), environ=in_pod) == ("kubeconfig", str(kc))
    assert describe_source(environ={**in_pod, "KUBECONFIG": str(kc)}) == ("kubeconfig", str(kc))
    assert describe_source(environ=in_pod, home=home) == ("in-cluster", None)
    assert describe_source(environ={}, home=home) == ("kubeconfig", str(home / ".kube/config"))


def test_config_errors_name_what_is_missing(tmp_path: Path) -> None:
    """A missing kubeconfig file or no configuration at all is a one-line, actionable error."""
    with pytest.raises(
        ConfigError, match=r"--kubeconfig: kubeconfig file .*nope.yaml does not exist"
    ):
        describe_source(kubeconfig=str(tmp_path / "nope.yaml"), environ={})
    with pytest.raises(ConfigError, match="KUBECONFIG"):
        describe_source(environ={"KUBECONFIG": str(tmp_path / "gone")})
    with pytest.raises(ConfigError, match="no cluster configuration"):
        describe_source(environ={}, home=tmp_path)


def test_env_proxy_is_read_once_as_curl_reads_it() -> None:
    """HTTPS_PROXY applies to https API servers unless NO_PROXY names the host (or a suffix)."""
    from controller.kube.config import env_proxy

    env = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "localhost,.svc"}
    assert env_proxy("https://api.example.com:6443", env) == "http://proxy:3128"
    assert env_proxy("https://kubernetes.default.svc", env) is None
    assert env_proxy("https://localhost:6443", env) is None
    assert env_proxy("http://127.0.0.1:8080", env) is None
    assert env_proxy("https://api.example.com", {"https_proxy": "http://p"}) == "http://p"
    assert env_proxy("https://api.example.com", {}) is None


async def test_api_client_does_no_per_request_environment_lookup(tmp_path: Path) -> None:
    """The loaded client's session does not look proxies and .netrc up per request."""
    from controller.kube.config import load_api_client

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    api = await load_api_client(kubeconfig=str(kubeconfig))
    try:
        assert api.rest_client.pool_manager.trust_env is False
    finally:
        await api.close()


async def test_no_write_is_sent_before_the_servers_retry_after(tmp_path: Path) -> None:
    """After a 429 with Retry-After: 2 on one write, the client's next write (another object,
    another path) waits the 2 s before it is sent; reads do not wait (issue 16)."""
    import asyncio

    from controller.kube import KubeClient, TooManyRequests, load_api_client
    from kubesim import KubeSim

    async with KubeSim(kubeconfig_path=tmp_path / "kc.yaml") as sim:
        client = KubeClient(await load_api_client(kubeconfig=str(sim.kubeconfig_path)), qps=0)
        sim.faults.add(verb="patch", resource="configmaps", error=429, retry_after=2, count=1)

        def config_map(name: str) -> dict[str, object]:
            meta = {"name": name, "namespace": "default"}
            return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}

        loop = asyncio.get_running_loop()
        with pytest.raises(TooManyRequests):
            await client.apply(config_map("first"))
        refused_at = loop.time()
        await client.list("v1", "ConfigMap", "default")
        assert loop.time() - refused_at < 1.0, "reads are not held back"
        await client.apply(config_map("second"))
        assert loop.time() - refused_at >= 1.95
        await client.close()
