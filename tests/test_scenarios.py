"""Scenario files: every mistake located, patches and defaults, the diff a failure prints, and the shipped suite."""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DEMO, PROJECT
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow.cli import cli
from clientflow.conditions.program import load_project
from clientflow.errors import DefinitionError
from clientflow.language import schemas
from clientflow.language.model import Project
from clientflow.language.project import Extensions
from clientflow.plugins import Registry
from clientflow.scenarios import expectations
from clientflow.scenarios.expectations import CHANGE_KEYS, EMAIL_KEYS, EXPECT_KEYS
from clientflow.scenarios.suite import DEFAULT_KEYS, FILE_KEYS, SCENARIO_KEYS, ScenarioResult, checker, load_suite, run_suite, scenario_files

HEAD = f"""\
defaults:
  given: {DEMO}
  flow: disconnect-client
  actor: u1
  client: c1
scenarios:
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.collect()


@pytest.fixture(scope="module")
def project(registry: Registry) -> Project:
    return load_project(PROJECT, Extensions(registry.functions, registry.filters, registry.effects))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_file(project: Project, registry: Registry, path: Path) -> list[ScenarioResult]:
    return run_suite(project, load_suite(project, [path]), registry)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


# the shipped suite ----------------------------------------------------------------------------
def test_the_shipped_suite_passes_with_full_coverage(project: Project) -> None:
    count = len(load_suite(project, scenario_files([PROJECT / "scenarios"])))
    code, output = invoke("test", "--project", str(PROJECT), "--coverage", "--fail-under", "100", str(PROJECT / "scenarios"))
    assert code == 0, output
    lines = output.rstrip("\n").splitlines()
    assert lines[-1] == f"{count} passed, 0 failed"
    assert sum(1 for line in lines if line.startswith("✓ ")) == count
    assert any(line.split()[:2] == ["total", "100%"] for line in lines), output


def test_the_shipped_suite_has_a_file_per_flow_and_one_for_the_article(project: Project) -> None:
    names = {p.stem for p in (PROJECT / "scenarios").glob("*.yaml")}
    assert names == {*project.flows, "article"}
    for flow_id in project.flows:
        scenarios = load_suite(project, [PROJECT / "scenarios" / f"{flow_id}.yaml"])
        assert {s.flow for s in scenarios} == {flow_id}


def test_the_default_is_the_project_scenarios_folder_and_nothing_is_written(tmp_path: Path) -> None:
    for folder in ("flows", "templates", "schema", "data", "scenarios"):
        shutil.copytree(PROJECT / folder, tmp_path / folder)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, output = invoke("test", "--project", str(tmp_path))
    assert code == 0, output
    assert output.splitlines()[-1].endswith(" passed, 0 failed")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no database, no outbox


# broken scenario files: each mistake at its line and column ----------------------------------
BROKEN = {
    "unknown key": ("  - name: x\n    clinet: c1\n    expect: {status: completed}\n", ["8:5: scenarios[0]: unknown key 'clinet'; did you mean 'client'?"]),
    "unknown flow": (
        "  - name: x\n    flow: disconect-client\n    expect: {status: completed}\n",
        ["8:11: unknown flow 'disconect-client'; did you mean 'disconnect-client'?"],
    ),
    "unknown actor": ("  - name: x\n    actor: u99\n    expect: {status: completed}\n", ["8:12: unknown user 'u99' in the data"]),
    "unknown subject": (
        "  - name: x\n    client: Acme\n    expect: {status: completed}\n",
        ["8:13: unknown client 'Acme' in the data; did you mean 'Acme Ltd'?"],
    ),
    "both subject keys": (
        "  - name: x\n    subject: c2\n    client: c1\n    expect: {status: completed}\n",
        ["9:5: give either 'client' or 'subject', not both"],
    ),
    "bad now": (
        "  - name: x\n    now: yesterday\n    expect: {status: completed}\n",
        ["8:10: 'yesterday' is not a date and time; write it as ISO 8601, e.g. 2025-03-01T09:00:00Z"],
    ),
    "offered with a flow": (
        "  - name: x\n    expect: {offered: [delete-client]}\n",
        ["8:23: expect.offered lists the flows offered and needs no flow; move it to a scenario without one"],
    ),
    "screens without a flow": (
        "  - name: x\n    flow: null\n    expect: {screens: [explain]}\n",
        ["9:13: expect.screens needs a flow; without one a scenario checks only which flows are offered (expect.offered)"],
    ),
    "answers without a flow": (
        "  - name: x\n    flow: null\n    answers: {owner: cu1}\n    expect: {offered: []}\n",
        ["9:5: answers need a flow; name the flow the answers are for"],
    ),
    "bad status": (
        "  - name: x\n    expect: {status: complete}\n",
        [
            "8:22: scenarios[0].expect.status: 'complete' is not allowed; did you mean 'completed'? (one of 'completed', 'blocked', 'needs_input', 'invalid', 'awaiting_approval', 'rejected')"
        ],
    ),
    "empty expect": ("  - name: x\n    expect: {}\n", ["8:13: scenarios[0].expect: must not be empty"]),
    "misspelled change key": (
        "  - name: x\n    expect:\n      changes: [{op: update, feild: owner}]\n",
        ["9:30: scenarios[0].expect.changes[0]: unknown key 'feild'; did you mean 'field'?"],
    ),
    "patch of an unknown record": (
        "  - name: x\n    given:\n      patch:\n        - set: {client c99: {billing: self_paying}}\n    expect: {status: completed}\n",
        ["10:17: there is no client 'c99' in the data; expected one of 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'"],
    ),
    "patch of an unknown entity": (
        "  - name: x\n    given:\n      patch:\n        - remove: clients c1\n    expect: {status: completed}\n",
        ["10:11: unknown entity 'clients'; did you mean 'client'?"],
    ),
    "nested record added nowhere": (
        "  - name: x\n    given:\n      patch:\n        - add: {user: {id: cu9, name: N, email: n@x.example, role: standard, status: active}}\n    expect: {status: completed}\n",
        ["10:11: a user lives inside a partner or client; say which with to: 'ENTITY ID'"],
    ),
    "top-level record added to another": (
        "  - name: x\n    given:\n      patch:\n        - add: {partner: {id: p9, name: N, users: []}}\n          to: client c1\n    expect: {status: completed}\n",
        ["11:11: a partner is not held by another record; remove 'to'"],
    ),
    "patch that breaks the data": (
        "  - name: x\n    given:\n      patch:\n        - set: {client c1: {subscription: paused}}\n    expect: {status: completed}\n",
        ["10:11: after the patches, the data does not fit: clients[0].subscription: 'paused' is not allowed; use one of 'active', 'deactivated'"],
    ),
    "second patch that breaks the data": (  # said at the patch after which the data no longer fits, not at given:
        "  - name: x\n    given:\n      patch:\n        - set: {client c1: {billing: self_paying}}\n        - set: {client c1: {subscription: paused}}\n"
        "    expect: {status: completed}\n",
        ["11:11: after the patches, the data does not fit: clients[0].subscription: 'paused' is not allowed; use one of 'active', 'deactivated'"],
    ),
    "patch id that clashes": (
        "  - name: x\n    given:\n      patch:\n        - add: {user: {id: cu9, name: N, email: carla@acme.example, role: standard, status: active}}\n          to: client c2\n    expect: {status: completed}\n",
        [
            "10:11: after the patches, the data does not fit: clients[1].users[0].email: another user already has email 'carla@acme.example'; email must be unique"
        ],
    ),
    "two scenarios with one name": (
        "  - name: x\n    expect: {status: completed}\n  - name: x\n    expect: {status: blocked}\n",
        ["9:5: another scenario is named 'x' ({file}:7:5); give each scenario its own name"],
    ),
}

UNKNOWN_NAMES = {  # a name the flow lacks (misspelled, or removed from the flow) fails the scenario, located
    "unknown answer": (
        "  - name: x\n    answers: {ownr: cu1}\n    expect: {status: completed}\n",
        ["8:15: disconnect-client has no field 'ownr'; did you mean 'owner'?"],
    ),
    "unknown step": (
        "  - name: x\n    expect: {screens: [explian, survey]}\n",
        ["8:24: no step of disconnect-client is named 'explian'; did you mean 'explain'?"],
    ),
    "unknown rule": (
        "  - name: x\n    expect: {blocked_by: [has-user]}\n",
        ["8:27: no rule of disconnect-client is named 'has-user'; did you mean 'has-users'?"],
    ),
    "unknown email": (
        "  - name: x\n    expect:\n      emails: [{template: disconnect-partner}]\n",
        ["9:27: disconnect-client sends no email 'disconnect-partner'; did you mean 'disconnect-practice'?"],
    ),
    "unknown fields": (
        "  - name: x\n    expect: {errors: [onwer], needs: [reasn]}\n",
        [
            "8:23: no field of disconnect-client is named 'onwer'; did you mean 'owner'?",
            "8:39: no field of disconnect-client is named 'reasn'; did you mean 'reason'?",
        ],
    ),
    "unknown changed field": (  # a field no flow updates: the scenario could never pass
        "  - name: x\n    expect:\n      changes: [{op: update, field: ownr}]\n",
        ["9:37: no flow of the project updates a field 'ownr'; did you mean 'owner'?"],
    ),
    "unknown offered flow": (
        "  - name: x\n    flow: null\n    expect: {offered: [delete-clients]}\n",
        ["9:24: no flow is named 'delete-clients'; did you mean 'delete-client'?"],
    ),
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_NAMES), ids=str)
def test_a_name_the_flow_lacks_fails_the_scenario_at_the_name(case: str, project: Project, registry: Registry, tmp_path: Path) -> None:
    body, expected = UNKNOWN_NAMES[case]
    path = write(tmp_path, "names.yaml", HEAD + body)
    [result] = run_file(project, registry, path)
    assert not result.passed
    assert [m.note for m in result.mismatches if m.what == "unknown name"] == [f"{path}:{e}" for e in expected]


def test_a_changed_field_is_not_judged_when_a_plugins_effect_may_write_any(project: Project) -> None:
    # a plugin's effect names no field the loader can see: a scenario expecting one of its changes stays readable
    flow = project.flows["disconnect-client"]
    stamp = dataclasses.replace(flow.outcome.effects[0], op="stamp", field=None)
    changed = dataclasses.replace(flow, outcome=dataclasses.replace(flow.outcome, effects=(*flow.outcome.effects, stamp)))
    doc = {"changes": [{"field": "stamped_at"}]}
    for given_project, expected in ((project, ["stamped_at"]), (dataclasses.replace(project, flows={**project.flows, flow.id: changed}), [])):
        unknown: list[str] = []
        expectations.read(doc, given_project, flow.id, lambda keys, message: None, lambda keys, message: unknown.append(message))
        assert [name for name in expected if any(repr(name) in message for message in unknown)] == expected, unknown
        assert len(unknown) == len(expected)


YAML_MISTAKES = {  # the YAML reader's own wording may grow; where and what it names may not change
    "duplicate key": ("  - name: x\n    name: y\n    expect: {status: completed}\n", "8:5", "duplicate key 'name'"),
    "alias": ("  - name: &n x\n    expect: {status: completed}\n", "7:11", "anchor &n is not allowed"),
}


@pytest.mark.parametrize("case", sorted(BROKEN), ids=str)
def test_a_broken_scenario_file_is_reported_at_the_mistake(case: str, project: Project, tmp_path: Path) -> None:
    body, expected = BROKEN[case]
    path = write(tmp_path, "broken.yaml", HEAD + body)
    with pytest.raises(DefinitionError) as caught:
        load_suite(project, [path])
    assert [str(p) for p in caught.value.problems] == [f"{path}:{e.format(file=path)}" for e in expected]


@pytest.mark.parametrize("case", sorted(YAML_MISTAKES), ids=str)
def test_a_yaml_mistake_in_a_scenario_file_is_located(case: str, project: Project, tmp_path: Path) -> None:
    body, where, what = YAML_MISTAKES[case]
    path = write(tmp_path, "broken.yaml", HEAD + body)
    with pytest.raises(DefinitionError) as caught:
        load_suite(project, [path])
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{path}:{where}: ")
    assert what in problem.message


def test_every_missing_key_is_named_at_its_scenario(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "missing.yaml", "scenarios:\n  - name: lonely\n    flow: delete-client\n    expect: {status: completed}\n")
    with pytest.raises(DefinitionError) as caught:
        load_suite(project, [path])
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2:5: scenario 'lonely': missing key '{key}'; give it here or under defaults" for key in ("actor", "client", "given")
    ]


def test_a_missing_data_file_is_named_relative_to_the_scenario(project: Project, tmp_path: Path) -> None:
    path = write(
        tmp_path, "nodata.yaml", "scenarios:\n  - {name: x, given: nowhere.yaml, actor: u1, client: c1, flow: delete-client, expect: {status: completed}}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_suite(project, [path])
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2:22: there is no data file {tmp_path / 'nowhere.yaml'}; the path is relative to the scenario file"
    ]


def test_problems_of_every_file_are_reported_at_once_and_exit_1(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", HEAD + BROKEN["bad now"][0])
    second = write(tmp_path, "b.yaml", HEAD + BROKEN["bad status"][0])
    code, output = invoke("test", "--project", str(PROJECT), str(tmp_path))
    assert code == 1
    assert f"{first}:8:10: 'yesterday' is not a date and time" in output
    assert f"{second}:8:22: scenarios[0].expect.status: 'complete' is not allowed" in output
    assert output.rstrip().endswith("2 problems found.")
    assert "passed" not in output  # nothing runs while a file is broken


def test_no_scenario_files_is_an_error(tmp_path: Path) -> None:
    code, output = invoke("test", "--project", str(PROJECT), str(tmp_path))
    assert code == 1
    assert f"no scenario files (*.yaml) in {tmp_path}" in output


# what the loader accepts is what the schema says ------------------------------------------------
def test_the_schema_and_the_loader_accept_the_same_keys(project: Project) -> None:
    document = schemas.schema("scenario.schema.json")
    defs = document["$defs"]
    assert set(document["properties"]) == set(FILE_KEYS)
    assert set(defs["defaults"]["properties"]) == set(DEFAULT_KEYS)
    assert set(defs["scenario"]["properties"]) == set(SCENARIO_KEYS)
    assert set(defs["expect"]["properties"]) == set(EXPECT_KEYS)
    assert set(defs["changeExpect"]["properties"]) == set(CHANGE_KEYS)
    assert set(defs["emailExpect"]["properties"]) == set(EMAIL_KEYS)
    assert document["additionalProperties"] is False and document["$id"].endswith("/scenario.schema.json")


def test_the_project_word_for_the_subject_is_added_to_the_schema_only_for_loading(project: Project) -> None:
    for holder in ("scenario", "defaults"):
        properties = checker(project).schema["$defs"][holder]["properties"]
        assert properties["client"]["$ref"] == properties["subject"]["$ref"]
        assert "client" not in schemas.schema("scenario.schema.json")["$defs"][holder]["properties"]


def test_a_scenario_may_use_every_key(project: Project, registry: Registry, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "all.yaml",
        f"""\
        defaults: {{given: {DEMO}, actor: u1, subject: c1, flow: deactivate-client, now: "2025-06-01T12:00:00+02:00"}}
        scenarios:
          - name: every key
            description: uses everything a scenario can say
            given: {{data: {DEMO}, patch: [{{set: {{user cu2: {{role: administrator}}}}}}]}}
            actor: alice@northwind.example
            subject: Acme Ltd
            flow: deactivate-client
            now: 2025-06-01T10:00:00Z
            answers: {{reason: testing, notify_client: true}}
            expect:
              status: completed
              blocked_by: []
              screens: [survey, explain, notify]
              changes: [{{op: update, entity: client, id: c1, field: subscription, before: active, after: deactivated}}]
              emails:
                - {{template: deactivate-practice, to: alice@northwind.example, subject: deactivated, text: let the business know}}
                - {{template: deactivate-client, to: [carla@acme.example, dev@acme.example]}}
              banner: deactivated
              reversible: true
              errors: []
              needs: []
          - name: offered
            flow: null
            expect: {{offered: [disconnect-client, deactivate-client]}}
        """,
    )
    results = run_file(project, registry, path)
    assert [(r.scenario.name, r.mismatches) for r in results] == [("every key", []), ("offered", [])]
    assert results[0].scenario.now.isoformat() == "2025-06-01T10:00:00+00:00"


# patches and defaults, proved by what the flows then do --------------------------------------
def test_patches_set_add_and_remove_records(project: Project, registry: Registry, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "patches.yaml",
        HEAD
        + """\
  - name: removed user cannot own
    given: {patch: [{remove: [user cu1]}]}
    answers: {owner: cu1}
    expect: {status: invalid, errors: [owner]}
  - name: added user can own
    given:
      patch:
        - add: {user: {id: cu9, name: Nia New, email: nia@acme.example, role: standard, status: invited}}
          to: client c1
    answers: {owner: nia@acme.example}
    expect: {status: completed, changes: [{field: owner, after: cu9}, {field: partner, after: null}]}
  - name: set makes it self-paying
    given: {patch: [{set: {client c1: {billing: self_paying}}}]}
    answers: {owner: cu1}
    expect: {status: blocked, blocked_by: [paid-by-practice]}
  - name: added top-level record
    given:
      patch:
        - add: {client: {id: c9, name: Nine Ltd, partner: p1, billing: partner, subscription: active, owner: null, users: []}}
    client: c9
    expect: {status: blocked, blocked_by: [has-users]}
