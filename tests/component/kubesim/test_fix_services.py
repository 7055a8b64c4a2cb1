"""Service cluster IPs and node ports over HTTP, as a real kube-apiserver allocates them."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import KubeSim

APPLY = "application/apply-patch+yaml"
NS = "default"
CIDR = ipaddress.IPv4Network("10.96.0.0/12")
KubectlRunner = Callable[..., Awaitable[tuple[int, str, str]]]


def _svc(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}
    body.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


async def _raw(core: client.CoreV1Api, name: str) -> dict[str, Any]:
    resp = await core.read_namespaced_service(name, NS, _preload_content=False)
    data: dict[str, Any] = json.loads(await resp.read())
    return data


def _status(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


async def test_kubernetes_service_exists_at_first_address(api_client: client.ApiClient) -> None:
    """default/kubernetes exists from the start with 10.96.0.1 and port 443, like every cluster."""
    svc = await client.CoreV1Api(api_client).read_namespaced_service("kubernetes", NS)
    assert svc.spec.cluster_ip == "10.96.0.1"
    assert svc.spec.cluster_ips == ["10.96.0.1"]
    assert svc.metadata.labels == {"component": "apiserver", "provider": "kubernetes"}
    assert [(p.name, p.port, p.protocol) for p in svc.spec.ports] == [("https", 443, "TCP")]


async def test_create_allocates_unique_cluster_ips(api_client: client.ApiClient) -> None:
    """Each new Service gets its own IPv4 cluster IP from 10.96.0.0/12, single-stack."""
    core = client.CoreV1Api(api_client)
    ips = set()
    for i in range(5):
        svc = await core.create_namespaced_service(NS, _svc(f"s{i}"))
        ip = svc.spec.cluster_ip
        assert ipaddress.IPv4Address(ip) in CIDR
        assert ip != "10.96.0.1"
        assert svc.spec.cluster_ips == [ip]
        assert svc.spec.ip_families == ["IPv4"]
        assert svc.spec.ip_family_policy == "SingleStack"
        assert svc.spec.ports[0].node_port is None
        ips.add(ip)
    assert len(ips) == 5


async def test_headless_service_keeps_none(api_client: client.ApiClient) -> None:
    """clusterIP None stays None, with clusterIPs ["None"]."""
    core = client.CoreV1Api(api_client)
    svc = await core.create_namespaced_service(NS, _svc("headless", clusterIP="None"))
    assert svc.spec.cluster_ip == "None"
    assert svc.spec.cluster_ips == ["None"]


async def test_requested_ip_honoured_then_taken_is_422(api_client: client.ApiClient) -> None:
    """A free requested IP is used; asking for it again is the real 422 'already allocated'."""
    core = client.CoreV1Api(api_client)
    svc = await core.create_namespaced_service(NS, _svc("dns", clusterIP="10.96.0.10"))
    assert svc.spec.cluster_ip == "10.96.0.10"
    with pytest.raises(ApiException) as exc:
        await core.create_namespaced_service(NS, _svc("dns2", clusterIP="10.96.0.10"))
    status = _status(exc.value)
    assert exc.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'Service "dns2" is invalid: spec.clusterIP: Invalid value: "10.96.0.10": '
        "provided IP is already allocated"
    )
    assert status["details"]["causes"][0]["field"] == "spec.clusterIP"


async def test_delete_releases_the_ip(api_client: client.ApiClient) -> None:
    """After the Service holding an IP is deleted, another Service may request it."""
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_service(NS, _svc("a", clusterIP="10.96.0.20"))
    await core.delete_namespaced_service("a", NS)
    svc = await core.create_namespaced_service(NS, _svc("b", clusterIP="10.96.0.20"))
    assert svc.spec.cluster_ip == "10.96.0.20"


async def test_node_ports_allocated_per_port(api_client: client.ApiClient) -> None:
    """NodePort and LoadBalancer Services get a distinct nodePort in 30000-32767 per port."""
    core = client.CoreV1Api(api_client)
    ports = [{"name": "a", "port": 80}, {"name": "b", "port": 81}]
    seen: list[int] = []
    for name, kind in (("np", "NodePort"), ("lb", "LoadBalancer")):
        svc = await core.create_namespaced_service(NS, _svc(name, type=kind, ports=ports))
        seen += [p.node_port for p in svc.spec.ports]
    assert all(30000 <= p <= 32767 for p in seen)
    assert len(set(seen)) == 4


async def test_taken_node_port_is_422(api_client: client.ApiClient) -> None:
    """A requested nodePort already in use is refused with the field path of the port."""
    core = client.CoreV1Api(api_client)
    ports = [{"port": 80, "nodePort": 30080}]
    await core.create_namespaced_service(NS, _svc("np1", type="NodePort", ports=ports))
    with pytest.raises(ApiException) as exc:
        await core.create_namespaced_service(NS, _svc("np2", type="NodePort", ports=ports))
    assert exc.value.status == 422
    assert _status(exc.value)["message"] == (
        'Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
        "provided port is already allocated"
    )


async def test_external_name_gets_no_ip(api_client: client.ApiClient) -> None:
    """type ExternalName gets neither a cluster IP nor node ports."""
    core = client.CoreV1Api(api_client)
    body = _svc("ext", type="ExternalName", externalName="example.com")
    del body["spec"]["selector"]
    svc = await core.create_namespaced_service(NS, body)
    assert svc.spec.cluster_ip is None
    assert svc.spec.cluster_ips is None
    assert svc.spec.ports[0].node_port is None


async def test_update_without_cluster_ip_keeps_it(api_client: client.ApiClient) -> None:
    """A PUT that omits clusterIP and the node ports keeps the allocated values."""
    core = client.CoreV1Api(api_client)
    created = await core.create_namespaced_service(NS, _svc("web", type="NodePort"))
    body = _svc("web", type="NodePort")
    body["metadata"]["resourceVersion"] = created.metadata.resource_version
    body["metadata"]["labels"] = {"x": "y"}
    updated = await core.replace_namespaced_service("web", NS, body)
    assert updated.spec.cluster_ip == created.spec.cluster_ip
    assert updated.spec.cluster_ips == created.spec.cluster_ips
    assert updated.spec.ports[0].node_port == created.spec.ports[0].node_port
    assert updated.metadata.labels == {"x": "y"}


async def test_changing_cluster_ip_is_422(api_client: client.ApiClient) -> None:
    """Changing the cluster IP of a Service is the real 'may not change once set' 422."""
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_service(NS, _svc("web"))
    with pytest.raises(ApiException) as exc:
        await core.patch_namespaced_service(
            "web",
            NS,
            {"spec": {"clusterIP": "10.96.0.50"}},
            _content_type="application/merge-patch+json",
        )
    assert exc.value.status == 422
    assert _status(exc.value)["message"] == (
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.50"]: '
        "may not change once set"
    )


async def test_apply_keeps_cluster_ip_unowned(api_client: client.ApiClient) -> None:
    """Server-side apply without clusterIP gets one, keeps it on re-apply, and no manager owns it."""
    core = client.CoreV1Api(api_client)
    first = await core.patch_namespaced_service(
        "web", NS, _svc("web"), field_manager="rayop", _content_type=APPLY
    )
    ip = first.spec.cluster_ip
    assert ipaddress.IPv4Address(ip) in CIDR
    changed = _svc("web", ports=[{"name": "http", "port": 8080}])
    await core.patch_namespaced_service(
        "web", NS, changed, field_manager="rayop", _content_type=APPLY
    )
    raw = await _raw(core, "web")
    assert raw["spec"]["clusterIP"] == ip
    assert raw["spec"]["ports"][0]["port"] == 8080
    for entry in raw["metadata"]["managedFields"]:
        assert "f:clusterIP" not in entry["fieldsV1"].get("f:spec", {})
        assert "f:clusterIPs" not in entry["fieldsV1"].get("f:spec", {})


async def test_type_changes_allocate_and_drop_node_ports(api_client: client.ApiClient) -> None:
    """ClusterIP to NodePort allocates node ports; back to ClusterIP drops them, freeing the port."""
    core = client.CoreV1Api(api_client)
    created = await core.create_namespaced_service(NS, _svc("web"))
    merge = "application/merge-patch+json"
    as_np = await core.patch_namespaced_service(
        "web", NS, {"spec": {"type": "NodePort"}}, _content_type=merge
    )
    port = as_np.spec.ports[0].node_port
    assert 30000 <= port <= 32767
    assert as_np.spec.cluster_ip == created.spec.cluster_ip
    back = await core.patch_namespaced_service(
        "web", NS, {"spec": {"type": "ClusterIP"}}, _content_type=merge
    )
    assert back.spec.ports[0].node_port is None
    ports = [{"port": 80, "nodePort": port}]
    other = await core.create_namespaced_service(NS, _svc("other", type="NodePort", ports=ports))
    assert other.spec.ports[0].node_port == port


async def test_external_name_to_cluster_ip_allocates(api_client: client.ApiClient) -> None:
    """Turning an ExternalName Service into a ClusterIP one gives it a cluster IP."""
    core = client.CoreV1Api(api_client)
    body = _svc("ext", type="ExternalName", externalName="example.com")
    await core.create_namespaced_service(NS, body)
    patch = {"spec": {"type": "ClusterIP", "externalName": None}}
    svc = await core.patch_namespaced_service(
        "ext", NS, patch, _content_type="application/merge-patch+json"
    )
    assert ipaddress.IPv4Address(svc.spec.cluster_ip) in CIDR
    assert svc.spec.cluster_ips == [svc.spec.cluster_ip]


async def test_dry_run_holds_no_ip(api_client: client.ApiClient) -> None:
    """A dry-run create shows the IP it would get but keeps nothing allocated."""
    core = client.CoreV1Api(api_client)
    dry = await core.create_namespaced_service(
        NS, _svc("web", clusterIP="10.96.0.30"), dry_run="All"
    )
    assert dry.spec.cluster_ip == "10.96.0.30"
    real = await core.create_namespaced_service(NS, _svc("web2", clusterIP="10.96.0.30"))
    assert real.spec.cluster_ip == "10.96.0.30"


async def test_local_load_balancer_gets_health_check_port(api_client: client.ApiClient) -> None:
    """A LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort in range."""
    core = client.CoreV1Api(api_client)
    svc = await core.create_namespaced_service(
        NS, _svc("lb", type="LoadBalancer", externalTrafficPolicy="Local")
    )
    hc = svc.spec.health_check_node_port
    assert 30000 <= hc <= 32767
    assert hc != svc.spec.ports[0].node_port


async def test_out_of_range_ip_is_422(api_client: client.ApiClient) -> None:
    """A requested cluster IP outside 10.96.0.0/12 is refused naming the valid range."""
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as exc:
        await core.create_namespaced_service(NS, _svc("web", clusterIP="192.168.0.10"))
    assert exc.value.status == 422
    assert _status(exc.value)["message"] == (
        'Service "web" is invalid: spec.clusterIP: Invalid value: "192.168.0.10": the provided IP '
        "(192.168.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    )


@pytest.mark.kubectl
async def test_kubectl_get_svc_shows_cluster_ip(
    sim: KubeSim, kubectl_for: Callable[[KubeSim], KubectlRunner]
) -> None:
    """`kubectl get svc` prints each Service's allocated CLUSTER-IP and node ports."""
    kubectl = kubectl_for(sim)
    code, _, err = await kubectl("apply", "--server-side", "-f", "-", stdin=WEB_YAML)
    assert code == 0, err
    code, out, err = await kubectl("get", "svc", "-o", "wide")
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["kubernetes"][2] == "10.96.0.1"
    assert ipaddress.IPv4Address(rows["web"][2]) in CIDR
    assert rows["web"][1] == "NodePort"
    assert rows["web"][4].startswith("80:3")


WEB_YAML = """
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
"""


async def test_same_port_number_shares_node_port(api_client: client.ApiClient) -> None:
    """53/TCP and 53/UDP of one NodePort Service get the same nodePort, as upstream."""
    core = client.CoreV1Api(api_client)
    ports = [
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        {"name": "dns-udp", "port": 53, "protocol": "UDP"},
        {"name": "metrics", "port": 9153},
    ]
    svc = await core.create_namespaced_service(NS, _svc("dns", type="NodePort", ports=ports))
    tcp, udp, metrics = (p.node_port for p in svc.spec.ports)
    assert tcp == udp
    assert metrics != tcp
