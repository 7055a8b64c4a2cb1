"""A kubesim whose kubelet runs pods as real processes, and a check that nothing is left behind.

These tests need root and iproute2 (they create a bridge, namespaces, veths and mounts); they
are skipped with a reason naming what is missing otherwise. Until the assembly offers
`KubeSim(runtime="process")`, the fixture builds the kubelets with the process runtime's
factory itself. Every test pod carries `KS_TEST=<marker>` in its environment, so the leak check
can find any process of ours that survived.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubesim import KubeSim, WorkloadsConfig
from kubesim.kubelet import agent as _agent
from kubesim.kubelet.process.cleanup import HostUnavailable, require_host
from kubesim.kubelet.process.env import ApiEndpoint
from kubesim.kubelet.process.host import ProcessHost
from kubesim.kubelet.process.sandbox import ServiceAccountFiles
from kubesim.workloads import Workloads
from tests.component.kubesim.polling import poller

#: The image the test pods use: this interpreter's environment (python, plus /usr/bin tools).
IMAGE = "kubesim.test/python:3"
#: Pod CIDRs the tests may claim: several kubesims (other checkouts' test runs) may be running.
CANDIDATE_CIDRS = [f"10.{n}.0.0/16" for n in range(200, 250)]


def claim_host(**options: Any) -> ProcessHost:
    """A ProcessHost on the first candidate pod CIDR no route on the host overlaps yet."""
    for cidr in CANDIDATE_CIDRS:
        try:
            return ProcessHost(pod_cidr=cidr, **options)
        except HostUnavailable as exc:
            if "overlaps" not in str(exc):
                raise
    raise AssertionError("every candidate pod CIDR is taken")


def _host_problem() -> str | None:
    try:
        require_host()
    except HostUnavailable as exc:
        return str(exc)
    return None


pytestmark = pytest.mark.skipif(_host_problem() is not None, reason=str(_host_problem()))


class _ProcessWorkloads(Workloads):
    """Workloads whose kubelets run the process runtime of `host`."""

    def __init__(self, cluster: Any, config: WorkloadsConfig, host: ProcessHost) -> None:
        super().__init__(cluster, config)
        self._host = host

    def _new_kubelet(self, name: str, index: int) -> _agent.Kubelet:
        self._indexes.add(index)
        kubelet = _agent.Kubelet(
            cluster=self.cluster,
            config=self.config,
            clock=self.clock,
            index=index,
            name=name,
            pods=self.pods,
            faults=self.faults,
            runtime_factory=self._host.runtime_factory(
                cluster=self.cluster, config=self.config, clock=self.clock
            ),
        )
        self.kubelets[name] = kubelet
        return kubelet


class ProcessKubeSim(KubeSim):
    """KubeSim with the process runtime (what `KubeSim(runtime="process")` will do)."""

    def __init__(self, host: ProcessHost, config: WorkloadsConfig) -> None:
        super().__init__(controllers=True, workloads_config=config)
        self.process_host = host

    def _make_workloads(self) -> Any:
        assert self._workloads_config is not None
        return _ProcessWorkloads(self.cluster, self._workloads_config, self.process_host)


@dataclass
class Cluster:
    """A running process-runtime kubesim and raw JSON access to its API."""

    sim: ProcessKubeSim
    host: ProcessHost
    session: aiohttp.ClientSession
    marker: str

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON or text) of one API request."""
        async with self.session.request(method, path, json=body) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def create(self, obj: dict[str, Any], plural: str = "pods") -> dict[str, Any]:
        """Create a namespaced core object in `default`; test pods get the leak marker."""
        if plural == "pods":
            for c in [*obj["spec"].get("initContainers", []), *obj["spec"]["containers"]]:
                c.setdefault("image", IMAGE)
                c.setdefault("env", []).append({"name": "KS_TEST", "value": self.marker})
        status, created = await self.request("POST", f"/api/v1/namespaces/default/{plural}", obj)
        assert status == 201, created
        return dict(created)

    async def pod(self, name: str) -> dict[str, Any]:
        """The pod as stored."""
        status, body = await self.request("GET", f"/api/v1/namespaces/default/pods/{name}")
        assert status == 200, body
        return dict(body)

    async def log(self, name: str, container: str, *, previous: bool = False) -> str:
        """`kubectl logs NAME -c CONTAINER [--previous]`."""
        query = f"container={container}" + ("&previous=true" if previous else "")
        status, body = await self.request(
            "GET", f"/api/v1/namespaces/default/pods/{name}/log?{query}"
        )
        assert status == 200, body
        return str(body)

    async def follow(self, name: str, container: str) -> str:
        """`kubectl logs -f NAME -c CONTAINER`: everything until the container ends."""
        path = f"/api/v1/namespaces/default/pods/{name}/log?container={container}&follow=true"
        async with self.session.get(path) as response:
            assert response.status == 200, await response.text()
            return await response.text()

    async def events(self, name: str) -> list[dict[str, Any]]:
        """Events about pod `name`."""
        _, body = await self.request(
            "GET",
            f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name={name}",
        )
        return list(body["items"])

    #: Poll a check every 0.2 s until it returns something truthy (real time: no looptime).
    eventually = staticmethod(poller(every=0.2, within=30.0))

    async def status_of(self, name: str, container: str) -> dict[str, Any]:
        """The container status (init or main) of `container` in pod `name`."""
        status = (await self.pod(name)).get("status") or {}
        for entry in [
            *(status.get("initContainerStatuses") or ()),
            *(status.get("containerStatuses") or ()),
        ]:
            if entry["name"] == container:
                return dict(entry)
        return {}

    async def delete(self, name: str, grace: int | None = None) -> None:
        """Delete pod `name` and wait until it is gone."""
        query = f"?gracePeriodSeconds={grace}" if grace is not None else ""
        await self.request("DELETE", f"/api/v1/namespaces/default/pods/{name}{query}")

        async def gone() -> bool:
            status, _ = await self.request("GET", f"/api/v1/namespaces/default/pods/{name}")
            return status == 404

        await self.eventually(gone, within=60)