""",
    )
    results = run_file(project, registry, path)
    assert [(r.scenario.name, r.mismatches) for r in results] == [(r.scenario.name, []) for r in results]
    assert [r.plan.status for r in results if r.plan] == ["invalid", "completed", "blocked", "blocked"]


def test_default_patches_apply_unless_a_scenario_names_its_own_data(project: Project, registry: Registry, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "defaults.yaml",
        f"""\
        defaults:
          given: {{data: {DEMO}, patch: [{{set: {{client c1: {{billing: self_paying}}}}}}]}}
          flow: deactivate-client
          actor: u1
          client: c1
        scenarios:
          - name: inherits the patch and adds one
            given: {{patch: [{{set: {{client c1: {{subscription: deactivated}}}}}}]}}
            expect: {{status: blocked}}
          - name: own data, no default patch
            given: {DEMO}
            expect: {{status: completed}}
        """,
    )
    results = run_file(project, registry, path)
    assert [r.mismatches for r in results] == [[], []]
    assert results[0].plan is not None and [b["rule"] for b in results[0].plan.blocked_by] == ["paid-by-practice", "active-subscription"]


def test_the_generic_subject_key_is_the_same_as_the_project_word(project: Project, registry: Registry, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subject.yaml",
        HEAD.replace("  client: c1\n", "")
        + "  - {name: by word, client: c2, expect: {status: blocked}}\n  - {name: by subject, subject: c2, expect: {status: blocked}}\n",
    )
    results = run_file(project, registry, path)
    assert [r.scenario.subject for r in results] == ["c2", "c2"]
    assert [r.passed for r in results] == [True, True]


# failures: one line each, then a readable diff ---------------------------------------------------
WRONG = """\
  - name: everything is wrong
    answers: {owner: cu1}
    expect:
      status: blocked
      screens: [survey, explain, choose-owner]
      changes:
        - {op: update, entity: client, id: c1, field: partner, before: p1, after: p2}
        - {op: delete}
      emails:
        - {template: disconnect-practice, to: bob@northwind.example}
      banner: now belongs to Dev Patel
      reversible: true
  - name: this one holds
    answers: {owner: cu1}
    expect: {status: completed}
