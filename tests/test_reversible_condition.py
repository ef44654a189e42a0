"""An outcome's `reversible` may be a condition, worked out in the outcome's scope when the plan is made.

Each test works on a copy of the fixture project, its deactivate-client `reversible` rewritten by the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO
from test_i18n import cli

WRITTEN = "  reversible: true\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from conftest import copy_project

    return copy_project(tmp_path / "project")


def write(project: Path, reversible: str) -> int:
    """Rewrite deactivate-client's `reversible`; the line it is on."""
    flow = project / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    assert text.count(WRITTEN) == 1
    flow.write_text(text.replace(WRITTEN, f"  reversible: {reversible}\n"), encoding="utf-8")
    return next(n for n, line in enumerate(flow.read_text(encoding="utf-8").splitlines(), 1) if line.startswith("  reversible:"))


def simulate(project: Path, notify: str, fmt: str = "json", actor: str = "alice@northwind.example") -> Any:
    args = ("simulate", "deactivate-client", "--project", project, "--data", DEMO, "--actor", actor, "--client", "c1")
    result = cli(*args, "--answer", f"notify_client={notify}", "--format", fmt, "--no-input")
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def test_a_condition_gives_the_plan_true_or_false_in_json_and_text(project: Path) -> None:
    write(project, "answers.notify_client")
    assert cli("validate", "--project", project).exit_code == 0
    told, untold = simulate(project, "true"), simulate(project, "false")
    assert told["status"] == untold["status"] == "completed"
    assert told["reversible"] is True and untold["reversible"] is False
    assert told["warnings"] == untold["warnings"] == []
    assert "Can be undone: yes" in simulate(project, "true", "text")
    assert "Can be undone: no" in simulate(project, "false", "text")


def test_true_and_false_work_as_before(project: Path) -> None:
    assert simulate(project, "false")["reversible"] is True
    write(project, "false")
    assert simulate(project, "true")["reversible"] is False


def test_a_blocked_plan_is_not_reversible_when_its_condition_was_never_worked_out(project: Path) -> None:
    write(project, "answers.notify_client")
    blocked = simulate(project, "true", actor="sam@northwind.example")
    assert blocked["status"] == "blocked" and blocked["reversible"] is False


def test_a_condition_that_gives_no_true_or_false_makes_the_plan_irreversible_and_says_why(project: Path) -> None:
    write(project, "answers.notify_client or none")  # none when the client is not told
    assert cli("validate", "--project", project).exit_code == 0
    assert simulate(project, "true")["reversible"] is True
    plan = simulate(project, "false")
    assert plan["status"] == "completed" and plan["reversible"] is False
    (warning,) = plan["warnings"]
    assert warning["code"] == "reversible-failed"
    assert "outcome.reversible (answers.notify_client or none)" in warning["message"] and "not true or false" in warning["message"]


@pytest.mark.parametrize(
    ("condition", "said_after"),
    [
        ("clinet.name == 'x'", "outcome.reversible: unknown name 'clinet'; did you mean 'client'?"),  # with a suggestion
        ("\"'yes'\"", "outcome.reversible: gives string, not true or false"),  # a condition that cannot be true or false
    ],
)
def test_a_reversible_condition_that_cannot_work_is_a_located_error(project: Path, condition: str, said_after: str) -> None:
    line = write(project, condition)
    result = cli("validate", "--project", project)
    assert result.exit_code == 1
    (said,) = result.output.splitlines()
    assert said.startswith(f"flows/deactivate-client.yaml:{line}:") and said_after in said


def test_diff_shows_a_change_of_reversible(project: Path, tmp_path: Path) -> None:
    from conftest import copy_project

    before = copy_project(tmp_path / "before")
    line = write(project, "answers.notify_client")
    result = cli("diff", before, project, "--project", project, "--data", DEMO)
    assert "reversible: true → answers.notify_client" in result.output, result.output
    assert f"flows/deactivate-client.yaml:{line}:" in result.output
