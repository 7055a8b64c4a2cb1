"""kubesim's cluster DNS on loopback, fed by the real controllers and the simulated kubelet.

Queried with dnspython's client over UDP and TCP, with glibc's resolver (`getent`, through the
resolv.conf that `resolv_conf` writes, in a private mount namespace) and with gRPC's c-ares
resolver (the one Ray's GCS clients use). Real time: sockets and subprocesses are real.
"""

from __future__ import annotations

import asyncio
import errno
import random
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from kubesim import KubeSim, WorkloadsConfig
from kubesim.dns import DnsServer, RecordTable, etc_hosts, resolv_conf
from kubesim.dns.records import Node
from tests.component.kubesim.polling import poller

eventually = poller(every=0.05, within=20.0)
DOMAIN = "cluster.local"


class Env:
    """A kubesim with its DNS server on an ephemeral loopback port."""

    def __init__(self, sim: KubeSim, server: DnsServer) -> None:
        self.sim = sim
        self.server = server
        assert server.address is not None
        self.host, self.port = server.address

    async def query(
        self, name: str, kind: str = "A", *, tcp: bool = False, edns: bool = True
    ) -> dns.message.Message:
        query = dns.message.make_query(name, kind, use_edns=0 if edns else False)
        if tcp:
            return await dns.asyncquery.tcp(query, self.host, port=self.port, timeout=5)
        return await dns.asyncquery.udp(query, self.host, port=self.port, timeout=5)

    async def addresses(self, name: str, *, tcp: bool = False) -> list[str]:
        reply = await self.query(name, tcp=tcp)
        return sorted(r.address for rrset in reply.answer for r in rrset)

    def create(self, resource: str, body: dict[str, Any], group: str = "") -> None:
        cluster = self.sim.cluster
        cluster.create(cluster.resource(resource, group), "default", body)

    def pod_ips(self, app: str) -> dict[str, str]:
        cluster = self.sim.cluster
        pods, _ = cluster.list(cluster.resource("pods"), "default", label_selector=f"app={app}")
        return {
            p["metadata"]["name"]: p["status"]["podIP"]
            for p in pods
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", ())
            )
        }


async def _env(**workloads: Any) -> AsyncIterator[Env]:
    async with KubeSim(controllers=True, workloads_config=WorkloadsConfig.fast(**workloads)) as sim:
        server = DnsServer(sim.cluster, domain=DOMAIN)
        await server.start("127.0.0.1", 0)
        try:
            yield Env(sim, server)
        finally:
            await server.stop()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """kubesim with fast delays on real time, and its DNS server."""
    async for value in _env():
        yield value


def service(name: str, *, headless: bool = False, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        **spec,
    }
    if headless:
        body["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def statefulset(replicas: int, *, app: str = "web", port: int = 8080) -> dict[str, Any]:
    container = {
        "name": "c",
        "image": "nginx:1.25",
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": app},
        "spec": {
            "replicas": replicas,
            "serviceName": app,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [container]}},
        },
    }


async def web(env: Env, replicas: int = 2) -> dict[str, str]:
    """A headless Service `web` and a ClusterIP `web-api` over a StatefulSet `web`; its pod IPs."""
    env.create("services", service("web", headless=True))
    env.create("services", service("web-api"))
    env.create("statefulsets", statefulset(replicas), "apps")
    ips: dict[str, str] = await eventually(lambda: _all_ready(env, replicas))
    await eventually(lambda: _resolves(env, "web", sorted(ips.values())))
    return ips


async def _all_ready(env: Env, count: int) -> dict[str, str] | None:
    ips = env.pod_ips("web")
    return ips if len(ips) == count else None


async def _resolves(env: Env, service_name: str, expected: list[str]) -> bool:
    name = f"{service_name}.default.svc.{DOMAIN}"
    return await env.addresses(name) == expected


