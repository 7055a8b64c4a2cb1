"""rayop's API-level behaviour, on kubesim and on the real kube-apiserver (``api_env``'s param).

Each test asserts what a user would see (error messages, managedFields, generations, Leases),
with the same expectations for both backends: where kubesim and Kubernetes disagree, the test on
one of them fails. Pods are out of scope here (the real backend has no kubelet).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from controller.kube import Conflict, Invalid, KubeClient, load_api_client
from controller.kube.errors import KubeError
from controller.kube.lease import KubeLeaseClient
from controller.leaderelection import LeaderElectionConfig, LeaderElector
from tests.e2e.backends import LEASE_NAMESPACE, ApiEnv
from tests.e2e.harness import small_cluster, wait_for

RAY = "ray.io/v1"


def managers(obj: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(manager, operation, subresource) of every managedFields entry."""
    return {
        (e["manager"], e["operation"], e.get("subresource", ""))
        for e in obj["metadata"].get("managedFields") or []
    }


async def rejected(env: ApiEnv, manifest: dict[str, Any]) -> KubeError:
    """Apply ``manifest`` and return the error the server answered with."""
    with pytest.raises(Invalid) as caught:
        await env.apply(manifest)
    return caught.value


async def test_schema_and_cel_reject_invalid_specs(api_env: ApiEnv) -> None:
    """The CRD's structural schema and CEL rules answer 422 with upstream's exact message."""
    inverted = small_cluster("inverted")
    inverted["spec"]["workerGroupSpecs"][0].update(minReplicas=3, maxReplicas=1)
    error = await rejected(api_env, inverted)
    assert error.code == 422
    # kubesim prints 1.32's `Invalid value: "object": `, 1.37 no value (known.CEL_VALUE)
    assert error.message.startswith(
        'RayCluster.ray.io "inverted" is invalid: spec.workerGroupSpecs[0]: Invalid value: '
    )
    assert error.message.endswith(": minReplicas must be less than or equal to maxReplicas")

    twins = small_cluster("twins", groups=2)
    twins["spec"]["workerGroupSpecs"][1]["groupName"] = "g0"
    error = await rejected(api_env, twins)
    assert error.message.startswith(
        'RayCluster.ray.io "twins" is invalid: spec.workerGroupSpecs: Invalid value: '
    )
    assert error.message.endswith(": worker group names must be unique")

    wrong_type = small_cluster("typed")
    wrong_type["spec"]["workerGroupSpecs"][0]["replicas"] = "three"
    # Server-side apply of a wrongly typed field: 422 on kubesim, 500 upstream (known.py).
    with pytest.raises(KubeError) as caught:
        await api_env.apply(wrong_type)
    assert "spec.workerGroupSpecs[0].replicas" in caught.value.message
    assert await api_env.get(RAY, "RayCluster", "typed") is None


