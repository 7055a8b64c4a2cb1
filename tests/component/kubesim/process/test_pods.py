"""Pods run as real processes: their network, files, environment and lifecycle."""

from __future__ import annotations

from typing import Any

from tests.component.kubesim.process.conftest import Cluster


def shell_pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    """A one-container pod running `sh -c script`."""
    container = {"name": "main", "command": ["sh", "-c", script]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


async def test_pod_sees_its_own_ip_and_hostname(cluster: Cluster) -> None:
    """The container runs in the pod's namespaces: eth0 has the pod IP, the hostname is the pod's."""
    script = (
        "hostname; ip -4 -o addr show eth0; cat /etc/hosts; "
        "echo nsfs $(grep -c nsfs /proc/self/mountinfo) old $(ls -a / | grep -c kubesim)"
    )
    await cluster.create(shell_pod("who", script))

    async def done() -> Any:
        return (await cluster.status_of("who", "main")).get("state", {}).get("terminated")

    terminated = await cluster.eventually(done)
    pod = await cluster.pod("who")
    log = await cluster.log("who", "main")
    assert terminated["exitCode"] == 0, log
    assert terminated["reason"] == "Completed"
    assert log.splitlines()[0] == "who"
    assert f"inet {pod['status']['podIP']}/16" in log
    assert f"{pod['status']['podIP']}\twho" in log
    # No other pod's network namespace is pinned by this container, and no old root shows.
    assert log.splitlines()[-1] == "nsfs 0 old 0"
    assert pod["status"]["phase"] == "Succeeded"


async def finished(cluster: Cluster, name: str, container: str = "main") -> dict[str, Any]:
    """The terminated state of `container` once it has one."""

    async def check() -> Any:
        return (await cluster.status_of(name, container)).get("state", {}).get("terminated")

    return dict(await cluster.eventually(check))


async def test_pods_reach_each_other_by_pod_ip(cluster: Cluster) -> None:
    """A pod's HTTP server answers a pod of another node at its pod IP, through the bridge."""
    server = shell_pod("server", "exec python -m http.server 8080", nodeName="kubesim-node-0")
    server["spec"]["containers"][0]["readinessProbe"] = {
        "tcpSocket": {"port": 8080},
        "periodSeconds": 1,
    }
    await cluster.create(server)

    async def ready_ip() -> Any:
        pod = await cluster.pod("server")
        statuses = pod.get("status", {}).get("containerStatuses") or [{}]
        return pod["status"].get("podIP") if statuses[0].get("ready") else None

    ip = await cluster.eventually(ready_ip)
    script = (
        'python -c "import urllib.request as u;'
        f"print(u.urlopen('http://{ip}:8080/', timeout=5).status)\""
    )
    await cluster.create(shell_pod("client", script, nodeName="kubesim-node-1"))
    terminated = await finished(cluster, "client")
    assert terminated["exitCode"] == 0, await cluster.log("client", "main")
    assert (await cluster.log("client", "main")).strip() == "200"


async def test_environment_as_the_kubelet_builds_it(cluster: Cluster) -> None:
    """Service variables, $(VAR) expansion, fieldRef, resourceFieldRef and envFrom are set."""
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"MODE": "fast", "bad key": "skipped"},
        },
        "configmaps",
    )
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "my-svc"},
            "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 8000}]},
        },
        "services",
    )
    pod = shell_pod("env", "env | sort")
    pod["spec"]["containers"][0].update(
        envFrom=[{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        env=[
            {"name": "BASE", "value": "b"},
            {"name": "DERIVED", "value": "$(BASE)-$(CFG_MODE)-$(MISSING)-$$(BASE)"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
        ],
        resources={"limits": {"memory": "256Mi", "cpu": "1"}},
    )
    await cluster.create(pod)
    await finished(cluster, "env")
    env = dict(
        line.split("=", 1)
        for line in (await cluster.log("env", "main")).splitlines()
        if "=" in line
    )
    ip = (await cluster.pod("env"))["status"]["podIP"]
    assert env["DERIVED"] == "b-fast-$(MISSING)-$(BASE)"
    assert env["CFG_MODE"] == "fast"
    assert "CFG_bad key" not in env
    assert (env["POD_NAME"], env["POD_IP"], env["APP"], env["MEM"]) == ("env", ip, "env", "256")
    assert env["MY_SVC_SERVICE_PORT"] == "8000"
    assert env["MY_SVC_SERVICE_PORT_HTTP"] == "8000"
    assert env["MY_SVC_PORT"].startswith("tcp://")
    assert env["MY_SVC_PORT"].endswith(":8000")
    assert env["HOSTNAME"] == "env"
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT_HTTPS"]) == (
        "10.251.0.1",
        "6443",
    )
    events = await cluster.events("env")
    assert any(e["reason"] == "InvalidEnvironmentVariableNames" for e in events)


async def test_files_volumes_and_service_account(cluster: Cluster) -> None:
    """emptyDir is shared between containers; downwardAPI and configMap volumes are files;
    /tmp is private to a container; /etc/resolv.conf has the cluster search path."""
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "files"},
            "data": {"greeting": "hello"},
        },
        "configmaps",
    )
    writer = {
        "name": "writer",
        "command": ["sh", "-c", "echo shared > /data/note; touch /tmp/mine; sleep 30"],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    reader_script = (
        "until [ -f /data/note ]; do sleep 0.1; done; cat /data/note; "
        "cat /etc/podinfo/labels; echo; cat /config/greeting; echo; "
        "ls /tmp; echo tmp-end; cat /etc/greeting.txt; echo; df -k /mem | tail -1; "
        "cat /etc/resolv.conf"
    )
    reader = {
        "name": "main",
        "command": ["sh", "-c", reader_script],
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "info", "mountPath": "/etc/podinfo"},
            {"name": "config", "mountPath": "/config"},
            {"name": "mem", "mountPath": "/mem"},
            {"name": "config", "mountPath": "/etc/greeting.txt", "subPath": "greeting"},
        ],
    }
    pod = shell_pod("files", "")
    pod["spec"].update(
        containers=[writer, reader],
        volumes=[
            {"name": "data", "emptyDir": {}},
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
            {"name": "config", "configMap": {"name": "files"}},
            {
                "name": "info",
                "downwardAPI": {
                    "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
                },
            },
        ],
    )
    await cluster.create(pod)
    await finished(cluster, "files")
    log = (await cluster.log("files", "main")).splitlines()
    assert log, (await cluster.pod("files"))["status"]["containerStatuses"][1]["state"]
    assert log[0] == "shared", "\n".join(log)
    assert log[1] == 'app="files"'
    assert log[2] == "hello"
    assert log[3] == "tmp-end"  # the writer's /tmp/mine is not in this container's /tmp
    assert log[4] == "hello"  # a subPath file mounted where the host has no file
    assert log[5].split()[1] == "8192"  # the Memory emptyDir is a tmpfs of its sizeLimit
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in log
    assert "options ndots:5" in log
    await cluster.delete("files", grace=0)


