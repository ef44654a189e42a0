"""`clientflow test --coverage`: what the scenarios reached of each flow, and what they never did."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PROJECT
from test_paths import DESK, build

from clientflow.cli import cli
from clientflow.conditions.program import load_project
from clientflow.language.model import Project
from clientflow.language.project import Extensions
from clientflow.plugins import Registry
from clientflow.scenarios.coverage import Coverage, measure, shown
from clientflow.scenarios.paths import flow_paths
from clientflow.scenarios.suite import load_suite, run_suite, scenario_files

ONE_RUN = """\
defaults: {given: ../data.yaml, flow: close-ticket, actor: a1, ticket: k1}
scenarios:
  - name: a lead closes a fixed ticket and tells the customer
    answers: {resolution: fixed, tell: true}
    expect: {status: completed, screens: [resolution, notify], emails: [{template: closed, to: cus@shop.example}]}
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.collect()


@pytest.fixture
def desk_root(tmp_path: Path) -> Path:
    return build(tmp_path / "desk", DESK)


def desk_coverage(root: Path, registry: Registry, text: str) -> tuple[Project, Coverage]:
    project = load_project(root, Extensions(registry.functions, registry.filters, registry.effects))
    path = root / "scenarios" / "close.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    results = run_suite(project, load_suite(project, [path]), registry)
    assert all(r.passed for r in results), [m for r in results for m in r.mismatches]
    return project, measure(project, results)


def test_one_run_covers_what_it_walked_and_names_the_rest(desk_root: Path, registry: Registry) -> None:
    project, coverage = desk_coverage(desk_root, registry, ONE_RUN)
    close, reopen = (next(f for f in coverage.flows if f.flow == name) for name in ("close-ticket", "reopen-ticket"))
    flow = project.flow("close-ticket")
    rules = [r.name for r in (*project.reach, *flow.rules)]
    walked = "completed: step apology skipped, effect 2 (update ticket.note) skipped, email closed sent"
    assert walked in {p.key for p in flow_paths(project, flow)}
    expected_missing = {("rule fails", r) for r in rules} | {("step shown", "apology"), ("field answered", "note")}
    expected_missing |= {("path walked", p.key) for p in flow_paths(project, flow) if p.key != walked}
    assert {(i.category, i.name) for i in close.missing()} == expected_missing
    assert close.covered == close.total - len(expected_missing)
    assert close.counts()["rule holds"] == (len(rules), len(rules)) and close.counts()["rule fails"] == (0, len(rules))
    assert reopen.covered == 0 and reopen.total > 0
    assert coverage.percent == pytest.approx(100 * (close.covered + reopen.covered) / (close.total + reopen.total))


EVERY_PATH = """\
defaults: {given: ../data.yaml, flow: close-ticket, actor: a1, ticket: k1}
scenarios:
  - {name: another team, actor: a3, expect: {blocked_by: [own-team]}}
  - {name: not a lead, actor: a2, expect: {blocked_by: [lead]}}
  - {name: already closed, ticket: k2, expect: {blocked_by: [open]}}
  - {name: no such resolution, answers: {resolution: maybe}, expect: {status: invalid, errors: [resolution]}}
"""


def test_every_path_the_model_lists_can_be_walked(desk_root: Path, registry: Registry) -> None:
    runs = []
    for resolution, note, tell in itertools.product(("fixed", "wontfix"), (None, "spare part"), (True, False)):
        answers = {"resolution": resolution, "tell": tell, **({"note": note} if note else {})}
        runs.append(f"  - {{name: {resolution} {note} {tell}, answers: {json.dumps(answers)}, expect: {{status: completed}}}}\n")
    _, coverage = desk_coverage(desk_root, registry, EVERY_PATH + "".join(runs))
    close = next(f for f in coverage.flows if f.flow == "close-ticket")
    assert close.missing() == []
    assert close.percent == 100


def test_a_scenario_without_a_flow_covers_each_flow_s_rules(desk_root: Path, registry: Registry) -> None:
    text = "defaults: {given: ../data.yaml, actor: a2, ticket: k2}\nscenarios:\n  - {name: only reopening for an agent, expect: {offered: [reopen-ticket]}}\n"
    project, coverage = desk_coverage(desk_root, registry, text)
    close = next(f for f in coverage.flows if f.flow == "close-ticket")
    covered = {(i.category, i.name) for i in close.items if i.covered}
    assert covered == {("rule holds", "own-team"), ("rule fails", "lead"), ("rule fails", "open"), ("path walked", "blocked: lead")}


def test_coverage_is_rounded_down_so_nearly_is_not_all() -> None:
    assert (shown(99.96), shown(100.0), shown(50.0), shown(1 / 3 * 100)) == ("99.9%", "100%", "50%", "33.3%")


def test_fail_under_exits_1_below_the_threshold_and_reports_what_is_missing(desk_root: Path) -> None:
    (desk_root / "scenarios").mkdir()
    (desk_root / "scenarios" / "close.yaml").write_text(ONE_RUN, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["test", "--project", str(desk_root), "--fail-under", "100"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "1 passed, 0 failed"
    assert lines[-2].startswith("coverage ") and lines[-2].endswith("% is under the required 100%")
    assert "      never: step shown: apology" in lines
    assert "      never: path walked: blocked: own-team" in lines
    assert any(line.startswith("  close-ticket") for line in lines)
    passing = runner.invoke(cli, ["test", "--project", str(desk_root), "--fail-under", "10"])
    assert passing.exit_code == 0, passing.output
    assert passing.output.splitlines()[-1] == "1 passed, 0 failed"


def test_coverage_as_json(desk_root: Path, registry: Registry) -> None:
    project, coverage = desk_coverage(desk_root, registry, ONE_RUN)
    result = CliRunner().invoke(cli, ["test", "--project", str(desk_root), "--coverage", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["coverage"] == coverage.to_json()
    close = next(f for f in report["coverage"]["flows"] if f["flow"] == "close-ticket")
    assert {"category": "step shown", "name": "apology"} in close["missing"]


def test_one_flow_s_file_covers_that_flow_fully(registry: Registry) -> None:
    project = load_project(PROJECT, Extensions(registry.functions, registry.filters, registry.effects))
    results = run_suite(project, load_suite(project, scenario_files([PROJECT / "scenarios" / "reactivate-client.yaml"])), registry)
    coverage = measure(project, results)
    by_flow = {f.flow: f for f in coverage.flows}
    assert by_flow["reactivate-client"].missing() == []
    assert all(by_flow[f].missing() for f in project.flows if f != "reactivate-client")
    assert coverage.percent < 100
