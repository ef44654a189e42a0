"""Every mistake in one pass: a schema error does not hide the semantic problems of the rest of the file."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_support import copy_project, invoke, plain
from conftest import PROJECT

from clientflow.errors import ExitCode


def edit(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(root: Path) -> list[str]:
    result = invoke("validate", "--project", root)
    assert result.exit_code == ExitCode.ERROR
    return [line for line in plain(result.output).splitlines() if ": " in line and line[0] != " " and "problems found" not in line]


def test_a_misspelled_key_does_not_hide_the_other_mistakes_of_its_file(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    flow = "flows/deactivate-client.yaml"
    edit(root, flow, "    title: Before you go on (optional)", "    titel: Before you go on (optional)")
    edit(root, flow, "to: client.users | selectattr('role', 'equalto', 'administrator')", "to: client.usres | selectattr('role', 'equalto', 'administrator')")
    edit(root, flow, "    - template: deactivate-practice", "    - template: deactivate-practise")
    found = problems(root)
    assert len(found) == 3, found
    assert found[0].startswith(f"{flow}:18:5: steps[0]: unknown key 'titel'; did you mean 'title'?")
    assert any("unknown email template 'deactivate-practise'" in p for p in found)
    assert any(p.startswith(f"{flow}:55:18:") and "no field 'usres'" in p for p in found)


def test_a_broken_choice_does_not_hide_missing_templates_in_any_flow(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    edit(root, "flows/disconnect-client.yaml", "from: client.users", "from: partners")
    for file, template in (
        ("flows/disconnect-client.yaml", "disconnect-practice"),
        ("flows/delete-client.yaml", "delete-confirmation"),
        ("flows/reactivate-client.yaml", "reactivate-client"),
    ):
        edit(root, file, f"template: {template}", f"template: {template}-x")
    found = problems(root)
    assert sum("unknown email template" in p for p in found) == 3 and sum("is a collection" in p for p in found) == 1, found


def test_each_location_is_reported_once_and_a_file_at_most_fifty_times(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    rules = root / "flows" / "rules.yaml"
    lines = ["rules:"] + [f"  r{i}:\n    if: client.nmae{i} == 'x'\n    message: m" for i in range(60)]
    rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = [p for p in problems(root) if p.startswith("flows/rules.yaml:")]
    assert len(found) == 51 and "more than 50 problems in this file" in found[-1]
    assert len({p.split(": ", 1)[0] for p in found[:-1]}) == 50


def test_a_renamed_field_is_reported_with_every_file_that_still_names_it(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    shutil.copytree(PROJECT / "scenarios", root / "scenarios")
    flow = "flows/deactivate-client.yaml"
    edit(root, flow, "      - name: notify_client", "      - name: tell_client")
    found = problems(root)
    flows = [p for p in found if p.startswith(f"{flow}:")]
    scenarios = [p for p in found if p.startswith("scenarios/deactivate-client.yaml:")]
    runs = [p for p in found if p.startswith("data/demo-runs.yaml:")]
    assert flows and all("'notify_client'" in p and "did you mean 'tell_client'?" in p for p in flows), found
    # the files naming the old field, in the same pass: four scenarios and the demo run
    assert [p.split(":")[1] for p in scenarios] == ["24", "31", "45", "53"], found
    assert all("no field 'notify_client'; did you mean 'tell_client'?" in p for p in scenarios + runs), found
    assert len(runs) == 1, found


def test_a_flow_that_cannot_be_built_leaves_the_files_naming_it_unchecked(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    shutil.copytree(PROJECT / "scenarios", root / "scenarios")
    edit(root, "flows/deactivate-client.yaml", "id: deactivate-client", "id: deactivate-clients")
    edit(root, "flows/delete-client.yaml", "      - name: confirm_name", "      - name: confirm")
    found = problems(root)
    # the flow is not built (its id differs from its file's name), so its scenarios are not reported as naming an unknown flow
    assert not any("unknown flow" in p for p in found), found
    assert any(p.startswith("flows/deactivate-client.yaml:") and "differs from the file name" in p for p in found), found
    assert not any(p.startswith("scenarios/") for p in found), found
