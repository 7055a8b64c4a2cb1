"""Properties of server-side apply that hold for any configuration (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver.patching import ApplyConflict, PatchError, server_side_apply, track_update
from kubesim.apiserver.patching.diff import diff
from kubesim.apiserver.patching.fieldsets import compare, flatten, from_fields_v1
from kubesim.apiserver.schemas import TypeSchema, builtin_schema


def _schema() -> TypeSchema:
    schema = builtin_schema("apps/v1", "StatefulSet")
    assert schema is not None
    return schema


STS = _schema()
NAMES = ["a", "b", "c"]

_env = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(NAMES), "value": st.sampled_from(["1", "2"])}),
    max_size=3,
    unique_by=lambda e: e["name"],
)
_container = st.fixed_dictionaries(
    {"name": st.sampled_from(NAMES)},
    optional={
        "image": st.sampled_from(["x:1", "x:2"]),
        "env": _env,
        "args": st.lists(st.sampled_from(NAMES), max_size=2),
        "ports": st.lists(
            st.fixed_dictionaries({"containerPort": st.sampled_from([80, 81])}),
            max_size=2,
            unique_by=lambda p: p["containerPort"],
        ),
    },
)
_spec = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(0, 3),
        "template": st.fixed_dictionaries(
            {
                "spec": st.fixed_dictionaries(
                    {"containers": st.lists(_container, max_size=3, unique_by=lambda c: c["name"])}
                )
            },
            optional={
                "metadata": st.fixed_dictionaries(
                    {
                        "labels": st.dictionaries(
                            st.sampled_from(NAMES), st.sampled_from(["1", "2"]), max_size=2
                        )
                    }
                )
            },
        ),
    },
)
_configs = st.builds(
    lambda spec, labels, finalizers: {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s", "labels": labels, "finalizers": finalizers},
        "spec": spec,
    },
    _spec,
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from(["1", "2"]), max_size=2),
    st.lists(st.sampled_from(NAMES), max_size=2, unique=True),
)


def _apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    now: str,
    *,
    force: bool = True,
) -> dict[str, Any]:
    return server_side_apply(
        live, config, schema=STS, manager=manager, force=force, subresource=None, now=now
    )


@settings(max_examples=150, deadline=None)
@given(first=_configs, second=_configs)
def test_applying_the_same_config_twice_is_a_no_op(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    """Whatever was applied before, re-applying the last config changes nothing at all."""
    live = _apply(_apply(None, first, "m", "t1"), second, "m", "t2")
    assert _apply(live, second, "m", "t3", force=False) == live


@settings(max_examples=150, deadline=None)
@given(first=_configs, second=_configs)
def test_the_result_contains_every_applied_value(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    """After a forced apply, every field the config sets has the config's value."""
    live = _apply(_apply(None, first, "other", "t1"), second, "m", "t2")
    applied = flatten(second, STS)
    result = flatten(live, STS)
    for path, value in applied.items():
        if isinstance(value, dict) and not value:
            continue  # an empty map may merge with existing content
        assert path in result
        assert result[path] == value


@settings(max_examples=100, deadline=None)
@given(first=_configs, second=_configs)
def test_one_manager_alone_never_conflicts(first: dict[str, Any], second: dict[str, Any]) -> None:
    """A manager never conflicts with itself, whatever it applied before."""
    live = _apply(None, first, "m", "t1")
    try:
        _apply(live, second, "m", "t2", force=False)
    except ApplyConflict as exc:  # pragma: no cover - the assertion below reports it
        raise AssertionError(exc.message) from exc


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "c", "TCP"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "spec",
                    "template",
                    "containers",
                    "name",
                    "env",
                    "ports",
                    "containerPort",
                    "replicas",
                    "metadata",
                    "labels",
                    "finalizers",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    live=_configs | st.none(),
    body=st.dictionaries(st.sampled_from(["spec", "metadata", "status"]), _json, max_size=3),
)
def test_malformed_configs_raise_only_engine_errors(
    live: dict[str, Any] | None, body: dict[str, Any]
) -> None:
    """Wrong types and shapes in an apply body or update never escape as anything but PatchError or ApplyConflict."""
    current = _apply(None, live, "other", "t0") if live is not None else None
    config = {"apiVersion": "apps/v1", "kind": "StatefulSet", **body}
    outcome: object
    try:
        outcome = _apply(current, config, "m", "t1", force=False)
    except (PatchError, ApplyConflict) as exc:
        outcome = exc
    assert isinstance(outcome, dict | PatchError | ApplyConflict)
    updated = track_update(current, config, schema=STS, manager="u", subresource=None, now="t2")
    assert isinstance(updated["metadata"], dict)


