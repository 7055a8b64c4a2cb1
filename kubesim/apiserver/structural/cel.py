"""`x-kubernetes-validations` (CEL) rules of a CRD schema, evaluated when cel-python is installed.

The real server evaluates every rule with `self` bound to the value of the schema node that
declares it (and `oldSelf` to the previous value on updates) and reports a failed rule as
`<path>: Invalid value: "<schema type>": <message>` (or Forbidden/Required/Duplicate when the rule
sets `reason`), at `path` + the rule's `fieldPath`. When the schema validation already found a
blocking error (wrong type, unsupported value, missing required field, too long, too many), the
server skips the rules and says so in one extra cause.

Fidelity limits, on purpose: evaluation uses cel-python (`celpy`), the standard CEL language
without Kubernetes' extension libraries (quantity, url, ip, regex helpers such as `isSorted`); a
rule that fails to compile or to evaluate is skipped rather than reported (the real server would
report a runtime error), `messageExpression` falls back to `message`, transition rules
(`oldSelf`) are checked only along object fields (not through list items), and without celpy
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


def validate_rules(schema: dict[str, Any], obj: Any, old: Any = None) -> list[Cause]:
    """Evaluate every rule of `schema` against `obj` (`old`: the previous object on updates)."""
    if _celpy() is None:
        return []
    causes: list[Cause] = []
    _walk(schema, obj, old, "", causes, correlated=old is not None)
    return causes


def _walk(
    schema: Any, value: Any, old: Any, path: str, causes: list[Cause], *, correlated: bool
) -> None:
    if not isinstance(schema, dict) or value is None:
        return
    rules = schema.get("x-kubernetes-validations")
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict):
            _check(rule, schema, value, old if correlated else None, path, causes)
    prefix = f"{path}." if path else ""
    if isinstance(value, dict):
        raw = schema.get("properties")
        properties = raw if isinstance(raw, dict) else {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, additional if isinstance(additional, dict) else None)
            old_item = old.get(key) if correlated and isinstance(old, dict) else None
            _walk(sub, item, old_item, prefix + str(key), causes, correlated=old_item is not None)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk(schema["items"], item, None, f"{path}[{index}]", causes, correlated=False)


def _check(
    rule: dict[str, Any],
    schema: dict[str, Any],
    value: Any,
    old: Any,
    path: str,
    causes: list[Cause],
) -> None:
    text = str(rule.get("rule", ""))
    uses_old = "oldSelf" in text
    if uses_old and old is None:
        return  # transition rules only run on updates, against the correlated old value
    try:
        value_key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        old_key = orjson.dumps(old, option=orjson.OPT_SORT_KEYS) if uses_old else b""
    except TypeError:
        return
    if _passes(text, value_key, old_key) is False:
        causes.append(_failure(rule, schema, path, text))


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
