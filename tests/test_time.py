"""Time in every tool: parts due together, `flow.due`, the plan's dated entries, Engine.scheduled and
Engine.carry_out, the time filters, scenarios that move time forward, waiting branches in paths,
coverage and the graph.

The fixture project's delete-client is changed to delete 14 days after the commit and to send its
confirmation at the same time (unless the client gained a user meanwhile); keep-client cancels that.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import copy_project, invoke, plain
from conftest import NOW
from hypothesis import given
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.default_plugins.moments import add_days, iso_date
from clientflow.errors import ExpressionError
from clientflow.storage import SchedulingTransaction

OUTCOME = """outcome:
  effects:
    - {op: delete}
  emails:
    - template: delete-confirmation
      to: actor.email
"""
LATER = """outcome:
  effects:
    - {op: delete, after: 14 days, unless: client.users | length > 0}
  emails:
    - template: delete-confirmation
      to: actor.email
      after: 14 days
      unless: client.users | length > 0
"""
KEEP = """id: keep-client
title: Keep client
summary: Keep a client whose deletion is pending.
subject: client
entry: [Business settings]
button: Keep
started_by:
  - rule: practice-administrator
steps:
  - id: confirm
    kind: info
    title: Keep {{ client.name }}?
    buttons: {next: Keep, cancel: Cancel}
outcome:
  cancel: [delete-client]
  reversible: true
  audit: "{{ actor.email }} kept {{ client.name }}"
