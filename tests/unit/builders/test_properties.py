"""Properties over generated RayClusters: builders never raise, and what they build is valid.

Every produced object must pass the official Kubernetes schema for its kind (kubernetes-validate,
strict: unknown fields are errors), have a valid name within its kind's limit, and come out the
same every time. Manifests the API rejects must come back as problems, never exceptions.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from typing import Any

import jsonschema
import referencing
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from kubernetes_validate.utils import schema_contents

from controller.api import parse_raycluster
from controller.builders import build_children

K8S_VERSION = "1.32"
SCHEMAS = f"kubernetes-json-schema/v{K8S_VERSION}.0-local-strict"
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_LIMIT = {"StatefulSet": 52, "Deployment": 52, "Service": 63, "HorizontalPodAutoscaler": 52}

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,8}){0,6}", fullmatch=True)
group_names = st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,12}){0,4}", fullmatch=True)
cpus = st.sampled_from(["100m", "500m", "1", "2", "1.5", "16"])
memories = st.sampled_from(["256Mi", "1Gi", "2Gi", "5Gi", "40G", "1500M"])
#: Values a user might put in rayStartParams, hostile ones included.
param_values = st.one_of(
    st.sampled_from(["0", "1", "true", "false", "0.0.0.0", "$HOME", "a; rm -rf /", "x'y", '"q"']),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
)
label_values = st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?", fullmatch=True)
param_keys = st.sampled_from(
    ["node-name", "object-store-memory", "temp-dir", "include-dashboard", "min-worker-port"]
)


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    # A CPU in limits or requests: the API requires one (the Ray autoscaler cannot model a
    # group without), so manifests without are covered by the invalid-spec property instead.
    limits: dict[str, str] = {"cpu": draw(cpus)}
    if draw(st.booleans()):
        limits["memory"] = draw(memories)
    if draw(st.booleans()):
        limits[draw(st.sampled_from(["nvidia.com/gpu", "google.com/tpu"]))] = draw(
            st.sampled_from(["1", "4"])
        )
    requests = {k: v for k, v in limits.items() if draw(st.booleans())}
    if requests.get("cpu") and draw(st.booleans()):
        del limits["cpu"]  # request only: num-cpus comes from the request
    result: dict[str, Any] = {}
    if limits:
        result["limits"] = limits
    if requests:
        result["requests"] = requests
    return result


@st.composite
def templates(draw: st.DrawFn, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "resources": draw(resources())}
    if draw(st.booleans()):
        container["image"] = "rayproject/ray:2.52.0"
    if draw(st.booleans()):
        container["env"] = [{"name": "USER_VAR", "value": draw(param_values)}]
    if draw(st.booleans()):
        container["ports"] = [
            {"containerPort": draw(st.sampled_from([8080, 6379, 9000])), "name": "extra"}
        ]
    spec: dict[str, Any] = {"containers": [container]}
    if draw(st.booleans()):
        spec["containers"].append({"name": "sidecar", "image": "busybox"})
    template: dict[str, Any] = {"spec": spec}
    if draw(st.booleans()):
        template["metadata"] = {
            "labels": {"team": "ml"},
            "annotations": {"note": draw(param_values)},
        }
    return template


@st.composite
def worker_groups(draw: st.DrawFn, autoscaling: bool) -> list[dict[str, Any]]:
    groups = []
    for group_name in draw(st.lists(group_names, max_size=3, unique=True)):
        minimum = draw(st.integers(0, 4))
        maximum = draw(st.integers(minimum, 10))
        group: dict[str, Any] = {
            "groupName": group_name,
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "replicas": draw(st.integers(0, 12)),
            "rayStartParams": draw(st.dictionaries(param_keys, param_values, max_size=3)),
            "template": draw(templates("ray-worker")),
        }
        if draw(st.booleans()):
            group["numOfHosts"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            group["labels"] = draw(
                st.dictionaries(st.sampled_from(["zone", "tier"]), label_values, max_size=2)
            )
        if draw(st.booleans()):
            group["resources"] = {"CPU": draw(cpus), "Custom": draw(st.sampled_from(["1", "0.5"]))}
        kind = draw(st.sampled_from([None, "StatefulSet", "Deployment"]))
        if kind is not None:
            group["workloadKind"] = kind
        if not autoscaling and minimum >= 1 and draw(st.booleans()):
            group["horizontalPodAutoscaler"] = {}
        stateful = kind == "StatefulSet" or (kind is None and not autoscaling)
        if stateful and draw(st.booleans()):
            group["volumeClaimTemplates"] = [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ]
            group["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete"}
        if draw(st.booleans()):
            group["suspend"] = draw(st.booleans()) and not autoscaling
        groups.append(group)
    return groups


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    autoscaling = draw(st.booleans())
    spec: dict[str, Any] = {
        "rayVersion": draw(st.sampled_from(["2.6.0", "2.52.0", "2.53.0", "2.60.0", "nightly"])),
        "enableInTreeAutoscaling": autoscaling,
        "workerGroupSpecs": draw(worker_groups(autoscaling)),
    }
    if draw(st.booleans()):
        spec["headGroupSpec"] = {
            "rayStartParams": draw(st.dictionaries(param_keys, param_values, max_size=3)),
            "template": draw(templates("ray-head")),
            "serviceType": draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"])),
        }
        if draw(st.booleans()):
            spec["headGroupSpec"]["headService"] = {
                "metadata": {"annotations": {"a": draw(param_values)}},
                "spec": {"ports": [{"name": "extra", "port": draw(st.sampled_from([8000, 9999]))}]},
            }
    if autoscaling and draw(st.booleans()):
        spec["autoscalerOptions"] = {
            "version": draw(st.sampled_from(["v1", "v2"])),
            "env": [{"name": "AUTOSCALER_UPDATE_INTERVAL_S", "value": "2"}],
        }
    if draw(st.booleans()):
        spec["suspend"] = draw(st.booleans())
    if draw(st.booleans()):
        spec["upgradeStrategy"] = {"type": draw(st.sampled_from(["Recreate", "None"]))}
    if draw(st.booleans()):
        spec["gcsFaultToleranceOptions"] = {
            "redisAddress": "redis:6379",
            "redisPassword": {"value": draw(param_values)},
        }
    metadata: dict[str, Any] = {"name": draw(names), "namespace": draw(names)}
    if draw(st.booleans()):
        metadata["annotations"] = {"ray.io/ft-enabled": "true"}
        spec.pop("gcsFaultToleranceOptions", None)
    if draw(st.booleans()):
        metadata["uid"] = "0f0e0d0c-0000-4000-8000-00000000abcd"
    return {
        "apiVersion": draw(st.sampled_from(["ray.io/v1", "ray.io/v1alpha1"])),
        "kind": "RayCluster",
        "metadata": metadata,
        "spec": spec,
    }


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    """kubernetes-validate's strict schema for a kind, compiled once.

    ``kubernetes_validate.validate`` re-reads its 5 MB definitions file on every call; the
    properties validate hundreds of objects, so they load each schema once, the same way.
    """
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"{SCHEMAS}/{kind.lower()}-{group_version}.json", K8S_VERSION)
    definitions = schema_contents(f"{SCHEMAS}/_definitions.json", K8S_VERSION)
    registry: referencing.Registry[Any] = referencing.Registry()
    registry = referencing.Resource.from_contents(schema) @ registry
    registry = referencing.Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _check_schema(obj: dict[str, Any]) -> None:
    errors = [e.message for e in _validator(obj["apiVersion"], obj["kind"]).iter_errors(obj)]
    assert not errors, (obj["kind"], obj["metadata"]["name"], errors)


def _check_name(obj: dict[str, Any]) -> None:
    name = obj["metadata"]["name"]
    kind = obj["kind"]
    pattern = DNS1035_LABEL if kind == "Service" else DNS1123_LABEL
    assert pattern.match(name), (kind, name)
    assert len(name) <= NAME_LIMIT.get(kind, 253), (kind, name)


def _check_labels(obj: dict[str, Any]) -> None:
    label_sets = [obj["metadata"].get("labels", {})]
    template = obj.get("spec", {}).get("template")
    if template is not None:
        label_sets.append(template["metadata"]["labels"])
    for labels in label_sets:
        for value in labels.values():
            assert len(value) <= 63, value
            assert LABEL_VALUE.match(value), value


def _check_ray_start(obj: dict[str, Any], doc: dict[str, Any]) -> None:
    """Every rayStartParams value reaches ray start as one literal argument."""
    template = obj.get("spec", {}).get("template")
    if template is None:
        return
    group = template["metadata"]["labels"]["ray.io/group"]
    if group == "headgroup":
        params = (doc["spec"].get("headGroupSpec") or {}).get("rayStartParams", {})
    else:
        params = next(g for g in doc["spec"]["workerGroupSpecs"] if g["groupName"] == group)[
            "rayStartParams"
        ]
    words = shlex.split(template["spec"]["containers"][0]["args"][0])
    for key, value in params.items():
        if value.lower() in ("true", "false") and key != "include-dashboard":
            assert (f"--{key}" in words) == (value.lower() == "true")
        else:
            assert f"--{key}={value}" in words, (key, value)


@SETTINGS
@given(manifests())
def test_valid_clusters_build_valid_objects(doc: dict[str, Any]) -> None:
    """Builders never raise; every object passes the Kubernetes schema, names and labels are valid."""
    result = parse_raycluster(doc)
    assume(result.cluster is not None)
    assert result.cluster is not None
    objects = build_children(result.cluster)
    for obj in objects:
        _check_schema(obj)
        _check_name(obj)
        _check_labels(obj)
        _check_ray_start(obj, doc)
    names_by_kind = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(set(names_by_kind)) == len(names_by_kind)


@SETTINGS
@given(manifests())
def test_rendering_is_deterministic(doc: dict[str, Any]) -> None:
    """The same manifest always gives byte-identical objects."""
    first, second = parse_raycluster(doc), parse_raycluster(json.loads(json.dumps(doc)))
    assume(first.cluster is not None and second.cluster is not None)
    assert first.cluster is not None
    assert second.cluster is not None
    assert json.dumps(build_children(first.cluster)) == json.dumps(build_children(second.cluster))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
spec_keys = st.sampled_from(
    [
        "headGroupSpec",
        "workerGroupSpecs",
        "rayVersion",
        "suspend",
        "autoscalerOptions",
        "enableInTreeAutoscaling",
        "gcsFaultToleranceOptions",
        "upgradeStrategy",
    ]
)


@settings(max_examples=60, deadline=None)
@given(manifests(), spec_keys, json_values)
def test_invalid_specs_are_problems_not_exceptions(
    doc: dict[str, Any], key: str, junk: Any
) -> None:
    """A spec with junk in any field parses to problems or a cluster, and building never raises."""
    doc["spec"][key] = junk
    result = parse_raycluster(doc)
    if result.cluster is None:
        assert result.problems
        assert all(problem.field or problem.message for problem in result.problems)
    else:
        build_children(result.cluster)


template_keys = st.sampled_from(
    ["ports", "env", "volumeMounts", "resources", "command", "args", "livenessProbe"]
)
pod_keys = st.sampled_from(["volumes", "initContainers", "serviceAccountName", "containers"])


@settings(max_examples=60, deadline=None)
@given(manifests(), template_keys, pod_keys, json_values, json_values)
def test_malformed_templates_never_crash_the_builders(
    doc: dict[str, Any], container_key: str, pod_key: str, junk: Any, more_junk: Any
) -> None:
    """Junk inside the head's pod template (not checked by the API) never makes building raise."""
    head = doc["spec"].setdefault(
        "headGroupSpec",
        {
            "template": {
                "spec": {
                    "containers": [{"name": "ray-head", "resources": {"limits": {"cpu": "1"}}}]
                }
            }
        },
    )
    head["template"]["spec"]["containers"][0][container_key] = junk
    head["template"]["spec"][pod_key] = more_junk
    head["headService"] = {"metadata": junk, "spec": {"ports": more_junk}}
    result = parse_raycluster(doc)
    event("built" if result.cluster is not None else "rejected by the API")
    if result.cluster is not None:
        build_children(result.cluster)
