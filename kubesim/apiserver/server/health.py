"""`/healthz`, `/livez` and `/readyz` as kube-apiserver's healthz package serves them.

`GET /readyz` answers `ok`; `?verbose` lists each check (`[+]etcd ok`) and ends with
`readyz check passed`; `?exclude=NAME` skips a check (`[+]etcd excluded: ok`) and warns about
names that match none; `/readyz/NAME` runs one check. kubesim's checks always pass — its store
is in memory — but their names are the ones tools and scripts look for.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["serve_health"]

_LIVEZ = ("ping", "log", "etcd", "poststarthook/start-apiserver-admission-initializer",
          "poststarthook/generic-apiserver-start-informers", "poststarthook/crd-informer-synced",
          "poststarthook/bootstrap-controller", "poststarthook/rbac/bootstrap-roles")  # fmt: skip
#: Checks each endpoint runs: readyz adds the readiness ones.
CHECKS: dict[str, tuple[str, ...]] = {
    "healthz": _LIVEZ,
    "livez": _LIVEZ,
    "readyz": ("ping", "log", "etcd", "etcd-readiness", "informer-sync", *_LIVEZ[3:], "shutdown"),
}


def serve_health(endpoint: str, rest: list[str], query: web.BaseRequest) -> web.Response:
    """Answer `/<endpoint>[/<check>]` (endpoint: healthz, livez or readyz)."""
    checks = CHECKS[endpoint]
    if rest:
        name = "/".join(rest)
        if name not in checks:
            return _text("404 page not found\n", status=404)
        return _text("ok")
    if "verbose" not in query.query:
        return _text("ok")
    excluded = set(query.query.getall("exclude", []))
    lines = []
    for name in checks:
        lines.append(f"[+]{name} excluded: ok" if name in excluded else f"[+]{name} ok")
    unknown = sorted(excluded - set(checks))
    if unknown:
        quoted = ",".join(f'"{u}"' for u in unknown)
        lines.append(f"warn: some health checks cannot be excluded: no matches for {quoted}")
    return _text("\n".join(lines) + f"\n{endpoint} check passed\n")


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=body,
        status=status,
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )
