"""The same HTTP request to kubesim and to the real kube-apiserver, answers normalised and compared.

A differential test is a sequence of ``await pair.same(method, path, ...)`` calls: each sends
the request to both servers, normalises both answers (uids, timestamps, resourceVersions,
generated names, continue tokens: what legitimately differs between two servers) and asserts
they are equal, showing a unified diff when they are not. Both servers get the same namespace
name (fresh per test), so paths and bodies need no rewriting.
"""

from __future__ import annotations

import difflib
import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

JSON = "application/json"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"

# Values that legitimately differ between two servers: replaced by a placeholder of their key.
VOLATILE_KEYS = frozenset(
    {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "time", "continue",
     "lastTransitionTime", "lastUpdateTime", "renewTime", "acquireTime", "clusterIP",
     "clusterIPs", "selfLink"}
)  # fmt: skip


# Objects the real server's controller-manager creates in every namespace (kubesim has no such
# controller): left out of lists and watches so they compare (docs/kubesim.md lists it).
SYSTEM_OBJECTS = frozenset({"kube-root-ca.crt"})
# Managers of the real server's controllers (status, revision annotations): kubesim's fixture
# runs none, so their managedFields entries are dropped; tests ignore the fields they write.
CONTROLLER_MANAGERS = frozenset({"kube-controller-manager"})


def is_system(obj: Any) -> bool:
    """Whether ``obj`` is one of SYSTEM_OBJECTS."""
    return isinstance(obj, dict) and (obj.get("metadata") or {}).get("name") in SYSTEM_OBJECTS


_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


@dataclass(frozen=True)
class Answer:
    """One server's answer: status code, decoded body (or raw text) and the Warning headers."""

    status: int
    body: Any
    warnings: tuple[str, ...] = ()


def normalise(value: Any, *, generated: frozenset[str] = frozenset()) -> Any:
    """``value`` with every volatile field replaced by ``<key>`` and generated names by ``<gen>``."""
    if isinstance(value, dict):
        return {
            key: (f"<{key}>" if key in VOLATILE_KEYS and item not in ("", None) else
                  normalise(item, generated=generated))
            for key, item in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [normalise(item, generated=generated) for item in value]
    if isinstance(value, str):
        for name in generated:
            value = value.replace(name, "<generated>")
        return _UUID.sub("<uid>", value)  # uids quoted in messages (preconditions)
    return value


@dataclass
class Server:
    """One API server reached over HTTP(S) with its own credentials."""

    name: str
    url: str
    session: aiohttp.ClientSession
    headers: Mapping[str, str] = field(default_factory=dict)

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Answer:
        """Send one request; return the answer whatever its status."""
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        headers = {**self.headers, "Accept": accept, "Content-Type": content_type}
        async with self.session.request(
            method, self.url + path, data=data, params=dict(query or {}), headers=headers
        ) as response:
            text = await response.text()
            warnings = tuple(response.headers.getall("Warning", []))
        try:
            decoded = json.loads(text) if text else None
        except ValueError:
            decoded = text
        return Answer(response.status, decoded, warnings)


def make_session(
    *, ca_pem: bytes | None = None, cert: tuple[str, str] | None = None
) -> aiohttp.ClientSession:
    """An aiohttp session trusting ``ca_pem`` and presenting the client ``cert`` (paths)."""
    if ca_pem is None:
        return aiohttp.ClientSession()
    context = ssl.create_default_context(cadata=ca_pem.decode())
    if cert is not None:
        context.load_cert_chain(*cert)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))


def diff(left: Any, right: Any, names: tuple[str, str]) -> str:
    """A unified diff of two JSON values (sorted keys)."""
    dump = [json.dumps(v, indent=1, sort_keys=True).splitlines() for v in (left, right)]
    return "\n".join(difflib.unified_diff(*dump, *names, lineterm=""))


@dataclass
class Pair:
    """kubesim and the real server, and the namespace this test owns on both."""

    sim: Server
    real: Server
    namespace: str
    generated: set[str] = field(default_factory=set)

    async def both(self, method: str, path: str, **kwargs: Any) -> tuple[Answer, Answer]:
        """The same request to both servers (kubesim first)."""
        path = path.replace("{ns}", self.namespace)
        return await self.sim.call(method, path, **kwargs), await self.real.call(
            method, path, **kwargs
        )

    async def same(
        self,
        method: str,
        path: str,
        *,
        ignore: tuple[str, ...] = (),
        differs: str = "",
        **kwargs: Any,
    ) -> Answer:
        """Send to both, assert equal status and normalised body; return kubesim's answer.

        ``ignore`` lists dotted paths (``metadata.annotations``, ``status``) removed from both
        bodies before comparing: parts a test does not pin. ``differs`` names a known
        difference (listed in docs/kubesim.md): then the answers must still differ, so a fix
        in kubesim makes the test fail until the marker and the docs entry are removed."""
        sim, real = await self.both(method, path, **kwargs)
        self._learn_generated(sim.body, real.body)
        left, right = (self._comparable(a.body, ignore) for a in (sim, real))
        if differs:
            assert (sim.status, left) != (real.status, right), (
                f"{method} {path}: the known difference is gone ({differs}); remove the marker "
                "and its entry in docs/kubesim.md"
            )
            return sim
        assert (sim.status, left) == (real.status, right), (
            f"{method} {path}: kubesim {sim.status}, real {real.status}\n"
            + diff(left, right, ("kubesim", "kube-apiserver"))
        )
        return sim

    def _comparable(self, body: Any, ignore: tuple[str, ...]) -> Any:
        value = normalise(body, generated=frozenset(self.generated))
        if isinstance(value, dict) and isinstance(value.get("items"), list):
            value["items"] = [item for item in value["items"] if not is_system(item)]
        meta = value.get("metadata") if isinstance(value, dict) else None
        if isinstance(meta, dict) and meta.get("managedFields"):
            meta["managedFields"] = [
                e for e in meta["managedFields"] if e.get("manager") not in CONTROLLER_MANAGERS
            ]
        for dotted in ignore:
            _drop(value, dotted.split("."))
        return value

    def _learn_generated(self, sim: Any, real: Any) -> None:
        """Names the servers generated (metadata.generateName) count as volatile from now on."""
        for body in (sim, real):
            meta = body.get("metadata") if isinstance(body, dict) else None
            if meta and meta.get("generateName") and meta.get("name"):
                self.generated.add(meta["name"])


def _drop(value: Any, keys: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, keys)
    elif isinstance(value, dict) and keys and keys[0] in value:
        if len(keys) == 1:
            del value[keys[0]]
        else:
            _drop(value[keys[0]], keys[1:])
