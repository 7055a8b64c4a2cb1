"""The `/etc/resolv.conf` and `/etc/hosts` the kubelet gives a pod, as pure functions.

`resolv_conf` is the kubelet's `ClusterFirst` policy (`pkg/kubelet/network/dns`): the cluster
DNS as the only nameserver, the search path `<ns>.svc.<domain> svc.<domain> <domain>` and
`options ndots:5`, so that `head-svc` and `head-svc.ns` resolve as in a cluster; a pod's
`dnsConfig` is merged in (nameservers and searches appended, options overriding by name), and
`dnsPolicy: None` uses `dnsConfig` alone. `Default` (the node's resolver) has no meaning for a
kubesim pod, whose namespace reaches only the bridge: it is served like `ClusterFirst`.

`etc_hosts` is the kubelet's managed hosts file (`managedHostsFileContent`): the loopback and
IPv6 lines, then the pod's IPs with its hostname, as `<hostname>.<subdomain>.<ns>.svc.<domain>
<hostname>` when the pod has a subdomain, then its `hostAliases`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["etc_hosts", "pod_hostname", "resolv_conf"]

Obj = dict[str, Any]

#: glibc reads at most 3 nameservers; the kubelet keeps at most 32 search domains.
_MAX_NAMESERVERS = 3
_MAX_SEARCHES = 32
_HOSTNAME_MAX = 63

_HOSTS_HEADER = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def _option_text(option: Obj) -> str:
    value = option.get("value")
    return f"{option['name']}:{value}" if value not in (None, "") else str(option["name"])


def resolv_conf(
    namespace: str,
    nameserver: str,
    domain: str = "cluster.local",
    *,
    dns_policy: str = "ClusterFirst",
    dns_config: Obj | None = None,
) -> str:
    """The resolv.conf of a pod in `namespace` whose cluster DNS listens on `nameserver`."""
    domain = domain.strip(".")
    servers: list[str] = []
    searches: list[str] = []
    options: dict[str, str] = {}
    if dns_policy != "None":
        servers = [nameserver]
        searches = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]
        options = {"ndots": "ndots:5"}
    config = dns_config or {}
    for server in config.get("nameservers") or ():
        if server not in servers:
            servers.append(server)
    for search in config.get("searches") or ():
        if search not in searches:
            searches.append(search)
    for option in config.get("options") or ():
        options[option["name"]] = _option_text(option)
    lines = []
    if searches:
        lines.append("search " + " ".join(searches[:_MAX_SEARCHES]))
    lines += [f"nameserver {server}" for server in servers[:_MAX_NAMESERVERS]]
    if options:
        lines.append("options " + " ".join(options.values()))
    return "".join(line + "\n" for line in lines)


def pod_hostname(pod: Obj) -> str:
    """`spec.hostname`, else the pod's name cut to 63 characters (without a trailing - or .)."""
    spec = pod.get("spec") or {}
    name = str(spec.get("hostname") or pod["metadata"]["name"])
    return name[:_HOSTNAME_MAX].rstrip("-.") if len(name) > _HOSTNAME_MAX else name


def etc_hosts(pod: Obj, *, domain: str = "cluster.local") -> str:
    """The hosts file of `pod` (its status must carry its IPs)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ips = [p["ip"] for p in status.get("podIPs") or () if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    hostname = pod_hostname(pod)
    names = hostname
    if spec.get("subdomain"):
        namespace = pod["metadata"].get("namespace", "default")
        names = f"{hostname}.{spec['subdomain']}.{namespace}.svc.{domain.strip('.')}\t{hostname}"
    text = _HOSTS_HEADER + "".join(f"{ip}\t{names}\n" for ip in ips)
    aliases = spec.get("hostAliases") or []
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        text += "".join(
            f"{alias['ip']}\t{chr(9).join(alias.get('hostnames') or ())}\n" for alias in aliases
        )
    return text
