"""kubesim's HTTP front end: kube-apiserver's REST surface over aiohttp, thin over `Cluster`.

`build_app(...)` returns the aiohttp application; `Dispatcher` routes every request itself
(one catch-all handler is cheaper than aiohttp's router for this grammar and keeps per-request
overhead low).
"""

from kubesim.apiserver.server.app import ServerOptions, build_app

__all__ = ["ServerOptions", "build_app"]
