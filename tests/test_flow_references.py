"""Data values that name a flow (`"x-flow"` in the data schema) are checked against the project's flows, located.

A setting that lists flows (which wait for approval, say) does nothing for a flow that is not there or
that lacks the step the setting acts through: init, the scenarios and validate say so where it is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import DEMO, copy_project

from clientflow.cli import cli
from clientflow.language.schemas import flow_references, values_at

PARTNER = "    name: Northwind Bookkeeping\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The fixture project, its partners given `first_confirm` (flows with a confirm step) and `home` (any flow)."""
    root = copy_project(tmp_path / "project")
    path = root / "schema" / "data.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    properties = schema["$defs"]["partner"]["properties"]
    properties["first_confirm"] = {"type": "array", "items": {"$ref": "#/$defs/id", "x-flow": "confirm"}}
    properties["home"] = {"oneOf": [{"type": "null"}, {"type": "string", "x-flow": True}]}
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return root


def data_with(tmp_path: Path, extra: str, suffix: str = ".yaml") -> tuple[Path, int]:
    text = DEMO.read_text(encoding="utf-8")
    assert PARTNER in text
    text = text.replace(PARTNER, PARTNER + extra, 1)
    line = text.splitlines().index(extra.splitlines()[0]) + 1
    path = tmp_path / f"data{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(yaml.safe_load(text), indent=1), encoding="utf-8")
    else:
        path.write_text(text, encoding="utf-8")
    return path, line


def init(project: Path, data: Path, tmp_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["init", "--project", str(project), "--data", str(data), "--db", str(tmp_path / f"{data.stem}.db")])
    return result.exit_code, result.output


def test_the_schema_walk_finds_each_annotated_place_through_refs_items_and_alternatives(project: Path) -> None:
    found = dict(flow_references("data.schema.json", str(project / "schema")))
    assert found == {("partners", None, "first_confirm", None): "confirm", ("partners", None, "home"): True}
    doc = {"partners": [{"first_confirm": ["a", "b"]}, {}], "clients": []}
    assert list(values_at(doc, ("partners", None, "first_confirm", None))) == [
        (("partners", 0, "first_confirm", 0), "a"),
        (("partners", 0, "first_confirm", 1), "b"),
    ]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_init_reports_an_unknown_flow_with_a_suggestion_and_a_flow_without_the_step(project: Path, tmp_path: Path, suffix: str) -> None:
    data, line = data_with(tmp_path, "    first_confirm: [delete-clent, deactivate-client, delete-client]\n    home: deactivate-clinet\n", suffix)
    code, out = init(project, data, tmp_path)
    assert code == 1, out
    said = [line for line in out.splitlines() if line.startswith(str(data))]
    assert len(said) == 3, out
    assert "partners[0].first_confirm[0]: 'delete-clent' is not a flow of the project; did you mean 'delete-client'?" in said[0]
    assert (
        "partners[0].first_confirm[1]: flow 'deactivate-client' has no confirm step, so naming it here changes nothing; the flows with one: delete-client"
        in said[1]
    )
    assert "partners[0].home: 'deactivate-clinet' is not a flow of the project; did you mean 'deactivate-client'?" in said[2]
    if suffix == ".yaml":  # each where it is written
        assert [s.split(": ")[0].rsplit(":", 2)[1] for s in said] == [str(line), str(line), str(line + 1)]


def test_flows_that_are_there_with_the_step_load(project: Path, tmp_path: Path) -> None:
    data, _ = data_with(tmp_path, "    first_confirm: [delete-client]\n    home: deactivate-client\n")
    code, out = init(project, data, tmp_path)
    assert code == 0, out
