"""Deletion: response forms, finalizers, preconditions, propagation policies, GC, namespaces."""

from __future__ import annotations

import asyncio
from typing import Any

from kubesim import KubeSim

CMS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
STS = "/apis/apps/v1/namespaces/default/statefulsets"
MERGE = "application/merge-patch+json"


def owned_by(owner: dict[str, Any], *, block: bool = True) -> list[dict[str, Any]]:
    """A controller ownerReference to `owner`."""
    meta = owner["metadata"]
    return [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": block,
        }
    ]


async def settle() -> None:
    """Let the garbage collector (scheduled with call_soon) run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_delete_response_forms(raw: Any, make: Any) -> None:
    """Pods answer with the deleted object; other types with a Success Status naming the resource."""
    await raw.post(PODS, make.pod("p"))
    code, body, _ = await raw.delete(f"{PODS}/p")
    assert code == 200
    assert body["kind"] == "Pod"
    assert body["metadata"]["name"] == "p"
    _, cm, _ = await raw.post(CMS, make.configmap("c"))
    code, body, _ = await raw.delete(f"{CMS}/c")
    assert code == 200
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "c", "kind": "configmaps", "uid": cm["metadata"]["uid"]},
    }
    code, body, _ = await raw.delete(f"{CMS}/c")
    assert (code, body["reason"]) == (404, "NotFound")


async def test_delete_answers_with_the_object_where_upstream_registries_do(
    raw: Any, make: Any
) -> None:
    """Services, ServiceAccounts, PVCs (ReturnDeletedObject registries) answer DELETE with the object.

    The official Python client decodes a Service DELETE as a V1Service: a Status there breaks it."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}}  # fmt: skip
    await raw.post("/api/v1/namespaces/default/services", svc)
    code, body, _ = await raw.delete("/api/v1/namespaces/default/services/s")
    assert (code, body["kind"], body["metadata"]["name"]) == (200, "Service", "s")
    await raw.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "sa"}})
    code, body, _ = await raw.delete("/api/v1/namespaces/default/serviceaccounts/sa")
    assert (code, body["kind"]) == (200, "ServiceAccount")
    pvc = {"metadata": {"name": "v"}, "spec": {"accessModes": ["ReadWriteOnce"],
           "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    await raw.post("/api/v1/namespaces/default/persistentvolumeclaims", pvc)
    code, body, _ = await raw.delete("/api/v1/namespaces/default/persistentvolumeclaims/v")
    assert (code, body["kind"]) == (200, "PersistentVolumeClaim")


async def test_finalizers_hold_the_object_until_removed(raw: Any, make: Any) -> None:
    """With a finalizer, DELETE sets deletionTimestamp (MODIFIED); removing the finalizer deletes it (only DELETED)."""
    _, _cm, _ = await raw.post(CMS, make.configmap("f", finalizers=["example.com/hold"]))
    code, body, _ = await raw.delete(f"{CMS}/f")
    assert code == 200
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 0
    code, err, _ = await raw.patch(
        f"{CMS}/f", {"metadata": {"finalizers": ["example.com/hold", "more"]}}, MERGE
    )
    assert code == 422
    assert "no new finalizers can be added if the object is being deleted" in err["message"]
    rv = body["metadata"]["resourceVersion"]
    code, _final, _ = await raw.patch(f"{CMS}/f", {"metadata": {"finalizers": None}}, MERGE)
    assert code == 200
    code, _, _ = await raw.get(f"{CMS}/f")
    assert code == 404
    events = await raw.watch_lines(
        f"{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=5", max_events=1
    )
    assert [e["type"] for e in events] == ["DELETED"]


async def test_delete_preconditions(raw: Any, make: Any) -> None:
    """A uid precondition that does not match is 409 Conflict with the upstream explanation."""
    await raw.post(CMS, make.configmap("c"))
    code, body, _ = await raw.delete(f"{CMS}/c", {"preconditions": {"uid": "not-it"}})
    assert code == 409
    assert (
        "the UID in the precondition (not-it) does not match the UID in record" in body["message"]
    )


async def test_invalid_propagation_policy(raw: Any, make: Any) -> None:
    """An unknown propagationPolicy is 422 on DeleteOptions."""
    await raw.post(CMS, make.configmap("c"))
    code, body, _ = await raw.delete(f"{CMS}/c?propagationPolicy=Sideways")
    assert code == 422
    assert body["message"].startswith(
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways"'
    )


async def test_background_gc_deletes_dependents(raw: Any, sim: KubeSim, make: Any) -> None:
    """Deleting an owner in the background removes it at once; the GC then deletes its dependents."""
    _, owner, _ = await raw.post(CMS, make.configmap("owner"))
    await raw.post(CMS, make.configmap("dep", ownerReferences=owned_by(owner)))
    await raw.delete(f"{CMS}/owner")
    await settle()
    code, _, _ = await raw.get(f"{CMS}/dep")
    assert code == 404
    gc_writes = [e for e in sim.audit.writes() if e["user"].endswith("generic-garbage-collector")]
    assert [(e["verb"], e["name"]) for e in gc_writes] == [("delete", "dep")]


async def test_dependent_with_another_owner_survives(raw: Any, make: Any) -> None:
    """A dependent that still has a live owner only loses the dangling reference."""
    _, a, _ = await raw.post(CMS, make.configmap("a"))
    _, b, _ = await raw.post(CMS, make.configmap("b"))
    refs = [{**owned_by(a)[0], "controller": False}, {**owned_by(b)[0], "controller": False}]
    await raw.post(CMS, make.configmap("dep", ownerReferences=refs))
    await raw.delete(f"{CMS}/a")
    await settle()
    code, dep, _ = await raw.get(f"{CMS}/dep")
    assert code == 200
    assert [r["name"] for r in dep["metadata"]["ownerReferences"]] == ["b"]


async def test_foreground_deletion_waits_for_dependents(raw: Any, make: Any) -> None:
    """Foreground: the owner gets the foregroundDeletion finalizer, dependents go first, then the owner."""
    _, owner, _ = await raw.post(CMS, make.configmap("owner"))
    await raw.post(CMS, make.configmap("dep", ownerReferences=owned_by(owner)))
    rv = owner["metadata"]["resourceVersion"]
    code, body, _ = await raw.delete(f"{CMS}/owner", {"propagationPolicy": "Foreground"})
    assert code == 200
    assert body["metadata"]["finalizers"] == ["foregroundDeletion"]
    await settle()
    for name in ("owner", "dep"):
        code, _, _ = await raw.get(f"{CMS}/{name}")
        assert code == 404
    events = await raw.watch_lines(
        f"{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=5", max_events=4
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "dep"),
        ("MODIFIED", "owner"),
        ("DELETED", "dep"),
        ("DELETED", "owner"),
    ]


async def test_orphan_deletion_keeps_dependents(raw: Any, make: Any) -> None:
    """Orphan: dependents lose the owner reference and stay; the owner goes."""
    _, owner, _ = await raw.post(CMS, make.configmap("owner"))
    await raw.post(CMS, make.configmap("dep", ownerReferences=owned_by(owner)))
    code, body, _ = await raw.delete(f"{CMS}/owner?propagationPolicy=Orphan")
    assert body["metadata"]["finalizers"] == ["orphan"]
    await settle()
    code, dep, _ = await raw.get(f"{CMS}/dep")
    assert code == 200
    assert "ownerReferences" not in dep["metadata"]
    code, _, _ = await raw.get(f"{CMS}/owner")
    assert code == 404


async def test_pods_without_kubelet_are_deleted_at_once(raw: Any, make: Any) -> None:
    """With controllers off no kubelet would finish a graceful delete, so pods on a node go at once."""
    await raw.post(PODS, make.pod("p", node="node-1"))
    code, body, _ = await raw.delete(f"{PODS}/p")
    assert code == 200
    assert "deletionTimestamp" not in body["metadata"]
    code, _, _ = await raw.get(f"{PODS}/p")
    assert code == 404


async def test_graceful_pod_deletion_with_a_kubelet() -> None:
    """With controllers on, a scheduled pod's DELETE sets deletionTimestamp=now+grace and keeps the pod."""
    async with KubeSim(controllers=True) as sim:
        cluster = sim.cluster
        body = {
            "metadata": {"name": "p"},
            "spec": {
                "nodeName": "n",
                "terminationGracePeriodSeconds": 45,
                "containers": [{"name": "c", "image": "x"}],
            },
        }
        cluster.create("pods", "default", body)
        terminating = cluster.delete("pods", "default", "p")
        assert terminating["metadata"]["deletionGracePeriodSeconds"] == 45
        assert cluster.get("pods", "default", "p")["metadata"]["deletionTimestamp"]
        gone = cluster.delete("pods", "default", "p", grace_period_seconds=0)
        assert gone["metadata"]["name"] == "p"
        unscheduled = {
            "metadata": {"name": "q"},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
        }
        cluster.create("pods", "default", unscheduled)
        cluster.delete("pods", "default", "q")  # unscheduled pods have no grace period
        assert cluster.list("pods", "default")[0] == []


async def test_namespace_deletion_removes_content(raw: Any, sim: KubeSim, make: Any) -> None:
    """A deleted namespace is Terminating, refuses new content (403), and goes once emptied."""
    await raw.post("/api/v1/namespaces", {"metadata": {"name": "tmp"}})
    await raw.post("/api/v1/namespaces/tmp/configmaps", make.configmap("c"))
    held = make.configmap("held", finalizers=["x/y"])
    await raw.post("/api/v1/namespaces/tmp/configmaps", held)
    code, ns, _ = await raw.delete("/api/v1/namespaces/tmp")
    assert code == 200
    assert ns["status"]["phase"] == "Terminating"
    await settle()
    code, body, _ = await raw.post("/api/v1/namespaces/tmp/configmaps", make.configmap("new"))
    assert code == 403
    assert "because it is being terminated" in body["message"]
    code, _, _ = await raw.get("/api/v1/namespaces/tmp/configmaps/c")
    assert code == 404
    await raw.patch(
        "/api/v1/namespaces/tmp/configmaps/held", {"metadata": {"finalizers": None}}, MERGE
    )
    await settle()
    code, _, _ = await raw.get("/api/v1/namespaces/tmp")
    assert code == 404


async def test_delete_collection_by_label(raw: Any, make: Any) -> None:
    """DELETE on a collection removes exactly the selected objects and lists them."""
    await raw.post(CMS, make.configmap("a", labels={"del": "yes"}))
    await raw.post(CMS, make.configmap("b", labels={"del": "no"}))
    code, body, _ = await raw.delete(f"{CMS}?labelSelector=del%3Dyes")
    assert code == 200
    assert body["kind"] == "ConfigMapList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["a"]
    _, left, _ = await raw.get(CMS)
    assert [i["metadata"]["name"] for i in left["items"]] == ["b", "kube-root-ca.crt"]
