"""The API groups every cluster serves beyond the workloads: batch, networking, policy, storage,
apiregistration, DaemonSets and ReplicationControllers — served, validated, printed like upstream.

Before, each of these answered 404 (the same answer as a missing CRD), so tools that create
them (helm charts, `create_from_yaml`, KubeRay's Redis cleanup Job) failed against kubesim.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from kubesim import KubeSim

Kubectl = Callable[..., Awaitable[tuple[int, str, str]]]

TEMPLATE = {
    "metadata": {"labels": {"app": "x"}},
    "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
}
JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "cleanup"},
    "spec": {"template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}},
}
OBJECTS: dict[str, dict[str, Any]] = {
    "/apis/batch/v1/namespaces/default/jobs": JOB,
    "/apis/batch/v1/namespaces/default/cronjobs": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": JOB["spec"]}},
    },
    "/apis/apps/v1/namespaces/default/daemonsets": {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
    },
    "/api/v1/namespaces/default/replicationcontrollers": {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "old"},
        "spec": {"replicas": 0, "selector": {"app": "x"}, "template": TEMPLATE},
    },
    "/apis/networking.k8s.io/v1/namespaces/default/ingresses": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "rules": [
                {
                    "host": "ray.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "s", "port": {"number": 8265}}},
                            }
                        ]
                    },
                }
            ]
        },
    },
    "/apis/networking.k8s.io/v1/ingressclasses": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "nginx"},
        "spec": {"controller": "k8s.io/ingress-nginx"},
    },
    "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny"},
        "spec": {"podSelector": {}},
    },
    "/apis/policy/v1/namespaces/default/poddisruptionbudgets": {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "pdb"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "x"}}},
    },
    "/apis/storage.k8s.io/v1/storageclasses": {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "fast"},
        "provisioner": "example.com/ssd",
    },
    "/apis/apiregistration.k8s.io/v1/apiservices": {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "service": {"namespace": "kube-system", "name": "metrics-server"},
        },
    },
}


async def test_every_group_is_served_with_create_get_and_delete(raw: Any) -> None:
    """Each kind can be created, read back and deleted over HTTP."""
    for path, body in OBJECTS.items():
        code, created, _ = await raw.post(path, body)
        assert code == 201, (path, created)
        name = body["metadata"]["name"]
        code, got, _ = await raw.get(f"{path}/{name}")
        assert (code, got["kind"]) == (200, body["kind"])
        code, _, _ = await raw.delete(f"{path}/{name}")
        assert code == 200, path


async def test_discovery_lists_the_groups(raw: Any) -> None:
    """`/apis` names every served group, so kubectl and the clients find them."""
    code, body, _ = await raw.get("/apis")
    assert code == 200
    groups = {g["name"] for g in body["groups"]}
    assert {
        "batch",
        "networking.k8s.io",
        "policy",
        "storage.k8s.io",
        "apiregistration.k8s.io",
    } <= groups


async def test_job_gets_a_generated_selector_and_labels(raw: Any) -> None:
    """The job registry labels the template with the job's name and uid and selects by the uid."""
    _, job, _ = await raw.post("/apis/batch/v1/namespaces/default/jobs", JOB)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == "cleanup"
    assert labels["batch.kubernetes.io/controller-uid"] == labels["controller-uid"] == uid
    assert (job["spec"]["backoffLimit"], job["spec"]["manualSelector"]) == (6, False)
    assert job["metadata"]["generation"] == 1


async def test_job_with_restart_policy_always_is_refused(raw: Any) -> None:
    """A Job's pods must not restart forever: restartPolicy Always is a 422 naming the field."""
    body = yaml.safe_load(yaml.safe_dump(JOB))
    body["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    code, err, _ = await raw.post("/apis/batch/v1/namespaces/default/jobs", body)
    assert code == 422
    assert err["details"]["causes"][0]["field"] == "spec.template.spec.restartPolicy"
    assert 'supported values: "OnFailure", "Never"' in err["message"]


@pytest.mark.kubectl
async def test_kubectl_prints_the_new_kinds_with_upstreams_columns(
    sim: KubeSim, kubectl_for: Callable[[KubeSim], Kubectl], raw: Any
) -> None:
    """`kubectl get` shows each kind with the columns a real cluster prints."""
    for path, body in OBJECTS.items():
        await raw.post(path, body)
    kubectl = kubectl_for(sim)
    expected = {
        "jobs": ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        "cronjobs": ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
        "daemonsets": ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"],
        "replicationcontrollers": ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "ingresses": ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        "ingressclasses": ["NAME", "CONTROLLER", "PARAMETERS", "AGE"],
        "networkpolicies": ["NAME", "POD-SELECTOR", "AGE"],
        "poddisruptionbudgets": ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
        "storageclasses": ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"],
    }  # fmt: skip
    for resource, header in expected.items():
        code, out, err = await kubectl("get", resource)
        assert code == 0, (resource, err)
        first, second = out.splitlines()[:2]
        assert re.split(r"\s{2,}", first.strip()) == header, (resource, first)
        assert second.split()[0] in {
            "cleanup",
            "nightly",
            "agent",
            "old",
            "web",
            "nginx",
            "deny",
            "pdb",
            "fast",
        }
    code, out, _ = await kubectl("get", "ingress", "web")
    # ADDRESS is empty (no ingress controller), so the row reads NAME CLASS HOSTS PORTS AGE
    assert out.splitlines()[1].split()[:4] == ["web", "<none>", "ray.example.com", "80"]
    code, out, _ = await kubectl("get", "job", "cleanup", "--no-headers")
    assert out.split()[1:3] == ["Running", "0/1"]
