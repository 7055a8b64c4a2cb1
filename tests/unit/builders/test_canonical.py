"""Desired objects are pruned to what the API server stores, so they compare equal after a write."""

from __future__ import annotations

from controller.builders.canonical import prune, with_port_protocols


def test_drops_what_the_server_drops() -> None:
    """null, empty lists/maps, "" strings and zero-valued omitempty fields disappear."""
    assert prune(
        {
            "env": [],
            "nodeSelector": {},
            "workingDir": "",
            "image": None,
            "stdin": False,
            "initialDelaySeconds": 0,
            "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": False}],
            "name": "c",
        }
    ) == {"volumeMounts": [{"name": "v", "mountPath": "/v"}], "name": "c"}


def test_keeps_meaningful_empties_and_pointer_zeros() -> None:
    """emptyDir {}, selector {}, "" label values, storageClassName "" and pointer zeros stay."""
    value = {
        "emptyDir": {},
        "labelSelector": {},
        "labels": {"a": ""},
        "storageClassName": "",
        "runAsNonRoot": False,
        "runAsUser": 0,
        "replicas": 0,
        "env": [{"name": "E", "value": ""}],
    }
    assert prune(value) == {**value, "env": [{"name": "E"}]}


def test_is_a_deep_copy() -> None:
    """The result shares no container with the input."""
    source = {"a": {"b": [1]}}
    result = prune(source)
    result["a"]["b"].append(2)
    assert source == {"a": {"b": [1]}}


def test_ports_get_tcp() -> None:
    """A port without a protocol gets TCP, the server's default and part of its merge key."""
    assert with_port_protocols([{"containerPort": 1}, {"containerPort": 2, "protocol": "UDP"}]) == [
        {"containerPort": 1, "protocol": "TCP"},
        {"containerPort": 2, "protocol": "UDP"},
    ]
