"""A scenario never passes for the wrong reason: a rule that cannot be checked is an error, not a "blocked" that matches."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import copy_project, invoke, plain

from clientflow.errors import ExitCode

RULES = """preconditions:
  - rule: paid-by-practice
  - rule: active-subscription
"""
BROKEN = """  - name: has-users
    if: 1 / (client.users | length) > 0
    message: The business has no users.
"""
SCENARIO = """defaults: {{given: ../data/demo.yaml, actor: u1, client: {client}}}
scenarios:
  - name: checked
    flow: {flow}
    expect: {expect}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    assert RULES in text
    flow.write_text(text.replace(RULES, RULES + BROKEN), encoding="utf-8")
    (root / "scenarios").mkdir(exist_ok=True)
    return root


def run(root: Path, client: str, flow: str, expect: str) -> tuple[int, str]:
    (root / "scenarios" / "s.yaml").write_text(SCENARIO.format(client=client, flow=flow, expect=expect), encoding="utf-8")
    result = invoke("test", root / "scenarios" / "s.yaml", "--project", root)
    return result.exit_code, plain(result.output)


def test_a_blocked_expectation_does_not_pass_on_a_rule_that_failed_to_run(project: Path) -> None:
    code, output = run(project, "c2", "deactivate-client", "{status: blocked}")  # c2 has no users: 1 / 0
    assert code == ExitCode.ERROR
    assert "a rule could not be checked" in output and "has-users" in output


def test_availability_scenarios_see_it_too(project: Path) -> None:
    code, output = run(project, "c2", "null", "{offered: []}")
    assert code == ExitCode.ERROR and "a rule could not be checked" in output


def test_the_same_rule_where_it_can_be_checked_passes(project: Path) -> None:
    code, output = run(project, "c1", "deactivate-client", "{status: completed}")
    assert code == ExitCode.OK, output
