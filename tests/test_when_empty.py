"""An email whose recipients name nobody never vanishes silently: warn (the default), skip, or block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import copy_project, invoke, plain

from clientflow import Engine
from clientflow.errors import ExitCode

CLIENT_EMAIL = """    - template: deactivate-client
      to: client.users | selectattr('role', 'equalto', 'administrator') | map(attribute='email') | list
      when: answers.notify_client
"""
NOBODY = "c2"  # a client of the fixture data with no users
ANSWERS = {"notify_client": True}


def project(tmp_path: Path, when_empty: str | None) -> Path:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    assert CLIENT_EMAIL in text
    extra = f"      when_empty: {when_empty}\n" if when_empty else ""
    flow.write_text(text.replace(CLIENT_EMAIL, CLIENT_EMAIL + extra), encoding="utf-8")
    return root


def engine(root: Path) -> Engine:
    return Engine.open(root, data=root / "data" / "demo.yaml", notifiers={})


@pytest.mark.parametrize("given", [None, "warn"])
def test_warn_is_the_default_and_the_plan_says_which_email_goes_to_nobody(tmp_path: Path, given: str | None) -> None:
    plan = engine(project(tmp_path, given)).simulate("deactivate-client", "u1", NOBODY, ANSWERS)
    assert plan.status == "completed"
    assert [e.template for e in plan.emails] == ["deactivate-practice"]
    (warning,) = plan.to_json()["warnings"]
    assert warning["code"] == "no-recipients" and warning["email"] == "deactivate-client"
    assert "'deactivate-client' is not sent" in warning["message"]


def test_a_client_with_recipients_gets_no_warning(tmp_path: Path) -> None:
    plan = engine(project(tmp_path, None)).simulate("deactivate-client", "u1", "c1", ANSWERS)
    assert plan.to_json()["warnings"] == [] and "deactivate-client" in [e.template for e in plan.emails]


def test_skip_says_nothing(tmp_path: Path) -> None:
    plan = engine(project(tmp_path, "skip")).simulate("deactivate-client", "u1", NOBODY, ANSWERS)
    assert plan.status == "completed" and plan.warnings == [] and [e.template for e in plan.emails] == ["deactivate-practice"]


def test_block_stops_the_commit_and_changes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, "block")
    e = engine(root)
    before = e.export()
    plan = e.apply("deactivate-client", "u1", NOBODY, ANSWERS, deliver=False)
    assert plan is not None and plan.status == "blocked"
    assert plan.blocked_by[0]["rule"] == "no-recipients" and "'deactivate-client' must reach someone" in plan.blocked_by[0]["message"]
    assert plan.changes == [] and plan.emails == []
    assert e.export() == before
    assert e.outbox().messages() == []


def test_the_cli_shows_the_warning_in_text_and_json(tmp_path: Path) -> None:
    root = project(tmp_path, None)
    args = (
        "simulate",
        "deactivate-client",
        "--project",
        root,
        "--data",
        root / "data" / "demo.yaml",
        "--actor",
        "u1",
        "--subject",
        NOBODY,
        "--answer",
        "notify_client=true",
    )
    text = invoke(*args)
    assert text.exit_code == ExitCode.OK and "warning: the email 'deactivate-client' is not sent" in plain(text.stdout)
    document = json.loads(invoke(*args, "--format", "json").stdout)
    assert [w["code"] for w in document["warnings"]] == ["no-recipients"]


def test_block_exits_as_blocked_on_the_cli(tmp_path: Path) -> None:
    root = project(tmp_path, "block")
    result = invoke(
        "simulate",
        "deactivate-client",
        "--project",
        root,
        "--data",
        root / "data" / "demo.yaml",
        "--actor",
        "u1",
        "--subject",
        NOBODY,
        "--answer",
        "notify_client=true",
    )
    assert result.exit_code == ExitCode.BLOCKED and "must reach someone" in plain(result.stdout + result.stderr)


SCENARIO = """defaults: {{given: ../data/demo.yaml, flow: deactivate-client, actor: u1, client: {client}}}
scenarios:
  - name: warned
    answers: {{notify_client: true}}
    expect: {{status: completed, warnings: {warnings}}}
"""


@pytest.mark.parametrize(
    ("client", "warnings", "passes"),
    [
        (NOBODY, "[no-recipients]", True),
        (NOBODY, "[{code: no-recipients, message: deactivate-client}]", True),
        (NOBODY, "[{code: no-recipients, message: some other email}]", False),
        (NOBODY, "[]", False),
        ("c1", "[no-recipients]", False),
        ("c1", "[]", True),
    ],
)
def test_scenarios_expect_warnings_exactly(tmp_path: Path, client: str, warnings: str, passes: bool) -> None:
    root = project(tmp_path, None)
    (root / "scenarios").mkdir(exist_ok=True)
    (root / "scenarios" / "warned.yaml").write_text(SCENARIO.format(client=client, warnings=warnings), encoding="utf-8")
    result = invoke("test", root / "scenarios" / "warned.yaml", "--project", root)
    assert (result.exit_code == ExitCode.OK) is passes, result.output


def test_a_warning_shows_under_a_passing_scenario(tmp_path: Path) -> None:
    root = project(tmp_path, None)
    (root / "scenarios").mkdir(exist_ok=True)
    (root / "scenarios" / "warned.yaml").write_text(SCENARIO.format(client=NOBODY, warnings="[no-recipients]"), encoding="utf-8")
    result = invoke("test", root / "scenarios" / "warned.yaml", "--project", root)
    assert "⚠ warning: the email 'deactivate-client' is not sent" in plain(result.stdout)


def test_an_unknown_choice_is_a_located_validate_error(tmp_path: Path) -> None:
    root = project(tmp_path, "bounce")
    result = invoke("validate", "--project", root)
    assert result.exit_code == ExitCode.ERROR
    assert "flows/deactivate-client.yaml:" in plain(result.output) and "'bounce' is not allowed" in plain(result.output)
