"""A project with two or more locales and no `buttons:` reads the engine's English Back, Continue and Cancel in every locale:
`clientflow validate` warns about it at project.yaml, says how to fix it, and still exits 0.

Each test works on a copy of the fixture project, its project file rewritten by the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_project
from test_i18n import cli, declare, translated

BUTTONS = "buttons: {next: Continue, back: Back, cancel: Cancel}\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    assert "buttons:" not in (root / "flows" / "project.yaml").read_text(encoding="utf-8")
    return root


def lines(project: Path) -> list[str]:
    return (project / "flows" / "project.yaml").read_text(encoding="utf-8").splitlines()


def add(project: Path, text: str) -> None:
    path = project / "flows" / "project.yaml"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_locales_without_buttons_is_a_located_warning_that_says_how_to_fix_it(project: Path) -> None:
    translated(project)
    result = cli("validate", "--project", project, "--no-cache")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if ": warning: " in line]
    (said,) = [line for line in warned if "buttons" in line]
    line = next(n for n, text in enumerate(lines(project), 1) if text.startswith("locales:"))
    assert said.startswith(f"flows/project.yaml:{line}:")
    assert "English" in said and "add `buttons: {next: Continue, back: Back, cancel: Cancel}` to project.yaml" in said
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("ok: ") and "name the default buttons under `buttons:` in project.yaml" in summary
    assert "`clientflow fix`" not in summary
    shown = json.loads(cli("validate", "--project", project, "--format", "json", "--no-cache").stdout)
    assert shown["valid"] is True
    assert [w["line"] for w in shown["warnings"] if "buttons" in w["message"]] == [line]


def test_a_single_locale_is_no_warning(project: Path) -> None:
    declare(project, "en")
    result = cli("validate", "--project", project, "--no-cache")
    assert result.exit_code == 0 and "warning" not in result.output, result.output


def test_buttons_named_are_no_warning(project: Path) -> None:
    add(project, BUTTONS)
    translated(project)
    result = cli("validate", "--project", project, "--no-cache")
    assert result.exit_code == 0 and "buttons" not in result.output, result.output


def test_buttons_named_in_part_are_warned_at_buttons_for_the_rest(project: Path) -> None:
    add(project, "buttons: {next: Go on}\n")
    translated(project)
    result = cli("validate", "--project", project, "--no-cache")
    line = next(n for n, text in enumerate(lines(project), 1) if text.startswith("buttons:"))
    (said,) = [w for w in result.output.splitlines() if ": warning: " in w and "button" in w]
    assert result.exit_code == 0, result.output
    assert said.startswith(f"flows/project.yaml:{line}:") and "add back: Back, cancel: Cancel to `buttons:`" in said


def test_the_summary_names_what_clears_each_kind_of_warning() -> None:
    from clientflow.commands.core import _how

    old = ("flows/a.yaml", 3, 5, "effects[0].op: 'set' is the old word for 'update'; `clientflow fix` rewrites it")
    buttons = ("flows/project.yaml", 2, 1, "locales: the default next button label ... shown untranslated in every other locale; add ...")
    obsolete = ("locales/fr/LC_MESSAGES/clientflow.po", 9, 1, "obsolete entry")
    assert _how([old], []) == "`clientflow fix` clears them"
    assert _how([], [obsolete]) == "obsolete catalog entries"
    assert _how([old], [obsolete]) == "`clientflow fix` clears the old words; the rest are obsolete catalog entries"
    assert _how([buttons], []) == "name the default buttons under `buttons:` in project.yaml, to translate them"
    assert _how([old, buttons], [obsolete]) == (
        "`clientflow fix` clears the old words; name the default buttons under `buttons:` in project.yaml, to translate them;"
        " the rest are obsolete catalog entries"
    )
