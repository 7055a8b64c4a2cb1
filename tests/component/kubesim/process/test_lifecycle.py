"""Container lifecycle under the process runtime: exits, restarts, probes, termination, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from kubesim import KubeSim
from tests.component.kubesim.conftest import KubectlRunner
from tests.component.kubesim.process.conftest import Cluster
from tests.component.kubesim.process.test_pods import finished, shell_pod


async def test_exit_codes_restarts_and_crash_loop(cluster: Cluster) -> None:
    """A container exiting 3 is Error/3, restarted by the kubelet, then held in CrashLoopBackOff."""
    await cluster.create(shell_pod("crash", "echo run; exit 3", restartPolicy="Always"))

    async def backing_off() -> Any:
        status = await cluster.status_of("crash", "main")
        waiting = status.get("state", {}).get("waiting") or {}
        return status if waiting.get("reason") == "CrashLoopBackOff" else None

    status = await cluster.eventually(backing_off, within=45)
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert await cluster.log("crash", "main", previous=True) == "run\n"
    events = [e["reason"] for e in await cluster.events("crash")]
    assert "BackOff" in events


async def test_readiness_by_http_get_and_exec(cluster: Cluster) -> None:
    """Ready only once the httpGet probe (python -m http.server) and the exec probe pass."""
    pod = shell_pod("web", "sleep 1.5; touch /tmp/ok; exec python -m http.server 8080")
    pod["spec"]["restartPolicy"] = "Always"
    pod["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/", "port": "web"},
        "periodSeconds": 1,
    }
    pod["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 8080}]
    sidecar = {
        "name": "side",
        "command": ["sleep", "60"],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/flag"]}, "periodSeconds": 1},
    }
    pod["spec"]["containers"].append(sidecar)
    await cluster.create(pod)

    async def ready(name: str) -> bool:
        return bool((await cluster.status_of("web", name)).get("ready"))

    await cluster.eventually(lambda: ready("main"))
    assert not await ready("side")
    events = await cluster.events("web")
    assert any(
        "Readiness probe failed" in e["message"] for e in events if e["reason"] == "Unhealthy"
    )
    # The exec probe runs inside the sidecar's own mount namespace: its private /tmp.
    uid = (await cluster.pod("web"))["metadata"]["uid"]
    runtime = next(iter(cluster.sim.workloads.kubelets.values())).runtime
    target = runtime.exec_target(uid, "side")  # type: ignore[attr-defined]
    proc = await asyncio.create_subprocess_exec(
        *target.prefix, "touch", "/tmp/flag", env=target.env
    )
    assert await proc.wait() == 0
    await cluster.eventually(lambda: ready("side"))
    await cluster.delete("web", grace=1)


async def watch_statuses(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    """Every container status pod `name` goes through until it is deleted (a watch)."""
    seen: list[dict[str, Any]] = []
    path = f"/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name={name}"
    async with cluster.session.get(path) as response:
        async for line in response.content:
            event = json.loads(line)
            seen += (event["object"].get("status") or {}).get("containerStatuses") or []
            if event["type"] == "DELETED":
                return seen
    return seen


async def test_termination_sigterm_then_sigkill(cluster: Cluster) -> None:
    """Deletion runs preStop, sends SIGTERM to the process group and SIGKILLs after the grace."""
    polite = (
        "trap 'echo got-term after $(cat /tmp/hook); exit 0' TERM; while true; do sleep 0.1; done"
    )
    stubborn = "trap 'echo ignored-term' TERM; while true; do sleep 0.1; done"
    pod = shell_pod("stop", polite, terminationGracePeriodSeconds=2)
    pod["spec"]["containers"][0]["lifecycle"] = {
        "preStop": {"exec": {"command": ["sh", "-c", "echo prestop > /tmp/hook"]}}
    }
    pod["spec"]["containers"].append({"name": "stubborn", "command": ["sh", "-c", stubborn]})
    await cluster.create(pod)

    async def running() -> bool:
        statuses = (await cluster.pod("stop")).get("status", {}).get("containerStatuses") or []
        return len(statuses) == 2 and all("running" in s["state"] for s in statuses)

    await cluster.eventually(running)
    await asyncio.sleep(0.5)  # let the shells install their traps
    watch = asyncio.create_task(watch_statuses(cluster, "stop"))
    follows = {c: asyncio.create_task(cluster.follow("stop", c)) for c in ("main", "stubborn")}
    loop = asyncio.get_running_loop()
    began = loop.time()
    await cluster.request("DELETE", "/api/v1/namespaces/default/pods/stop")
    statuses = await asyncio.wait_for(watch, 30)
    took = loop.time() - began
    seen_logs = {c: await asyncio.wait_for(task, 10) for c, task in follows.items()}
    exits = {
        s["name"]: s["state"]["terminated"]["exitCode"]
        for s in statuses
        if "terminated" in s["state"]
    }
    assert exits == {"main": 0, "stubborn": 137}
    assert took >= 1.5
    assert "got-term after prestop" in seen_logs["main"]
    assert "ignored-term" in seen_logs["stubborn"]


async def test_liveness_failure_restarts_the_container(cluster: Cluster) -> None:
    """A failing liveness probe kills the container, which the kubelet restarts."""
    pod = shell_pod(
        "live", "exec sleep 60", restartPolicy="Always", terminationGracePeriodSeconds=1
    )
    pod["spec"]["containers"][0]["livenessProbe"] = {
        "tcpSocket": {"port": 9999},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    await cluster.create(pod)

    async def restarted() -> bool:
        return int((await cluster.status_of("live", "main")).get("restartCount", 0)) >= 1

    await cluster.eventually(restarted, within=30)
    messages = [e["message"] for e in await cluster.events("live")]
    assert "Container main failed liveness probe, will be restarted" in messages
    await cluster.delete("live", grace=0)


async def test_unmapped_image_waits_in_image_pull_back_off(cluster: Cluster) -> None:
    """An image with no local environment: ErrImagePull then ImagePullBackOff naming the flag."""
    await cluster.create(
        shell_pod(
            "noimage",
            "true",
            containers=[{"name": "main", "image": "example.com/unknown:1", "command": ["true"]}],
        )
    )

    async def backing_off() -> Any:
        waiting = (await cluster.status_of("noimage", "main")).get("state", {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "ImagePullBackOff" else None

    waiting = await cluster.eventually(backing_off)
    assert "--image-map example.com/unknown:1=DIR" in waiting["message"]
    await cluster.delete("noimage", grace=0)


async def test_missing_command_is_reported(cluster: Cluster) -> None:
    """Without an image there is no ENTRYPOINT: a container with no command cannot start."""
    await cluster.create(shell_pod("nocmd", "", containers=[{"name": "main"}]))

    async def reported() -> Any:
        waiting = (await cluster.status_of("nocmd", "main")).get("state", {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerError" else None

    waiting = await cluster.eventually(reported)
    assert "no command specified" in waiting["message"]
    await cluster.delete("nocmd", grace=0)


async def test_host_network_and_privileged_pods_are_refused(cluster: Cluster) -> None:
    """hostNetwork and privileged pods never run: a clear waiting reason and a Warning event."""
    await cluster.create(shell_pod("hostnet", "true", hostNetwork=True))
    priv = shell_pod("priv", "true")
    priv["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    await cluster.create(priv)
    for name, words in (("hostnet", "hostNetwork pods are refused"), ("priv", "privileged")):

        async def refused(name: str = name) -> Any:
            waiting = (await cluster.status_of(name, "main")).get("state", {}).get("waiting") or {}
            return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

        waiting = await cluster.eventually(refused)
        assert words in waiting["message"]
        events = await cluster.events(name)
        assert any(e["type"] == "Warning" and words in e["message"] for e in events)
        await cluster.delete(name, grace=0)


async def test_kubectl_exec_runs_inside_the_container(
    cluster: Cluster, kubectl_for: Callable[[KubeSim], KubectlRunner]
) -> None:
    """`kubectl exec` runs in the container's namespaces, environment and private /tmp."""
    pod = shell_pod("box", "echo mine > /tmp/here; exec sleep 60", terminationGracePeriodSeconds=0)
    pod["spec"]["containers"][0]["env"] = [{"name": "GREETING", "value": "hi"}]
    pod["spec"]["containers"][0]["workingDir"] = "/tmp"
    await cluster.create(pod)

    async def running() -> bool:
        return "running" in (await cluster.status_of("box", "main")).get("state", {})

    await cluster.eventually(running)
    kubectl = kubectl_for(cluster.sim)
    script = (
        'hostname; echo "$GREETING"; cat here; /bin/pwd -P; ip -4 -o addr show eth0 | wc -l; exit 7'
    )
    code, out, err = await kubectl("exec", "box", "-c", "main", "--", "sh", "-c", script)
    assert code == 7, err
    assert out.splitlines() == ["box", "hi", "mine", "/tmp", "1"]
    code, _, err = await kubectl("exec", "box", "-c", "main", "--", "no-such-program")
    assert code != 0
    assert "no-such-program" in err


