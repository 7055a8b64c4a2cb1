"""Bad input never crashes kubesim or corrupts its state: every answer is a 4xx Status."""

from __future__ import annotations

import copy
import random
from typing import Any

import orjson

from kubesim import KubeSim

PODS = "/api/v1/namespaces/default/pods"
STS = "/apis/apps/v1/namespaces/default/statefulsets"
_JUNK: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    "",
    "x" * 300,
    [],
    [1, "a"],
    {},
    {"a": {"b": None}},
    "Ünïcode ✓",
]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, (*prefix, i))
    return out


def _mutate(obj: dict[str, Any], rng: random.Random) -> Any:
    """Replace one random node of `obj` with junk."""
    mutated = copy.deepcopy(obj)
    path = rng.choice(_paths(mutated)[1:])
    node = mutated
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = rng.choice(_JUNK)
    return mutated


def _mutate_keeping_types(obj: dict[str, Any], rng: random.Random) -> Any:
    """Change one random node of `obj` to another value of the same JSON type, or drop it."""
    mutated = copy.deepcopy(obj)
    path = rng.choice(_paths(mutated)[1:])
    node = mutated
    for step in path[:-1]:
        node = node[step]
    old = node[path[-1]]
    if rng.random() < 0.3 and isinstance(node, dict):
        del node[path[-1]]
    elif isinstance(old, bool):
        node[path[-1]] = not old
    elif isinstance(old, int):
        node[path[-1]] = rng.choice([-1, 0, 2, 10**9])
    elif isinstance(old, str):
        node[path[-1]] = rng.choice(
            ["", "X", "Upper.Case", "a" * 300, "v2", "Namespaced", "Cluster", "ü"]
        )
    elif isinstance(old, list):
        node[path[-1]] = old * 2 if rng.random() < 0.5 else []
    else:
        node[path[-1]] = {}
    return mutated


async def test_mutated_bodies_get_client_errors(raw: Any, sim: KubeSim, make: Any) -> None:
    """Hundreds of bodies with one wrong node: each is accepted or refused with a 4xx, never a 500."""
    rng = random.Random(20261125)
    base = {
        "pod": make.pod("p", labels={"a": "b"}, node="n1"),
        "sts": make.statefulset("s", replicas=2),
    }
    codes: list[int] = []
    for i in range(200):
        kind = rng.choice(["pod", "sts"])
        mutate = _mutate if i % 2 else _mutate_keeping_types
        body = mutate(base[kind], rng)
        if isinstance(body.get("metadata"), dict) and isinstance(body["metadata"].get("name"), str):
            body["metadata"]["name"] = f"m{i}"
        code, answer, _ = await raw.post(PODS if kind == "pod" else STS, body)
        codes.append(code)
        assert code < 500, (body, answer)
        if code >= 400:
            assert answer["kind"] == "Status"
            assert answer["code"] == code
    assert {c for c in codes if c >= 400} >= {400, 422}
    code, listed, _ = await raw.get(PODS)
    assert code == 200
    for item in listed["items"]:  # whatever was accepted is well formed
        assert isinstance(item["metadata"]["name"], str)
        assert isinstance(item["spec"]["containers"], list)


async def test_mutated_patches_leave_objects_intact(raw: Any, sim: KubeSim, make: Any) -> None:
    """Junk patches of every type are refused with 4xx or applied validly; a refused patch changes nothing."""
    await raw.post(STS, make.statefulset("s"))
    types = [
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
    ]
    patches: list[Any] = [
        {"spec": {"replicas": "many"}},
        {"spec": {"template": {"spec": {"containers": "nope"}}}},
        {"spec": {"template": {"spec": {"containers": [{"name": 5}]}}}},
        {"metadata": {"labels": {"k": 1}}},
        {"metadata": {"finalizers": "x"}},
        {"spec": {"selector": {"matchLabels": {"other": "x"}}}},
        [{"op": "replace", "path": "/spec/replicas", "value": -4}],
        [{"op": "test", "path": "/spec/replicas", "value": 99}],
        [{"op": "remove", "path": "/nope/deeper"}],
        [{"op": "explode"}],
        "a string",
        [1, 2, 3],
        {"$patch": "delete"},
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "s", "managedFields": []},
        },
        {"apiVersion": "apps/v2", "kind": "StatefulSet", "metadata": {"name": "s"}},
    ]
    for patch in patches:
        for content_type in types:
            before = sim.cluster.get("statefulsets.apps", "default", "s")
            query = "?fieldManager=t" if content_type.startswith("application/apply") else ""
            code, answer, _ = await raw.patch(f"{STS}/s{query}", patch, content_type)
            assert code < 500, (patch, content_type, answer)
            after = sim.cluster.get("statefulsets.apps", "default", "s")
            if code >= 400:
                assert after is before, (patch, content_type)
            else:
                assert isinstance(after["spec"]["replicas"], int)
    raw_bodies = [b"{", b"\xff\xfe", b"null", b"[]", b'{"spec": {"replicas": 1e309}}']
    for data in raw_bodies:
        code, _, _ = await raw.request(
            "PATCH", f"{STS}/s", data=data, content_type="application/merge-patch+json"
        )
        assert 400 <= code < 500, data
    before = sim.cluster.get("statefulsets.apps", "default", "s")
    code, _, _ = await raw.request(
        "PATCH",
        f"{STS}/s",
        data=orjson.dumps({"unknownField": [None]}),
        content_type="application/merge-patch+json",
    )
    assert code == 200  # an undeclared field is dropped by decoding: a no-op, as upstream
    assert sim.cluster.get("statefulsets.apps", "default", "s") is before


