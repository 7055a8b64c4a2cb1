"""Property tests: valid RayClusters always parse; anything else comes back as problems, never raises."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api import parse_raycluster
from controller.api.problems import Problem

Manifest = dict[str, Any]
INTERNAL = "rayop could not read this RayCluster"
ROOTS = ("", "apiVersion", "kind", "metadata", "spec", "status")

dns_labels = st.from_regex(r"\A[a-z]([-a-z0-9]{0,14}[a-z0-9])?\Z")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def templates(draw: st.DrawFn, name: str) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    container: dict[str, Any] = {"name": name, "image": "rayproject/ray:2.52.0"}
    cpu = draw(st.sampled_from(["500m", "1", "4"]))
    container["resources"] = {"limits": {"cpu": cpu, "memory": "1Gi"}}
    return {"metadata": {"labels": {"team": "a"}}, "spec": {"containers": [container]}}


@st.composite
def worker_groups(draw: st.DrawFn, name: str, autoscaling: bool) -> dict[str, Any]:
    low = draw(st.integers(0, 5))
    high = draw(st.integers(low, 10))
    group: dict[str, Any] = {"groupName": name, "minReplicas": low, "maxReplicas": high}
    if draw(st.booleans()):
        group["replicas"] = draw(st.integers(low, high))
    template = draw(templates("ray-worker"))
    if template is not None:
        group["template"] = template
    kind = draw(st.sampled_from([None, "StatefulSet", "Deployment"]))
    if kind is not None:
        group["workloadKind"] = kind
    if kind == "StatefulSet" and draw(st.booleans()):
        group["volumeClaimTemplates"] = [{"metadata": {"name": "spill"}}]
    if not autoscaling and low >= 1 and draw(st.booleans()):
        group["horizontalPodAutoscaler"] = {}
    group["rayStartParams"] = draw(
        st.dictionaries(
            st.sampled_from(["object-store-memory", "port", "num-gpus"]),
            st.sampled_from(["0", "1"]),
            max_size=2,
        )
    )
    return group


@st.composite
def valid_clusters(draw: st.DrawFn) -> Manifest:
    autoscaling = draw(st.booleans())
    names = draw(st.lists(dns_labels, max_size=3, unique=True))
    spec: dict[str, Any] = {
        "rayVersion": draw(st.sampled_from(["2.6.0", "2.52.0"])),
        "enableInTreeAutoscaling": autoscaling,
        "workerGroupSpecs": [draw(worker_groups(name, autoscaling)) for name in names],
    }
    head = draw(templates("ray-head"))
    if head is not None:
        spec["headGroupSpec"] = {"template": head}
    if draw(st.booleans()):
        spec["headService"] = {"type": draw(st.sampled_from(["ClusterIP", "NodePort"]))}
    if autoscaling and draw(st.booleans()):
        spec["autoscalerOptions"] = {
            "idleTimeoutMinutes": draw(st.integers(0, 60)),
            "upscalingSpeed": draw(st.sampled_from([1, 1000])),
        }
    return {
        "apiVersion": draw(st.sampled_from(["ray.io/v1", "ray.io/v1alpha1"])),
        "kind": "RayCluster",
        "metadata": {"name": draw(dns_labels), "namespace": "ns"},
        "spec": spec,
    }


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            found += _paths(value, (*prefix, index))
    return found


def _assert_well_formed(problems: list[Problem]) -> None:
    for problem in problems:
        assert INTERNAL not in problem.message
        assert problem.field.split(".")[0].split("[")[0] in ROOTS, problem
        assert problem.message.endswith((".", ")")), problem


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(valid_clusters())
def test_valid_clusters_parse_and_are_stable(obj: Manifest) -> None:
    """Any valid generated RayCluster parses without problems, clamped, and reparses to itself."""
    original = copy.deepcopy(obj)
    result = parse_raycluster(obj)
    assert obj == original  # the input is never mutated
    assert result.problems == []
    _assert_well_formed(result.warnings)
    cluster = result.cluster
    assert cluster is not None
    for group in cluster.spec.worker_group_specs:
        assert group.replicas is not None
        assert group.min_replicas <= group.replicas <= group.max_replicas
        assert group.workload_kind in ("StatefulSet", "Deployment")
        assert group.template["spec"]["containers"][0]["image"]
    again = parse_raycluster(cluster.model_dump(by_alias=True, exclude_none=True))
    assert again.cluster == cluster


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(valid_clusters(), st.data(), json_values)
def test_any_corruption_is_a_problem_or_a_warning_never_an_exception(
    obj: Manifest, data: st.DataObject, value: Any
) -> None:
    """Replacing any part of a valid manifest with any JSON value never raises; a rejection names problems."""
    path = data.draw(st.sampled_from(_paths(obj)[1:]))
    target: Any = obj
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    original = copy.deepcopy(obj)
    result = parse_raycluster(obj)
    assert obj == original
    _assert_well_formed(result.problems)
    _assert_well_formed(result.warnings)
    if result.cluster is None:
        assert result.problems


@given(json_values)
def test_arbitrary_documents_never_raise(value: Any) -> None:
    """Any JSON document at all, RayCluster or not, yields a result with problems."""
    result = parse_raycluster(value)
    assert result.cluster is None
    assert result.problems
    _assert_well_formed(result.problems)


@given(
    st.dictionaries(
        st.sampled_from(["apiVersion", "kind", "metadata", "spec", "status"]), json_values
    )
)
def test_arbitrary_top_level_fields_never_raise(value: Manifest) -> None:
    """A document with RayCluster's top-level keys but arbitrary contents never raises."""
    value.setdefault("apiVersion", "ray.io/v1")
    value.setdefault("kind", "RayCluster")
    result = parse_raycluster(value)
    _assert_well_formed(result.problems)
    if result.cluster is None:
        assert result.problems


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(valid_clusters(), st.data())
def test_known_mistakes_are_always_named(obj: Manifest, data: st.DataObject) -> None:
    """In any cluster, min > max or a repeated group name is reported at that group's field."""
    groups = obj["spec"]["workerGroupSpecs"]
    if not groups:
        return
    index = data.draw(st.integers(0, len(groups) - 1))
    mistake = data.draw(st.sampled_from(["min-above-max", "duplicate-name"]))
    if mistake == "min-above-max":
        groups[index]["minReplicas"] = groups[index]["maxReplicas"] + 1
        expected = f"spec.workerGroupSpecs[{index}].minReplicas"
    else:
        groups.append(copy.deepcopy(groups[index]))
        expected = f"spec.workerGroupSpecs[{len(groups) - 1}].groupName"
    result = parse_raycluster(obj)
    assert result.cluster is None
    assert expected in [problem.field for problem in result.problems]
