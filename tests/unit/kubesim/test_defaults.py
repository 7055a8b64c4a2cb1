"""Server-side defaults of built-in kinds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver.defaults import apply_defaults, image_pull_policy, initial_pod_status


def pod_spec(**extra: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "nginx:1.25", **extra}]}


def test_pod_gets_podspec_container_and_admission_defaults() -> None:
    """A bare Pod reads back with the fields a real cluster fills in."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec()}
    spec = apply_defaults("", "v1", "Pod", pod)["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["serviceAccountName"] == "default"
    assert spec["priority"] == 0
    assert {t["key"] for t in spec["tolerations"]} == {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    }
    container = spec["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"] == {}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry:5000/ray", "Always"),
        ("registry:5000/ray:2.9", "IfNotPresent"),
        ("ray@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    """`latest` or no tag pulls Always; any other tag or a digest pulls IfNotPresent."""
    assert image_pull_policy(image) == policy


def test_ports_probes_and_env_field_refs_are_defaulted() -> None:
    """Ports get TCP, probes their thresholds and HTTP path/scheme, fieldRefs apiVersion v1."""
    spec = pod_spec(
        ports=[{"containerPort": 80}],
        readinessProbe={"httpGet": {"port": 80}},
        env=[{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
    )
    container = apply_defaults("", "v1", "Pod", {"spec": spec})["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert container["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"


def test_requests_default_to_limits_on_pods_but_not_templates() -> None:
    """Pods copy limits into missing requests; pod templates do not (as upstream)."""
    limited = pod_spec(resources={"limits": {"cpu": "1", "memory": "1Gi"}})
    pod = apply_defaults("", "v1", "Pod", {"spec": limited})
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert initial_pod_status(pod) == {"phase": "Pending", "qosClass": "Guaranteed"}
    sts = apply_defaults("apps", "v1", "StatefulSet", {"spec": {"template": {"spec": limited}}})
    template_spec = sts["spec"]["template"]["spec"]
    assert "requests" not in template_spec["containers"][0]["resources"]
    assert "enableServiceLinks" not in template_spec
    assert template_spec["restartPolicy"] == "Always"


def test_volumes_get_default_modes_and_empty_dir() -> None:
    """Secret/configMap volumes get mode 420; a volume without a source becomes emptyDir."""
    spec = {**pod_spec(), "volumes": [{"name": "a", "secret": {"secretName": "s"}}, {"name": "b"}]}
    volumes = apply_defaults("", "v1", "Pod", {"spec": spec})["spec"]["volumes"]
    assert volumes == [
        {"name": "a", "secret": {"secretName": "s", "defaultMode": 420}},
        {"name": "b", "emptyDir": {}},
    ]


def test_statefulset_defaults_make_rollout_status_work() -> None:
    """A StatefulSet reads back with RollingUpdate partition 0 and the other defaults."""
    sts = apply_defaults("apps", "v1", "StatefulSet", {"spec": {"template": {"spec": pod_spec()}}})
    spec = sts["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }


def test_statefulset_ondelete_strategy_and_explicit_values_are_kept() -> None:
    """Client values win: OnDelete gets no rollingUpdate, replicas 0 stays 0."""
    spec = {
        "replicas": 0,
        "updateStrategy": {"type": "OnDelete"},
        "podManagementPolicy": "Parallel",
    }
    out = apply_defaults("apps", "v1", "StatefulSet", {"spec": spec})["spec"]
    assert out["replicas"] == 0
    assert out["updateStrategy"] == {"type": "OnDelete"}
    assert out["podManagementPolicy"] == "Parallel"


def test_deployment_and_replicaset_defaults() -> None:
    """Deployments get 25%/25% rolling update, history 10, deadline 600; ReplicaSets replicas 1."""
    spec = apply_defaults("apps", "v1", "Deployment", {"spec": {}})["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (
        1,
        10,
        600,
    )
    assert apply_defaults("apps", "v1", "ReplicaSet", {"spec": {}})["spec"]["replicas"] == 1


def test_service_defaults() -> None:
    """Services get ClusterIP, no affinity, TCP ports with targetPort = port, IPv4 single stack."""
    svc = {"spec": {"ports": [{"name": "gcs", "port": 6379}], "clusterIP": "None"}}
    spec = apply_defaults("", "v1", "Service", svc)["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"name": "gcs", "port": 6379, "protocol": "TCP", "targetPort": 6379}]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in spec
    lb = apply_defaults("", "v1", "Service", {"spec": {"type": "LoadBalancer"}})["spec"]
    assert lb["externalTrafficPolicy"] == "Cluster"
    assert lb["allocateLoadBalancerNodePorts"] is True


def test_hpa_v2_defaults_metrics_and_fills_a_given_behavior() -> None:
    """HPA v2: minReplicas 1, CPU 80% metric; a partial behavior is completed, none is not added."""
    bare = apply_defaults(
        "autoscaling", "v2", "HorizontalPodAutoscaler", {"spec": {"maxReplicas": 5}}
    )
    assert bare["spec"]["minReplicas"] == 1
    assert bare["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }
    assert "behavior" not in bare["spec"]
    partial = {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}
    behavior = apply_defaults("autoscaling", "v2", "HorizontalPodAutoscaler", partial)["spec"][
        "behavior"
    ]
    assert behavior["scaleDown"] == {
        "stabilizationWindowSeconds": 60,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert [p["type"] for p in behavior["scaleUp"]["policies"]] == ["Pods", "Percent"]


def test_namespace_label_and_unknown_kinds_untouched() -> None:
    """Namespaces get their metadata.name label; custom resources are returned unchanged."""
    ns = apply_defaults("", "v1", "Namespace", {"metadata": {"name": "ray"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "ray"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    cr = {"spec": {"x": None}}
    assert apply_defaults("ray.io", "v1", "RayCluster", cr) == cr


@pytest.mark.parametrize(
    ("group", "kind", "obj"),
    [
        ("", "Pod", {"spec": pod_spec(ports=[{"containerPort": 1}], livenessProbe={"exec": {}})}),
        (
            "apps",
            "StatefulSet",
            {"spec": {"template": {"spec": pod_spec()}, "volumeClaimTemplates": [{}]}},
        ),
        ("apps", "Deployment", {"spec": {"template": {"spec": pod_spec()}}}),
        ("", "Service", {"spec": {"ports": [{"port": 80}]}}),
        ("autoscaling", "HorizontalPodAutoscaler", {"spec": {"behavior": {}}}),
        ("batch", "Job", {"spec": {"template": {"spec": pod_spec()}}}),
    ],
)
def test_defaults_are_idempotent(group: str, kind: str, obj: dict[str, Any]) -> None:
    """Defaulting an already-defaulted object changes nothing (no-op writes stay no-ops)."""
    version = "v2" if kind == "HorizontalPodAutoscaler" else "v1"
    once = apply_defaults(group, version, kind, obj)
    assert apply_defaults(group, version, kind, once) == once


def test_malformed_objects_do_not_raise() -> None:
    """Wrongly typed fields are left for validation instead of crashing the defaulter."""
    weird = {"spec": {"containers": "nope", "volumes": [1, None], "template": 3, "ports": {}}}
    for group, kind in [("", "Pod"), ("apps", "StatefulSet"), ("", "Service")]:
        apply_defaults(group, "v1", kind, weird)


def test_default_tolerations_respect_existing_ones() -> None:
    """A pod tolerating everything, or the taint already, gets no extra default toleration."""
    everything = {"spec": {**pod_spec(), "tolerations": [{"operator": "Exists"}]}}
    assert apply_defaults("", "v1", "Pod", everything)["spec"]["tolerations"] == [
        {"operator": "Exists"}
    ]
    own = {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 5,
    }
    pod = apply_defaults("", "v1", "Pod", {"spec": {**pod_spec(), "tolerations": [own]}})
    assert [t.get("tolerationSeconds") for t in pod["spec"]["tolerations"]] == [5, 300]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "containers",
                    "image",
                    "ports",
                    "protocol",
                    "readinessProbe",
                    "httpGet",
                    "volumes",
                    "secret",
                    "template",
                    "spec",
                    "updateStrategy",
                    "rollingUpdate",
                    "type",
                    "tolerations",
                    "key",
                    "behavior",
                    "scaleUp",
                    "policies",
                    "resources",
                    "limits",
                    "env",
                    "valueFrom",
                    "fieldRef",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
KINDS = [
    ("", "v1", "Pod"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "Deployment"),
    ("", "v1", "Service"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("batch", "v1", "CronJob"),
]


@settings(max_examples=200, deadline=None)
@given(spec=json_values, which=st.sampled_from(KINDS))
def test_defaulting_is_idempotent_and_total(spec: Any, which: tuple[str, str, str]) -> None:
    """Any input shape defaults without raising, and defaulting twice changes nothing more."""
    once = apply_defaults(*which, {"spec": spec})
    assert apply_defaults(*which, once) == once
