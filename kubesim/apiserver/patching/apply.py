"""Server-side apply: merge, prune, conflicts and ownership, as structured-merge-diff does it.

The algorithm follows ``merge/update.go`` (``Updater.Apply``):

1. Merge the applied configuration into the live object; configuration values win. Lists merge
   by their schema: associative lists by key, sets by value, everything else is replaced
   (custom-resource lists without markers are atomic).
2. The manager's applied field set becomes exactly the configuration's field set.
3. Prune: fields this manager applied last time and omits now are removed, unless another
   manager owns them or something beneath them (their ancestors go too when nothing in them is
   owned any more, as the real server removes an emptied ``labels`` map).
4. Compare live with the result: other managers owning a field that was added or changed
   conflict (409 `ApplyConflict`) unless ``force``, which moves the fields to this manager;
   removed fields leave everyone; managers left with nothing disappear.

For ``kubectl`` itself, conflicts on fields of the client-side last-applied configuration are
forgiven and that annotation is kept in sync (see `kubesim.apiserver.patching.lastapplied`).

Gaps (for docs/kubesim.md): no conversion of managed sets across API versions and no unions.
A pruned field that has a default comes back through the caller's defaulting, as on the real
server. Update field sets approximate Go's zero values (optional maps, merged lists and pointer
structs are owned as nodes; which structs are values is a short list of field names).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubesim.apiserver.patching._values import clone
from kubesim.apiserver.patching.diff import diff
from kubesim.apiserver.patching.errors import ApplyConflict, PatchError
from kubesim.apiserver.patching.fieldsets import (
    FieldPath,
    flatten,
    item_element,
    path_sort_key,
    path_string,
    prefixes,
)
from kubesim.apiserver.patching.lastapplied import forgiven_conflicts, sync_last_applied
from kubesim.apiserver.patching.managed import (
    Manager,
    decode_managers,
    with_managed_fields,
    without_managed_fields,
)
from kubesim.apiserver.schemas import UNTYPED, TypeSchema

__all__ = ["server_side_apply"]

_SCALARS = frozenset([str, int, float, bool])

#: Paths prune never removes: the object's identity, which no manager ever owns.
_PROTECTED: frozenset[FieldPath] = frozenset(
    [("f:apiVersion",), ("f:kind",), ("f:metadata",)]
    + [
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
        )
    ]
)


def server_side_apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    *,
    schema: TypeSchema,
    manager: str,
    force: bool,
    subresource: str | None,
    now: str,
) -> dict[str, Any]:
    """The object after `manager` applies `config` to `live` (None: create-on-apply).

    Returns a new object (sharing nothing with `live` or `config`) whose
    ``metadata.managedFields`` records the apply. When the apply changes nothing, the result
    equals `live` except perhaps for the managers' field sets. Raises `ApplyConflict` when
    other managers own fields the apply would change and `force` is false.
    """
    base = without_managed_fields(live)
    managers = decode_managers(live)
    problems: list[str] = []
    applied = flatten(config, schema, problems=problems)
    if problems:
        raise _typed_patch_error(config, problems)
    merged = clone(_merge(base, config, schema))

    applied_set = set(applied)
    key = (manager, "Apply", "", subresource or "")
    previous = managers.get(key)
    last = previous.fields if previous is not None else set()
    if previous is not None and last == applied_set:
        me = previous  # the same field set: keep its encoding
    else:
        me = Manager(manager, "Apply", "", subresource or "", now, fields=applied_set)
        if previous is not None:
            me.time = previous.time
        managers[key] = me
    me.api_version = str(config.get("apiVersion") or base.get("apiVersion", ""))

    stale = last - me.fields
    if stale:
        _prune(merged, config, schema, stale, managers.values())

    added, modified, removed = diff(base, merged, schema)
    changed = added | modified
    others = [m for m in managers.values() if m is not me]
    forgiven = set() if force else forgiven_conflicts(live, schema, manager)
    _settle_ownership(others, changed, removed, force=force, forgiven=forgiven)
    if changed or removed or previous is None:
        me.time = now
    result = with_managed_fields(merged, managers)
    sync_last_applied(result, config, manager)
    return result


def _settle_ownership(
    others: list[Manager],
    changed: set[FieldPath],
    removed: set[FieldPath],
    *,
    force: bool,
    forgiven: set[FieldPath],
) -> None:
    """Raise `ApplyConflict` for fields `others` own that the apply changed, unless `force`
    (or every conflict is `forgiven`), which takes those fields from them; removed fields
    leave everyone."""
    conflicts = [(other, other.owned(changed)) for other in others]
    conflicts = [(other, overlap) for other, overlap in conflicts if overlap]
    unforgiven = [(other, overlap - forgiven) for other, overlap in conflicts]
    unforgiven = [(other, paths) for other, paths in unforgiven if paths]
    if unforgiven and not force:
        raise ApplyConflict(
            [
                (m.identity(), path_string(p))
                for m, paths in unforgiven
                for p in sorted(paths, key=path_sort_key)
            ]
        )
    for other, overlap in conflicts:
        other.discard(overlap)
    if removed:
        for other in others:
            other.discard(removed)


def _typed_patch_error(config: dict[str, Any], problems: list[str]) -> PatchError:
    """The real server's answer to a configuration it cannot type: a 500 with no reason
    (structured-merge-diff's error is not a Status, so the apiserver wraps it as unknown)."""
    meta = config.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    group_version = str(config.get("apiVersion", ""))
    if "/" not in group_version:
        group_version = "/" + group_version
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {group_version}, Kind={config.get('kind', '')}"
    if len(problems) == 1:
        detail = problems[0]
    else:
        detail = "errors:\n" + "\n".join(f"  {p}" for p in sorted(problems))
    return PatchError(500, f"failed to create typed patch object ({where}): {detail}")


# ---------------------------------------------------------------------- merge


def _merge(live: Any, config: Any, schema: TypeSchema) -> Any:
    """`config` merged into `live` (config wins); shares unchanged subtrees with both."""
    if isinstance(config, dict) and schema.type in ("object", None) and not schema.is_atomic_map:
        out = dict(live) if isinstance(live, dict) else {}
        for key, value in config.items():
            if type(value) in _SCALARS:
                out[key] = value  # the common case: a scalar replaces whatever was there
            elif value is None:
                # An explicit null in an apply configuration owns the field and unsets it.
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value, schema.member(key))
            else:
                out[key] = value
        return out
    if (
        isinstance(config, list)
        and isinstance(live, list)
        and schema.type == "array"
        and schema.effective_list_type != "atomic"
    ):
        return _merge_list(live, config, schema)
    return config


