"""Object semantics over HTTP: verbs, codes, resourceVersion, uid, generation, status split."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import KubeSim

NS_PODS = "/api/v1/namespaces/default/pods"
NS_CMS = "/api/v1/namespaces/default/configmaps"
STS = "/apis/apps/v1/namespaces/default/statefulsets"


async def test_create_get_and_status_codes(raw: Any, make: Any) -> None:
    """POST answers 201 with server-set uid, creationTimestamp and RV; GET returns the same object."""
    code, created, _ = await raw.post(NS_PODS, make.pod("p1"))
    assert code == 201
    meta = created["metadata"]
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z")
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert created["spec"]["restartPolicy"] == "Always"  # server-side defaults applied
    code, got, resp = await raw.get(f"{NS_PODS}/p1")
    assert code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert got == created


async def test_not_found_status_body_is_exact(raw: Any) -> None:
    """A missing object is a 404 Status whose details.kind holds the resource, as upstream."""
    code, body, _ = await raw.get("/apis/apps/v1/namespaces/default/statefulsets/nope")
    assert code == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'statefulsets.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "statefulsets"},
        "code": 404,
    }


async def test_already_exists(raw: Any, make: Any) -> None:
    """Creating a name twice is 409 AlreadyExists."""
    await raw.post(NS_CMS, make.configmap("c1"))
    code, body, _ = await raw.post(NS_CMS, make.configmap("c1"))
    assert (code, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'configmaps "c1" already exists',
    )


async def test_resource_version_is_global_and_list_rv_is_current(raw: Any, make: Any) -> None:
    """Every write takes the next global RV; a list reports the current revision, not the max item RV."""
    _, a, _ = await raw.post(NS_CMS, make.configmap("a"))
    _, b, _ = await raw.post(NS_PODS, make.pod("b"))
    assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1
    await raw.post(NS_PODS, make.pod("c"))
    _, cms, _ = await raw.get(NS_CMS)
    assert int(cms["metadata"]["resourceVersion"]) == int(b["metadata"]["resourceVersion"]) + 1
    assert "kind" not in cms["items"][0]  # built-in list items omit kind/apiVersion


async def test_noop_write_keeps_resource_version(raw: Any, make: Any) -> None:
    """Writing an identical object persists nothing: same RV, and no watch event afterwards."""
    _, cm, _ = await raw.post(NS_CMS, make.configmap("same", {"x": "1"}))
    rv = cm["metadata"]["resourceVersion"]
    _, again, _ = await raw.put(f"{NS_CMS}/same", cm)
    _, patched, _ = await raw.patch(
        f"{NS_CMS}/same", {"data": {"x": "1"}}, "application/merge-patch+json"
    )
    assert again["metadata"]["resourceVersion"] == rv == patched["metadata"]["resourceVersion"]
    events = await raw.watch_lines(f"{NS_CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=1")
    assert events == []


async def test_stale_resource_version_conflicts(raw: Any, make: Any) -> None:
    """PUT with an old RV is 409 Conflict with the upstream message."""
    _, cm, _ = await raw.post(NS_CMS, make.configmap("c"))
    await raw.patch(f"{NS_CMS}/c", {"data": {"k": "2"}}, "application/merge-patch+json")
    code, body, _ = await raw.put(f"{NS_CMS}/c", cm)
    assert code == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


async def test_patch_carrying_stale_rv_conflicts(raw: Any, make: Any) -> None:
    """A merge patch that sets metadata.resourceVersion acts as a precondition."""
    await raw.post(NS_CMS, make.configmap("c"))
    code, body, _ = await raw.patch(
        f"{NS_CMS}/c",
        {"metadata": {"resourceVersion": "1"}, "data": {"a": "b"}},
        "application/merge-patch+json",
    )
    assert (code, body["reason"]) == (409, "Conflict")


async def test_name_and_namespace_mismatch_are_bad_requests(raw: Any, make: Any) -> None:
    """The URL name and namespace must match the body's (400)."""
    await raw.post(NS_CMS, make.configmap("c"))
    code, body, _ = await raw.put(f"{NS_CMS}/c", make.configmap("other"))
    assert (code, body["message"]) == (
        400,
        "the name of the object (other) does not match the name on the URL (c)",
    )
    code, body, _ = await raw.post(NS_CMS, make.configmap("d", namespace="kube-system"))
    assert code == 400
    assert "does not match the namespace" in body["message"]


