"""`x-kubernetes-validations` (CEL) rules of a CRD schema, evaluated when cel-python is installed.

The real server evaluates every rule with `self` bound to the value of the schema node that
declares it (and `oldSelf` to the previous value on updates) and reports a failed rule as
`<path>: Invalid value: "<schema type>": <message>` (or Forbidden/Required/Duplicate when the rule
sets `reason`), at `path` + the rule's `fieldPath`. When the schema validation already found a
blocking error (wrong type, unsupported value, missing required field, too long, too many), the
server skips the rules and says so in one extra cause.

On updates, values correlate with the stored object as upstream's `CorrelatedObject` does:
object fields by name, items of `x-kubernetes-list-type: map` lists by their keys, items of
`set` lists by value; atomic lists do not correlate. Transition rules run where an old value
correlates (always, with `optionalOldSelf`). A failed rule that does not use `oldSelf`, on a value
the update left unchanged (or, where the value does not correlate, under the nearest unchanged
correlated parent), is ratcheted: it becomes a warning, not an error.

Fidelity limits, on purpose: evaluation uses cel-python (`celpy`), the standard CEL language
without Kubernetes' extension libraries (quantity, url, ip, regex helpers such as `isSorted`); a
rule that fails to compile or to evaluate is skipped rather than reported (the real server would
report a runtime error), `messageExpression` falls back to `message`, CEL optionals are emulated
for `optionalOldSelf` only as `oldSelf.hasValue()` and `oldSelf.value()`, and without celpy
installed no rule is evaluated at all. Compiled programs are cached by rule text.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import orjson

from kubesim.apiserver.structural.causes import Cause, go_value

__all__ = ["BLOCKING_TYPES", "SKIPPED_CAUSE", "has_rules", "validate_rules"]

#: Cause types after which the server does not evaluate CEL rules.
BLOCKING_TYPES = frozenset(
    {
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    }
)
#: The cause the server adds when blocking errors kept it from evaluating the rules.
SKIPPED_CAUSE = Cause(
    "FieldValueInvalid",
    "<nil>",
    'Invalid value: "null": some validation rules were not checked because the object was '
    "invalid; correct the existing errors to complete validation",
)


@functools.cache
def _celpy() -> Any:
    try:
        import celpy
    except ImportError:  # optional: without it, rules are accepted and never evaluated
        return None
    return celpy


@functools.lru_cache(maxsize=512)
def _program(rule: str) -> Any:
    env = _environment()
    if env is None:
        return None
    try:
        return env.program(env.compile(rule))
    except Exception:  # a rule cel-python cannot compile (Kubernetes extensions): skipped
        return None


@functools.cache
def _environment() -> Any:
    """One shared CEL environment. Creating one raises the interpreter's recursion limit as a
    side effect; kubesim must not change process-wide state, so the limit is put back."""
    celpy = _celpy()
    if celpy is None:
        return None
    limit = sys.getrecursionlimit()
    try:
        return celpy.Environment()
    finally:
        sys.setrecursionlimit(limit)


_HAS_RULES: dict[int, tuple[Any, bool]] = {}


def has_rules(schema: Any) -> bool:
    """Whether any node of `schema` declares `x-kubernetes-validations` (cached per schema object)."""
    cached = _HAS_RULES.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    found = _declares_rules(schema)
    if len(_HAS_RULES) > 256:
        _HAS_RULES.clear()
    _HAS_RULES[id(schema)] = (schema, found)  # holding the schema keeps its id unique
    return found


def _declares_rules(schema: Any) -> bool:
    if isinstance(schema, dict):
        if schema.get("x-kubernetes-validations"):
            return True
        return any(
            _declares_rules(v) for k, v in schema.items() if k not in ("enum", "default", "example")
        )
    if isinstance(schema, list):
        return any(_declares_rules(item) for item in schema)
    return False


def validate_rules(
    schema: dict[str, Any], obj: Any, old: Any = None, *, warnings: list[str] | None = None
) -> list[Cause]:
    """Evaluate every rule of `schema` against `obj` (`old`: the previous object on updates).

    Ratcheted failures (see the module docstring) are appended to `warnings`."""
    if _celpy() is None:
        return []
    walk = _Walk(warnings)
    walk.node(schema, obj, old, "", unchanged=old is not None and obj == old)
    return walk.causes


class _Walk:
    """One evaluation of a schema's rules over an object and its correlated old value."""

    def __init__(self, warnings: list[str] | None) -> None:
        self.causes: list[Cause] = []
        self._warnings = warnings

    def node(self, schema: Any, value: Any, old: Any, path: str, *, unchanged: bool) -> None:
        """Check `value` (correlated with `old`, or None) and everything under it.

        `unchanged`: whether the nearest correlated value at or above this one is unchanged."""
        if not isinstance(schema, dict) or value is None:
            return
        rules = schema.get("x-kubernetes-validations")
        for rule in rules if isinstance(rules, list) else []:
            if isinstance(rule, dict):
                self._rule(rule, schema, value, old, path, ratchet=unchanged)
        prefix = f"{path}." if path else ""
        if isinstance(value, dict):
            raw = schema.get("properties")
            properties = raw if isinstance(raw, dict) else {}
            additional = schema.get("additionalProperties")
            for key, item in value.items():
                sub = properties.get(key, additional if isinstance(additional, dict) else None)
                old_item = old.get(key) if isinstance(old, dict) else None
                self._child(sub, item, old_item, prefix + str(key), unchanged)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            olds = _correlate_items(schema, value, old)
            for index, item in enumerate(value):
                self._child(schema["items"], item, olds[index], f"{path}[{index}]", unchanged)

    def _child(self, schema: Any, value: Any, old: Any, path: str, parent_unchanged: bool) -> None:
        unchanged = value == old if old is not None else parent_unchanged
        self.node(schema, value, old, path, unchanged=unchanged)

    def _rule(
        self,
        rule: dict[str, Any],
        schema: dict[str, Any],
        value: Any,
        old: Any,
        path: str,
        *,
        ratchet: bool,
    ) -> None:
        text = str(rule.get("rule", ""))
        uses_old = "oldSelf" in text
        optional = uses_old and rule.get("optionalOldSelf") is True
        if uses_old and old is None and not optional:
            return  # transition rules run only where an old value correlates
        if optional:
            text = _optional_old_self(text, present=old is not None)
        try:
            value_key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
            old_key = orjson.dumps(old, option=orjson.OPT_SORT_KEYS) if uses_old else b""
        except TypeError:
            return
        if _passes(text, value_key, old_key) is not False:
            return
        failure = _failure(rule, schema, path, str(rule.get("rule", "")))
        if ratchet and not uses_old:
            if self._warnings is not None:
                self._warnings.append(f"{failure.field}: {failure.message}")
        else:
            self.causes.append(failure)