async def test_service_account_files_honour_automount(cluster: Cluster) -> None:
    """The token, ca.crt and namespace are at the usual path, unless automount is off."""
    script = (
        "cd /var/run/secrets/kubernetes.io/serviceaccount && cat namespace; echo; cat token; "
        "echo; cat ca.crt; ls /var/run/secrets"
    )
    await cluster.create(shell_pod("sa", script))
    await cluster.create(shell_pod("nosa", script, automountServiceAccountToken=False))
    await finished(cluster, "sa")
    await finished(cluster, "nosa")
    assert (await cluster.log("sa", "main")).splitlines() == [
        "default",
        "token-default-default",
        "test CA",
        "kubernetes.io",
    ]
    assert "No such file" in await cluster.log("nosa", "main")


async def test_init_containers_run_in_order_before_main(cluster: Cluster) -> None:
    """Init containers run one after another, each to completion, before the main container."""
    volume = [{"name": "data", "mountPath": "/data"}]
    pod = shell_pod("init", "cat /data/order")
    pod["spec"]["containers"][0]["volumeMounts"] = volume
    pod["spec"].update(
        volumes=[{"name": "data", "emptyDir": {}}],
        initContainers=[
            {
                "name": "first",
                "command": ["sh", "-c", "sleep 0.5; echo first >> /data/order"],
                "volumeMounts": volume,
            },
            {
                "name": "second",
                "command": ["sh", "-c", "echo second >> /data/order"],
                "volumeMounts": volume,
            },
        ],
    )
    await cluster.create(pod)
    await finished(cluster, "init")
    assert (await cluster.log("init", "main")).split() == ["first", "second"]
    first = await cluster.status_of("init", "first")
    assert first["state"]["terminated"]["reason"] == "Completed"


async def test_failed_init_container_fails_a_never_restarting_pod(cluster: Cluster) -> None:
    """An init container exiting 2 with restartPolicy Never: the pod fails, main never runs."""
    pod = shell_pod("badinit", "echo main-ran")
    pod["spec"]["initContainers"] = [{"name": "init", "command": ["sh", "-c", "exit 2"]}]
    await cluster.create(pod)

    async def failed() -> bool:
        return (await cluster.pod("badinit")).get("status", {}).get("phase") == "Failed"

    await cluster.eventually(failed)
    init = await cluster.status_of("badinit", "init")
    assert init["state"]["terminated"]["exitCode"] == 2
    assert "running" not in (await cluster.status_of("badinit", "main")).get("state", {})


async def test_deleting_a_pod_during_its_init_container(cluster: Cluster) -> None:
    """A pod deleted while an init container runs stops it and goes; main never starts."""
    pod = shell_pod("slowinit", "echo main-ran", terminationGracePeriodSeconds=1)
    pod["spec"]["initContainers"] = [{"name": "init", "command": ["sleep", "60"]}]
    await cluster.create(pod)

    async def init_running() -> bool:
        return "running" in (await cluster.status_of("slowinit", "init")).get("state", {})

    await cluster.eventually(init_running)
    await cluster.delete("slowinit")


async def test_failing_init_container_backs_off_then_succeeds(cluster: Cluster) -> None:
    """A failing init container waits in CrashLoopBackOff, is retried, and then lets main run."""
    volume = [{"name": "data", "mountPath": "/data"}]
    pod = shell_pod("retry", "echo main-ran")
    pod["spec"]["containers"][0]["volumeMounts"] = volume
    script = "echo try >> /data/tries; [ $(wc -l < /data/tries) -ge 2 ]"
    pod["spec"].update(
        restartPolicy="OnFailure",
        volumes=[{"name": "data", "emptyDir": {}}],
        initContainers=[{"name": "init", "command": ["sh", "-c", script], "volumeMounts": volume}],
    )
    await cluster.create(pod)

    async def backing_off() -> Any:
        status = await cluster.status_of("retry", "init")
        waiting = status.get("state", {}).get("waiting") or {}
        return status if waiting.get("reason") == "CrashLoopBackOff" else None

    status = await cluster.eventually(backing_off)
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["restartCount"] == 1
    await finished(cluster, "retry")
    assert await cluster.log("retry", "main") == "main-ran\n"
    init = await cluster.status_of("retry", "init")
    assert init["state"]["terminated"]["reason"] == "Completed"
    assert init["restartCount"] == 1
