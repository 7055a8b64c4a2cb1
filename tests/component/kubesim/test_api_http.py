"""The HTTP surface: discovery, bad input, selectors, pagination, metrics, audit, faults, TLS."""

from __future__ import annotations

import asyncio
import io
import ssl
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config

from kubesim import KubeSim

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"


async def test_version_and_legacy_discovery(raw: Any) -> None:
    """/version, /api, /apis and /api/v1 answer in the legacy forms kubectl falls back to."""
    _, version, _ = await raw.get("/version")
    assert (version["major"], version["minor"]) == ("1", "32")
    _, api, _ = await raw.get("/api")
    assert api["kind"] == "APIVersions"
    assert api["versions"] == ["v1"]
    _, apis, _ = await raw.get("/apis")
    groups = {g["name"]: g["preferredVersion"]["groupVersion"] for g in apis["groups"]}
    assert groups["apps"] == "apps/v1"
    assert groups["autoscaling"] == "autoscaling/v2"
    _, core, _ = await raw.get("/api/v1")
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"]
    assert pods["namespaced"]
    assert "watch" in pods["verbs"]
    _, apps, _ = await raw.get("/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "statefulsets/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")


async def test_aggregated_discovery(raw: Any) -> None:
    """With the v2 Accept, /apis answers APIGroupDiscoveryList with the matching Content-Type."""
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, body, resp = await raw.get("/apis", headers={"Accept": accept})
    assert code == 200
    assert (
        resp.headers["Content-Type"]
        == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    apps = next(i for i in body["items"] if i["metadata"]["name"] == "apps")
    sts = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "statefulsets")
    assert sts["shortNames"] == ["sts"]
    assert sts["scope"] == "Namespaced"
    assert {s["subresource"] for s in sts["subresources"]} == {"scale", "status"}


async def test_openapi_v3_lists_group_versions(raw: Any) -> None:
    """/openapi/v3 lists a document per served group-version (what kubectl apply validation needs)."""
    code, root, _ = await raw.get("/openapi/v3")
    assert code == 200
    assert "apis/apps/v1" in root["paths"]
    assert "api/v1" in root["paths"]


async def test_unknown_paths_and_resources(raw: Any) -> None:
    """Unknown resources are 404 'the server could not find the requested resource'."""
    for path in ("/api/v1/namespaces/default/widgets", "/apis/nope/v1/things", "/nonsense"):
        code, body, _ = await raw.get(path)
        assert (code, body["message"]) == (404, "the server could not find the requested resource")


async def test_malformed_bodies_are_400(raw: Any, sim: KubeSim) -> None:
    """Broken JSON or YAML is a 400 BadRequest, and the store is unchanged."""
    rv = sim.cluster.resource_version
    code, body, _ = await raw.post(CMS, data=b'{"metadata": {"name": ')
    assert code == 400
    assert body["reason"] == "BadRequest"
    assert body["message"].startswith("couldn't get version/kind; json parse error:")
    code, body, _ = await raw.post(
        CMS, data=b"metadata: [unclosed", content_type="application/yaml"
    )
    assert code == 400
    assert "yaml" in body["message"]
    code, body, _ = await raw.post(CMS, data=b"[1, 2]")
    assert code == 400
    assert sim.cluster.resource_version == rv


async def test_wrong_field_types_are_400(raw: Any) -> None:
    """A metadata field of the wrong JSON type is the decoder's 400, naming the field."""
    code, body, _ = await raw.post(CMS, {"metadata": {"name": "c", "labels": {"a": 1}}})
    assert code == 400
    assert (
        body["message"]
        == 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string'
    )


async def test_yaml_bodies_are_accepted(raw: Any) -> None:
    """A YAML body creates the object; date-like values stay strings, as sigs.k8s.io/yaml reads them."""
    body = b"metadata:\n  name: from-yaml\n  annotations:\n    since: 2020-01-01\ndata:\n  a: b\n"
    code, created, _ = await raw.post(CMS, data=body, content_type="application/yaml")
    assert code == 201
    assert created["data"] == {"a": "b"}
    assert created["metadata"]["annotations"] == {"since": "2020-01-01"}


async def test_protobuf_body_gets_a_clear_415(raw: Any) -> None:
    """Protobuf bodies (kubectl create ns ...) are 415, naming the kubectl commands that send them."""
    code, body, _ = await raw.post(
        "/api/v1/namespaces",
        data=b"k8s\x00\x0a",
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert code == 415
    assert body["reason"] == "UnsupportedMediaType"
    assert "kubectl create namespace" in body["message"]


async def test_oversized_body_is_413(raw: Any, sim: KubeSim) -> None:
    """Bodies above 3 MiB get the real server's 413 RequestEntityTooLarge (and the refused write is audited)."""
    big = b'{"metadata":{"name":"big"},"data":{"x":"' + b"a" * (3 * 1024 * 1024) + b'"}}'
    code, body, _ = await raw.post(CMS, data=io.BytesIO(big))
    assert (code, body["reason"], body["message"]) == (
        413,
        "RequestEntityTooLarge",
        "Request entity too large: limit is 3145728",
    )
    assert [(w["verb"], w["resource"], w["code"]) for w in sim.audit.writes()] == [
        ("create", "configmaps", 413)
    ]


async def test_method_not_allowed(raw: Any) -> None:
    """Verbs a resource does not support are 405 MethodNotAllowed."""
    code, body, _ = await raw.delete("/api/v1/namespaces")
    assert code == 405
    assert body["message"] == 'deletecollection is not supported on resources of kind "namespaces"'


async def test_label_and_field_selectors(raw: Any, make: Any) -> None:
    """Set-based label selectors, pod field selectors and unsupported fields (400)."""
    await raw.post(PODS, make.pod("a", labels={"tier": "web", "env": "prod"}, node="n1"))
    await raw.post(PODS, make.pod("b", labels={"tier": "db"}, node="n2"))
    await raw.post(PODS, make.pod("c", labels={"tier": "web"}))

    async def names(query: str) -> list[str]:
        code, body, _ = await raw.get(f"{PODS}?{query}")
        assert code == 200, body
        return [i["metadata"]["name"] for i in body["items"]]

    assert await names("labelSelector=tier%20in%20(web,cache)") == ["a", "c"]
    assert await names("labelSelector=tier!%3Dweb") == ["b"]
    assert await names("labelSelector=env") == ["a"]
    assert await names("labelSelector=!env,tier%3D%3Dweb") == ["c"]
    assert await names("labelSelector=tier%20notin%20(web)") == ["b"]
    assert await names("fieldSelector=spec.nodeName%3Dn2") == ["b"]
    assert await names("fieldSelector=status.phase%3DPending,metadata.name!%3Da") == ["b", "c"]
    code, body, _ = await raw.get(f"{PODS}?fieldSelector=spec.image%3Dx")
    assert (code, body["message"]) == (400, "field label not supported: spec.image")
    code, body, _ = await raw.get(f"{PODS}?labelSelector=in%20in%20in%20(")
    assert code == 400


async def test_pagination_with_continue(raw: Any, sim: KubeSim, make: Any) -> None:
    """limit/continue pages through one snapshot; the last page has no token; old tokens get 410."""
    ours = "fieldSelector=metadata.name%21%3Dkube-root-ca.crt"  # not the namespace's root CA
    for i in range(5):
        await raw.post(CMS, make.configmap(f"c{i}"))
    _, plain, _ = await raw.get(f"{CMS}?limit=2")
    assert plain["metadata"]["remainingItemCount"] == 4  # c2..c4 and kube-root-ca.crt
    _, first, _ = await raw.get(f"{CMS}?limit=2&{ours}")
    assert [i["metadata"]["name"] for i in first["items"]] == ["c0", "c1"]
    assert "remainingItemCount" not in first["metadata"]  # not reported under a selector
    token = first["metadata"]["continue"]
    # Changes after the first page do not show: later pages read the same snapshot.
    await raw.post(CMS, make.configmap("c25"))
    await raw.delete(f"{CMS}/c3")
    await raw.patch(f"{CMS}/c4", {"data": {"k": "changed"}}, "application/merge-patch+json")
    _, second, _ = await raw.get(f"{CMS}?limit=2&continue={token}&{ours}")
    assert [i["metadata"]["name"] for i in second["items"]] == ["c2", "c3"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    _, third, _ = await raw.get(f"{CMS}?limit=2&continue={second['metadata']['continue']}&{ours}")
    assert [(i["metadata"]["name"], i["data"]) for i in third["items"]] == [("c4", {"k": "v"})]
    assert "continue" not in third["metadata"]
    sim.faults.shrink_history("configmaps")
    code, gone, _ = await raw.get(f"{CMS}?limit=2&continue={token}&{ours}")
    assert (code, gone["reason"]) == (410, "Expired")
    code, bad, _ = await raw.get(f"{CMS}?continue=garbage!!")
    assert code == 400
    assert bad["reason"] == "BadRequest"


async def test_all_namespaces_list(raw: Any, make: Any) -> None:
    """GET /api/v1/configmaps lists across namespaces."""
    await raw.post(CMS, make.configmap("here"))
    await raw.post("/api/v1/namespaces/kube-system/configmaps", make.configmap("there"))
    _, body, _ = await raw.get("/api/v1/configmaps")
    assert {
        (i["metadata"]["namespace"], i["metadata"]["name"])
        for i in body["items"]
        if i["metadata"]["name"] != "kube-root-ca.crt"  # every namespace has one
    } == {("default", "here"), ("kube-system", "there")}


async def test_health_and_metrics(raw: Any, make: Any) -> None:
    """/healthz, /readyz and /livez answer ok; /metrics counts requests by verb, resource and code."""
    for path in ("/healthz", "/readyz", "/livez"):
        code, text, _ = await raw.get(path)
        assert (code, text) == (200, "ok")
    await raw.post(CMS, make.configmap("m"))
    await raw.get(f"{CMS}/missing")
    _, text, _ = await raw.get("/metrics")
    assert (
        'apiserver_request_total{code="201",group="",resource="configmaps",subresource="",verb="POST"} 1.0'
        in text
    )
    assert (
        'apiserver_request_total{code="404",group="",resource="configmaps",subresource="",verb="GET"} 1.0'
        in text
    )
    assert "apiserver_request_duration_seconds_bucket" in text


async def test_readyz_verbose_lists_checks_as_upstream(raw: Any) -> None:
    """`/readyz?verbose` names each check and ends with `readyz check passed`; excluded checks
    and unknown exclusions are reported; `/readyz/etcd` runs one check; an unknown one is 404."""
    code, text, resp = await raw.get("/readyz?verbose&exclude=etcd&exclude=nope")
    assert code == 200
    lines = text.splitlines()
    assert lines[0] == "[+]ping ok"
    assert "[+]etcd excluded: ok" in lines
    assert "[+]informer-sync ok" in lines
    assert lines[-2] == 'warn: some health checks cannot be excluded: no matches for "nope"'
    assert lines[-1] == "readyz check passed"
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert (await raw.get("/readyz/etcd"))[:2] == (200, "ok")
    assert (await raw.get("/livez/informer-sync"))[0] == 404


async def test_json_bodies_end_with_a_newline_as_gos_encoder_writes(raw: Any) -> None:
    """Objects, lists and Status bodies end with the newline Go's json.Encoder writes."""
    for path in ("/api/v1/namespaces/default", "/api/v1/namespaces", "/api/v1/namespaces/nope"):
        async with raw.session.get(path) as resp:
            assert (await resp.read()).endswith(b"}\n"), path


async def test_audit_log_records_writes(raw: Any, sim: KubeSim, make: Any, tmp_path: Any) -> None:
    """Every write is audited with user agent, verb, object, field manager and code."""
    await raw.post(
        f"{CMS}?fieldManager=me", make.configmap("a"), headers={"User-Agent": "tester/1.0"}
    )
    await raw.post(CMS, make.configmap("a"), headers={"User-Agent": "tester/1.0"})
    await raw.get(f"{CMS}/a")
    writes = sim.audit.writes(user_agent="tester")
    assert [(w["verb"], w["name"], w["field_manager"], w["code"]) for w in writes] == [
        ("create", "a", "me", 201),
        ("create", "a", "tester", 409),
    ]
    assert sim.audit.writes(field_manager="me")[0]["resource"] == "configmaps"


async def test_audit_log_file(tmp_path: Any) -> None:
    """With audit_path, entries are also appended as JSON lines."""
    path = tmp_path / "audit.jsonl"
    async with KubeSim(controllers=False, audit_path=path) as sim:
        sim.cluster.create("configmaps", "default", {"metadata": {"name": "x"}}, field_manager="f")
    lines = path.read_text().splitlines()
    assert '"field_manager":"f"' in lines[-1]
    assert '"verb":"create"' in lines[-1]


async def test_fault_injection_errors_and_rate(raw: Any, sim: KubeSim, make: Any) -> None:
    """Faults answer 429 with Retry-After, 503 or 500 for the matching verb/resource only; count limits them."""
    sim.faults.add(verb="create", resource="configmaps", error=429, retry_after=7, count=1)
    code, body, resp = await raw.post(CMS, make.configmap("x"))
    assert (code, body["reason"], resp.headers["Retry-After"]) == (429, "TooManyRequests", "7")
    code, _, _ = await raw.post(CMS, make.configmap("x"))
    assert code == 201
    sim.faults.add(verb="list", resource="pods", error=503)
    code, _, _ = await raw.get(PODS)
    assert code == 503
    code, _, _ = await raw.get(CMS)
    assert code == 200
    sim.faults.clear()
    sim.faults.seed(1)
    sim.faults.add(verb="get", error=500, rate=0.5)
    codes = [(await raw.get(f"{CMS}/x"))[0] for _ in range(20)]
    assert set(codes) == {200, 500}
    assert 4 < codes.count(500) < 16


async def test_fault_latency_and_admin_endpoint(raw: Any, sim: KubeSim) -> None:
    """POST /kubesim/v1/faults adds latency rules at run time; bad rules are 400 with the reason."""
    code, body, _ = await raw.post(
        "/kubesim/v1/faults", {"action": "add", "verb": "list", "latency": 0.2}
    )
    assert code == 200
    assert body["rules"][0]["latency"] == 0.2
    loop = asyncio.get_running_loop()
    started = loop.time()
    await raw.get(CMS)
    assert loop.time() - started >= 0.2
    code, body, _ = await raw.post("/kubesim/v1/faults", {"action": "add", "verb": "fly"})
    assert code == 400
    assert "fault verb" in body["message"]
    code, body, _ = await raw.post("/kubesim/v1/faults", {"action": "clear"})
    assert body == {"rules": []}


async def test_shrink_history_forces_410(raw: Any, sim: KubeSim, make: Any) -> None:
    """After shrink_history, resuming from an older RV yields the 410 ERROR event."""
    _, cm, _ = await raw.post(CMS, make.configmap("a"))
    await raw.post(CMS, make.configmap("b"))
    sim.faults.shrink_history("configmaps")
    events = await raw.watch_lines(
        f"{CMS}?watch=1&resourceVersion={cm['metadata']['resourceVersion']}"
    )
    assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]


async def test_chaos_without_workloads_is_503(raw: Any) -> None:
    """The chaos endpoint needs the workload controllers."""
    code, body, _ = await raw.post("/kubesim/v1/chaos", {"action": "fail_pod"})
    assert code == 503
    assert "controllers" in body["message"]


async def test_tls_with_generated_ca() -> None:
    """With tls=True the kubeconfig carries the CA; kubernetes-asyncio verifies and connects."""
    async with KubeSim(controllers=False, tls=True) as sim:
        assert sim.url.startswith("https://127.0.0.1:")
        api = await config.new_client_from_config(config_file=str(sim.kubeconfig_path))
        try:
            namespaces = await client.CoreV1Api(api).list_namespace()
        finally:
            await api.close()
        assert {n.metadata.name for n in namespaces.items} >= {"default", "kube-system"}
        async with aiohttp.ClientSession() as session:
            try:
                await session.get(sim.url + "/version", ssl=ssl.create_default_context())
            except aiohttp.ClientConnectorCertificateError:
                pass
            else:
                raise AssertionError("an unknown CA must not be trusted")


async def test_chaos_endpoint_dispatches_to_workloads(sim_with_workloads: KubeSim) -> None:
    """POST /kubesim/v1/chaos runs a workload chaos action; unknown actions are 400 with the reason."""
    sim = sim_with_workloads
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        async with session.post("/kubesim/v1/chaos", json={"action": "add_node"}) as resp:
            body = await resp.json()
        assert resp.status == 200
        assert body["action"] == "add_node"
        async with session.post("/kubesim/v1/chaos", json={"action": "melt_cluster"}) as resp:
            body = await resp.json()
        assert resp.status == 400
        assert body["message"].startswith("chaos: unknown action 'melt_cluster'")
        async with session.post("/kubesim/v1/chaos", data=b"[1]") as resp:
            assert resp.status == 400
    nodes, _ = sim.cluster.list("nodes")
    assert len(nodes) == 2


async def test_fault_codes_carry_their_reasons(raw: Any, sim: KubeSim, make: Any) -> None:
    """An injected 409 looks like a real Conflict (reason and code), so clients take their retry path."""
    await raw.post(CMS, make.configmap("c"))
    sim.faults.add(verb="patch", resource="configmaps", error=409, count=1)
    code, body, _ = await raw.patch(
        f"{CMS}/c", {"data": {"k": "2"}}, "application/merge-patch+json"
    )
    assert (code, body["reason"], body["code"]) == (409, "Conflict", 409)
    code, body, _ = await raw.patch(
        f"{CMS}/c", {"data": {"k": "2"}}, "application/merge-patch+json"
    )
    assert code == 200
    assert body["data"] == {"k": "2"}
