"""Revision hashes and ControllerRevision objects, checked against a real cluster's output."""

from __future__ import annotations

from typing import Any

from kubesim.controllers.revision import (
    fnv1_32,
    fnv1a_32,
    new_controller_revision,
    pod_template_hash,
    revision_hash,
    safe_encode,
    statefulset_patch,
)


def _nginx_sts(image: str = "nginx") -> dict[str, Any]:
    """The server-defaulted StatefulSet a real 1.24 cluster stored for `kubectl apply`."""
    return {
        "metadata": {"name": "nginx-sts", "namespace": "default", "uid": "f5cc619c"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "nginx-sts"}},
                "spec": {
                    "containers": [
                        {
                            "image": image,
                            "imagePullPolicy": "Always",
                            "name": "nginx",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        }
                    ],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                },
            }
        },
    }


def test_fnv_variants_match_go() -> None:
    """FNV-1 and FNV-1a give Go's hash/fnv values (known test vectors)."""
    assert fnv1_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1_32(b"a") == 0x050C5D7E


def test_safe_encode_uses_the_vowel_free_alphabet() -> None:
    """SafeEncodeString maps each character onto bcdfghjklmnpqrstvwxz2456789."""
    assert safe_encode("0123456789") == "456789bcdf"


def test_statefulset_revision_name_matches_a_real_cluster() -> None:
    """The revision of a real cluster's nginx-sts is nginx-sts-6798d68dcd; kubesim agrees."""
    revision = new_controller_revision(_nginx_sts(), revision=1)
    assert revision["metadata"]["name"] == "nginx-sts-6798d68dcd"
    assert revision["metadata"]["labels"] == {
        "app": "nginx-sts",
        "controller.kubernetes.io/hash": "6798d68dcd",
    }
    assert revision["revision"] == 1
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"
    owner = revision["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("StatefulSet", "nginx-sts", True)


def test_revision_hash_changes_with_template_and_collision_count() -> None:
    """A new image or a collision count bump gives a different hash; equal templates agree."""
    base = statefulset_patch(_nginx_sts())
    assert revision_hash(base) == revision_hash(statefulset_patch(_nginx_sts()))
    assert revision_hash(base) != revision_hash(statefulset_patch(_nginx_sts("nginx:1.27")))
    assert revision_hash(base, 0) != revision_hash(base, 1)


def test_long_names_are_truncated_to_a_label_value() -> None:
    """Revision names stay within 63 characters so they fit the controller-revision-hash label."""
    sts = _nginx_sts()
    sts["metadata"]["name"] = "x" * 70
    name = new_controller_revision(sts, revision=1)["metadata"]["name"]
    assert len(name) <= 63
    assert name.startswith("x" * 50)


def test_pod_template_hash_has_the_real_shape() -> None:
    """Deployment hashes are safe-encoded decimal FNV values that track template changes."""
    template = _nginx_sts()["spec"]["template"]
    value = pod_template_hash(template)
    assert set(value) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 6 <= len(value) <= 10
    assert pod_template_hash(template, 1) != value