async def test_invalid_name_is_422_with_cause(raw: Any, make: Any) -> None:
    """An invalid name is 422 Invalid with a FieldValueInvalid cause on metadata.name."""
    code, body, _ = await raw.post(NS_CMS, make.configmap("Bad_Name"))
    assert code == 422
    assert body["reason"] == "Invalid"
    assert body["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'
    )
    assert body["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"


async def test_missing_name_and_generate_name(raw: Any, make: Any) -> None:
    """No name is 422 Required; generateName gets base plus 5 characters."""
    body = make.configmap("x")
    del body["metadata"]["name"]
    code, err, _ = await raw.post(NS_CMS, body)
    assert code == 422
    assert "metadata.name: Required value: name or generateName is required" in err["message"]
    body["metadata"]["generateName"] = "gen-"
    code, created, _ = await raw.post(NS_CMS, body)
    name = created["metadata"]["name"]
    assert code == 201
    assert name.startswith("gen-")
    assert len(name) == 9


async def test_create_in_missing_namespace_is_404(raw: Any, make: Any) -> None:
    """NamespaceLifecycle: creating in a namespace that does not exist is 404 for the namespace."""
    code, body, _ = await raw.post("/api/v1/namespaces/nope/configmaps", make.configmap("c"))
    assert (code, body["message"]) == (404, 'namespaces "nope" not found')


async def test_resource_version_on_create_is_rejected_by_storage(raw: Any, make: Any) -> None:
    """Creating with metadata.resourceVersion set fails as upstream's etcd3 store fails it.

    A plain storage error: 500, the error's text, no reason; after validation (a 422 wins);
    a dry run never reaches storage and passes."""
    code, body, _ = await raw.post(NS_CMS, make.configmap("c", resourceVersion="5"))
    assert (code, body["message"]) == (
        500,
        "resourceVersion should not be set on objects to be created",
    )
    assert "reason" not in body
    code, body, _ = await raw.post(NS_CMS, make.configmap("Bad_Name", resourceVersion="5"))
    assert code == 422
    code, body, _ = await raw.post(f"{NS_CMS}?dryRun=All", make.configmap("c", resourceVersion="5"))
    assert code == 201
    code, _, _ = await raw.get(f"{NS_CMS}/c")
    assert code == 404


async def test_apply_creating_with_a_resource_version_conflicts(raw: Any, make: Any) -> None:
    """Server-side apply of a missing object with a resourceVersion is a 409 (create-on-update)."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "resourceVersion": "5"},
    }
    code, err, _ = await raw.patch(
        f"{NS_CMS}/c?fieldManager=t", body, "application/apply-patch+yaml"
    )
    assert (code, err["reason"]) == (409, "Conflict")


async def test_client_system_fields_are_wiped(raw: Any, make: Any) -> None:
    """uid, creationTimestamp and generation sent by a client are replaced on create and kept on update."""
    body = make.configmap("c", uid="mine", creationTimestamp="2000-01-01T00:00:00Z")
    _, created, _ = await raw.post(NS_CMS, body)
    assert created["metadata"]["uid"] != "mine"
    assert created["metadata"]["creationTimestamp"] != "2000-01-01T00:00:00Z"
    update = {
        **created,
        "metadata": {**created["metadata"], "creationTimestamp": "2000-01-01T00:00:00Z"},
    }
    update["data"] = {"k": "changed"}
    _, updated, _ = await raw.put(f"{NS_CMS}/c", update)
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    update["metadata"]["uid"] = "other"
    update["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
    code, err, _ = await raw.put(f"{NS_CMS}/c", update)
    assert code == 422
    assert "metadata.uid" in err["message"]
    assert "field is immutable" in err["message"]


async def test_statefulset_generation_and_status_split(raw: Any, make: Any) -> None:
    """StatefulSet generation moves with spec only; status via the main endpoint is ignored; /status keeps spec."""
    _, sts, _ = await raw.post(STS, make.statefulset("s", replicas=1))
    assert sts["metadata"]["generation"] == 1
    assert sts["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    _, labelled, _ = await raw.patch(
        f"{STS}/s", {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json"
    )
    assert labelled["metadata"]["generation"] == 1
    _, scaled, _ = await raw.patch(
        f"{STS}/s",
        {"spec": {"replicas": 2}, "status": {"replicas": 9}},
        "application/merge-patch+json",
    )
    assert scaled["metadata"]["generation"] == 2
    assert scaled["status"].get("replicas", 0) == 0
    _, status, _ = await raw.patch(
        f"{STS}/s/status",
        {"spec": {"replicas": 7}, "status": {"replicas": 2, "observedGeneration": 2}},
        "application/merge-patch+json",
    )
    assert status["status"]["replicas"] == 2
    assert status["spec"]["replicas"] == 2
    assert status["metadata"]["generation"] == 2


async def test_statefulset_immutable_fields(raw: Any, make: Any) -> None:
    """Changing a StatefulSet's serviceName is 422 Forbidden with the upstream sentence."""
    await raw.post(STS, make.statefulset("s"))
    code, body, _ = await raw.patch(
        f"{STS}/s", {"spec": {"serviceName": "other"}}, "application/merge-patch+json"
    )
    assert code == 422
    assert (
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas'"
        in body["message"]
    )


async def test_scale_subresource(raw: Any, make: Any) -> None:
    """/scale reads and writes replicas as an autoscaling/v1 Scale."""
    await raw.post(STS, make.statefulset("s", replicas=1))
    code, scale, _ = await raw.get(f"{STS}/s/scale")
    assert code == 200
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"] == {
        "replicas": 0,
        "selector": "app=s",
    }
    code, scale, _ = await raw.patch(
        f"{STS}/s/scale", {"spec": {"replicas": 3}}, "application/merge-patch+json"
    )
    assert code == 200
    assert scale["spec"]["replicas"] == 3
    _, sts, _ = await raw.get(f"{STS}/s")
    assert sts["spec"]["replicas"] == 3
    assert sts["metadata"]["generation"] == 2
    code, body, _ = await raw.patch(
        f"{STS}/s/scale", {"spec": {"replicas": -1}}, "application/merge-patch+json"
    )
    assert code == 422
    assert (
        body["message"]
        == 'Scale.autoscaling "s" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )


async def test_generated_clients_roundtrip(api_client: client.ApiClient) -> None:
    """kubernetes-asyncio's generated APIs create, read, replace and delete like against a real server."""
    v1 = client.CoreV1Api(api_client)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="gen"), data={"a": "1"})
    created = await v1.create_namespaced_config_map("default", body)
    created.data = {"a": "2"}
    replaced = await v1.replace_namespaced_config_map("gen", "default", created)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    status = await v1.delete_namespaced_config_map("gen", "default")
    assert status.status == "Success"
    assert status.details.kind == "configmaps"
    with pytest.raises(ApiException) as caught:
        await v1.read_namespaced_config_map("gen", "default")
    assert caught.value.status == 404


