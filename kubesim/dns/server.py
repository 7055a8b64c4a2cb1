"""`DnsServer`: kubesim's cluster DNS over UDP and TCP, answering from the in-process cluster.

    server = DnsServer(sim.cluster, domain="cluster.local")
    host, port = await server.start("10.250.0.1", 53)    # port 0: the OS picks one (both protocols)
    ...
    await server.stop()

The server is authoritative for the cluster domain and recurses for nothing: a name outside it
is NXDOMAIN at once (pods have no other nameserver, and a resolver that waited for a timeout
would stall every lookup that the search path tries first). Inside the domain, unknown names are
NXDOMAIN and known names without records of the asked type (AAAA: kubesim's pod network is IPv4
only) are NOERROR with no answers, both with the zone's SOA so resolvers may cache the negative
answer for `ttl` seconds. Answers carry `ttl` (CoreDNS' default, 5 s) so that clients with a
cache see readiness changes within seconds.

Parsing and building messages is dnspython's; this module only maps questions to records.
Every answer is computed synchronously from `RecordTable`'s dicts, so no query ever waits on
another, and the table is fed by the cluster's own change notifications (via `Cache`).
A UDP answer that does not fit the client's buffer (512 bytes, or its EDNS size) is sent
truncated (TC), and the client asks again over TCP, as from any DNS server.
"""

from __future__ import annotations

import asyncio
import errno
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import structlog

from kubesim.common.api import ClusterAPI
from kubesim.common.store import Cache
from kubesim.dns.records import Node, RecordTable

__all__ = ["DEFAULT_TTL", "DnsServer"]

log = structlog.get_logger(__name__)

#: CoreDNS' kubernetes plugin default TTL, for answers and negative answers alike.
DEFAULT_TTL = 5
_UDP_DEFAULT_SIZE = 512
_UDP_MAX_SIZE = 4096
_TCP_MAX_SIZE = 65535
_TCP_IDLE_TIMEOUT = 10.0
_BIND_ATTEMPTS = 8


class DnsServer:
    """The cluster DNS of one kubesim: start it on an address, stop it when done."""

    def __init__(
        self, cluster: ClusterAPI, *, domain: str = "cluster.local", ttl: int = DEFAULT_TTL
    ) -> None:
        self.table = RecordTable(domain)
        self.ttl = ttl
        self._zone = dns.name.from_text(self.table.domain)
        self._services = Cache(cluster, "services")
        self._slices = Cache(cluster, "endpointslices", "discovery.k8s.io")
        self._services.add_handler(self.table.on_service)
        self._slices.add_handler(self.table.on_slice)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        # Open TCP connections: their handler task and writer (closed on stop).
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self.address: tuple[str, int] | None = None

    async def __aenter__(self) -> DnsServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 53) -> tuple[str, int]:
        """Load the names, then serve UDP and TCP on `host:port`; the bound address."""
        self._services.start()
        self._slices.start()
        loop = asyncio.get_running_loop()
        for _ in range(_BIND_ATTEMPTS if port == 0 else 1):
            udp, _protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(host, port)
            )
            bound = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, host, bound, reuse_address=True
                )
            except OSError as exc:
                udp.close()
                if port != 0 or exc.errno != errno.EADDRINUSE:
                    await self.stop()
                    raise
                continue
            self._udp = udp
            self.address = (host, bound)
            log.info("kubesim.dns_serving", host=host, port=bound, domain=self.table.domain)
            return self.address
        await self.stop()
        raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {host}")

    async def stop(self) -> None:
        """Stop serving, close open TCP connections, unsubscribe from the cluster."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        # Closing a connection ends its handler's read; cancelling it instead would make
        # asyncio's stream machinery log the cancellation as an error.
        for writer in list(self._connections.values()):
            writer.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=1.0)
        self._services.stop()
        self._slices.stop()
        self.address = None

    # ------------------------------------------------------------------ transports

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 1035 4.2.2: two-byte length, message; several queries per connection."""
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                async with asyncio.timeout(_TCP_IDLE_TIMEOUT):
                    length = int.from_bytes(await reader.readexactly(2), "big")
                    wire = await reader.readexactly(length)
                reply = self.respond(wire, tcp=True)
                if reply is None:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return
        finally:
            self._connections.pop(task, None)
            writer.close()

    # ------------------------------------------------------------------ answering

    def respond(self, wire: bytes, *, tcp: bool) -> bytes | None:
        """The reply to one query in wire format (None: not even a header to answer)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _format_error(wire)
        if query.flags & dns.flags.QR:
            return None  # a response sent to us: answering it could start a loop
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            self._answer(query.question[0], response)
        max_size = _TCP_MAX_SIZE if tcp else _UDP_DEFAULT_SIZE
        if not tcp and query.edns >= 0:
            max_size = min(_UDP_MAX_SIZE, max(query.payload, _UDP_DEFAULT_SIZE))
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer, response.authority, response.additional = [], [], []
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=max_size)

    def _answer(self, question: dns.rrset.RRset, response: dns.message.Message) -> None:
        name = question.name.to_text(omit_final_dot=True).lower()
        if question.rdclass != dns.rdataclass.IN or not self.table.in_zone(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return
        response.flags |= dns.flags.AA
        node = self.table.lookup(name)
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa())
            return
        answer, extra = self._records(question, node, name)
        if not answer:
            response.authority.append(self._soa())
        response.answer.extend(answer)
        response.additional.extend(extra)

    def _records(
        self, question: dns.rrset.RRset, node: Node, name: str
    ) -> tuple[list[dns.rrset.RRset], list[dns.rrset.RRset]]:
        kind = question.rdtype
        if kind in (dns.rdatatype.A, dns.rdatatype.ANY) and node.addresses:
            return [self._rrset(question.name, "A", node.addresses)], []
        if kind == dns.rdatatype.SRV and node.services:
            texts = [
                f"0 {100 // len(node.services)} {port} {target}." for port, target in node.services
            ]
            extra = []
            for target in sorted({t for _, t in node.services}):
                found = self.table.lookup(target)
                if found is not None and found.addresses:
                    extra.append(self._rrset(dns.name.from_text(target), "A", found.addresses))
            return [self._rrset(question.name, "SRV", texts)], extra
        if kind == dns.rdatatype.SOA and name == self.table.domain:
            return [self._soa()], []
        return [], []

    def _rrset(self, name: dns.name.Name, kind: str, texts: Any) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(name, self.ttl, "IN", kind, list(texts))

    def _soa(self) -> dns.rrset.RRset:
        """The zone's SOA, as CoreDNS' kubernetes plugin writes it (minimum = the TTL)."""
        domain = self.table.domain
        text = (
            f"ns.dns.{domain}. hostmaster.{domain}. {self.table.serial % 2**32} "
            f"7200 1800 86400 {self.ttl}"
        )
        return dns.rrset.from_text(self._zone, self.ttl, "IN", "SOA", text)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self._server.respond(data, tcp=False)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)


def _format_error(wire: bytes) -> bytes | None:
    """FORMERR for a message whose header parses; None for anything shorter."""
    if len(wire) < 12:
        return None
    # The query's id, QR set, opcode kept, rcode FORMERR, no sections.
    flags = (int.from_bytes(wire[2:4], "big") & 0x7800) | 0x8000 | dns.rcode.FORMERR
    return wire[:2] + flags.to_bytes(2, "big") + bytes(8)