async def test_ray_version_differing_from_the_image_tag_is_warned_once(cluster: Cluster) -> None:
    """An image tagged with Ray 2.6.0 that runs Ray 2.60.0 gets one Warning event naming both."""
    containers = [
        {"name": "main", "image": "rayproject/ray:2.6.0", "command": ["sh", "-c", "echo ok"]},
        {"name": "side", "image": "rayproject/ray:2.6.0", "command": ["true"]},
    ]
    await cluster.create(shell_pod("rayv", "", containers=containers))
    await finished(cluster, "rayv")
    warnings = [e for e in await cluster.events("rayv") if e["reason"] == "RayVersionMismatch"]
    assert len(warnings) == 1
    assert "names Ray 2.6.0, but Ray 2.60.0 runs" in warnings[0]["message"]
    assert warnings[0]["type"] == "Warning"
    assert await cluster.log("rayv", "main") == "ok\n"


async def test_startup_probe_holds_readiness_until_it_passes(cluster: Cluster) -> None:
    """`started` and readiness wait for the startup probe; then the readiness probe decides."""
    pod = shell_pod("slow", "sleep 2; touch /tmp/started; exec sleep 60", restartPolicy="Always")
    pod["spec"]["terminationGracePeriodSeconds"] = 0
    pod["spec"]["containers"][0]["startupProbe"] = {
        "exec": {"command": ["test", "-f", "/tmp/started"]},
        "periodSeconds": 1,
        "failureThreshold": 30,
    }
    pod["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["true"]},
        "periodSeconds": 1,
    }
    await cluster.create(pod)

    async def running() -> Any:
        status = await cluster.status_of("slow", "main")
        return status if "running" in status.get("state", {}) else None

    early = await cluster.eventually(running)
    assert (early["started"], early["ready"]) == (False, False)

    async def ready() -> Any:
        status = await cluster.status_of("slow", "main")
        return status if status.get("ready") else None

    late = await cluster.eventually(ready)
    assert late["started"] is True
    assert late["restartCount"] == 0
    await cluster.delete("slow", grace=0)