async def test_bad_query_parameters_are_client_errors(raw: Any, make: Any) -> None:
    """Malformed query parameters get 400/422 Status answers, never a 500."""
    await raw.post(PODS, make.pod("p"))
    queries = [
        "limit=abc",
        "limit=-1",
        "watch=1&timeoutSeconds=soon",
        "watch=1&resourceVersion=abc",
        "watch=1&resourceVersion=-5&timeoutSeconds=1",
        "resourceVersion=1&continue=abc",
        "labelSelector=a%20in%20",
        "labelSelector=%3D%3D%3D",
        "fieldSelector=metadata.name",
        "fieldSelector=%3Dx",
        "includeObject=Everything",
        "watch=1&sendInitialEvents=true&timeoutSeconds=1",
    ]
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    for query in queries:
        code, body, _ = await raw.get(f"{PODS}?{query}", headers=accept)
        assert code < 500, (query, body)
        if code >= 400:
            assert body["kind"] == "Status", query
    for method, path, body in [
        ("DELETE", f"{PODS}/p?gracePeriodSeconds=soon", None),
        ("DELETE", f"{PODS}/p", [1, 2]),
        ("DELETE", f"{PODS}/p", {"gracePeriodSeconds": "x"}),
        ("POST", f"{PODS}/p/status", make.pod("p")),
        ("PUT", f"{PODS}/p/nonsense", make.pod("p")),
        ("PATCH", f"{PODS}", {"a": 1}),
        ("PUT", f"{PODS}?dryRun=Some", make.pod("p")),
        ("POST", f"{PODS}?fieldValidation=Loose", make.pod("q")),
    ]:
        code, answer, _ = await raw.request(
            method,
            path,
            body,
            content_type="application/merge-patch+json"
            if method == "PATCH"
            else "application/json",
        )
        assert 400 <= code < 500, (method, path, answer)
    code, pod, _ = await raw.get(f"{PODS}/p")
    assert code == 200
    assert pod["metadata"]["name"] == "p"


async def test_mutated_crds_never_break_the_server(raw: Any, make: Any) -> None:
    """Broken CustomResourceDefinitions are refused or served, never a 500, and discovery keeps working."""
    rng = random.Random(99)
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    accepted = 0
    for _ in range(100):
        body = _mutate_keeping_types(make.widget_crd(), rng)
        code, answer, _ = await raw.post(crds, body)
        assert code < 500, (body, answer)
        if code == 201:
            for path in (
                "/apis/example.com/v1/namespaces/default/widgets",
                "/apis/example.com/v1/widgets",
            ):
                code, listed, _ = await raw.post(path, make.widget("w", replicas=1))
                assert code < 500, (body, listed)
                code, listed, _ = await raw.get(path)
                assert code < 500, (body, listed)
            accepted += 1
            code, _, _ = await raw.delete(f"{crds}/{answer['metadata']['name']}")
            assert code == 200
    assert accepted >= 10  # the run exercised serving odd but valid CRDs, not only rejections
    for path in ("/apis", "/api/v1", "/openapi/v3"):
        code, _, _ = await raw.get(path)
        assert code == 200, path
    accept = {"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}
    code, _, _ = await raw.get("/apis", headers=accept)
    assert code == 200


async def test_deeply_nested_body_is_refused_at_once(raw: Any, make: Any) -> None:
    """A 1 KB body of nested arrays (it froze kubesim for minutes) is a 400 naming the limit,
    and the server keeps serving."""
    for depth in (500, 5000):  # under and over orjson's own recursion limit
        body = make.configmap("deep")
        body["data"] = {"x": "y"}
        body["metadata"]["annotations"] = {"a": "b"}
        nested = "[" * depth + "]" * depth
        raw_body = orjson.dumps(body)[:-1] + b',"extra":' + nested.encode() + b"}"
        code, err, _ = await raw.post("/api/v1/namespaces/default/configmaps", data=raw_body)
        assert code == 400, err
        assert "more than 200 levels deep" in err["message"]
    code, _, _ = await raw.post("/api/v1/namespaces/default/configmaps", make.configmap("ok"))
    assert code == 201