"""


def test_a_failure_shows_expected_and_actual_field_by_field(tmp_path: Path) -> None:
    path = write(tmp_path, "wrong.yaml", HEAD + WRONG)
    code, output = invoke("test", "--project", str(PROJECT), str(path))
    assert code == 1
    lines = output.splitlines()
    assert lines[0] == f"✗ everything is wrong  ({path}:7:5)"
    body = "\n".join(lines[1:-2])
    assert (
        "    status\n"
        '        expected  "blocked"\n'
        '        actual    "completed"\n'
        "    screens\n"
        '        expected  ["survey", "explain", "choose-owner"]\n'
        '        actual    ["explain", "survey", "choose-owner"]\n'
        '    changes[0]: the closest is update client c1 partner: "p1" -> null\n'
        '        expected  after: "p2"\n'
        "        actual    after: null\n"
        '    changes[1]: the closest is update client c1 owner: null -> "cu1"\n'
        '        expected  op: "delete"\n'
        '        actual    op: "update"\n'
    ) in body + "\n"
    assert '        expected  to: "bob@northwind.example"\n        actual    to: ["alice@northwind.example"]' in body
    assert "    emails: unexpected email: disconnect-client to carla@acme.example: " in body
    assert '    banner: no banner contains the expected text\n        expected  "now belongs to Dev Patel"' in body
    assert "    reversible\n        expected  true\n        actual    false" in body
    assert lines[-2] == "✓ this one holds"
    assert lines[-1] == "1 passed, 1 failed"


def test_a_missing_item_and_a_blocked_reason_are_shown(tmp_path: Path) -> None:
    body = """\
  - name: blocked but expected to complete
    actor: u2
    expect: {status: completed}
  - name: one change too many expected
    answers: {owner: cu1}
    expect:
      changes: [{field: owner}, {field: partner}, {field: billing}]
