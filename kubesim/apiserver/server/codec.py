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
    """A JSON response with the exact Content-Type the real server sends."""
    hdrs = _JSON_HEADERS if headers is None else {**_JSON_HEADERS, **headers}
    return web.Response(body=orjson.dumps(obj), status=status, headers=hdrs)


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


def decode_body(raw: bytes, content_type: str, *, whole_object: bool = True) -> Any:
    """Parse a request body by its content type (JSON or YAML).

    `whole_object` bodies (create, update) word JSON syntax errors as the object decoder does."""
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
        prefix = "couldn't get version/kind; json parse error: " if whole_object else ""
        raise errors.bad_request(f"{prefix}{_go_json_error(raw, exc)}")


def _go_json_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    """Roughly Go's encoding/json syntax error text."""
    pos = exc.pos if isinstance(exc.pos, int) else 0
    if pos >= len(raw):
        return "unexpected end of JSON input"
    ch = chr(raw[pos]) if raw[pos] < 128 else "?"
    return f"invalid character '{ch}' looking for beginning of value"
