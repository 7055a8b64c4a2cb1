"""kubesim's cluster DNS: the server pods ask, and the resolv.conf and hosts files they get.

`DnsServer` answers `<svc>.<ns>.svc.<domain>` and the names of headless Services' endpoints from
the cluster's EndpointSlices; `resolv_conf` and `etc_hosts` are the files the kubelet writes into
each pod (pure functions, for the process runtime).
"""

from kubesim.dns.files import etc_hosts, resolv_conf
from kubesim.dns.records import RecordTable
from kubesim.dns.server import DEFAULT_TTL, DnsServer

__all__ = ["DEFAULT_TTL", "DnsServer", "RecordTable", "etc_hosts", "resolv_conf"]