"""
    path = write(tmp_path, "missing.yaml", HEAD + body)
    code, output = invoke("test", "--project", str(PROJECT), str(path))
    assert code == 1
    assert '    status\n        expected  "completed"\n        actual    "blocked"\n        because   practice-administrator: Only an administrator' in output
    assert '    changes[2]: missing change\n        expected  {field: "billing"}\n        actual    (missing)' in output
    assert output.splitlines()[-1] == "0 passed, 2 failed"


def test_a_status_of_needs_input_says_which_answer_is_missing(tmp_path: Path) -> None:
    # it said only: expected "completed", actual "needs_input"
    path = write(tmp_path, "needs.yaml", HEAD + "  - name: no owner given\n    expect: {status: completed}\n")
    code, output = invoke("test", "--project", str(PROJECT), str(path))
    assert code == 1
    assert '        actual    "needs_input"\n        because   no answer for owner (screen ' in output


def test_a_dry_run_that_fails_is_a_failed_scenario(tmp_path: Path) -> None:
    body = "  - name: a broken address\n    given: {patch: [{set: {user cu1: {email: not-an-address}}}]}\n    answers: {owner: cu1}\n    expect: {status: completed}\n"
    path = write(tmp_path, "error.yaml", HEAD + body)
    code, output = invoke("test", "--project", str(PROJECT), str(path))
    assert code == 1
    assert "    error: the dry-run failed" in output
    assert "'not-an-address' is not a valid email address" in output
    assert output.splitlines()[-1] == "0 passed, 1 failed"


def test_offered_flows_are_compared_as_sets(project: Project, registry: Registry, tmp_path: Path) -> None:
    path = write(tmp_path, "offered.yaml", HEAD + "  - {name: too few, flow: null, expect: {offered: [deactivate-client]}}\n")
    [result] = run_file(project, registry, path)
    [mismatch] = result.mismatches
    assert (mismatch.what, mismatch.expected, mismatch.actual, mismatch.note) == (
        "offered",
        ["deactivate-client"],
        ["deactivate-client", "disconnect-client"],
        "also offered: disconnect-client",
    )


def test_json_output_lists_each_scenario_with_its_mismatches(tmp_path: Path) -> None:
    path = write(tmp_path, "wrong.yaml", HEAD + WRONG)
    code, output = invoke("test", "--project", str(PROJECT), "--format", "json", str(path))
    assert code == 1
    report = json.loads(output)
    assert (report["passed"], report["failed"], report["coverage"]) == (1, 1, None)
    first = report["scenarios"][0]
    assert (first["name"], first["passed"], first["location"]) == ("everything is wrong", False, f"{path}:7:5")
    assert [m["what"] for m in first["mismatches"]] == ["status", "screens", "changes[0]", "changes[1]", "emails[0]", "emails", "banner", "reversible"]
    assert first["mismatches"][2]["fields"] == [{"key": "after", "expected": "p2", "actual": None}]


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(value=JSON_VALUES)
def test_each_scenario_gets_a_copy_of_its_data_that_shares_nothing_it_could_change(value: object) -> None:
    """Scenarios patch their own copy of a data file (suite._copied): equal to it, and no list or mapping in common."""
    from clientflow.scenarios.suite import _copied

    def containers(found: object) -> list[int]:
        inner = found.values() if isinstance(found, dict) else found if isinstance(found, list) else []
        return ([id(found)] if isinstance(found, (dict, list)) else []) + [i for item in inner for i in containers(item)]

    copy = _copied(value)
    assert copy == value
    assert not set(containers(copy)) & set(containers(value))


def test_validate_reads_every_scenario_as_test_does() -> None:
    """`clientflow validate` reads scenarios without copying their data (only `clientflow test` runs them): the same scenarios, the same problems."""
    from clientflow.scenarios.suite import _read_suite

    project = load_project(PROJECT, Extensions(Registry.collect().functions))
    files = scenario_files([PROJECT / "scenarios"])
    checked, copied = _read_suite(project, files, copies=False), _read_suite(project, files, copies=True)
    assert [(s.name, s.location, s.data) for s in checked[0]] == [(s.name, s.location, s.data) for s in copied[0]]
    assert checked[1:] == copied[1:] and len(checked[0]) > 50
