"""JSON patch (RFC 6902), ``application/json-patch+json``, as the real API server applies it.

kube-apiserver applies JSON patches with evanphx/json-patch v4, which differs from the RFC in
ways clients rely on, reproduced here:

* ``replace`` of a missing key in an existing object just sets it. The Ray autoscaler's
  ``replace /spec/workerGroupSpecs/0/scaleStrategy`` on a RayCluster without ``scaleStrategy``
  depends on it. A missing *parent* still fails.
* Negative array indices count from the end for ``add`` and ``remove``.
* ``test`` against a missing key passes when the expected value is null.

Errors: a body that is not a list of objects is 400 BadRequest with Go's decoding message; an
operation that does not apply is 422 Invalid with the server's generic message (the library's
explanation is kept in `PatchError.detail`).
"""

from __future__ import annotations

import re
from typing import Any

from kubesim.apiserver.patching._values import clone, json_equal
from kubesim.apiserver.patching.errors import PatchError

__all__ = ["apply_json_patch"]

_INDEX = re.compile(r"^[+-]?[0-9]+$")
#: kube-apiserver refuses longer JSON patches (``maxJSONPatchOperations``).
MAX_OPERATIONS = 10000
_MISSING = "missing value"
_BAD_INDEX = "invalid index referenced"
_Container = dict[str, Any] | list[Any]