async def test_managed_by_is_immutable_by_transition_rule(api_env: ApiEnv) -> None:
    """``spec.managedBy`` has a CEL transition rule (self == oldSelf): changing it is refused."""
    cluster = small_cluster("owned", managedBy="ray.io/kuberay-operator")
    await api_env.apply(cluster)
    cluster["spec"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    error = await rejected(api_env, cluster)
    # The bad value printed differs by version (known.CEL_VALUE): 1.32's type, 1.37's value.
    assert error.message.startswith('RayCluster.ray.io "owned" is invalid: spec.managedBy: ')
    assert error.message.endswith(": managedBy is immutable")


async def test_operator_applies_children_and_status_with_ssa(api_env: ApiEnv) -> None:
    """rayop creates the head StatefulSet and Services by apply (manager rayop), writes status
    through the status subresource, and status writes do not bump the generation."""
    await api_env.run(await api_env.operator())
    await api_env.apply(small_cluster("ssa"))
    head = await wait_for(lambda: api_env.get("apps/v1", "StatefulSet", "ssa-head"), within=30,
                          what="the head StatefulSet")  # fmt: skip
    assert ("rayop", "Apply", "") in managers(head)
    assert await api_env.get("v1", "Service", "ssa-head-svc") is not None

    async def observed() -> dict[str, Any] | None:
        cluster = await api_env.get(RAY, "RayCluster", "ssa")
        status = (cluster or {}).get("status") or {}
        return cluster if status.get("observedGeneration") == 1 else None

    cluster = await wait_for(observed, within=30, what="status.observedGeneration 1")
    assert ("rayop", "Apply", "status") in managers(cluster)
    assert ("kubectl", "Apply", "") in managers(cluster)
    assert cluster["metadata"]["generation"] == 1


async def test_spec_change_bumps_generation_and_is_reconciled(api_env: ApiEnv) -> None:
    """Scaling the worker group bumps metadata.generation; rayop observes it and scales."""
    await api_env.run(await api_env.operator())
    cluster = small_cluster("scale", replicas=1)
    await api_env.apply(cluster)
    cluster["spec"]["workerGroupSpecs"][0]["replicas"] = 3
    applied = await api_env.apply(copy.deepcopy(cluster))
    assert applied["metadata"]["generation"] == 2

    async def scaled() -> bool:
        got = await api_env.get(RAY, "RayCluster", "scale")
        status = (got or {}).get("status") or {}
        return status.get("observedGeneration") == 2 and status.get("desiredWorkerReplicas") == 3

    await wait_for(scaled, within=30, what="status to observe generation 2 with 3 workers")


async def test_status_subresource_separates_spec_and_status(api_env: ApiEnv) -> None:
    """A write to the main resource ignores status; a write to /status ignores spec."""
    created = await api_env.apply(small_cluster("split"))
    with_status = copy.deepcopy(created)
    with_status["status"] = {"state": "ready"}
    updated = await api_env.user.request(
        "PUT", f"/apis/ray.io/v1/namespaces/{api_env.namespace}/rayclusters/split", body=with_status
    )
    assert "status" not in updated or updated["status"].get("state") != "ready"
    updated["spec"]["rayVersion"] = "9.9.9"
    updated["status"] = {"state": "suspended"}
    after = await api_env.user.request(
        "PUT",
        f"/apis/ray.io/v1/namespaces/{api_env.namespace}/rayclusters/split/status",
        body=updated,
    )
    assert after["status"]["state"] == "suspended"
    assert after["spec"]["rayVersion"] == "2.9.0"
    assert after["metadata"]["generation"] == 1


async def test_stale_update_and_apply_conflicts(api_env: ApiEnv) -> None:
    """A PUT with an old resourceVersion is 409 with upstream's message; so is an apply that
    takes a field another manager owns, unless forced."""
    created = await api_env.apply(small_cluster("race"))
    path = f"/apis/ray.io/v1/namespaces/{api_env.namespace}/rayclusters/race"
    first = copy.deepcopy(created)
    first["metadata"].setdefault("labels", {})["a"] = "1"
    await api_env.user.request("PUT", path, body=first)
    with pytest.raises(Conflict) as caught:
        await api_env.user.request("PUT", path, body=created)
    assert caught.value.message == (
        'Operation cannot be fulfilled on rayclusters.ray.io "race": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )

    other = {"apiVersion": RAY, "kind": "RayCluster",
             "metadata": {"name": "race", "namespace": api_env.namespace},
             "spec": {"rayVersion": "2.10.0"}}  # fmt: skip
    query = {"fieldManager": "other"}
    with pytest.raises(Conflict) as caught:
        await api_env.user.request("PATCH", path, query=query, body=other,
                                   content_type="application/apply-patch+yaml")  # fmt: skip
    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl": .spec.rayVersion'
    )
    forced = await api_env.user.request("PATCH", path, query={**query, "force": "true"},
                                        body=other, content_type="application/apply-patch+yaml")  # fmt: skip
    assert forced["spec"]["rayVersion"] == "2.10.0"
    assert ("other", "Apply", "") in managers(forced)


async def test_operator_recreates_a_deleted_child_from_its_watch(api_env: ApiEnv) -> None:
    """Deleting the head Service behind rayop's back: its watch sees it and it comes back."""
    await api_env.run(await api_env.operator())
    await api_env.apply(small_cluster("heal"))
    first = await wait_for(lambda: api_env.get("v1", "Service", "heal-head-svc"), within=30,
                           what="the head Service")  # fmt: skip
    await api_env.user.delete("v1", "Service", api_env.namespace, "heal-head-svc")

    async def recreated() -> dict[str, Any] | None:
        service = await api_env.get("v1", "Service", "heal-head-svc")
        return (
            service if service and service["metadata"]["uid"] != first["metadata"]["uid"] else None
        )

    await wait_for(recreated, within=30, what="rayop to recreate the head Service")


async def test_leader_election_holds_and_releases_a_lease(api_env: ApiEnv) -> None:
    """The elector takes a coordination.k8s.io Lease with the operator's identity and releases
    it on stop (the Role in manifests/operator/ grants exactly that on the real server)."""
    api = await load_api_client(kubeconfig=str(api_env.operator_kubeconfig))
    client = KubeClient(api, qps=0)
    name = f"rayop-{api_env.namespace}"
    elector = LeaderElector(
        KubeLeaseClient(client),
        LeaderElectionConfig(name=name, namespace=LEASE_NAMESPACE, identity="replica-a",
                             lease_duration=3.0, renew_deadline=2.0, retry_period=0.5),
    )  # fmt: skip
    if api_env.sim is not None:
        await api_env.user.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NAMESPACE}}
        )
    led = asyncio.Event()

    async def lead() -> None:
        led.set()
        await asyncio.Event().wait()  # lead until cancelled

    task = asyncio.create_task(elector.run(lead))
    try:
        await asyncio.wait_for(led.wait(), timeout=20)
        lease = await api_env.user.get("coordination.k8s.io/v1", "Lease", LEASE_NAMESPACE, name)
        assert lease["spec"]["holderIdentity"] == "replica-a"
        assert lease["spec"]["leaseDurationSeconds"] == 3
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    lease = await api_env.user.get("coordination.k8s.io/v1", "Lease", LEASE_NAMESPACE, name)
    assert not lease["spec"].get("holderIdentity"), "the lease was not released on stop"
    await client.close()


