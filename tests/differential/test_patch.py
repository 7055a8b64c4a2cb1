"""Server-side apply (managedFields, conflicts, force, ownership transfer, ``$patch``) and the
three other patch types, on kubesim and on kube-apiserver."""

from __future__ import annotations

from typing import Any

from tests.differential import known
from tests.differential.wire import APPLY, JSON_PATCH, MERGE, STRATEGIC, Pair

CM = "/api/v1/namespaces/{ns}/configmaps/cm"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"
# The Deployment controller writes status and revision annotations on the real server.
NOT_PINNED = ("status", "metadata.annotations", "metadata.generation")


def cm(**data: str) -> dict[str, Any]:
    """An applied ConfigMap ``cm`` carrying ``data``."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data}


def deployment(*containers: dict[str, Any]) -> dict[str, Any]:
    """A Deployment ``web`` with ``containers``."""
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": list(containers)}},
        },
    }


async def test_apply_creates_conflicts_and_forces(pair: Pair) -> None:
    """Apply creates (201), a second manager's change to an owned field is a 409 naming the owner;
    force moves ownership; managedFields read the same throughout."""
    await pair.same(
        "PATCH", CM, query={"fieldManager": "a"}, body=cm(x="1", y="2"), content_type=APPLY
    )
    await pair.same("PATCH", CM, query={"fieldManager": "b"}, body=cm(x="9"), content_type=APPLY)
    await pair.same("PATCH", CM, query={"fieldManager": "b", "force": "true"}, body=cm(x="9"),
                    content_type=APPLY)  # fmt: skip
    await pair.same("PATCH", CM, query={"fieldManager": "a"}, body=cm(y="2"), content_type=APPLY)
    await pair.same("GET", CM)


async def test_apply_errors(pair: Pair) -> None:
    """Apply without fieldManager, with a wrong name, and with a body that is no object."""
    await pair.same("PATCH", CM, body=cm(x="1"), content_type=APPLY)
    wrong = cm(x="1")
    wrong["metadata"]["name"] = "other"
    await pair.same("PATCH", CM, query={"fieldManager": "a"}, body=wrong, content_type=APPLY)
    await pair.same("PATCH", CM, query={"fieldManager": "a"}, body="[1, 2]", content_type=APPLY)  # fmt: skip


async def test_merge_and_json_patches(pair: Pair) -> None:
    """Merge patch (null deletes), JSON patch (add/remove/test), and their errors."""
    await pair.both(
        "PATCH", CM, query={"fieldManager": "a"}, body=cm(x="1", y="2"), content_type=APPLY
    )
    await pair.same("PATCH", CM, body={"data": {"x": None, "z": "3"}}, content_type=MERGE)
    ops = [{"op": "add", "path": "/data/w", "value": "4"}, {"op": "remove", "path": "/data/y"}]
    await pair.same("PATCH", CM, body=ops, content_type=JSON_PATCH)
    await pair.same("PATCH", CM, body=[{"op": "test", "path": "/data/w", "value": "5"}],
                    content_type=JSON_PATCH)  # fmt: skip
    await pair.same(
        "PATCH", CM, body=[{"op": "remove", "path": "/data/nope"}], content_type=JSON_PATCH
    )
    await pair.same("PATCH", CM, body="{not json", content_type=MERGE)
    await pair.same("PATCH", f"{CM}-missing", body={"data": {}}, content_type=MERGE)


async def test_strategic_merge_by_container_name(pair: Pair) -> None:
    """Strategic merge patches merge containers by name, and ``$patch: delete`` removes one."""
    two = deployment({"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"})
    await pair.same("POST", DEPLOYMENTS, body=two, ignore=NOT_PINNED)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}
    await pair.same("PATCH", f"{DEPLOYMENTS}/web", body=patch, content_type=STRATEGIC,
                    ignore=NOT_PINNED)  # fmt: skip
    delete = {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}
    await pair.same("PATCH", f"{DEPLOYMENTS}/web", body=delete, content_type=STRATEGIC,
                    ignore=NOT_PINNED)  # fmt: skip


async def test_apply_list_ownership_by_merge_key(pair: Pair) -> None:
    """Two managers each apply their own container; dropping one's container removes only it."""
    query_a, query_b = {"fieldManager": "a"}, {"fieldManager": "b"}
    path = f"{DEPLOYMENTS}/web"
    await pair.same("PATCH", path, query=query_a, body=deployment({"name": "a", "image": "a:1"}),
                    content_type=APPLY, ignore=NOT_PINNED)  # fmt: skip
    await pair.same("PATCH", path, query=query_b, body=deployment({"name": "b", "image": "b:1"}),
                    content_type=APPLY, ignore=NOT_PINNED)  # fmt: skip
    await pair.same("PATCH", path, query=query_b, body=deployment(), content_type=APPLY,
                    ignore=NOT_PINNED)  # fmt: skip


async def test_update_shares_ownership_and_apply_keeps_shared_fields(pair: Pair) -> None:
    """A PUT by another manager takes shared ownership of the fields it sets to the same value
    and sole ownership of those it changes; an apply that drops a shared field keeps it."""
    await pair.same(
        "PATCH", CM, query={"fieldManager": "a"}, body=cm(x="1", y="2"), content_type=APPLY
    )
    current = await pair.same("GET", CM)
    for server in (pair.sim, pair.real):
        got = await server.call("GET", CM.replace("{ns}", pair.namespace))
        body = {**got.body, "data": {"x": "1", "y": "3"}}
        await server.call(
            "PUT", CM.replace("{ns}", pair.namespace), query={"fieldManager": "b"}, body=body
        )
    await pair.same("GET", CM)
    await pair.same("PATCH", CM, query={"fieldManager": "a"}, body=cm(), content_type=APPLY)
    assert current.body["data"] == {"x": "1", "y": "2"}


async def test_apply_with_a_patch_directive(pair: Pair) -> None:
    """``$patch`` directives belong to strategic merge patch; in an apply they are an error."""
    body = deployment({"name": "a", "image": "a:1"})
    await pair.both("PATCH", f"{DEPLOYMENTS}/web", query={"fieldManager": "a"}, body=body,
                    content_type=APPLY)  # fmt: skip
    body["spec"]["template"]["spec"]["containers"] = [{"name": "a", "$patch": "delete"}]
    await pair.same("PATCH", f"{DEPLOYMENTS}/web", query={"fieldManager": "a"}, body=body,
                    content_type=APPLY, ignore=NOT_PINNED, differs=known.SSA_PATCH_DIRECTIVE)  # fmt: skip
