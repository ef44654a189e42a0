"""`clientflow paths`: every distinct path through a flow, derived from its model, and skeletons for them."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import DEMO, PROJECT

from clientflow.cli import cli
from clientflow.conditions.program import load_project
from clientflow.errors import DefinitionError
from clientflow.language import schemas
from clientflow.language.model import Project
from clientflow.language.project import Extensions
from clientflow.language.yamlfile import load_yaml
from clientflow.plugins import Registry
from clientflow.scenarios.paths import FlowPath, completed_key, decisions, flow_paths, scaffold
from clientflow.scenarios.suite import checker, load_suite, run_suite

# A help desk: nothing here knows of the shipped domain.
DESK = {
    "flows/project.yaml": """
        product: {name: Desk}
        entities:
          team: {collection: teams, keys: [id]}
          agent: {nested: {in: [team], key: agents}, keys: [id, email]}
          ticket: {collection: tickets, keys: [id]}
        subject: {entity: ticket, match: [id]}
        actor: {entity: agent, match: [id, email], within: {team: actor_team}}
        reach:
          - name: own-team
            if: ticket.team == actor_team.id
            message: Not your team's ticket.
    """,
    "flows/close-ticket.yaml": """
        id: close-ticket
        title: Close ticket
        summary: Close a ticket.
        subject: ticket
        started_by:
          - {name: lead, if: "actor.role == 'lead'", message: Only leads close tickets.}
        preconditions:
          - {name: open, if: "ticket.status == 'open'", message: The ticket is already closed.}
        steps:
          - id: resolution
            kind: form
            title: How was it resolved?
            fields:
              - name: resolution
                type: choice
                required: true
                options:
                  - {value: fixed, label: Fixed}
                  - {value: wontfix, label: Will not fix}
              - {name: note, type: text, required: false}
          - id: apology
            kind: info
            title: Say sorry
            when: answers.resolution == 'wontfix'
          - id: notify
            kind: form
            title: Tell the customer?
            fields:
              - {name: tell, type: boolean, required: false, default: false}
        outcome:
          effects:
            - {op: update, field: status, to: "'closed'"}
            - {op: update, field: note, to: answers.note, when: answers.note}
          emails:
            - {template: closed, to: ticket.customer, when: answers.tell}
          banner: "Ticket {{ ticket.id }} is closed."
          reversible: true
          audit: "closed {{ ticket.id }}"
    """,
    "flows/reopen-ticket.yaml": """
        id: reopen-ticket
        title: Reopen ticket
        summary: Reopen a closed ticket.
        subject: ticket
        steps:
          - id: why
            kind: form
            title: Why?
            fields:
              - name: code
                type: text
                required: true
                confirm: ticket.id
              - name: urgency
                type: choice
                required: false
                options:
                  - {value: low, label: Low}
                  - {value: high, label: High}
              - name: hours
                type: number
                required: true
                validate:
                  - {if: value > 0, message: Give a positive number.}
          - id: escalate
            kind: info
            title: Escalating
            when: answers.urgency == 'high' and ticket.vip
          - id: confirm
            kind: info
            title: Reopen?
        outcome:
          effects:
            - {op: update, field: status, to: "'open'"}
          emails:
            - {template: closed, to: ticket.customer, when: ticket.vip}
          reversible: true
          audit: "reopened {{ ticket.id }}"
    """,
    "templates/emails/closed.txt": "Subject: Ticket {{ ticket.id }}\n\nYour ticket {{ ticket.id }} changed.\n",
    "data.yaml": """
        teams:
          - id: t1
            agents:
              - {id: a1, email: lee@desk.example, role: lead}
              - {id: a2, email: pat@desk.example, role: agent}
          - id: t2
            agents:
              - {id: a3, email: max@desk.example, role: lead}
        tickets:
          - {id: k1, team: t1, status: open, customer: cus@shop.example, vip: false}
          - {id: k2, team: t1, status: closed, customer: cus@shop.example, vip: true}
    """,
}


def build(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.collect()


@pytest.fixture
def desk(tmp_path: Path, registry: Registry) -> Project:
    return load_project(build(tmp_path / "desk", DESK), Extensions(registry.functions, registry.filters, registry.effects))


@pytest.fixture(scope="module")
def shipped(registry: Registry) -> Project:
    return load_project(PROJECT, Extensions(registry.functions, registry.filters, registry.effects))


def kinds(found: list[FlowPath], kind: str) -> list[FlowPath]:
    return [p for p in found if p.kind == kind]


# blocked paths -------------------------------------------------------------------------------
def test_each_rule_fails_on_its_own_path_reach_first(desk: Project) -> None:
    flow = desk.flow("close-ticket")
    blocked = kinds(flow_paths(desk, flow), "blocked")
    assert [p.rule for p in blocked] == [r.name for r in (*desk.reach, *flow.rules)] == ["own-team", "lead", "open"]
    assert [p.condition for p in blocked] == [r.condition.source for r in (*desk.reach, *flow.rules)]
    assert "every rule before it holds" not in blocked[0].title and all("every rule before it holds" in p.title for p in blocked[1:])


# completed paths -----------------------------------------------------------------------------
def test_every_combination_of_deciding_answers_is_a_path(desk: Project) -> None:
    flow = desk.flow("close-ticket")
    completed = kinds(flow_paths(desk, flow), "completed")
    expected = set()
    for resolution, note, tell in itertools.product(("fixed", "wontfix"), (True, False), (True, False)):
        screens = ("resolution", "apology", "notify") if resolution == "wontfix" else ("resolution", "notify")
        changes = ("status", "note") if note else ("status",)
        emails = ("closed",) if tell else ()
        expected.add((screens, changes, emails))
    got = {(p.screens, tuple(c["field"] for c in p.changes), p.emails) for p in completed}
    assert got == expected and len(completed) == len(expected)
    wontfix_told = next(p for p in completed if p.screens[1:2] == ("apology",) and p.emails and len(p.changes) == 1)
    assert wontfix_told.answers == {"resolution": "wontfix", "tell": True}
    assert wontfix_told.title == "resolution: wontfix, note: omitted, tell: yes"


def test_answers_that_change_nothing_make_no_path(desk: Project) -> None:
    flow = desk.flow("reopen-ticket")
    names = {key for d in decisions(flow) for name, key in desk.program.uses(d.condition).attributes if name == "answers"}
    assert names == {"urgency"}  # code and hours decide nothing
    completed = kinds(flow_paths(desk, flow), "completed")
    assert all("code" not in p.title and "hours" not in p.title for p in completed)


def test_a_when_that_depends_on_data_is_tried_both_ways(desk: Project) -> None:
    flow = desk.flow("reopen-ticket")
    completed = kinds(flow_paths(desk, flow), "completed")
    # the escalate step and the email both read ticket.vip: each holds or not, whatever urgency is
    assert {(p.screens, p.emails) for p in completed} == {
        (("why", "escalate", "confirm"), ("closed",)),
        (("why", "escalate", "confirm"), ()),
        (("why", "confirm"), ("closed",)),
        (("why", "confirm"), ()),
    }
    assert any("step escalate's when holds (answers.urgency == 'high' and ticket.vip)" in p.title for p in completed)


def test_a_hidden_step_keeps_its_default_so_its_answers_decide_nothing(tmp_path: Path, registry: Registry) -> None:
    files = dict(DESK)
    files["flows/close-ticket.yaml"] = DESK["flows/close-ticket.yaml"].replace(
        "          - id: notify\n", "          - id: notify\n            when: answers.resolution == 'wontfix'\n"
    )
    project = load_project(build(tmp_path / "desk", files), Extensions(registry.functions, registry.filters, registry.effects))
    completed = kinds(flow_paths(project, project.flow("close-ticket")), "completed")
    told = {(p.screens, p.emails) for p in completed}
    assert (("resolution",), ("closed",)) not in told  # tell cannot be yes when its step is never shown
    assert (("resolution",), ()) in told and (("resolution", "apology", "notify"), ("closed",)) in told


def test_a_flow_without_decisions_has_one_completed_path(shipped: Project) -> None:
    flow = shipped.flow("disconnect-client")
    [completed] = kinds(flow_paths(shipped, flow), "completed")
    assert completed.key == completed_key(flow, ()) == "completed"
    assert completed.screens == tuple(s.id for s in flow.steps)
    assert completed.emails == tuple(e.template for e in flow.outcome.emails)
    assert [c["field"] for c in completed.changes] == [e.field for e in flow.outcome.effects]


def test_the_deactivation_email_choice_makes_two_paths(shipped: Project) -> None:
    flow = shipped.flow("deactivate-client")
    completed = kinds(flow_paths(shipped, flow), "completed")
    assert {p.title: p.emails for p in completed} == {
        "notify_client: yes": ("deactivate-practice", "deactivate-client"),
        "notify_client: no": ("deactivate-practice",),
    }


# invalid answers ------------------------------------------------------------------------------
def test_each_field_whose_answer_can_be_invalid_is_a_path(desk: Project) -> None:
    invalid = {p.field: p for p in kinds(flow_paths(desk, desk.flow("reopen-ticket")), "invalid")}
    assert set(invalid) == {"code", "urgency", "hours"}
    assert "typed exactly as ticket.id" in invalid["code"].title
    assert "it must pass value > 0" in invalid["hours"].title
    assert "one of the options" in invalid["urgency"].title
    assert invalid["hours"].screens == ("why",)


# the command -----------------------------------------------------------------------------------
def test_paths_lists_every_path_readably(tmp_path: Path) -> None:
    root = build(tmp_path / "desk", DESK)
    result = CliRunner().invoke(cli, ["paths", "close-ticket", "--project", str(root)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "close-ticket: 12 paths"
    assert "   1. blocked    blocked by own-team" in lines
    assert "   4. completed  resolution: fixed, note: given, tell: yes" in lines
    assert "                 screens: resolution -> notify" in lines
    assert "                 changes: update ticket.status, update ticket.note" in lines
    assert "  12. invalid    resolution is invalid: it must be one of the options" in lines


def test_paths_as_json_matches_the_model(tmp_path: Path, registry: Registry) -> None:
    root = build(tmp_path / "desk", DESK)
    result = CliRunner().invoke(cli, ["paths", "reopen-ticket", "--project", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    project = load_project(root, Extensions(registry.functions, registry.filters, registry.effects))
    assert json.loads(result.output) == {"flow": "reopen-ticket", "paths": [p.to_json() for p in flow_paths(project, project.flow("reopen-ticket"))]}


def test_an_unknown_flow_is_named_with_a_suggestion() -> None:
    result = CliRunner().invoke(cli, ["paths", "deactivate", "--project", str(PROJECT)])
    assert result.exit_code == 1
    assert "unknown flow 'deactivate'; did you mean 'deactivate-client'?" in result.output


# skeletons -------------------------------------------------------------------------------------
def test_the_scaffold_is_valid_scenario_yaml_with_one_skeleton_per_path(shipped: Project) -> None:
    flow = shipped.flow("deactivate-client")
    text = scaffold(shipped, flow, "../data/demo.yaml")
    assert text.startswith("# yaml-language-server: $schema=../schema/scenario.schema.json\n")
    doc, positions = load_yaml(text, "scaffold.yaml")
    assert schemas.validate(doc, "scenario.schema.json", positions, checker=checker(shipped)) == []
    found = flow_paths(shipped, flow)
    assert [s["name"] for s in doc["scenarios"]] == [f"{flow.id}: {p.title}" for p in found]
    assert [s["expect"]["status"] for s in doc["scenarios"]] == [{"blocked": "blocked", "completed": "completed"}[p.kind] for p in found]
    told = next(s for s in doc["scenarios"] if s.get("answers", {}).get("notify_client") is True)
    assert [e["template"] for e in told["expect"]["emails"]] == ["deactivate-practice", "deactivate-client"]


def test_a_filled_in_scaffold_runs(tmp_path: Path, shipped: Project, registry: Registry) -> None:
    text = scaffold(shipped, shipped.flow("delete-client"), str(DEMO))
    doc, _ = load_yaml(text, "scaffold.yaml")
    blocked = [s for s in doc["scenarios"] if s["expect"]["status"] == "blocked"]
    fill = {"own-practice-clients": "u3", "own-business": "cu1", "practice-administrator": "u2", "paid-by-practice": "u1", "no-users": "u1"}
    subject = {"paid-by-practice": "c4", "no-users": "c1"}
    for item in blocked:
        rule = item["expect"]["blocked_by"][0]
        item["actor"], item["client"] = fill[rule], subject.get(rule, "c2")
        if rule == "paid-by-practice":
            item["expect"]["blocked_by"].append("no-users")
    path = tmp_path / "filled.yaml"
    path.write_text(yaml.safe_dump({"defaults": doc["defaults"], "scenarios": blocked}, sort_keys=False), encoding="utf-8")
    results = run_suite(shipped, load_suite(shipped, [path]), registry)
    assert [r.mismatches for r in results] == [[] for _ in blocked]
    assert len(results) == len(shipped.reach) + len(shipped.flow("delete-client").rules)


def test_an_unfilled_scaffold_names_each_todo(tmp_path: Path, shipped: Project) -> None:
    path = tmp_path / "todo.yaml"
    path.write_text(scaffold(shipped, shipped.flow("reactivate-client"), str(DEMO)), encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_suite(shipped, [path])
    messages = {p.message for p in caught.value.problems}
    assert messages == {"unknown user 'TODO' in the data", "unknown client 'TODO' in the data"}


def test_scaffold_command_names_the_project_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["paths", "invite-accountant", "--project", str(PROJECT), "--scaffold"])
    assert result.exit_code == 0, result.output
    doc, _ = load_yaml(result.output, "out.yaml")
    assert doc["defaults"] == {"given": "../data/demo.yaml", "flow": "invite-accountant"}
    rejected = [s for s in doc["scenarios"] if s["expect"]["status"] == "invalid"]
    assert [s["expect"]["errors"] for s in rejected] == [["partner"]]


def test_a_path_through_an_approval_step_is_scaffolded_waiting_then_decided(tmp_path: Path, registry: Registry) -> None:
    # its skeleton expected status: completed, which a run that waits for approval never is: filled in, it failed
    from approval_support import APPROVER, STARTER, approval_project

    root = approval_project(tmp_path / "project")
    project = load_project(root, Extensions(registry.functions, registry.filters, registry.effects))
    doc, _ = load_yaml(scaffold(project, project.flow("deactivate-client"), str(root / "data" / "demo.yaml")), "scaffold.yaml")
    waiting = [s for s in doc["scenarios"] if "second-approval" in s["expect"].get("screens", [])]
    assert waiting and all(s["expect"]["status"] == "awaiting_approval" for s in waiting)
    assert all(s["then"] == [{"after": "1 day", "decide": {"by": "TODO"}, "expect": {"status": "completed"}}] for s in waiting)
    to = {"deactivate-practice": [STARTER], "deactivate-client": ["carla@acme.example"]}
    for item in waiting:  # filled in as an author would
        item["actor"], item["client"] = STARTER, "c1"
        item["answers"] = {name: (value if value != "TODO" else "x") for name, value in item.get("answers", {}).items()}
        item["expect"]["changes"][0]["after"] = "deactivated"
        item["expect"]["emails"] = [{**e, "to": list(to[e["template"]])} for e in item["expect"]["emails"]]
        item["expect"]["banner"] = "deactivated"
        item["then"][0]["decide"]["by"] = APPROVER
    path = tmp_path / "filled.yaml"
    path.write_text(yaml.safe_dump({"defaults": doc["defaults"], "scenarios": waiting}, sort_keys=False), encoding="utf-8")
    results = run_suite(project, load_suite(project, [path]), registry)
    assert [r.mismatches for r in results] == [[] for _ in waiting]