async def test_service_names_resolve_to_ready_endpoints_over_udp_and_tcp(env: Env) -> None:
    """Headless and ClusterIP Services both answer with their ready pods' IPs (no kube-proxy)."""
    ips = sorted((await web(env)).values())
    for tcp in (False, True):
        assert await env.addresses(f"web.default.svc.{DOMAIN}", tcp=tcp) == ips
        assert await env.addresses(f"web-api.default.svc.{DOMAIN}", tcp=tcp) == ips
    reply = await env.query(f"WEB.Default.svc.{DOMAIN}.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    [rrset] = reply.answer
    assert rrset.ttl == 5


async def test_statefulset_pods_resolve_by_hostname(env: Env) -> None:
    """`<pod>.<headless svc>.<ns>.svc.<domain>` is that pod's IP."""
    ips = await web(env)
    for pod, ip in ips.items():
        assert await env.addresses(f"{pod}.web.default.svc.{DOMAIN}") == [ip]


async def test_answers_follow_pod_readiness(env: Env) -> None:
    """An unready pod drops out of the answers, unless its Service publishes not-ready addresses."""
    env.create("services", service("web-all", headless=True, publishNotReadyAddresses=True))
    ips = await web(env)
    env.sim.workloads.set_not_ready("web-1")
    await eventually(lambda: _resolves(env, "web", [ips["web-0"]]))
    assert await env.addresses(f"web-1.web.default.svc.{DOMAIN}") == []
    assert await env.addresses(f"web-all.default.svc.{DOMAIN}") == sorted(ips.values())
    env.sim.workloads.set_not_ready("web-1", ready=True)
    await eventually(lambda: _resolves(env, "web", sorted(ips.values())))


async def test_unknown_names_are_nxdomain_with_the_zone_soa(env: Env) -> None:
    """Unknown cluster names: NXDOMAIN with an SOA (negative TTL 5); other domains: bare NXDOMAIN."""
    await web(env)
    reply = await env.query(f"nope.default.svc.{DOMAIN}")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    [soa] = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa[0].minimum == 5
    for name in ("example.com", "web.default.svc.other.local", f"web.default.svc.{DOMAIN}.corp"):
        reply = await env.query(name)
        assert reply.rcode() == dns.rcode.NXDOMAIN
        assert reply.authority == []


async def test_aaaa_for_existing_names_is_empty_noerror(env: Env) -> None:
    """The pod network is IPv4: AAAA for a known name answers NOERROR with no records."""
    await web(env)
    for name in (f"web.default.svc.{DOMAIN}", f"web-0.web.default.svc.{DOMAIN}", DOMAIN):
        reply = await env.query(name, "AAAA")
        assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])


async def test_srv_records_name_each_endpoint_and_port(env: Env) -> None:
    """`_http._tcp.<svc>` lists the named port per endpoint, with the targets' addresses."""
    ips = await web(env)
    reply = await env.query(f"_http._tcp.web.default.svc.{DOMAIN}", "SRV")
    [rrset] = reply.answer
    assert sorted((r.port, r.target.to_text()) for r in rrset) == [
        (8080, f"web-0.web.default.svc.{DOMAIN}."),
        (8080, f"web-1.web.default.svc.{DOMAIN}."),
    ]
    extra = {rrset.name.to_text(): [r.address for r in rrset] for rrset in reply.additional}
    assert extra[f"web-0.web.default.svc.{DOMAIN}."] == [ips["web-0"]]


async def test_large_answers_are_truncated_over_udp_and_complete_over_tcp() -> None:
    """40 endpoints overflow 512 bytes: UDP without EDNS says TC, TCP carries every address."""
    async with KubeSim(controllers=False) as sim:
        cluster = sim.cluster
        cluster.create(cluster.resource("services"), "default", service("big", headless=True))
        addresses = [f"10.244.1.{i}" for i in range(1, 41)]
        cluster.create(
            cluster.resource("endpointslices", "discovery.k8s.io"),
            "default",
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "big-1", "labels": {"kubernetes.io/service-name": "big"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [ip]} for ip in addresses],
            },
        )
        async with DnsServer(sim.cluster) as server:
            await server.start("127.0.0.1", 0)
            env = Env(sim, server)
            name = f"big.default.svc.{DOMAIN}"
            reply = await env.query(name, edns=False)
            assert reply.flags & dns.flags.TC
            assert reply.answer == []
            assert await env.addresses(name, tcp=True) == sorted(addresses)


