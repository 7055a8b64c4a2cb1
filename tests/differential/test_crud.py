"""create/get/list/delete, selectors, pagination, dry run and error Status bodies: kubesim
answers exactly as kube-apiserver does (after normalising what legitimately differs)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.differential import known
from tests.differential.wire import TABLE, Pair

CMS = "/api/v1/namespaces/{ns}/configmaps"


def configmap(name: str, **labels: str) -> dict[str, Any]:
    """A small ConfigMap."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}  # fmt: skip


async def test_create_get_and_the_errors_around_them(pair: Pair) -> None:
    """201 with the stored object, 200 on get, 409 AlreadyExists, 404 NotFound, 400 name mismatch."""
    await pair.same("POST", CMS, body=configmap("one", app="a"))
    await pair.same("GET", f"{CMS}/one")
    await pair.same("POST", CMS, body=configmap("one"))
    await pair.same("GET", f"{CMS}/missing")
    await pair.same("PUT", f"{CMS}/other", body=configmap("one"))
    await pair.same("POST", CMS, body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    await pair.same("POST", CMS, body=configmap("Bad_Name"))


async def test_generate_name(pair: Pair) -> None:
    """metadata.generateName gives a name with a 5-character suffix (normalised)."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    answer = await pair.same("POST", CMS, body=body)
    assert answer.body["metadata"]["name"].startswith("gen-")


async def test_list_with_label_and_field_selectors(pair: Pair) -> None:
    """Label selectors (=, !=, in, exists) and metadata.name field selectors filter alike."""
    for name, app in (("a1", "x"), ("a2", "y"), ("a3", "x")):
        await pair.both("POST", CMS, body=configmap(name, app=app))
    for selector in ("app=x", "app!=x", "app in (x,y)", "!app", "app"):
        await pair.same("GET", CMS, query={"labelSelector": selector})
    await pair.same("GET", CMS, query={"fieldSelector": "metadata.name=a2"})
    await pair.same("GET", CMS, query={"fieldSelector": "metadata.name!=a2"})
    await pair.same("GET", CMS, query={"fieldSelector": "data.k=v"},
                    differs=known.FIELD_SELECTOR)  # fmt: skip
    await pair.same("GET", CMS, query={"labelSelector": "app in x"})  # fmt: skip


async def test_pagination_with_continue_tokens(pair: Pair) -> None:
    """limit=2 over five labelled objects: the same pages and continue tokens, and no
    remainingItemCount (upstream counts the rest only for lists without selectors)."""
    for index in range(5):
        await pair.both("POST", CMS, body=configmap(f"p{index}", page="yes"))
    page = {"limit": "2", "labelSelector": "page"}  # only ours: not kube-root-ca.crt
    sim, real = await pair.both("GET", CMS, query=page)
    await pair.same("GET", CMS, query=page)
    tokens = (sim.body["metadata"]["continue"], real.body["metadata"]["continue"])
    second = [
        await server.call(
            "GET", CMS.replace("{ns}", pair.namespace), query={**page, "continue": token}
        )
        for server, token in zip((pair.sim, pair.real), tokens, strict=True)
    ]
    names = [[item["metadata"]["name"] for item in answer.body["items"]] for answer in second]
    assert names[0] == names[1] == ["p2", "p3"]
    await pair.same("GET", CMS, query={**page, "continue": "garbage"},
                    differs=known.CONTINUE_TOKEN)  # fmt: skip


async def test_delete_answers(pair: Pair) -> None:
    """DELETE answers with the object (or Status), then 404; preconditions give 409."""
    await pair.both("POST", CMS, body=configmap("gone"))
    await pair.same("DELETE", f"{CMS}/gone")
    await pair.same("DELETE", f"{CMS}/gone")
    await pair.both("POST", CMS, body=configmap("kept"))
    wrong_uid = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "nope"}}
    await pair.same("DELETE", f"{CMS}/kept", body=wrong_uid)  # fmt: skip
    await pair.same("DELETE", f"{CMS}/kept", query={"propagationPolicy": "Sideways"})  # fmt: skip


async def test_dry_run_writes_nothing(pair: Pair) -> None:
    """dryRun=All answers like the real create and leaves nothing behind."""
    await pair.same("POST", CMS, query={"dryRun": "All"}, body=configmap("dry"))
    await pair.same("GET", f"{CMS}/dry")
    await pair.same("POST", CMS, query={"dryRun": "Bogus"}, body=configmap("dry"))  # fmt: skip


async def test_table_output(pair: Pair) -> None:
    """``Accept: ...;as=Table`` gives the same columns and cells (kubectl get's view)."""
    await pair.both("POST", CMS, body=configmap("tab", app="t"))
    ours = {"labelSelector": "app=t"}
    answer = await pair.same("GET", CMS, accept=TABLE, query=ours,
                             ignore=("rows.cells", "rows.object"))  # fmt: skip
    sim, real = await pair.both("GET", CMS, accept=TABLE, query=ours)
    cells = [[row["cells"][:2] for row in a.body["rows"]] for a in (sim, real)]
    assert cells[0] == cells[1] == [["tab", 1]]
    assert answer.body["kind"] == "Table"


async def test_delete_propagation_policies(pair: Pair) -> None:
    """Foreground and Orphan answer with the owner still there, holding the GC's finalizer;
    Background deletes the owner at once and the garbage collector then removes the child."""
    for policy in ("Foreground", "Orphan", "Background"):
        owner = await pair.same("POST", CMS, body=configmap(f"owner-{policy.lower()}"))
        uids = {"sim": owner.body["metadata"]["uid"]}
        real_owner = await pair.real.call(
            "GET", f"{CMS.replace('{ns}', pair.namespace)}/owner-{policy.lower()}"
        )
        uids["real"] = real_owner.body["metadata"]["uid"]
        for server, uid in ((pair.sim, uids["sim"]), (pair.real, uids["real"])):
            child = configmap(f"child-{policy.lower()}")
            child["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": f"owner-{policy.lower()}",
                    "uid": uid,
                }
            ]
            await server.call("POST", CMS.replace("{ns}", pair.namespace), body=child)
        await pair.same(
            "DELETE", f"{CMS}/owner-{policy.lower()}", query={"propagationPolicy": policy}
        )
    # Orphan keeps the child (without its ownerReference); the others delete it.
    for server in (pair.sim, pair.real):
        path = CMS.replace("{ns}", pair.namespace)

        async def children(server: Any = server, path: str = path) -> list[str]:
            listed = await server.call("GET", path)
            return sorted(
                i["metadata"]["name"]
                for i in listed.body["items"]
                if i["metadata"]["name"].startswith(("child", "owner"))
            )

        for _ in range(100):
            if await children() == ["child-orphan"]:
                break
            await asyncio.sleep(0.1)
        assert await children() == ["child-orphan"], server.name


async def test_dry_run_update_and_delete(pair: Pair) -> None:
    """dryRun on PUT and DELETE answers as the real write would, and changes nothing."""
    await pair.same("POST", CMS, body=configmap("dry-up"))
    # Without uid and resourceVersion the same body is an unconditional update on both servers.
    changed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry-up"},
               "data": {"k": "changed"}}  # fmt: skip
    await pair.same("PUT", f"{CMS}/dry-up", query={"dryRun": "All"}, body=changed)
    await pair.same("DELETE", f"{CMS}/dry-up", query={"dryRun": "All"})
    await pair.same("GET", f"{CMS}/dry-up")