def _correlate_items(schema: dict[str, Any], items: list[Any], old: Any) -> list[Any]:
    """The old item each new item correlates with (None where none does)."""
    if not isinstance(old, list):
        return [None] * len(items)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        return [item if item in old else None for item in items]
    keys = schema.get("x-kubernetes-list-map-keys")
    if list_type != "map" or not isinstance(keys, list):
        return [None] * len(items)

    def key_of(item: Any) -> Any:
        return tuple(item.get(k) for k in keys) if isinstance(item, dict) else None

    by_key = {key_of(item): item for item in old}
    return [by_key.get(key_of(item)) for item in items]


def _optional_old_self(text: str, *, present: bool) -> str:
    """`rule` with `oldSelf` as a CEL optional, for the two forms cel-python can evaluate."""
    text = text.replace("oldSelf.hasValue()", "true" if present else "false")
    return text.replace("oldSelf.value()", "oldSelf")


@functools.lru_cache(maxsize=4096)
def _passes(text: str, value_json: bytes, old_json: bytes) -> bool | None:
    """The rule's verdict on one value (None: not evaluable). Memoized on the JSON of the
    inputs: the interpreter is slow (milliseconds) and most writes (status updates, no-op
    applies) present the rules with the same values again."""
    program = _program(text)
    if program is None:
        return None
    celpy = _celpy()
    context = {"self": celpy.json_to_cel(orjson.loads(value_json))}
    if old_json:
        context["oldSelf"] = celpy.json_to_cel(orjson.loads(old_json))
    try:
        result = program.evaluate(context)
    except Exception:  # runtime error (missing key, unsupported function): skipped
        return None
    if isinstance(result, bool) or type(result).__name__ == "BoolType":
        return bool(result)
    return None


def _failure(rule: dict[str, Any], schema: dict[str, Any], path: str, text: str) -> Cause:
    field_path = str(rule.get("fieldPath") or "")
    where = (
        (path + field_path if field_path.startswith(".") else f"{path}.{field_path}")
        if field_path
        else path
    )
    where = where.lstrip(".")
    message = str(rule.get("message") or f"failed rule: {text.strip()}")
    kind = str(schema.get("type") or "object")
    reason = rule.get("reason")
    if reason == "FieldValueForbidden":
        return Cause("FieldValueForbidden", where, f"Forbidden: {message}")
    if reason == "FieldValueRequired":
        return Cause("FieldValueRequired", where, f"Required value: {message}")
    if reason == "FieldValueDuplicate":
        return Cause("FieldValueDuplicate", where, f"Duplicate value: {go_value(kind)}")
    return Cause("FieldValueInvalid", where, f"Invalid value: {go_value(kind)}: {message}")
