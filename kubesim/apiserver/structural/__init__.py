"""Structural schemas of custom resources: pruning, defaulting and validation.

A CRD version's `openAPIV3Schema` drives three things the real API server does to every
custom resource it decodes (apiextensions-apiserver `pkg/apiserver/schema`):

* **defaulting** (`default:`): a property that is missing, or null while not `nullable`, gets a
  deep copy of its default, and defaulting continues inside the value just placed, so defaults
  nest. It runs inside array items and map values too.
* **null pruning**: a non-nullable property that is null and has no default is removed.
* **pruning**: properties the schema does not declare are dropped, except under
  `x-kubernetes-preserve-unknown-fields: true` (or `additionalProperties`). The root and every
  `x-kubernetes-embedded-resource` keep `apiVersion`, `kind` and `metadata`; their `metadata` keeps
  only the fields of `ObjectMeta` (the server round-trips it through the Go type).

Validation reproduces kube-openapi's validators and apiextensions' translation of their errors into
`field.Error`s, so `Cause.message` is `ErrorBody()` of the real server, e.g.
`Invalid value: "string": spec.replicas in body must be of type integer: "string"`.

CEL rules (`x-kubernetes-validations`) are evaluated when cel-python is installed (see
`kubesim.apiserver.structural.cel` for what is and is not covered) and skipped otherwise. Known gaps
(documented, not silently different): `anyOf`/`oneOf`/`not` are checked but report a single simplified error;
string formats are checked for `date-time`, `date`, `uuid`, `ipv4`, `ipv6`, `cidr` and `byte` only;
`int32`/`int64` ranges are not enforced (neither does the real server's type validator).
On updates, errors about unchanged values are ratcheted into warnings, as upstream.
"""

from kubesim.apiserver.structural.causes import (
    Cause,
    go_quote,
    go_value,
    invalid_message,
    status_causes,
)
from kubesim.apiserver.structural.prune import (
    OBJECT_META_FIELDS,
    prune_and_default,
    strict_decoding_message,
    unknown_fields,
)
from kubesim.apiserver.structural.validation import validate

__all__ = [
    "OBJECT_META_FIELDS",
    "Cause",
    "go_quote",
    "go_value",
    "invalid_message",
    "prune_and_default",
    "status_causes",
    "strict_decoding_message",
    "unknown_fields",
    "validate",
]
