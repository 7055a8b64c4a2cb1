"""Request decoding and response encoding the way kube-apiserver does them.

* Query booleans follow Go's `Convert_Slice_string_To_bool`: false only for "0" and "false"
  (any case); everything else, including kubernetes-asyncio's "True", is true.
* Bodies may be JSON or YAML; protobuf bodies get a 415 that names the kubectl commands which
  send them; bodies above 3 MiB get the real server's 413.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from aiohttp import web

from kubesim.apiserver import errors
from kubesim.apiserver.errors import StatusError

__all__ = [
    "PROTOBUF",
    "decode_body",
    "json_response",
    "parse_bool",
    "parse_int",
    "status_response",
    "wants_table",
]

PROTOBUF = "application/vnd.kubernetes.protobuf"
_JSON_HEADERS = {"Content-Type": "application/json"}
_PROTOBUF_HINT = (
    "kubesim does not decode protobuf request bodies; kubectl sends them from commands built on "
    "typed clients such as `kubectl create namespace|deployment|secret|configmap|service ...` and "
    "`kubectl create token`. Use `kubectl create -f`, `kubectl apply -f` or `kubectl run` instead"
)


def parse_bool(value: str | None) -> bool:
    """Go's query-parameter boolean: false only for "0" or "false" in any case."""
    if value is None:
        return False
    return not (value == "0" or value.lower() == "false")


def parse_int(name: str, value: str | None) -> int | None:
    """An integer query parameter (400 with Go's strconv wording when malformed)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax ({name})')


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response with the exact Content-Type and the trailing newline the real server sends
    (Go's json.Encoder ends each value with one)."""
    hdrs = _JSON_HEADERS if headers is None else {**_JSON_HEADERS, **headers}
    return web.Response(body=orjson.dumps(obj) + b"\n", status=status, headers=hdrs)


def status_response(exc: StatusError) -> web.Response:
    """The Status body for an error, with Retry-After when the error carries one."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return json_response(exc.status(), exc.code, headers)


def wants_table(accept: str) -> bool:
    """Whether the client asked for `meta.k8s.io` Tables (kubectl get)."""
    return "as=Table" in accept


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 as sigs.k8s.io/yaml reads it: timestamps stay strings (no datetime objects)."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


#: The deepest nesting of arrays and objects a request body may have. kube-apiserver's JSON
#: decoder allows 10,000 levels; kubesim's object processing is recursive Python, so it stops far
#: earlier, yet far above any real object (a Pod spec nests about 15 levels).
MAX_BODY_DEPTH = 200


def nesting_depth(value: Any) -> int:
    """How deeply `value`'s arrays and objects nest (iteratively: never recurses)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_BODY_DEPTH:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def decode_body(raw: bytes, content_type: str, *, whole_object: bool = True) -> Any:
    """Parse a request body by its content type (JSON or YAML).

    `whole_object` bodies (create, update) word JSON syntax errors as the object decoder does.
    Bodies nested deeper than `MAX_BODY_DEPTH` are refused with a 400 before anything
    recursive touches them."""
    body = _decode(raw, content_type, whole_object=whole_object)
    if nesting_depth(body) > MAX_BODY_DEPTH:
        raise errors.bad_request(
            f"the request body nests arrays and objects more than {MAX_BODY_DEPTH} levels deep"
        )
    return body


def _decode(raw: bytes, content_type: str, *, whole_object: bool) -> Any:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in (PROTOBUF, "application/cbor") or media.endswith(("+protobuf", "+cbor")):
        raise errors.unsupported_media_type(
            ["application/json", "application/yaml"], _PROTOBUF_HINT
        )
    if not raw.strip():
        raise errors.bad_request("the body of the request was empty")
    if media in (
        "application/yaml",
        "application/apply-patch+yaml",
        "text/yaml",
        "application/x-yaml",
    ):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        try:
            return yaml.load(raw, Loader=_YamlLoader)  # safe: a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise errors.bad_request(
                f"error converting YAML to JSON: yaml: {where}{getattr(exc, 'problem', None) or exc}"
            )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise errors.bad_request(
                f"the request body nests arrays and objects more than {MAX_BODY_DEPTH} levels deep"
            )
        prefix = "couldn't get version/kind; json parse error: " if whole_object else ""
        raise errors.bad_request(f"{prefix}{_go_json_error(raw, exc)}")


def _go_json_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    """Roughly Go's encoding/json syntax error text."""
    pos = exc.pos if isinstance(exc.pos, int) else 0
    if pos >= len(raw):
        return "unexpected end of JSON input"
    ch = chr(raw[pos]) if raw[pos] < 128 else "?"
    return f"invalid character '{ch}' looking for beginning of value"
