"""Every mistake in one pass: a schema error does not hide the semantic problems of the rest of the file."""

from __future__ import annotations

from pathlib import Path

from cli_support import copy_project, invoke, plain

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