def _merge_list(live: list[Any], config: list[Any], schema: TypeSchema) -> list[Any]:
    """structured-merge-diff's list merge: shared items take the configuration's order,
    live-only items keep their place relative to them, configuration-only items go where the
    configuration puts them."""
    items = schema.items or UNTYPED
    live_keys = [item_element(i, schema) for i in live]
    config_keys = [item_element(i, schema) for i in config]
    live_by_key = dict(zip(live_keys, live, strict=True))
    config_by_key = dict(zip(config_keys, config, strict=True))
    shared = [k for k in config_keys if k in live_by_key]
    shared_at = 0
    out: list[Any] = []
    emitted: set[str] = set()
    li = ci = 0
    while li < len(live_keys) or ci < len(config_keys):
        if li < len(live_keys) and ci < len(config_keys) and live_keys[li] == config_keys[ci]:
            key = live_keys[li]
            if key not in emitted:
                out.append(_merge(live_by_key[key], config_by_key[key], items))
                emitted.add(key)
            li += 1
            ci += 1
            if shared_at < len(shared) and shared[shared_at] == key:
                shared_at += 1
            continue
        if li < len(live_keys):
            key = live_keys[li]
            if key not in config_by_key:
                out.append(live[li])
                li += 1
                continue
            if key in emitted or (shared_at < len(shared) and shared[shared_at] != key):
                li += 1
                continue
        if ci < len(config_keys):
            key = config_keys[ci]
            if key not in emitted:
                merged = (
                    _merge(live_by_key[key], config_by_key[key], items)
                    if key in live_by_key
                    else config[ci]
                )
                out.append(merged)
                emitted.add(key)
            ci += 1
            if shared_at < len(shared) and shared[shared_at] == key:
                shared_at += 1
    return out


# ---------------------------------------------------------------------- prune


def _prune(
    merged: dict[str, Any],
    config: dict[str, Any],
    schema: TypeSchema,
    stale: set[FieldPath],
    managers: Iterable[Manager],
) -> None:
    """Remove, in place, stale paths (and emptied ancestors) that no manager still owns.

    An ancestor the configuration still mentions stays even when nothing in it is owned
    (``finalizers: []`` keeps an empty list rather than flapping between applies).
    """
    owned = prefixes(p for m in managers for p in m.fields)
    candidates = sorted(
        (
            p
            for p in prefixes(stale)
            if p not in owned and p not in _PROTECTED and not _locate(config, schema, p)
        ),
        key=len,
    )
    removed: list[FieldPath] = []
    for path in candidates:
        if any(path[: len(done)] == done for done in removed):
            continue
        if _remove_path(merged, schema, path):
            removed.append(path)


def _locate(obj: dict[str, Any], schema: TypeSchema, path: FieldPath) -> bool:
    """Whether `path` exists in `obj`."""
    return _remove_path(obj, schema, path, remove=False)


def _remove_path(
    obj: dict[str, Any], schema: TypeSchema, path: FieldPath, *, remove: bool = True
) -> bool:
    """Delete `path` from `obj` in place (or only look for it); whether it was there."""
    node: Any = obj
    sub = schema
    for depth, element in enumerate(path):
        last = depth == len(path) - 1
        if element.startswith("f:"):
            if not isinstance(node, dict):
                return False
            name = element[2:]
            if name not in node:
                return False
            if last:
                if remove:
                    del node[name]
                return True
            node, sub = node[name], sub.member(name)
            continue
        if not isinstance(node, list):
            return False
        position = _find_item(node, sub, element)
        if position is None:
            return False
        if last:
            if remove:
                del node[position]
            return True
        node, sub = node[position], sub.items or UNTYPED
    return False


def _find_item(items: list[Any], schema: TypeSchema, element: str) -> int | None:
    if element.startswith("i:"):
        index = int(element[2:])
        return index if 0 <= index < len(items) else None
    for position, item in enumerate(items):
        if item_element(item, schema) == element:
            return position
    return None