async def test_malformed_messages_get_formerr_and_responses_get_nothing(env: Env) -> None:
    """Garbage with a header is FORMERR (same id); a response sent to the server is not answered."""
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            replies.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(env.host, env.port))
    try:
        transport.sendto(b"\x12\x34" + b"\x01\x00" + b"\x00\x01" + b"\x00" * 6 + b"\xff\xff")
        reply = await asyncio.wait_for(replies.get(), 5)
        assert reply[:2] == b"\x12\x34"
        assert reply[3] & 0x0F == dns.rcode.FORMERR
        response = dns.message.make_response(dns.message.make_query("x.example", "A"))
        transport.sendto(response.to_wire())
        transport.sendto(dns.message.make_query(f"web.default.svc.{DOMAIN}", "A").to_wire())
        reply = await asyncio.wait_for(replies.get(), 5)
        assert (
            dns.message.from_wire(reply).question[0].name.to_text() == f"web.default.svc.{DOMAIN}."
        )
    finally:
        transport.close()


async def test_stop_closes_connections_and_frees_the_port(env: Env) -> None:
    """After stop, an open TCP connection is closed and the port can be bound again."""
    reader, writer = await asyncio.open_connection(env.host, env.port)
    await env.server.stop()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    again = DnsServer(env.sim.cluster)
    assert await again.start(env.host, env.port) == (env.host, env.port)
    await again.stop()


# ---------------------------------------------------------------------- real resolvers


async def _bind_port_53(sim: KubeSim) -> DnsServer:
    """The DNS server on port 53 of a random 127.x address (glibc has no port option)."""
    server = DnsServer(sim.cluster)
    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    try:
        await server.start(host, 53)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EADDRINUSE):
            pytest.skip(f"cannot bind {host}:53 for glibc's resolver: {exc.strerror}")
        raise
    return server


