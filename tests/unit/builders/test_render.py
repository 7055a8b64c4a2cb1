"""`rayop render`: output formats, and one clear message for every kind of bad input."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.api import parse_raycluster
from controller.builders import build_children
from controller.render import render_command

from .conftest import BASE


def run(tmp_path: Path, text: str, output: str = "yaml") -> tuple[int, str, str]:
    path = tmp_path / "rc.yaml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    code = render_command([str(path)], output, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def manifest() -> dict:  # type: ignore[type-arg]
    doc = copy.deepcopy(BASE)
    del doc["metadata"]["uid"]
    return doc


def test_yaml_stream_is_the_children(tmp_path: Path) -> None:
    """The YAML stream parses back to exactly build_children's objects, in order."""
    code, out, err = run(tmp_path, yaml.safe_dump(manifest()))
    assert (code, err) == (0, "")
    result = parse_raycluster(manifest())
    assert result.cluster is not None
    assert list(yaml.safe_load_all(out)) == build_children(result.cluster)


def test_json_is_a_v1_list(tmp_path: Path) -> None:
    """-o json prints one v1 List holding every child."""
    code, out, _ = run(tmp_path, yaml.safe_dump(manifest()), "json")
    listing = json.loads(out)
    assert code == 0
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert [item["kind"] for item in listing["items"]] == [
        "Service",
        "Service",
        "StatefulSet",
        "StatefulSet",
    ]


def test_multi_document_renders_every_cluster_in_order(tmp_path: Path) -> None:
    """Two RayClusters in one file render one after the other; other kinds are skipped with a note."""
    first, second = manifest(), manifest()
    second["metadata"]["name"] = "other"
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
    code, out, err = run(tmp_path, yaml.safe_dump_all([first, config_map, second]))
    assert code == 0
    clusters = [o["metadata"]["labels"]["ray.io/cluster"] for o in yaml.safe_load_all(out)]
    assert clusters == ["rc"] * 4 + ["other"] * 4
    assert "document 2: skipped ConfigMap/cm: not a RayCluster" in err


def test_invalid_manifest_lists_every_problem_and_prints_nothing(tmp_path: Path) -> None:
    """Every problem is printed with its field path; exit 1 and an empty stdout."""
    doc = manifest()
    doc["spec"]["workerGroupSpecs"][0].update(minReplicas=9, maxReplicas=2)
    doc["spec"]["workerGroupSpecs"].append(copy.deepcopy(doc["spec"]["workerGroupSpecs"][0]))
    code, out, err = run(tmp_path, yaml.safe_dump(doc))
    assert (code, out) == (1, "")
    lines = err.strip().splitlines()
    assert any("spec.workerGroupSpecs[0].minReplicas" in line for line in lines)
    assert any("spec.workerGroupSpecs[1].groupName" in line for line in lines)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [\n", "not valid YAML"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no RayCluster found"),
        (
            "apiVersion: ray.io/v2\nkind: RayCluster\nmetadata: {name: x}\nspec: {}\n",
            "apiVersion 'ray.io/v2' is not supported",
        ),
        ("- just\n- a list\n", "not a Kubernetes object"),
    ],
)
def test_bad_files_get_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    """Not YAML, not a RayCluster, an unserved version: one line on stderr, exit 1."""
    code, out, err = run(tmp_path, text)
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_missing_file(tmp_path: Path) -> None:
    """A file that does not exist is one line naming it."""
    err = io.StringIO()
    code = render_command([str(tmp_path / "nope.yaml")], "yaml", stdout=io.StringIO(), stderr=err)
    assert code == 1
    assert err.getvalue() == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory\n"


def test_unknown_output_format(tmp_path: Path) -> None:
    """An output format other than yaml or json is a usage error (exit 2)."""
    err = io.StringIO()
    assert render_command([], "xml", stdout=io.StringIO(), stderr=err) == 2
    assert "unknown output format" in err.getvalue()


def test_module_entry_point(tmp_path: Path) -> None:
    """python -m controller.render -f FILE prints the objects."""
    path = tmp_path / "rc.yaml"
    path.write_text(yaml.safe_dump(manifest()))
    proc = subprocess.run(
        [sys.executable, "-m", "controller.render", "-f", str(path), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kind"] == "List"


def test_stdin_and_several_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'-' reads the manifest from stdin, and several -f files render in the order given."""
    other = manifest()
    other["metadata"]["name"] = "second"
    path = tmp_path / "second.yaml"
    path.write_text(yaml.safe_dump(other))
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(manifest())))
    out = io.StringIO()
    assert render_command(["-", str(path)], "yaml", stdout=out, stderr=io.StringIO()) == 0
    clusters = [
        o["metadata"]["labels"]["ray.io/cluster"] for o in yaml.safe_load_all(out.getvalue())
    ]
    assert clusters == ["rc"] * 4 + ["second"] * 4


def test_one_bad_file_fails_the_whole_render(tmp_path: Path) -> None:
    """With a good and a bad file, nothing is printed on stdout and the exit status is 1."""
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(manifest()))
    out, err = io.StringIO(), io.StringIO()
    code = render_command(
        [str(good), str(tmp_path / "missing.yaml")], "yaml", stdout=out, stderr=err
    )
    assert (code, out.getvalue()) == (1, "")
    assert "missing.yaml: cannot read" in err.getvalue()


def test_malformed_template_fields_are_reported_against_the_kubernetes_schema(
    tmp_path: Path,
) -> None:
    """A template field of the wrong type is named with its object and path; nothing is printed."""
    doc = manifest()
    container = doc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    container.update(ports="8080", env={"A": "1"})
    code, out, err = run(tmp_path, yaml.safe_dump(doc))
    assert (code, out) == (1, "")
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert all(
        "StatefulSet rc-small-worker: spec.template.spec.containers[0]." in line for line in lines
    )
    assert "containers[0].ports: '8080' is not of type 'array'" in err
    assert "Traceback" not in err