"""
ACTOR, SUBJECT, ANSWERS = "u1", "c2", {"confirm_name": "Empty Shell Co"}
DUE = NOW + timedelta(days=14)


def later_project(tmp_path: Path, outcome: str = LATER, precondition: str | None = None) -> Path:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "delete-client.yaml"
    text = flow.read_text(encoding="utf-8")
    assert OUTCOME in text
    text = text.replace(OUTCOME, outcome)
    if precondition is not None:
        text = text.replace("preconditions:\n", f"preconditions:\n{precondition}", 1)
    flow.write_text(text, encoding="utf-8")
    (root / "flows" / "keep-client.yaml").write_text(KEEP, encoding="utf-8")
    return root


def open_engine(root: Path) -> Engine:
    return Engine.open(root, data=root / "data" / "demo.yaml", notifiers={}, now=NOW)


def clients(engine: Engine) -> list[str]:
    return [c["id"] for c in engine.export()["clients"]]


def items(engine: Engine) -> list[dict[str, Any]]:
    with engine.storage.transaction() as tx:
        assert isinstance(tx, SchedulingTransaction)
        return tx.scheduled()


# the filters ---------------------------------------------------------------------------
def test_add_days_and_iso_date_do_calendar_arithmetic_on_now_and_on_iso_text() -> None:
    assert add_days({"iso": "2025-03-03T09:00:00+00:00"}, 14) == "2025-03-17T09:00:00+00:00"
    assert add_days("2025-03-03T09:00:00", -3) == "2025-02-28T09:00:00+00:00"  # no zone: UTC
    assert add_days("2025-03-03T09:00:00+01:00", 1) == "2025-03-04T09:00:00+01:00"  # the zone it was given
    assert iso_date("2025-03-17T23:30:00+00:00") == "2025-03-17" and iso_date(None) == ""


@pytest.mark.parametrize(("value", "days", "words"), [("soon", 1, "not an ISO 8601 time"), ("2025-03-03", "14", "number of days"),
                                                      ("2025-03-03", True, "number of days"), ("2025-03-03", 40000, "over the limit"),
                                                      (3, 1, "a time is needed")])  # fmt: skip
def test_add_days_refuses_what_is_not_a_time_or_a_number_of_days(value: Any, days: Any, words: str) -> None:
    with pytest.raises(ExpressionError, match=words):
        add_days(value, days)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)), st.integers(min_value=-3000, max_value=3000))
def test_add_days_there_and_back_is_where_it_started(moment: datetime, days: int) -> None:
    start = moment.replace(tzinfo=UTC).isoformat()
    assert add_days(add_days(start, days), -days) == start
    assert iso_date(add_days(start, days)) == (moment + timedelta(days=days)).date().isoformat()


# the worker: one run's parts due together ----------------------------------------------
def test_the_parts_of_one_run_due_at_one_time_are_carried_out_together(tmp_path: Path) -> None:
    engine = open_engine(later_project(tmp_path))
    plan = engine.apply("delete-client", ACTOR, SUBJECT, ANSWERS, deliver=False)
    assert plan is not None and plan.status == "completed" and plan.changes == []
    entries = plan.to_json()["scheduled"]
    assert [(e["at"], e["kind"]) for e in entries] == [(DUE.isoformat(), "effect"), (DUE.isoformat(), "email")]
    assert entries[0]["changes"][0]["op"] == "delete" and entries[1]["emails"][0]["template"] == "delete-confirmation"
    assert [i["at"] for i in engine.scheduled()] == [DUE.isoformat()] * 2

    early = engine.carry_out(DUE - timedelta(seconds=1))
    assert early.to_json() == {"applied": [], "dropped": [], "retry": []} and SUBJECT in clients(engine)

    done = engine.carry_out(DUE)
    assert len(done.applied) == 2 and done.dropped == []
    assert [c["op"] for c in done.changes] == ["delete"] and SUBJECT not in clients(engine)
    (email,) = done.emails
    assert email["template"] == "delete-confirmation" and "Empty Shell Co" in email["subject"]  # rendered from what was read before the deletion
    assert {i["status"] for i in items(engine)} == {"done"} and engine.scheduled() == []
    assert engine.carry_out(DUE + timedelta(days=30)).applied == []  # exactly once


def test_a_cancelled_deletion_is_never_carried_out(tmp_path: Path) -> None:
    engine = open_engine(later_project(tmp_path))
    engine.apply("delete-client", ACTOR, SUBJECT, ANSWERS, deliver=False)
    kept = engine.apply("keep-client", ACTOR, SUBJECT, {}, deliver=False)
    assert kept is not None and kept.status == "completed"
    assert engine.scheduled() == [] and {i["status"] for i in items(engine)} == {"cancelled"}
    assert engine.carry_out(DUE + timedelta(days=1)).to_json() == {"applied": [], "dropped": [], "retry": []}
    assert SUBJECT in clients(engine)


def test_flow_due_is_none_at_the_start_and_the_due_time_when_the_worker_checks(tmp_path: Path) -> None:
    only_later = "  - name: only-when-due\n    if: flow.due is not none\n    message: This flow runs only as scheduled work ({{ flow.due }}).\n"
    engine = open_engine(later_project(tmp_path, precondition=only_later))
    refused = engine.simulate("delete-client", ACTOR, SUBJECT, ANSWERS)
    assert refused.status == "blocked" and refused.blocked_by[0]["rule"] == "only-when-due"
    never = "  - name: never-when-due\n    if: flow.due is none\n    message: Not as scheduled work (due {{ flow.due }}).\n"
    engine = open_engine(later_project(tmp_path / "second", precondition=never))
    assert engine.apply("delete-client", ACTOR, SUBJECT, ANSWERS, deliver=False).status == "completed"  # type: ignore[union-attr]
    dropped = engine.carry_out(DUE).dropped
    assert len(dropped) == 2 and all(f"never-when-due: Not as scheduled work (due {DUE.isoformat()})" in d["reason"] for d in dropped)
    assert SUBJECT in clients(engine)


def test_an_unless_that_holds_when_due_drops_the_part_and_says_why(tmp_path: Path) -> None:
    engine = open_engine(later_project(tmp_path, outcome=LATER.replace("client.users | length > 0", "client.subscription == 'active'")))
    engine.apply("delete-client", ACTOR, SUBJECT, ANSWERS, deliver=False)
    report = engine.carry_out(DUE)
    assert report.applied == [] and [d["reason"] for d in report.dropped] == ["unless client.subscription == 'active' held"] * 2
    assert SUBJECT in clients(engine)


# the command line ---------------------------------------------------------------------------
def test_the_text_plan_shows_a_dated_timeline(tmp_path: Path) -> None:
    root = later_project(tmp_path)
    result = invoke("simulate", "delete-client", "--project", root, "--data", root / "data" / "demo.yaml", "--actor", ACTOR, "--client", SUBJECT,
                    "--answer", "confirm_name=Empty Shell Co", "--now", NOW.isoformat())  # fmt: skip
    text = plain(result.stdout)
    assert result.exit_code == 0, text
    assert "Later, unless cancelled:" in text and f"  {DUE.isoformat()}\n" in text
    assert f"Scheduled: delete client on {DUE.isoformat()} (unless client.users | length > 0)" in text
    assert "✉ delete-confirmation to alice@northwind.example" in text


def test_run_then_worker_once_at_a_time_then_scheduled_on_sqlite(tmp_path: Path) -> None:
    root = later_project(tmp_path)
    db = root / "clientflow.db"
    assert invoke("init", "--project", root, "--data", root / "data" / "demo.yaml", "--db", db).exit_code == 0
    ran = invoke("run", "delete-client", "--project", root, "--db", db, "--actor", ACTOR, "--client", SUBJECT, "--answer", "confirm_name=Empty Shell Co",
                 "--yes", "--format", "json", "--now", NOW.isoformat(), "--outbox", tmp_path / "out")  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert [e["at"] for e in json.loads(ran.stdout)["scheduled"]] == [DUE.isoformat()] * 2
    listed = json.loads(invoke("scheduled", "--project", root, "--db", db, "--format", "json").stdout)["scheduled"]
    assert [{k: i[k] for k in ("at", "flow", "subject")} for i in listed] == [{"at": DUE.isoformat(), "flow": "delete-client", "subject": SUBJECT}] * 2
    assert all(isinstance(i["id"], str) for i in listed)
    before = invoke("worker", "--once", "--project", root, "--db", db, "--now", (DUE - timedelta(hours=1)).isoformat(), "--outbox", tmp_path / "out")
    assert before.exit_code == 0 and "Empty Shell Co" in invoke("export", "--project", root, "--db", db).stdout
    after = invoke("worker", "--once", "--project", root, "--db", db, "--now", DUE.isoformat(), "--outbox", tmp_path / "out", "--format", "json")
    assert after.exit_code == 0 and json.loads(after.stdout)["scheduled"] == {"applied": 2, "dropped": 0, "retry": 0}
    assert "Empty Shell Co" not in invoke("export", "--project", root, "--db", db).stdout


# scenarios that move time forward ------------------------------------------------------
SCENARIOS = """defaults:
  given: ../data/demo.yaml
  flow: delete-client
  actor: u1
  client: c2
  now: 2025-03-03T09:00:00Z