async def test_operator_identity_is_bound_by_its_cluster_role(api_env: ApiEnv) -> None:
    """With rayop's own identity, what its ClusterRole does not grant is Forbidden (403), with
    the same message from kubesim's RBAC authorizer as from kube-apiserver's."""
    client = KubeClient(await load_api_client(kubeconfig=str(api_env.operator_kubeconfig)), qps=0)
    try:
        with pytest.raises(KubeError) as caught:
            await client.request("GET", "/api/v1/namespaces/kube-system/secrets")
        assert caught.value.code == 403
        assert caught.value.message == (
            'secrets is forbidden: User "system:serviceaccount:rayop-system:rayop" cannot list '
            'resource "secrets" in API group "" in the namespace "kube-system"'
        )
    finally:
        await client.close()


async def test_restarted_operator_relists_and_changes_nothing(api_env: ApiEnv) -> None:
    """A second operator starting from a fresh list finds everything as it wants it: no object
    it manages gets a new resourceVersion (no write), on either server."""
    await api_env.run(await api_env.operator())
    await api_env.apply(small_cluster("relist"))

    async def versions() -> dict[str, str]:
        objects = [("apps/v1", "StatefulSet", "relist-head"), ("v1", "Service", "relist-head-svc"),
                   (RAY, "RayCluster", "relist")]  # fmt: skip
        found = {kind: await api_env.get(version, kind, name) for version, kind, name in objects}
        return {kind: obj["metadata"]["resourceVersion"] for kind, obj in found.items() if obj}

    async def settled() -> dict[str, str] | None:
        before = await versions()
        await asyncio.sleep(1.0)
        return before if len(before) == 3 and before == await versions() else None

    before = await wait_for(settled, within=30, what="rayop to stop writing")
    await api_env.stop_operators()
    await api_env.run(await api_env.operator())
    await asyncio.sleep(2.0)
    assert await versions() == before
