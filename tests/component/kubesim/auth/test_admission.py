"""Admission over HTTP: ServiceAccount, Priority, LimitRanger, ResourceQuota, namespace defaults."""

from __future__ import annotations

from typing import Any

from kubesim import KubeSim, WorkloadsConfig
from tests.component.kubesim.auth.conftest import Identity

PODS = "/api/v1/namespaces/default/pods"


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "x"}
    if "resources" in spec:
        container["resources"] = spec.pop("resources")
    return {"metadata": {"name": name}, "spec": {"containers": [container], **spec}}


async def test_every_namespace_gets_a_default_account_and_the_root_ca(sim: KubeSim) -> None:
    """A new namespace has `default` and `kube-root-ca.crt` at once; deleted, they come back."""
    admin = Identity(sim, sim.admin_token)
    assert (await admin.post("/api/v1/namespaces", {"metadata": {"name": "team"}}))[0] == 201
    code, account = await admin.get("/api/v1/namespaces/team/serviceaccounts/default")
    assert code == 200
    code, configmap = await admin.get("/api/v1/namespaces/team/configmaps/kube-root-ca.crt")
    assert code == 200
    assert "ca.crt" in configmap["data"]
    await admin.request("DELETE", "/api/v1/namespaces/team/serviceaccounts/default")
    code, again = await admin.get("/api/v1/namespaces/team/serviceaccounts/default")
    assert code == 200
    assert again["metadata"]["uid"] != account["metadata"]["uid"]


async def test_tls_kubesim_publishes_its_ca_in_kube_root_ca() -> None:
    """Over HTTPS, `kube-root-ca.crt` holds the CA that signed the server certificate."""
    async with KubeSim(tls=True, controllers=False) as sim:
        configmap = sim.cluster.get("configmaps", "default", "kube-root-ca.crt")
        assert configmap["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")


async def test_a_pod_naming_a_missing_account_is_refused(sim: KubeSim) -> None:
    """Upstream's 403 for a missing ServiceAccount; an existing one gets its token projected."""
    admin = Identity(sim, sim.admin_token)
    code, body = await admin.post(PODS, _pod("p", serviceAccountName="ghost"))
    assert code == 403
    assert body["message"] == (
        'pods "p" is forbidden: error looking up service account default/ghost: '
        'serviceaccount "ghost" not found'
    )
    code, pod = await admin.post(PODS, _pod("q"))
    assert code == 201
    (volume,) = pod["spec"]["volumes"]
    assert volume["name"].startswith("kube-api-access-")
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {
            "name": volume["name"],
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }
    ]
    code, pod = await admin.post(PODS, _pod("r", automountServiceAccountToken=False))
    assert code == 201
    assert "volumes" not in pod["spec"]


async def test_a_statefulset_records_failed_create_until_its_account_exists() -> None:
    """With a missing account the StatefulSet's pods are refused (FailedCreate); once the
    account exists the pod appears."""
    async with KubeSim(workloads_config=WorkloadsConfig.fast()) as sim:
        admin = Identity(sim, sim.admin_token)
        sts = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "serviceName": "web",
                "replicas": 1,
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "serviceAccountName": "builder",
                        "containers": [{"name": "c", "image": "x"}],
                    },
                },
            },
        }
        assert (await admin.post("/apis/apps/v1/namespaces/default/statefulsets", sts))[0] == 201
        for _ in range(200):
            events, _ = sim.cluster.list("events", "default")
            failed = [e for e in events if e.get("reason") == "FailedCreate"]
            if failed:
                break
            await __import__("asyncio").sleep(0.02)
        assert failed, "no FailedCreate event"
        assert (
            'error looking up service account default/builder: serviceaccount "builder" not found'
            in failed[0]["message"]
        )
        assert not sim.cluster.list("pods", "default")[0]
        await admin.post(
            "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "builder"}}
        )
        for _ in range(300):
            if sim.cluster.list("pods", "default")[0]:
                break
            await __import__("asyncio").sleep(0.02)
        assert [p["metadata"]["name"] for p in sim.cluster.list("pods", "default")[0]] == ["web-0"]


