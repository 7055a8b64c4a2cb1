"""A CRD's structural schema on both servers: defaulting, pruning, CEL (incl. a transition rule),
the status subresource and metadata.generation, finalizers and DELETE."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.differential import known
from tests.differential.wire import APPLY, MERGE, Pair

GROUP = "diff.rayop.dev"


def widget_crd(suffix: str) -> dict[str, Any]:
    """A namespaced CRD ``widget<suffix>s.diff.rayop.dev`` (kind ``Widget<suffix>``) with
    defaults, CEL rules and /status."""
    spec_schema = {
        "type": "object",
        "properties": {
            "size": {"type": "integer", "minimum": 1, "default": 3},
            "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
            "limits": {
                "type": "object",
                "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min must not exceed max"}],
            },
            "owner": {
                "type": "string",
                "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "owner is immutable"}],
            },
        },
        "x-kubernetes-validations": [
            {"rule": "self.size <= 10 || self.mode == 'slow'", "message": "big widgets must be slow",
             "fieldPath": ".size"}
        ],
    }  # fmt: skip
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widget{suffix}s.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": f"widget{suffix}s", "singular": f"widget{suffix}",
                      "kind": f"Widget{suffix}", "listKind": f"Widget{suffix}List"},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": spec_schema,
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                }}},
            }],
        },
    }  # fmt: skip


async def install(pair: Pair) -> str:
    """Install a CRD named after this test's namespace on both servers; return its path."""
    suffix = pair.namespace.removeprefix("d-")
    crd = widget_crd(suffix)
    await pair.both("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
    path = f"/apis/{GROUP}/v1/namespaces/{{ns}}/widget{suffix}s"
    for _ in range(100):  # the real server serves the new resource once it is Established
        sim, real = await pair.both("GET", path)
        if sim.status == real.status == 200:
            return path
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} not served within 10 s: kubesim {sim.status}, real {real.status}")


def widget(path: str, name: str, **spec: Any) -> dict[str, Any]:
    """A widget named ``name`` of the CRD served at ``path``."""
    kind = "W" + path.rsplit("/", 1)[1][1:-1]
    return {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


async def test_defaulting_and_pruning(pair: Pair) -> None:
    """Missing fields get their defaults; unknown fields are dropped (with a warning)."""
    path = await install(pair)
    body = widget(path, "w1", unknown="dropped")
    body["extra"] = {"also": "dropped"}
    sim = await pair.same("POST", path, body=body)
    assert sim.body["spec"] == {"size": 3, "mode": "fast"}
    await pair.same(
        "POST", path, query={"fieldValidation": "Strict"}, body=widget(path, "w2", unknown=1)
    )


async def test_schema_and_cel_errors(pair: Pair) -> None:
    """Type, enum and minimum errors, a CEL rule with fieldPath, and a nested CEL rule."""
    path = await install(pair)
    await pair.same("POST", path, body=widget(path, "e1", size="big"), differs=known.NULL_QUOTED)
    await pair.same(
        "POST", path, body=widget(path, "e2", size=0, mode="medium"), differs=known.NULL_QUOTED
    )
    await pair.same("POST", path, body=widget(path, "e3", size=20), differs=known.CEL_VALUE)
    e4 = widget(path, "e4", limits={"min": 5, "max": 1})
    await pair.same("POST", path, body=e4, differs=known.CEL_VALUE)


async def test_apply_with_a_wrong_type(pair: Pair) -> None:
    """Server-side apply of a string where the schema says integer."""
    path = await install(pair)
    body = widget(path, "a", size="big")
    await pair.same("PATCH", f"{path}/a", query={"fieldManager": "m"}, body=body,
                    content_type=APPLY, differs=known.SSA_TYPE_ERROR)  # fmt: skip


async def test_transition_rule(pair: Pair) -> None:
    """``self == oldSelf`` lets create set the field and refuses an update that changes it."""
    path = await install(pair)
    await pair.same("POST", path, body=widget(path, "t", owner="me"))
    await pair.same("PATCH", f"{path}/t", body={"spec": {"size": 4}}, content_type=MERGE)
    await pair.same("PATCH", f"{path}/t", body={"spec": {"owner": "you"}}, content_type=MERGE,
                    differs=known.CEL_VALUE)  # fmt: skip


async def test_status_subresource_and_generation(pair: Pair) -> None:
    """Spec changes bump generation; /status writes do not, and each side ignores the other."""
    path = await install(pair)
    await pair.same("POST", path, body={**widget(path, "g"), "status": {"phase": "ignored"}})
    await pair.same("PATCH", f"{path}/g", body={"spec": {"size": 5}}, content_type=MERGE)
    await pair.same("PATCH", f"{path}/g/status", body={"status": {"phase": "Running"}, "spec": {"size": 9}},
                    content_type=MERGE)  # fmt: skip
    await pair.same("GET", f"{path}/g/status")


async def test_finalizer_holds_a_delete(pair: Pair) -> None:
    """DELETE of an object with a finalizer answers 200 with deletionTimestamp set; removing the
    finalizer lets it go."""
    path = await install(pair)
    body = widget(path, "f")
    body["metadata"]["finalizers"] = ["diff.rayop.dev/hold"]
    await pair.same("POST", path, body=body)
    await pair.same("DELETE", f"{path}/f")
    await pair.same(
        "PATCH", f"{path}/f", body={"metadata": {"finalizers": None}}, content_type=MERGE
    )
    await pair.same("GET", f"{path}/f")
