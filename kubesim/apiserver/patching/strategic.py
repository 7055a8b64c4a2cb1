"""Strategic merge patch, ``application/strategic-merge-patch+json``, for built-in types.

The schema's patch markers drive it: a list whose ``x-kubernetes-patch-strategy`` includes
``merge`` merges item by item on its ``x-kubernetes-patch-merge-key`` (containers and env by
``name``, ports by ``containerPort``, volumes by ``name``, ...), or as a set of scalars when it
has no key (finalizers). Every other list is replaced. Objects merge key by key and ``null``
deletes a key, as in a JSON merge patch.

Directives: ``$patch: replace|delete|merge`` on an object or as a list element,
``$retainKeys``, ``$setElementOrder/<list>`` and ``$deleteFromPrimitiveList/<list>``.
Custom resources have no strategic merge patch (the caller answers 415 before calling here).
"""

from __future__ import annotations

from typing import Any, Final

from kubesim.apiserver.patching._values import clone
from kubesim.apiserver.patching.errors import PatchError
from kubesim.apiserver.schemas import UNTYPED, TypeSchema

__all__ = ["apply_strategic_merge_patch"]

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_ORDER_PREFIX: Final = "$setElementOrder/"
_DELETE_PREFIX: Final = "$deleteFromPrimitiveList/"


class _Deleted:
    """Marker for an object a ``$patch: delete`` removed."""


_DELETED: Final = _Deleted()


def apply_strategic_merge_patch(
    obj: dict[str, Any], patch: object, schema: TypeSchema
) -> dict[str, Any]:
    """`obj` with the strategic merge patch `patch` applied under `schema`; `obj` is unchanged.

    Raises `PatchError`: 400 for a patch that is not an object or a malformed directive, 422
    for content that contradicts its ``$retainKeys``.
    """
    if not isinstance(patch, dict):
        kind = (
            "array" if isinstance(patch, list) else "string" if isinstance(patch, str) else "number"
        )
        raise PatchError.bad_request(
            f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
        )
    merged = _merge_map(obj, patch, schema)
    if isinstance(merged, _Deleted):
        return {}
    # Copy on write shared untouched subtrees with `obj`; detach them so callers may mutate.
    detached: dict[str, Any] = clone(merged)
    return detached


def _merge_map(
    original: Any, patch: dict[str, Any], schema: TypeSchema
) -> dict[str, Any] | _Deleted:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return _DELETED
    if directive == "replace":
        replaced: dict[str, Any] = _strip(
            {k: v for k, v in patch.items() if k != _DIRECTIVE}, schema
        )
        return replaced
    if directive not in (None, "merge"):
        raise PatchError.bad_request(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")
    out: dict[str, Any] = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith(_DELETE_PREFIX):
            _delete_from_primitive_list(out, key[len(_DELETE_PREFIX) :], value)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
            continue
        member = schema.member(key)
        if isinstance(value, dict):
            merged = _merge_map(out.get(key), value, member)
            if isinstance(merged, _Deleted):
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(out.get(key), value, member)
        else:
            out[key] = value
    for key, value in patch.items():
        if key.startswith(_ORDER_PREFIX):
            field = key[len(_ORDER_PREFIX) :]
            if field in out:
                server = original.get(field) if isinstance(original, dict) else None
                out[field] = _set_element_order(
                    out[field],
                    value,
                    schema.member(field),
                    server if isinstance(server, list) else [],
                )
    if _RETAIN_KEYS in patch:
        out = _retain_keys(out, patch)
    return out


def _strip(value: Any, schema: TypeSchema) -> Any:
    """A patch value as it lands in an object with no original: nulls and directives dropped."""
    if isinstance(value, dict):
        merged = _merge_map(None, value, schema)
        return {} if isinstance(merged, _Deleted) else merged
    if isinstance(value, list):
        return _merge_list(None, value, schema)
    return value


def _is_merge_list(schema: TypeSchema) -> bool:
    strategy = schema.patch_strategy or ""
    return "merge" in strategy.split(",")


def _merge_list(original: Any, patch: list[Any], schema: TypeSchema) -> list[Any]:
    items = schema.items or UNTYPED
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" and len(i) == 1 for i in patch):
        rest = [i for i in patch if not (isinstance(i, dict) and i.get(_DIRECTIVE) == "replace")]
        return [_strip(i, items) for i in rest]
    if not _is_merge_list(schema) or not isinstance(original, list):
        if not _is_merge_list(schema):
            return clone(patch)  # type: ignore[no-any-return]
        original = []
    key = schema.patch_merge_key
    if key is None:
        out = list(original)
        for item in patch:
            if item not in out:
                out.append(clone(item))
        return out
    out = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError.bad_request(
                f"unable to find api field in struct for the merge key: {key} in item {_go(item)}"
            )
        if key not in item:
            raise PatchError.bad_request(
                f"map: {_go(item)} does not contain declared merge key: {key}"
            )
        position = next(
            (
                i
                for i, live in enumerate(out)
                if isinstance(live, dict) and live.get(key) == item[key]
            ),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            out = [
                live for live in out if not (isinstance(live, dict) and live.get(key) == item[key])
            ]
            continue
        merged = _merge_map(out[position] if position is not None else None, item, items)
        if isinstance(merged, _Deleted):
            continue
        if position is None:
            out.append(merged)
        else:
            out[position] = merged
    return out


def _go(value: Any) -> str:
    """`value` as Go's ``%v`` prints a decoded JSON value (the real server's messages use it)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return str(value)


def _delete_from_primitive_list(out: dict[str, Any], field: str, values: Any) -> None:
    if not isinstance(values, list):
        raise PatchError.bad_request("invalid patch format of primitive list")
    current = out.get(field)
    if isinstance(current, list):
        out[field] = [v for v in current if v not in values]


def _set_element_order(current: Any, order: Any, schema: TypeSchema, server: list[Any]) -> Any:
    """Order a merged list as ``$setElementOrder`` asks (strategic merge's normalizeElementOrder).

    Items named in the order list take that order; the others ("server-only") keep their
    original relative order; the two runs interleave by their positions in the original list.
    """
    if not isinstance(order, list) or not isinstance(current, list):
        raise PatchError.bad_request("invalid patch format of setElementOrder list")
    key = schema.patch_merge_key

    def identity(item: Any) -> str:
        if key is not None and isinstance(item, dict):
            return repr(item.get(key))
        return repr(item)

    rank = {identity(item): i for i, item in enumerate(order)}
    server_rank = {identity(item): i for i, item in enumerate(server)}
    listed = sorted((i for i in current if identity(i) in rank), key=lambda i: rank[identity(i)])
    server_only = sorted(
        (i for i in current if identity(i) not in rank),
        key=lambda i: server_rank.get(identity(i), len(server)),
    )
    out: list[Any] = []
    left = right = 0
    while left < len(listed) or right < len(server_only):
        if right >= len(server_only):
            out.append(listed[left])
            left += 1
        elif left >= len(listed):
            out.append(server_only[right])
            right += 1
        else:
            li = server_rank.get(identity(listed[left]))
            ri = server_rank.get(identity(server_only[right]))
            if li is not None and ri is not None and li < ri:
                out.append(listed[left])
                left += 1
            else:
                out.append(server_only[right])
                right += 1
    return out


def _retain_keys(out: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    retain = patch[_RETAIN_KEYS]
    if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
        raise PatchError.bad_request("invalid patch format of retainKeys")
    for key in patch:
        if not key.startswith("$") and key not in retain:
            raise PatchError(422, "patch content doesn't match retainKeys list", details={})
    return {k: v for k, v in out.items() if k in retain}