async def test_priority_classes_resolve_and_unknown_ones_are_refused(sim: KubeSim) -> None:
    """The two system classes exist; a pod's class sets its priority; an unknown class is 403."""
    admin = Identity(sim, sim.admin_token)
    code, classes = await admin.get("/apis/scheduling.k8s.io/v1/priorityclasses")
    assert {c["metadata"]["name"]: c["value"] for c in classes["items"]} == {
        "system-cluster-critical": 2000000000,
        "system-node-critical": 2000001000,
    }
    code, pod = await admin.post(PODS, _pod("a", priorityClassName="system-cluster-critical"))
    assert (code, pod["spec"]["priority"]) == (201, 2000000000)
    code, body = await admin.post(PODS, _pod("b", priorityClassName="gold"))
    assert (code, body["message"]) == (
        403,
        'pods "b" is forbidden: no PriorityClass with name gold was found',
    )
    high = {
        "metadata": {"name": "high"},
        "value": 1000,
        "globalDefault": True,
        "preemptionPolicy": "Never",
    }
    assert (await admin.post("/apis/scheduling.k8s.io/v1/priorityclasses", high))[0] == 201
    code, pod = await admin.post(PODS, _pod("c"))
    assert (
        pod["spec"]["priorityClassName"],
        pod["spec"]["priority"],
        pod["spec"]["preemptionPolicy"],
    ) == ("high", 1000, "Never")


async def test_limit_ranges_default_and_bound_container_resources(sim: KubeSim) -> None:
    """Defaults fill missing requests/limits (and say so); values beyond max are refused."""
    admin = Identity(sim, sim.admin_token)
    limits = {
        "metadata": {"name": "bounds"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "256Mi"},
                    "defaultRequest": {"cpu": "100m"},
                    "max": {"cpu": "1"},
                }
            ]
        },
    }
    assert (await admin.post("/api/v1/namespaces/default/limitranges", limits))[0] == 201
    code, pod = await admin.post(PODS, _pod("a"))
    assert code == 201
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "256Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    )
    code, body = await admin.post(PODS, _pod("b", resources={"limits": {"cpu": "2"}}))
    assert (code, body["message"]) == (
        403,
        'pods "b" is forbidden: maximum cpu usage per Container is 1, but limit is 2',
    )


async def test_resource_quota_refuses_and_reports_usage(sim: KubeSim) -> None:
    """Quota on pods, cpu and configmaps: upstream's messages, and status.used kept current."""
    admin = Identity(sim, sim.admin_token)
    quota = {
        "metadata": {"name": "small"},
        "spec": {"hard": {"pods": "2", "requests.cpu": "1", "count/configmaps": "2"}},
    }
    assert (await admin.post("/api/v1/namespaces/default/resourcequotas", quota))[0] == 201
    half = {"requests": {"cpu": "500m"}}
    assert (await admin.post(PODS, _pod("a", resources=half)))[0] == 201
    code, body = await admin.post(PODS, _pod("b", resources={"requests": {"cpu": "600m"}}))
    assert (code, body["message"]) == (
        403,
        'pods "b" is forbidden: exceeded quota: small, requested: requests.cpu=600m, '
        "used: requests.cpu=500m, limited: requests.cpu=1",
    )
    code, body = await admin.post(PODS, _pod("c"))
    assert (code, body["message"]) == (
        403,
        'pods "c" is forbidden: failed quota: small: must specify requests.cpu for: c',
    )
    assert (await admin.post(PODS, _pod("d", resources=half)))[0] == 201
    code, body = await admin.post(PODS, _pod("e", resources={"requests": {"cpu": "0"}}))
    assert body["message"] == (
        'pods "e" is forbidden: exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2'
    )
    code, status = await admin.get("/api/v1/namespaces/default/resourcequotas/small")
    assert status["status"]["used"] == {"pods": "2", "requests.cpu": "1", "count/configmaps": "1"}
    code, body = await admin.post(
        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}}
    )
    assert code == 201
    code, body = await admin.post(
        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "y"}}
    )
    assert body["message"] == (
        'configmaps "y" is forbidden: exceeded quota: small, requested: count/configmaps=1, '
        "used: count/configmaps=2, limited: count/configmaps=2"
    )
    await admin.request("DELETE", f"{PODS}/a")
    code, status = await admin.get("/api/v1/namespaces/default/resourcequotas/small")
    assert status["status"]["used"]["pods"] == "1"
