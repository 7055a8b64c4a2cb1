"""Unit tests for controller.diff: when applying a desired child would change anything."""

from __future__ import annotations

import copy
from typing import Any

from controller.diff import HASH_ANNOTATION, contains, needs_apply, stamp


def _sts(**container: Any) -> dict[str, Any]:
    main = {"name": "ray-head", "image": "rayproject/ray:2.6.0", **container}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "c-head", "namespace": "ns", "labels": {"ray.io/cluster": "c"}},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [main]}},
        },
    }


def _as_server_stored(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server would return: defaults added, extra label, reordered containers."""
    stored = copy.deepcopy(obj)
    stored["metadata"]["uid"] = "u-1"
    stored["metadata"]["resourceVersion"] = "7"
    stored["metadata"]["labels"]["team"] = "ml"
    spec = stored["spec"]
    spec["podManagementPolicy"] = "OrderedReady"
    spec["template"]["spec"]["restartPolicy"] = "Always"
    for c in spec["template"]["spec"]["containers"]:
        c["terminationMessagePath"] = "/dev/termination-log"
        c["imagePullPolicy"] = "IfNotPresent"
    spec["template"]["spec"]["containers"].insert(
        0, {"name": "istio-proxy", "image": "istio/proxyv2"}
    )
    stored["status"] = {"replicas": 1}
    return stored


def test_server_defaults_and_foreign_additions_do_not_trigger_a_write() -> None:
    """Defaults, a user's label and an injected sidecar are not drift."""
    desired = stamp(_sts(env=[{"name": "A", "value": "1"}]))
    assert not needs_apply(desired, _as_server_stored(desired))


def test_missing_object_needs_apply() -> None:
    """An object that does not exist yet is applied."""
    assert needs_apply(stamp(_sts()), None)


def test_edited_field_is_drift() -> None:
    """Someone changing a field rayop sets (the image) makes rayop apply again."""
    desired = stamp(_sts())
    observed = _as_server_stored(desired)
    observed["spec"]["template"]["spec"]["containers"][1]["image"] = "evil:latest"
    assert needs_apply(desired, observed)


def test_field_rayop_stopped_setting_triggers_apply_through_the_hash() -> None:
    """Removing an env var from the desired object changes the hash, so rayop applies."""
    before = stamp(_sts(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    observed = _as_server_stored(before)
    after = stamp(_sts(env=[{"name": "A", "value": "1"}]))
    assert contains(observed["spec"], after["spec"])  # containment alone would miss it
    assert needs_apply(after, observed)
    assert (
        before["metadata"]["annotations"][HASH_ANNOTATION]
        != (after["metadata"]["annotations"][HASH_ANNOTATION])
    )


def test_stamp_is_deterministic_and_does_not_mutate() -> None:
    """The same desired object always gets the same hash; the input is left untouched."""
    desired = _sts()
    snapshot = copy.deepcopy(desired)
    assert stamp(desired) == stamp(copy.deepcopy(desired))
    assert desired == snapshot


def test_quantities_compare_by_value() -> None:
    """The server's canonical '1Gi' equals rayop's '1024Mi'; '2Gi' does not."""
    assert contains({"memory": "1Gi", "cpu": "500m"}, {"memory": "1024Mi", "cpu": "0.5"})
    assert not contains({"memory": "2Gi"}, {"memory": "1024Mi"})


def test_lists_without_a_key_compare_by_position_and_length() -> None:
    """Atomic lists such as args must match exactly."""
    assert contains({"args": ["a", "b"]}, {"args": ["a", "b"]})
    assert not contains({"args": ["a", "b", "c"]}, {"args": ["a", "b"]})
    assert not contains({"args": ["b", "a"]}, {"args": ["a", "b"]})


def test_keyed_items_match_regardless_of_order() -> None:
    """Ports keyed by name match even when the server reorders them."""
    observed = {"ports": [{"name": "b", "port": 2, "protocol": "TCP"}, {"name": "a", "port": 1}]}
    assert contains(observed, {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]})
    assert not contains(observed, {"ports": [{"name": "a", "port": 9}]})


def test_type_mismatch_is_drift() -> None:
    """A boolean is not the string 'true', and a dict is not a list."""
    assert not contains({"x": "true"}, {"x": True})
    assert not contains({"x": []}, {"x": {}})


def test_null_in_desired_matches_an_absent_field() -> None:
    """A desired null (unset) is satisfied by a missing field, not by a present one."""
    assert contains({"metadata": {"name": "a"}}, {"metadata": {"name": "a", "labels": None}})
    assert not contains({"x": 1}, {"x": None})