async def test_patch_types_through_kubernetes_asyncio(
    api_client: client.ApiClient, make: Any
) -> None:
    """A dict patch on a built-in defaults to strategic merge (merging containers by name); a list is JSON patch."""
    v1 = client.CoreV1Api(api_client)
    p = make.pod("p")
    p["metadata"]["labels"] = {"app": "p"}  # an empty map would not be stored (Go omitempty)
    p["spec"]["containers"].append({"name": "side", "image": "busybox"})
    await v1.create_namespaced_pod("default", p)
    patched = await v1.patch_namespaced_pod(
        "p", "default", {"spec": {"containers": [{"name": "side", "image": "busybox:2"}]}}
    )
    assert [(c.name, c.image) for c in patched.spec.containers] == [
        ("c", "nginx:1.27"),
        ("side", "busybox:2"),
    ]
    patched = await v1.patch_namespaced_pod(
        "p", "default", [{"op": "replace", "path": "/metadata/labels/new", "value": "v"}]
    )
    assert patched.metadata.labels["new"] == "v"


async def test_events_are_served_through_both_event_apis(raw: Any, sim: KubeSim) -> None:
    """An events.k8s.io/v1 Event is a core/v1 Event too (one storage, renamed fields), and back."""
    modern = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1"},
        "eventTime": "2026-11-25T17:00:00.000000Z",
        "reportingController": "rayop",
        "reportingInstance": "rayop-0",
        "action": "Reconcile",
        "reason": "Created",
        "type": "Normal",
        "note": "created the head StatefulSet",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "p1", "apiVersion": "v1"},
    }
    code, created, _ = await raw.post("/apis/events.k8s.io/v1/namespaces/default/events", modern)
    assert code == 201
    assert created["apiVersion"] == "events.k8s.io/v1"
    assert created["note"] == "created the head StatefulSet"
    _, core, _ = await raw.get("/api/v1/namespaces/default/events/e1")
    assert core["apiVersion"] == "v1"
    assert core["message"] == "created the head StatefulSet"
    assert core["involvedObject"]["name"] == "p1"
    assert core["reportingComponent"] == "rayop"
    _, listed, _ = await raw.get(
        "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3Dp1"
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["e1"]
    _, patched, _ = await raw.patch(
        "/apis/events.k8s.io/v1/namespaces/default/events/e1",
        {"note": "updated"},
        "application/merge-patch+json",
    )
    assert patched["note"] == "updated"
    assert sim.cluster.get("events", "default", "e1")["message"] == "updated"
    code, _, _ = await raw.delete("/apis/events.k8s.io/v1/namespaces/default/events/e1")
    assert code == 200
    code, _, _ = await raw.get("/api/v1/namespaces/default/events/e1")
    assert code == 404


async def test_hpa_is_served_as_autoscaling_v1_and_v2(raw: Any) -> None:
    """An autoscaling/v1 HPA (targetCPUUtilizationPercentage) is the v2 HPA with a CPU metric."""
    hpa = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 60,
        },
    }
    code, created, _ = await raw.post(
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers", hpa
    )
    assert code == 201
    assert created["spec"]["targetCPUUtilizationPercentage"] == 60
    _, v2, _ = await raw.get("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web")
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ]
    _, group, _ = await raw.get("/apis/autoscaling")
    assert group["preferredVersion"]["version"] == "v2"
