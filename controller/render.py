"""``rayop render``: print the objects a RayCluster manifest becomes, without a cluster.

Reads one or more files (``-`` is stdin), each YAML with one or more documents, and prints every
child object of every RayCluster in them: a YAML stream (``-o yaml``, the default) or one ``v1``
``List`` (``-o json``), in file order, then each cluster's children in `build_children` order.

What the user sees when something is wrong, on stderr, never a traceback:

* a file that cannot be read, is not YAML, or holds no RayCluster: one line naming the file;
* a document of another kind next to a RayCluster (the KubeRay samples ship ConfigMaps and Redis
  with their clusters): one ``skipped`` note, the rest still renders;
* a RayCluster at a version rayop does not serve: one line naming the version and the served ones;
* an invalid RayCluster: every problem, one line each, ``FILE: RayCluster NAME: field: message``;
* a child object that breaks its kind's Kubernetes schema (pod templates pass through as written,
  so ``ports: "8080"`` reaches the StatefulSet): every violation, naming the object and the path,
  as an API server would reject it on apply.

Exit status: 0 when everything rendered (warnings may have been printed), 1 when anything was
wrong (nothing is printed on stdout then, so a pipe into ``kubectl apply`` gets all or nothing),
2 for a bad command line.

A rendered manifest has no uid, so its objects carry no ownerReference (see
`controller.builders.meta`); the operator adds it when it applies them.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import jsonschema
import referencing
import yaml
from kubernetes_validate.utils import schema_contents

from controller.api import GROUP, KIND, SERVED_VERSIONS, parse_raycluster
from controller.builders import BuildConfig, build_children, build_warnings

__all__ = [
    "OUTPUT_FORMATS",
    "Rendered",
    "main",
    "render_command",
    "render_documents",
    "schema_problems",
    "to_json",
    "to_yaml",
]

OUTPUT_FORMATS = ("yaml", "json")
#: The Kubernetes version whose schemas rendered objects are checked against.
SCHEMA_VERSION = "1.32"
_SERVED = ", ".join(f"{GROUP}/{version}" for version in SERVED_VERSIONS)


@dataclass
class Rendered:
    """What rendering some documents gave: objects for stdout, lines for stderr, and success."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _ReadError(Exception):
    """A file that cannot be rendered at all; the message is the one line the user sees."""


