"""The container environment as the kubelet builds it, as pure functions of the pod."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubesim.kubelet.process.env import (
    ApiEndpoint,
    EnvError,
    PodEnv,
    container_env,
    expand,
    resource_value,
    service_env,
)
from kubesim.kubelet.process.images import ImageMap, ImageNotMapped


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"a": "b"}},
        "spec": {"nodeName": "n0", "serviceAccountName": "sa", **spec},
    }


def _service(name: str, namespace: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": ip, "ports": list(ports)},
    }


OBJECTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("ConfigMap", "ns", "cm"): {"data": {"K": "v", "1bad": "x"}},
    ("Secret", "ns", "s"): {"data": {"pw": base64.b64encode(b"hunter2").decode()}},
}


def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, namespace, name))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)", "x1y2"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("$A", "$A"),
        ("end$", "end$"),
        ("$$$$", "$$"),
    ],
)
def test_expand_follows_kubernetes_rules(text: str, expected: str) -> None:
    """$(VAR) expands, $$ escapes, unknown or unclosed references stay as written."""
    assert expand(text, {"A": "1", "B": "2"}) == expected


def test_service_env_of_namespace_services_and_the_api() -> None:
    """Services of the pod's namespace with a ClusterIP, and `kubernetes` pointing at the API."""
    services = [
        _service(
            "web-svc",
            "ns",
            "10.96.0.10",
            {"name": "http", "port": 80},
            {"port": 53, "protocol": "UDP", "name": "dns"},
        ),
        _service("headless", "ns", "None", {"port": 1}),
        _service("other", "elsewhere", "10.96.0.11", {"port": 1}),
        _service("kubernetes", "default", "10.96.0.1", {"name": "https", "port": 443}),
    ]
    env = service_env(PodEnv(pod=_pod(), pod_ip="", host_ip="", services=services))
    assert env["WEB_SVC_SERVICE_HOST"] == "10.96.0.10"
    assert env["WEB_SVC_SERVICE_PORT"] == "80"
    assert env["WEB_SVC_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_SVC_PORT"] == "tcp://10.96.0.10:80"
    assert env["WEB_SVC_PORT_53_UDP"] == "udp://10.96.0.10:53"
    assert env["WEB_SVC_PORT_53_UDP_PROTO"] == "udp"
    assert env["WEB_SVC_PORT_80_TCP_ADDR"] == "10.96.0.10"
    assert not any(k.startswith(("HEADLESS_", "OTHER_")) for k in env)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    routed = PodEnv(
        pod=_pod(), pod_ip="", host_ip="", services=services, api=ApiEndpoint("10.244.0.1", 6443)
    )
    api_env = service_env(routed)
    assert api_env["KUBERNETES_SERVICE_HOST"] == "10.244.0.1"
    assert api_env["KUBERNETES_SERVICE_PORT"] == api_env["KUBERNETES_SERVICE_PORT_HTTPS"] == "6443"
    assert api_env["KUBERNETES_PORT"] == "tcp://10.244.0.1:6443"
    no_links = PodEnv(pod=_pod(enableServiceLinks=False), pod_ip="", host_ip="", services=services)
    assert not any(k.startswith("WEB_SVC") for k in service_env(no_links))
    assert "KUBERNETES_SERVICE_HOST" in service_env(no_links)


def test_container_env_order_and_sources() -> None:
    """envFrom, then env in order with $(VAR) over what came before; service vars last."""
    container = {
        "envFrom": [
            {"configMapRef": {"name": "cm"}, "prefix": "CM_"},
            {"secretRef": {"name": "gone", "optional": True}},
        ],
        "env": [
            {"name": "LATER", "value": "$(EARLY)"},
            {"name": "EARLY", "value": "e"},
            {"name": "BOTH", "value": "$(CM_K)/$(EARLY)/$(X_SERVICE_HOST)"},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['a']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope", "optional": True}},
            },
        ],
    }
    ctx = PodEnv(
        pod=_pod(),
        pod_ip="10.244.0.5",
        host_ip="10.0.0.2",
        services=[_service("x", "ns", "10.96.0.9", {"port": 1})],
    )
    env = container_env(container, ctx, lookup)
    values = dict(env)
    assert values["LATER"] == "$(EARLY)"
    assert values["BOTH"] == "v/e/10.96.0.9"
    assert (values["NAME"], values["LABEL"], values["IP"], values["PW"]) == (
        "p",
        "b",
        "10.244.0.5",
        "hunter2",
    )
    assert "OPT" not in values
    assert "CM_1bad" in values
    assert [k for k, _ in env].index("X_SERVICE_HOST") > [k for k, _ in env].index("PW")


def test_missing_references_are_errors_unless_optional() -> None:
    """A missing ConfigMap or key fails the container with the kubelet's message."""
    ctx = PodEnv(pod=_pod(), pod_ip="", host_ip="")
    with pytest.raises(EnvError, match='configmap "absent" not found'):
        container_env({"envFrom": [{"configMapRef": {"name": "absent"}}]}, ctx, lookup)
    with pytest.raises(EnvError, match="couldn't find key nope in ConfigMap ns/cm"):
        container_env(
            {
                "env": [
                    {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}
                ]
            },
            ctx,
            lookup,
        )


def test_invalid_env_from_keys_are_skipped_and_named() -> None:
    """Keys that are not environment variable names are skipped (and reported by the caller)."""
    OBJECTS[("ConfigMap", "ns", "odd")] = {"data": {"ok": "1", "not ok": "2"}}
    ctx = PodEnv(pod=_pod(), pod_ip="", host_ip="")
    env = dict(container_env({"envFrom": [{"configMapRef": {"name": "odd"}}]}, ctx, lookup))
    assert env == {"ok": "1"}
    assert ctx.skipped == ["not ok"]


def test_resource_field_ref_rounds_up_and_defaults_limits_to_allocatable() -> None:
    """resourceFieldRef: ceil(value / divisor); an unset limit is the node's allocatable."""
    ctx = PodEnv(pod=_pod(), pod_ip="", host_ip="", allocatable={"cpu": "32", "memory": "128Gi"})
    container = {"resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}}}
    assert resource_value({"resource": "requests.cpu"}, container, ctx) == "1"
    assert resource_value({"resource": "requests.cpu", "divisor": "1m"}, container, ctx) == "250"
    assert resource_value({"resource": "limits.memory", "divisor": "1Mi"}, container, ctx) == "1024"
    assert resource_value({"resource": "limits.cpu"}, container, ctx) == "32"


def test_image_map_references_prefixes_and_the_flag_to_map() -> None:
    """Exact references and `prefix*` entries resolve (docker.io implied); others name the flag."""
    images = ImageMap(
        {"rayproject/ray*": "/envs/ray", "rayproject/ray:2.9.0": "/envs/old", "busybox": "/usr"}
    )
    assert images.resolve("rayproject/ray:2.60.0") == "/envs/ray"
    assert images.resolve("docker.io/rayproject/ray:2.9.0") == "/envs/old"
    assert images.resolve("docker.io/library/busybox") == "/usr"
    with pytest.raises(ImageNotMapped, match=r"--image-map nginx:1=DIR"):
        images.resolve("nginx:1")
    assert ImageMap.tag_version("rayproject/ray:2.6.0-py311") == "2.6.0"
    assert ImageMap.tag_version("rayproject/ray") is None