def _go_type(value: object) -> str:
    """The JSON type name Go's decoder prints in ``cannot unmarshal X into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def apply_json_patch(obj: dict[str, Any], ops: object) -> dict[str, Any]:
    """`obj` with the JSON patch `ops` applied; `obj` is not modified.

    Raises `PatchError` (400 for a body that is not a list of operation objects, 413 for more
    than 10,000 operations, 422 for an operation that does not apply) and nothing else,
    whatever `ops` holds.
    """
    if ops is None:
        return clone(obj)  # type: ignore[no-any-return]
    if not isinstance(ops, list):
        raise PatchError.bad_request(
            f"json: cannot unmarshal {_go_type(ops)} into Go value of type jsonpatch.Patch"
        )
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError.bad_request(
                f"json: cannot unmarshal {_go_type(op)} into Go value of type jsonpatch.Operation"
            )
    if len(ops) > MAX_OPERATIONS:
        raise PatchError(
            413,
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_OPERATIONS}, got {len(ops)}",
        )
    doc: dict[str, Any] = clone(obj)
    for op in ops:
        _apply_one(doc, op)
    return doc


def _apply_one(doc: dict[str, Any], op: dict[str, Any]) -> None:
    kind = op.get("op")
    if kind == "add":
        _add(doc, op)
    elif kind == "remove":
        _remove(doc, op)
    elif kind == "replace":
        _replace(doc, op)
    elif kind == "move":
        _move(doc, op)
    elif kind == "copy":
        _copy(doc, op)
    elif kind == "test":
        _test(doc, op)
    else:
        shown = kind if isinstance(kind, str) else "unknown"
        raise PatchError.json_patch_failed(f"Unexpected kind: {shown}")


# ---------------------------------------------------------------------- pointers


def _pointer(op: dict[str, Any], field: str, verb: str, what: str) -> str:
    value = op.get(field)
    if value is None:
        missing = (
            "operation missing path field" if field == "path" else "operation, missing from field"
        )
        raise PatchError.json_patch_failed(
            f"{verb} operation failed to decode {what}: {missing}: {_MISSING}"
        )
    if not isinstance(value, str):
        raise PatchError.json_patch_failed(
            f"{verb} operation failed to decode {what}: json: cannot unmarshal "
            f"{_go_type(value)} into Go value of type string"
        )
    return value


def _decode(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _find(doc: dict[str, Any], path: str) -> tuple[_Container, str] | None:
    """The container holding the last token of `path`, and that token (v4's ``findObject``)."""
    tokens = path.split("/")
    if len(tokens) < 2:
        return None
    node: Any = doc
    for raw in tokens[1:-1]:
        token = _decode(raw)
        if isinstance(node, dict):
            node = node.get(token)
        else:
            index = _index(token)
            if index is None or not 0 <= index < len(node):
                return None
            node = node[index]
        if not isinstance(node, dict | list):
            return None
    return node, _decode(tokens[-1])


def _index(token: str) -> int | None:
    return int(token) if _INDEX.match(token) else None


def _get(container: _Container, key: str) -> tuple[bool, Any]:
    """(found, value); a missing object key is (True, None) as in v4, a bad index raises."""
    if isinstance(container, dict):
        return key in container, container.get(key)
    index = _index(key)
    if index is None:
        raise _Failure(f'strconv.Atoi: parsing "{key}": invalid syntax')
    if not 0 <= index < len(container):
        raise _Failure(f"Unable to access invalid index: {index}: {_BAD_INDEX}")
    return True, container[index]


class _Failure(Exception):
    """An error inside one container operation, wrapped by the caller with its context."""


def _insert(container: _Container, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
        return
    if key == "-":
        container.append(value)
        return
    index = _index(key)
    if index is None:
        raise _Failure(
            f"value was not a proper array index: '{key}': "
            f'strconv.Atoi: parsing "{key}": invalid syntax'
        )
    size = len(container) + 1
    if index >= size or index < -size:
        raise _Failure(f"Unable to access invalid index: {index}: {_BAD_INDEX}")
    container.insert(index + size if index < 0 else index, value)


def _delete(container: _Container, key: str) -> None:
    if isinstance(container, dict):
        if key not in container:
            raise _Failure(f"Unable to remove nonexistent key: {key}: {_MISSING}")
        del container[key]
        return
    index = _index(key)
    if index is None:
        raise _Failure(f'strconv.Atoi: parsing "{key}": invalid syntax')
    if index >= len(container) or index < -len(container):
        raise _Failure(f"Unable to access invalid index: {index}: {_BAD_INDEX}")
    del container[index]


# ---------------------------------------------------------------------- operations


def _add(doc: dict[str, Any], op: dict[str, Any]) -> None:
    path = op.get("path")
    if not isinstance(path, str):
        # v4 reports any undecodable path of add and remove as a missing value.
        raise PatchError.json_patch_failed(f"add operation failed to decode path: {_MISSING}")
    found = _find(doc, path)
    if found is None:
        raise PatchError.json_patch_failed(
            f'add operation does not apply: doc is missing path: "{path}": {_MISSING}'
        )
    try:
        _insert(found[0], found[1], clone(op.get("value")))
    except _Failure as exc:
        raise PatchError.json_patch_failed(f"error in add for path: '{path}': {exc}")


def _remove(doc: dict[str, Any], op: dict[str, Any]) -> None:
    path = op.get("path")
    if not isinstance(path, str):
        raise PatchError.json_patch_failed(f"remove operation failed to decode path: {_MISSING}")
    found = _find(doc, path)
    if found is None:
        raise PatchError.json_patch_failed(
            f'remove operation does not apply: doc is missing path: "{path}": {_MISSING}'
        )
    try:
        _delete(found[0], found[1])
    except _Failure as exc:
        raise PatchError.json_patch_failed(f"error in remove for path: '{path}': {exc}")


def _replace(doc: dict[str, Any], op: dict[str, Any]) -> None:
    path = _pointer(op, "path", "replace", "path")
    found = _find(doc, path)
    if found is None:
        raise PatchError.json_patch_failed(
            f"replace operation does not apply: doc is missing path: {path}: {_MISSING}"
        )
    container, key = found
    try:
        _get(container, key)
    except _Failure:
        raise PatchError.json_patch_failed(
            f"replace operation does not apply: doc is missing key: {path}: {_MISSING}"
        )
    value = clone(op.get("value"))
    if isinstance(container, dict):
        container[key] = value  # a missing key is simply set: the v4 leniency
    else:
        container[int(key)] = value


def _take(doc: dict[str, Any], op: dict[str, Any], verb: str) -> tuple[str, _Container, str, Any]:
    source = _pointer(op, "from", verb, "from")
    found = _find(doc, source)
    if found is None:
        raise PatchError.json_patch_failed(
            f"{verb} operation does not apply: doc is missing from path: {source}: {_MISSING}"
        )
    container, key = found
    try:
        _, value = _get(container, key)
    except _Failure as exc:
        where = key if verb == "move" else source
        label = "path" if verb == "move" else "from"
        raise PatchError.json_patch_failed(f"error in {verb} for {label}: '{where}': {exc}")
    return source, container, key, value


def _destination(doc: dict[str, Any], op: dict[str, Any], verb: str) -> tuple[str, _Container, str]:
    path = _pointer(op, "path", verb, "path")
    found = _find(doc, path)
    if found is None:
        raise PatchError.json_patch_failed(
            f"{verb} operation does not apply: doc is missing destination path: {path}: {_MISSING}"
        )
    return path, found[0], found[1]


def _move(doc: dict[str, Any], op: dict[str, Any]) -> None:
    _, container, key, value = _take(doc, op, "move")
    try:
        _delete(container, key)
    except _Failure as exc:
        raise PatchError.json_patch_failed(f"error in move for path: '{key}': {exc}")
    path, target, target_key = _destination(doc, op, "move")
    try:
        _insert(target, target_key, value)
    except _Failure as exc:
        raise PatchError.json_patch_failed(f"error in move for path: '{path}': {exc}")


def _copy(doc: dict[str, Any], op: dict[str, Any]) -> None:
    _, _, _, value = _take(doc, op, "copy")
    _, target, target_key = _destination(doc, op, "copy")
    try:
        _insert(target, target_key, clone(value))
    except _Failure as exc:
        raise PatchError.json_patch_failed(f"error while adding value during copy: {exc}")


def _test(doc: dict[str, Any], op: dict[str, Any]) -> None:
    path = _pointer(op, "path", "test", "path")
    found = _find(doc, path)
    if found is None:
        raise PatchError.json_patch_failed(
            f"test operation does not apply: is missing path: {path}: {_MISSING}"
        )
    try:
        _, actual = _get(*found)
    except _Failure as exc:
        raise PatchError.json_patch_failed(f"error in test for path: '{path}': {exc}")
    expected = op.get("value")
    if actual is None and expected is None:
        return
    if actual is None or expected is None or not json_equal(actual, expected):
        raise PatchError.json_patch_failed(f"testing value {path} failed: test failed")
