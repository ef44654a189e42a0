"""Two projects opened in one process from their own folders each get their own data schema.

Both name it `schema/data.schema.json` relative to the current folder; a cache keyed on that
name gave the second project the first one's fields (a field it declares "did not exist").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_support import copy_project, invoke


def with_partner_code(root: Path, declared: bool) -> Path:
    """A copy whose disconnect flow reads `partner.code`; its data schema declares that field or not."""
    copy_project(root)
    flow = root / "flows" / "disconnect-client.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("{{ partner.name }}.", "{{ partner.name }} ({{ partner.code }}).", 1), encoding="utf-8")
    if declared:
        path = root / "schema" / "data.schema.json"
        schema = json.loads(path.read_text(encoding="utf-8"))
        schema["$defs"]["partner"]["properties"]["code"] = {"type": "string"}
        path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
        data = root / "data" / "demo.yaml"
        data.write_text(re.sub(r"(?m)^(  - id: (p\d+)\n)", r"\1    code: \2-code\n", data.read_text(encoding="utf-8")), encoding="utf-8")
    return root


@pytest.mark.parametrize("first", ["declared", "undeclared"])
def test_each_project_is_checked_against_its_own_data_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    projects = {"declared": with_partner_code(tmp_path / "declared", True), "undeclared": with_partner_code(tmp_path / "undeclared", False)}
    order = [first, *(name for name in projects if name != first)]
    outcomes = {}
    for name in order:
        monkeypatch.chdir(projects[name])
        outcomes[name] = invoke("validate", "--no-cache")
    assert outcomes["declared"].exit_code == 0, outcomes["declared"].output
    assert outcomes["undeclared"].exit_code == 1
    assert "partner has no field 'code'" in outcomes["undeclared"].output
