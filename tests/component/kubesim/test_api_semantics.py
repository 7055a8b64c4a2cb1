"""Finer semantics: generation per type, legacy watch paths, pod logs, grace shortening, dry run."""

from __future__ import annotations

from typing import Any

from kubesim import KubeSim

MERGE = "application/merge-patch+json"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
CMS = "/api/v1/namespaces/default/configmaps"


def deployment(name: str) -> dict[str, Any]:
    """A minimal valid Deployment."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


async def test_deployment_generation_follows_spec_and_annotations(raw: Any) -> None:
    """A Deployment's generation moves with spec and annotations, not with labels; defaults are set."""
    _, created, _ = await raw.post(DEPLOY, deployment("d"))
    assert created["metadata"]["generation"] == 1
    assert created["spec"]["strategy"]["type"] == "RollingUpdate"
    _, labelled, _ = await raw.patch(f"{DEPLOY}/d", {"metadata": {"labels": {"a": "b"}}}, MERGE)
    assert labelled["metadata"]["generation"] == 1
    _, annotated, _ = await raw.patch(
        f"{DEPLOY}/d", {"metadata": {"annotations": {"a": "b"}}}, MERGE
    )
    assert annotated["metadata"]["generation"] == 2
    code, err, _ = await raw.patch(
        f"{DEPLOY}/d", {"spec": {"selector": {"matchLabels": {"app": "other"}}}}, MERGE
    )
    assert code == 422
    assert "spec.selector" in err["message"]


async def test_cr_without_status_subresource_bumps_generation_on_status(
    raw: Any, make: Any
) -> None:
    """Without a status subresource, status is ordinary content: kept on create and it moves generation."""
    crd = make.widget_crd(scale=False)
    for version in crd["spec"]["versions"]:
        version["subresources"] = {}
    code, _, _ = await raw.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert code == 201
    body = make.widget("w", replicas=1)
    body["status"] = {"phase": "Kept"}
    path = "/apis/example.com/v1/namespaces/default/widgets"
    _, created, _ = await raw.post(path, body)
    assert created["status"] == {"phase": "Kept"}
    _, changed, _ = await raw.patch(f"{path}/w", {"status": {"phase": "Other"}}, MERGE)
    assert changed["metadata"]["generation"] == 2
    code, _, _ = await raw.get(f"{path}/w/status")
    assert code == 404


async def test_legacy_watch_path(raw: Any, make: Any) -> None:
    """The deprecated /watch/ path prefix still streams events."""
    await raw.post(CMS, make.configmap("a"))
    events = await raw.watch_lines(
        "/api/v1/watch/namespaces/default/configmaps?timeoutSeconds=5", max_events=1
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


async def test_pod_log_placeholder(raw: Any, make: Any) -> None:
    """pods/log answers text/plain for an existing pod and 404 for a missing one."""
    await raw.post("/api/v1/namespaces/default/pods", make.pod("p"))
    code, text, resp = await raw.get("/api/v1/namespaces/default/pods/p/log")
    assert code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert text == ""
    code, _, _ = await raw.get("/api/v1/namespaces/default/pods/nope/log")
    assert code == 404


async def test_second_delete_shortens_a_pods_grace_period() -> None:
    """A later DELETE with a shorter grace period moves deletionTimestamp earlier; a longer one is ignored."""
    async with KubeSim(controllers=True) as sim:
        cluster = sim.cluster
        spec = {
            "nodeName": "nowhere",
            "terminationGracePeriodSeconds": 300,
            "containers": [{"name": "c", "image": "x"}],
        }
        cluster.create("pods", "default", {"metadata": {"name": "p"}, "spec": spec})
        first = cluster.delete("pods", "default", "p")
        assert first["metadata"]["deletionGracePeriodSeconds"] == 300
        longer = cluster.delete("pods", "default", "p", grace_period_seconds=600)
        assert longer["metadata"]["deletionGracePeriodSeconds"] == 300
        shorter = cluster.delete("pods", "default", "p", grace_period_seconds=10)
        assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
        assert shorter["metadata"]["deletionTimestamp"] < first["metadata"]["deletionTimestamp"]


async def test_server_dry_run_persists_nothing(raw: Any, sim: KubeSim, make: Any) -> None:
    """dryRun=All validates and answers like a real write but stores nothing and emits no event."""
    rv = sim.cluster.resource_version
    code, body, _ = await raw.post(f"{CMS}?dryRun=All", make.configmap("dry"))
    assert code == 201
    assert body["metadata"]["name"] == "dry"
    code, _, _ = await raw.get(f"{CMS}/dry")
    assert code == 404
    code, _, _ = await raw.post(f"{CMS}?dryRun=All", make.configmap("Bad_Name"))
    assert code == 422
    assert sim.cluster.resource_version == rv


async def test_watch_of_a_named_object(raw: Any, make: Any) -> None:
    """A watch on an object's own URL sees only that object; a contradicting fieldSelector is a 400."""
    await raw.post(CMS, make.configmap("a"))
    await raw.post(CMS, make.configmap("b"))
    events = await raw.watch_lines(f"{CMS}/b?watch=true&timeoutSeconds=5", max_events=1)
    assert [e["object"]["metadata"]["name"] for e in events] == ["b"]
    code, body, _ = await raw.get(f"{CMS}/b?watch=true&fieldSelector=metadata.name%3Da")
    assert code == 400
    assert body["message"] == "fieldSelector metadata.name doesn't match requested name"


async def test_orphan_dependents_false_answers_202_while_pending(raw: Any, make: Any) -> None:
    """DELETE with orphanDependents=false answers 202 when the object stays (a finalizer holds it)."""
    await raw.post(CMS, make.configmap("held", finalizers=["example.com/x"]))
    code, body, _ = await raw.delete(f"{CMS}/held", {"orphanDependents": False})
    assert code == 202
    assert body["metadata"]["deletionTimestamp"]
    await raw.post(CMS, make.configmap("free"))
    code, body, _ = await raw.delete(f"{CMS}/free", {"orphanDependents": False})
    assert code == 200
    assert body["status"] == "Success"