def leftovers(instance: str, marker: str) -> list[str]:
    """Host objects of instance `instance`, or processes carrying `marker`, still present."""
    found = []
    netns = Path("/run/netns")
    if netns.exists():
        found += [f"netns {p.name}" for p in netns.iterdir() if p.name.startswith(f"ks{instance}")]
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name = line.split(":")[0].strip()
        if name.startswith(f"ks{instance}"):
            found.append(f"link {name}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if f"/tmp/ks/{instance}" in line.split()[4]:
            found.append(f"mount {line.split()[4]}")
    if Path(f"/tmp/ks/{instance}").exists():
        found.append(f"directory /tmp/ks/{instance}")
    needle = f"KS_TEST={marker}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "environ").read_bytes():
                    found.append(f"process {proc.name}")
            except OSError:
                continue
    return found


def fake_ray_env(root: Path, version: str) -> Path:
    """A directory that looks like an environment with Ray `version` installed (no programs)."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "lib/python3.11/site-packages" / f"ray-{version}.dist-info").mkdir(parents=True)
    return root


@pytest.fixture
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    """A two-node process-runtime kubesim; afterwards no namespace, link, mount or process
    is left.

    Images: `IMAGE` runs from this interpreter's environment; `rayproject/ray*` from a fake
    environment "with Ray 2.60.0" (its bin/ is empty, so the system's programs run).
    """
    host = claim_host(
        image_map={IMAGE: sys.prefix, "rayproject/ray*": str(fake_ray_env(tmp_path, "2.60.0"))},
        api=ApiEndpoint("10.251.0.1", 6443),
        service_accounts=ServiceAccountFiles(
            ca_crt="test CA\n", token=lambda namespace, account: f"token-{namespace}-{account}"
        ),
    )
    marker = f"{os.getpid()}-{request.node.name}"
    config = WorkloadsConfig.fast(
        nodes=2, pod_cidr=host.pod_network.pod_cidr, crash_backoff_base=1.0, crash_backoff_max=4.0
    )
    process_sim = ProcessKubeSim(host, config)
    # Pods get the service-account CA through the kube-api-access volume, from kube-root-ca.crt.
    process_sim.cluster.admission.set_root_ca("test CA\n")
    try:
        async with (
            process_sim as sim,
            aiohttp.ClientSession(base_url=sim.url) as session,
        ):
            yield Cluster(sim=sim, host=host, session=session, marker=marker)
    finally:
        host.close()
    await asyncio.sleep(0.2)
    assert leftovers(host.instance.id, marker) == []