async def _in_mount_namespace(resolv: Path, *argv: str) -> tuple[int, str]:
    """Run argv with `resolv` bind-mounted over /etc/resolv.conf in a private mount namespace."""
    script = f'mount --bind "{resolv}" /etc/resolv.conf && exec "$@"'
    proc = await asyncio.create_subprocess_exec(
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(15):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_glibc_resolves_short_names_through_the_search_path(env: Env, tmp_path: Path) -> None:
    """getaddrinfo with the pod's resolv.conf: `web` and `web-0.web` resolve, other names fail fast."""
    for tool in ("unshare", "getent", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    ips = await web(env)
    server = await _bind_port_53(env.sim)
    try:
        assert server.address is not None
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(resolv_conf("default", server.address[0], DOMAIN))
        code, out = await _in_mount_namespace(resolv, "getent", "ahosts", "web")
        if code != 0 and "mount" in out:
            pytest.skip(f"cannot make a private mount namespace here: {out.strip()}")
        assert code == 0, out
        assert {line.split()[0] for line in out.splitlines()} == set(ips.values())
        code, out = await _in_mount_namespace(resolv, "getent", "hosts", "web-0.web")
        assert (code, out.split()[0]) == (0, ips["web-0"])
        code, out = await _in_mount_namespace(resolv, "getent", "hosts", "pypi.org")
        assert code == 2, out
    finally:
        await server.stop()


@pytest.fixture
async def loopback_pods() -> AsyncIterator[Env]:
    """Pods with IPs on 127.77/16, which the host routes to loopback, so clients can connect."""
    async for value in _env(pod_cidr="127.77.0.0/16"):
        yield value


async def test_grpc_c_ares_resolver_connects_to_a_service_by_name(loopback_pods: Env) -> None:
    """gRPC's c-ares resolver (Ray's GCS clients use it) finds a Service's pod through kubesim."""
    grpc_aio = pytest.importorskip(
        "grpc.aio", reason="grpcio (installed with the ray extra) is missing"
    )

    env = loopback_pods
    env.create("services", service("gcs", headless=True, publishNotReadyAddresses=True))
    env.create("statefulsets", statefulset(1), "apps")
    ips = await eventually(lambda: _all_ready(env, 1))
    await eventually(lambda: _resolves(env, "gcs", [ips["web-0"]]))
    server = grpc_aio.server()
    port = server.add_insecure_port(f"{ips['web-0']}:0")
    await server.start()
    target = f"dns://{env.host}:{env.port}/gcs.default.svc.{DOMAIN}:{port}"
    try:
        async with grpc_aio.insecure_channel(target) as channel:
            await asyncio.wait_for(channel.channel_ready(), 10)
    finally:
        await server.stop(None)


# ---------------------------------------------------------------------- files


def test_resolv_conf_is_the_kubelets_cluster_first_file() -> None:
    """Search path of the namespace, the cluster DNS, ndots:5; dnsConfig merges in."""
    assert resolv_conf("ray", "10.250.0.1") == (
        "search ray.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.250.0.1\n"
        "options ndots:5\n"
    )
    custom = {
        "nameservers": ["1.1.1.1"],
        "searches": ["corp.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    assert resolv_conf("ray", "10.250.0.1", "k8s.test", dns_config=custom) == (
        "search ray.svc.k8s.test svc.k8s.test k8s.test corp.example\n"
        "nameserver 10.250.0.1\n"
        "nameserver 1.1.1.1\n"
        "options ndots:2 edns0\n"
    )
    assert resolv_conf("ray", "10.250.0.1", dns_policy="None", dns_config=custom) == (
        "search corp.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"
    )


def test_etc_hosts_names_the_pod_as_the_kubelet_does() -> None:
    """Loopback lines, then the pod IP with its FQDN and hostname, then hostAliases."""
    pod = {
        "metadata": {"name": "web-0", "namespace": "ray"},
        "spec": {
            "hostname": "web-0",
            "subdomain": "web",
            "hostAliases": [{"ip": "10.0.0.9", "hostnames": ["a", "b"]}],
        },
        "status": {"podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}]},
    }
    assert etc_hosts(pod) == (
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        "10.244.0.7\tweb-0.web.ray.svc.cluster.local\tweb-0\n"
        "\n# Entries added by HostAliases.\n"
        "10.0.0.9\ta\tb\n"
    )
    plain = {"metadata": {"name": "x" * 70 + "-y"}, "status": {"podIP": "10.244.0.8"}}
    assert etc_hosts(plain).splitlines()[-1] == "10.244.0.8\t" + "x" * 63


def test_cluster_domain_must_be_a_dns_domain() -> None:
    """A bad `cluster_domain` is one clear error naming the field."""
    with pytest.raises(
        ValueError, match=r"WorkloadsConfig.cluster_domain: must be a lowercase DNS"
    ):
        WorkloadsConfig(cluster_domain="Cluster.Local")
    assert WorkloadsConfig(cluster_domain="k8s.test").cluster_domain == "k8s.test"


def test_record_table_follows_services_and_slices() -> None:
    """Ready (or unset) endpoints answer, IPv6 slices and ExternalName are ignored, deletes clear."""
    table = RecordTable("cluster.local")
    svc = service("db")
    svc["metadata"]["namespace"] = "ns"
    svc["spec"]["clusterIP"] = "10.96.0.9"
    slice_ = {
        "metadata": {
            "name": "db-x",
            "namespace": "ns",
            "labels": {"kubernetes.io/service-name": "db"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.244.0.1"], "conditions": {"ready": True}},
            {"addresses": ["10.244.0.2"], "conditions": {}},
            {"addresses": ["10.244.0.3"], "conditions": {"ready": False}},
        ],
    }
    v6 = {**slice_, "metadata": {**slice_["metadata"], "name": "db-y"}, "addressType": "IPv6"}
    table.on_service("ADDED", None, svc)
    table.on_slice("ADDED", None, slice_)
    table.on_slice("ADDED", None, v6)
    node = table.lookup("db.ns.svc.cluster.local")
    assert node is not None
    assert node.addresses == ("10.244.0.1", "10.244.0.2")
    assert table.lookup("10-244-0-1.db.ns.svc.cluster.local") is None, "ClusterIP: no pod names"
    assert table.lookup("ns.svc.cluster.local") is not None
    assert table.lookup("other.svc.cluster.local") is None
    table.on_slice("DELETED", slice_, slice_)
    assert table.lookup("db.ns.svc.cluster.local") == Node()
    external = {**svc, "spec": {"type": "ExternalName", "externalName": "example.com"}}
    table.on_service("MODIFIED", svc, external)
    assert table.lookup("db.ns.svc.cluster.local") is None
    table.on_service("DELETED", external, external)
    assert table.lookup("ns.svc.cluster.local") is None