scenarios:
  - name: the deletion waits 14 days
    answers: {confirm_name: Empty Shell Co}
    expect:
      status: completed
      changes: []
      scheduled:
        - {at: "2025-03-17T09:00:00Z", op: delete, unless: users}
        - {at: "2025-03-17T09:00:00+00:00", template: delete-confirmation}
    then:
      - after: 13 days
        expect:
          worker: {changes: [], emails: [], dropped: []}
          scheduled: [{op: delete}, {template: delete-confirmation}]
          exists: true
      - after: 1 day
        expect:
          worker:
            changes: [{op: delete, entity: client, id: c2}]
            emails: [{template: delete-confirmation, to: [alice@northwind.example]}]
          scheduled: []
          exists: false
  - name: a kept client stays
    answers: {confirm_name: Empty Shell Co}
    expect: {status: completed}
    then:
      - now: 2025-03-04T09:00:00Z
        flow: keep-client
        expect: {status: completed, scheduled: []}
      - after: 2 weeks
        expect:
          worker: {changes: []}
          offered: [deactivate-client, delete-client, keep-client]
          exists: true
"""


def write_scenarios(root: Path, text: str = SCENARIOS) -> Path:
    path = root / "scenarios" / "later.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_scenarios_move_time_forward_and_expect_the_work_its_cancellation_and_its_result(tmp_path: Path) -> None:
    root = later_project(tmp_path)
    path = write_scenarios(root)
    result = invoke("test", path, "--project", root, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["passed"] for r in json.loads(result.stdout)["scenarios"]] == [True, True]


def test_a_then_step_that_is_not_met_says_which_step_and_time(tmp_path: Path) -> None:
    root = later_project(tmp_path)
    path = write_scenarios(root, SCENARIOS.replace("      - after: 13 days\n", "      - after: 14 days\n", 1))
    result = invoke("test", path, "--project", root)
    assert result.exit_code != 0
    assert "then[0] at 2025-03-17T09:00:00+00:00: worker changes" in plain(result.stdout)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("      - after: 13 days\n", "      - after: 13d\n", "'13d' is not a duration"),
        ("      - now: 2025-03-04T09:00:00Z\n", "      - now: 2025-03-02T09:00:00Z\n", "time only moves forward"),
        ("      - after: 13 days\n", "      - after: 13 days\n        now: 2025-03-20T09:00:00Z\n", "not both"),
        ("      changes: []\n      scheduled:", "      changes: []\n      exists: true\n      scheduled:", "is for a step under `then`"),
        ("      - after: 2 weeks\n", "      - after: 2 weeks\n        flow: keep-clinet\n", "did you mean 'keep-client'"),
    ],
)
def test_a_mistake_in_time_steps_is_a_located_error(tmp_path: Path, old: str, new: str, words: str) -> None:
    root = later_project(tmp_path)
    assert old in SCENARIOS
    path = write_scenarios(root, SCENARIOS.replace(old, new, 1))
    result = invoke("test", path, "--project", root)
    assert result.exit_code != 0
    output = result.stdout + result.stderr
    assert words in output and "later.yaml:" in output


def test_paths_and_coverage_count_the_waiting_branches(tmp_path: Path) -> None:
    root = later_project(tmp_path)
    found = json.loads(invoke("paths", "delete-client", "--project", root, "--format", "json").stdout)["paths"]
    waited = [p["key"] for p in found if p["kind"] == "waited"]
    assert waited == [
        "later: effect 1 (delete client): carried out",
        "later: effect 1 (delete client): not carried out",
        "later: email delete-confirmation: carried out",
        "later: email delete-confirmation: not carried out",
    ]
    completed = [p for p in found if p["kind"] == "completed"]
    assert [p["changes"] for p in completed] == [[]]  # the delayed parts are not the commit's
    path = write_scenarios(root)
    coverage = json.loads(invoke("test", path, "--project", root, "--coverage", "--format", "json").stdout)["coverage"]
    flow = next(f for f in coverage["flows"] if f["flow"] == "delete-client")
    assert not [m for m in flow["missing"] if m["name"].startswith("later:")]
    first_only = SCENARIOS[: SCENARIOS.index("  - name: a kept client stays")]
    write_scenarios(root, first_only)
    coverage = json.loads(invoke("test", path, "--project", root, "--coverage", "--format", "json").stdout)["coverage"]
    flow = next(f for f in coverage["flows"] if f["flow"] == "delete-client")
    assert sorted(m["name"] for m in flow["missing"] if m["name"].startswith("later:")) == [waited[1], waited[3]]


def test_the_graph_draws_each_wait_and_what_keeps_it_from_being_done(tmp_path: Path) -> None:
    root = later_project(tmp_path)
    text = invoke("graph", "delete-client", "--project", root).stdout
    assert 'wait1{{"wait: 14 days"}}' in text and 'result -.->|"scheduled"| wait1' in text and 'wait1 -->|"due"| later1' in text
    assert "not carried out: cancelled by keep-client" in text
    assert "delete client unless client.users #124; length #62;" in text and "email delete-confirmation to actor.email<br/>unless" in text
    dot = invoke("graph", "delete-client", "--project", root, "--format", "dot").stdout
    assert "wait1 [shape=hexagon" in dot and "wait1 -> dropped [style=dashed];" in dot