def render_command(
    paths: list[str], output: str, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Render every RayCluster in `paths` to `stdout` as `output` (yaml|json); the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if output not in OUTPUT_FORMATS:
        print(f"rayop render: unknown output format {output!r} (use yaml or json)", file=err)
        return 2
    result = Rendered()
    for path in paths:
        try:
            documents = _load(path)
        except _ReadError as exc:
            result.errors.append(str(exc))
            continue
        rendered = render_documents(path, documents)
        result.objects.extend(rendered.objects)
        result.errors.extend(rendered.errors)
        result.notes.extend(rendered.notes)
    for line in [*result.notes, *result.errors]:
        print(line, file=err)
    if result.errors:
        return 1
    out.write(to_json(result.objects) if output == "json" else to_yaml(result.objects))
    return 0


def render_documents(
    source: str, documents: list[object], *, config: BuildConfig | None = None
) -> Rendered:
    """Render parsed YAML documents from `source` (a file name, used in messages)."""
    result = Rendered()
    clusters = 0
    skipped: list[str] = []  # "Kind/name" of documents that are not RayClusters
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        where = f"{source}: document {index}"
        if not isinstance(document, dict):
            result.errors.append(f"{where}: not a Kubernetes object (a mapping)")
            continue
        api_version, kind = document.get("apiVersion"), document.get("kind")
        if kind != KIND:
            name = (document.get("metadata") or {}).get("name", "")
            skipped.append(f"{kind}/{name}")
            result.notes.append(f"{where}: skipped {kind}/{name}: not a RayCluster")
            continue
        clusters += 1
        if (
            not isinstance(api_version, str)
            or api_version.partition("/")[0] != GROUP
            or (api_version.partition("/")[2] not in SERVED_VERSIONS)
        ):
            result.errors.append(
                f"{where}: RayCluster apiVersion {api_version!r} is not supported (rayop serves {_SERVED})"
            )
            continue
        _render_cluster(where, document, result, config or BuildConfig())
    if clusters == 0 and not result.errors:
        # One line for a file that is not a RayCluster at all, rather than a note per document
        # (the notes can only be skip notes then: warnings come from clusters).
        result.notes = []
        found = f" (it holds {', '.join(skipped)})" if skipped else ""
        result.errors.append(f"{source}: no RayCluster found{found}")
    return result


def _render_cluster(
    where: str, document: dict[str, Any], result: Rendered, config: BuildConfig
) -> None:
    parsed = parse_raycluster(document)
    name = (document.get("metadata") or {}).get("name") or "<unnamed>"
    prefix = f"{where}: RayCluster {name}"
    warnings = list(parsed.warnings)
    if parsed.cluster is not None:
        warnings += build_warnings(parsed.cluster)
    result.notes.extend(f"{prefix}: warning: {_line(problem)}" for problem in warnings)
    if parsed.cluster is None:
        result.errors.extend(f"{prefix}: {_line(problem)}" for problem in parsed.problems)
        return
    children = build_children(parsed.cluster, config=config)
    for child in children:
        what = f"{prefix}: {child['kind']} {child['metadata']['name']}"
        result.errors.extend(f"{what}: {problem}" for problem in schema_problems(child))
    result.objects.extend(children)


@functools.cache
def _validator(api_version: str, kind: str) -> Any:
    """The official schema of a kind (kubernetes-validate's, for ``SCHEMA_VERSION``), compiled once."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    base = f"kubernetes-json-schema/v{SCHEMA_VERSION}.0-local"
    schema = schema_contents(f"{base}/{kind.lower()}-{group_version}.json", SCHEMA_VERSION)
    definitions = schema_contents(f"{base}/_definitions.json", SCHEMA_VERSION)
    registry: referencing.Registry[Any] = referencing.Registry()
    registry = referencing.Resource.from_contents(schema) @ registry
    registry = referencing.Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_problems(obj: dict[str, Any]) -> list[str]:
    """Where `obj` breaks its kind's Kubernetes schema, ``path: message`` each (empty when valid).

    A pod template keeps what the user wrote, so a malformed field there (``ports: "8080"``)
    reaches the built objects; this finds it before an API server would. Unknown fields are
    allowed, as the API server allows them in templates.
    """
    errors = _validator(obj["apiVersion"], obj["kind"]).iter_errors(obj)
    return sorted(f"{_json_path(error.absolute_path)}: {error.message}" for error in errors)


def _json_path(path: Any) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(
        "."
    )


def _line(problem: Any) -> str:
    return f"{problem.field}: {problem.message}" if problem.field else str(problem.message)


def _load(path: str) -> list[object]:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise _ReadError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise _ReadError(f"{path}: not a text file ({exc.reason})") from exc
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "malformed YAML"
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise _ReadError(f"{path}: not valid YAML: {problem}{at}") from exc


class _Dumper(yaml.SafeDumper):
    """Block-style YAML where multi-line strings (scripts) read as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """`objects` as a YAML stream, keys in the builders' order."""
    if not objects:
        return ""
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, width=1_000_000)


def to_json(objects: list[dict[str, Any]]) -> str:
    """`objects` as one ``v1`` ``List``, as ``kubectl get -o json`` prints several objects."""
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": objects,
    }
    return json.dumps(listing, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m controller.render -f FILE [-f FILE]... [-o yaml|json]``."""
    parser = argparse.ArgumentParser(
        prog="rayop render",
        description="Print the Kubernetes objects a RayCluster manifest becomes, without a cluster.",
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="a manifest file (YAML, one or more documents); '-' reads stdin; repeatable",
    )
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, default="yaml")
    args = parser.parse_args(argv)
    return render_command(args.filename, args.output)


if __name__ == "__main__":
    sys.exit(main())