_entry = st.dictionaries(
    st.sampled_from(
        ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"]
    ),
    _json,
    max_size=7,
)


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(_entry, max_size=3) | _json)
def test_malformed_managed_fields_never_break_a_write(entries: object) -> None:
    """Whatever a client stored in managedFields, later updates and applies still work."""
    live = _apply(
        None,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "s"},
            "spec": {"replicas": 1},
        },
        "m",
        "t0",
    )
    broken = {**live, "metadata": {**live["metadata"], "managedFields": entries}}
    new = {**broken, "spec": {"replicas": 2}}
    updated = track_update(live, new, schema=STS, manager="u", subresource=None, now="t1")
    assert updated["spec"] == {"replicas": 2}
    outcome: object
    try:
        outcome = _apply(
            broken,
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 3}},
            "m",
            "t2",
            force=False,
        )
    except ApplyConflict as exc:
        outcome = exc
    assert isinstance(outcome, dict | ApplyConflict)


def _mutate(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with a few random changes anywhere in it."""
    out = copy.deepcopy(obj)
    for _ in range(draw(st.integers(0, 3))):
        node: Any = out
        for _ in range(draw(st.integers(0, 6))):
            if isinstance(node, dict) and node:
                node = node[draw(st.sampled_from(sorted(node)))]
            elif isinstance(node, list) and node:
                node = node[draw(st.integers(0, len(node) - 1))]
        if isinstance(node, dict):
            node[draw(st.sampled_from([*NAMES, "image", "value", "replicas"]))] = draw(_json)
        elif isinstance(node, list):
            if node and draw(st.booleans()):
                node.pop()
            else:
                node.append(draw(_json))
    return out


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    base = draw(_configs)
    return _mutate(draw, base), _mutate(draw, base)


@settings(max_examples=300, deadline=None)
@given(pair=_pairs(), containers=st.booleans())
def test_diff_equals_the_full_comparison(
    pair: tuple[dict[str, Any], dict[str, Any]], containers: bool
) -> None:
    """The pruned parallel diff finds exactly what comparing the two whole field sets finds."""
    old, new = pair
    expected = compare(
        flatten(old, STS, containers=containers), flatten(new, STS, containers=containers)
    )
    assert diff(old, new, STS, containers=containers) == expected


def _reference_track(
    old: dict[str, Any], new: dict[str, Any], manager: str, now: str
) -> dict[tuple[str, str], tuple[set[Any], str | None]]:
    """The Update ownership rule computed the slow, obvious way (whole field sets)."""
    owners = {
        (e["manager"], e["operation"]): (from_fields_v1(e["fieldsV1"]), e.get("time"))
        for e in old["metadata"].get("managedFields", [])
    }
    strip = ("managedFields",)
    before = {**old, "metadata": {k: v for k, v in old["metadata"].items() if k not in strip}}
    after = {**new, "metadata": {k: v for k, v in new["metadata"].items() if k not in strip}}
    added, modified, removed = compare(
        flatten(before, STS, containers=True), flatten(after, STS, containers=True)
    )
    changed = added | modified
    out = {key: (fields - changed - removed, time) for key, (fields, time) in owners.items()}
    if changed:
        mine = out.get((manager, "Update"), (set(), now))[0]
        out[(manager, "Update")] = (mine | changed, now)
    return {key: value for key, value in out.items() if value[0]}


@st.composite
def _histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    base = _apply(None, draw(_configs), "applier", "t0")
    versions = [base]
    for _ in range(draw(st.integers(1, 3))):
        versions.append(_mutate(draw, versions[-1]))
    return versions


@settings(max_examples=150, deadline=None)
@given(
    history=_histories(), writers=st.lists(st.sampled_from(["u1", "u2"]), min_size=3, max_size=3)
)
def test_track_update_matches_the_whole_set_rule(
    history: list[dict[str, Any]], writers: list[str]
) -> None:
    """Lazy decoding, diffing and entry reuse give the same managedFields as the whole-set rule."""
    current = history[0]
    for step, (proposed, writer) in enumerate(zip(history[1:], writers, strict=False)):
        now = f"t{step + 1}"
        new = {
            **proposed,
            "metadata": {
                **proposed["metadata"],
                "managedFields": current["metadata"].get("managedFields", []),
            },
        }
        expected = _reference_track(current, new, writer, now)
        result = track_update(current, new, schema=STS, manager=writer, subresource=None, now=now)
        got = {
            (e["manager"], e["operation"]): (from_fields_v1(e["fieldsV1"]), e.get("time"))
            for e in result["metadata"].get("managedFields", [])
        }
        assert got == expected
        current = result
