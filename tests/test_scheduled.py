"""Scheduled work: an outcome's delayed parts (`after:`, `unless:`, `cancel:`), loaded, planned and written with the commit.

The tests run on a copy of the fixture project whose deactivate-client flow deactivates 14 days
after the commit (unless the client has an owner by then) and emails the practice 2 hours after it;
keep-client cancels that pending work.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import copy_project, invoke, plain
from conftest import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.errors import DefinitionError, ExitCode, RunError
from clientflow.language.project import parse_duration
from clientflow.storage import SchedulingTransaction

EFFECT = """    - {op: update, field: subscription, to: "'deactivated'"}
"""
DELAYED_EFFECT = """    - op: update
      field: subscription
      to: "'deactivated'"
      after: 14 days
      unless: client.owner is not none
"""
PRACTICE_EMAIL = """    - template: deactivate-practice
      to: actor.email
"""
DELAYED_EMAIL = PRACTICE_EMAIL + "      after: 2 hours\n"
KEEP = """id: keep-client
title: Keep client
summary: Keep a client whose deactivation is pending.
subject: client
entry: [Business settings, Subscription]
button: Keep
started_by:
  - rule: practice-administrator
preconditions: []
steps:
  - id: confirm
    kind: info
    title: Keep {{ client.name }}?
    buttons: {next: Keep, cancel: Cancel}
outcome:
  cancel: [deactivate-client]
  reversible: true
  audit: "{{ actor.email }} kept {{ client.name }}"
"""
ACTOR, SUBJECT = "u1", "c1"


def delayed_project(tmp_path: Path, effect: str = DELAYED_EFFECT, email: str = DELAYED_EMAIL, keep: str = KEEP) -> Path:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "deactivate-client.yaml"
    text = flow.read_text(encoding="utf-8")
    assert EFFECT in text and PRACTICE_EMAIL in text
    flow.write_text(text.replace(EFFECT, effect).replace(PRACTICE_EMAIL, email), encoding="utf-8")
    (root / "flows" / "keep-client.yaml").write_text(keep, encoding="utf-8")
    return root


def open_delayed(root: Path, backend: str, now: datetime = NOW) -> Engine:
    if backend == "memory":
        return Engine.open(root, data=root / "data" / "demo.yaml", notifiers={}, now=now)
    engine = Engine.open(root, db=root / "clientflow.db", notifiers={}, now=now)
    if not (root / "loaded").exists():
        engine.load_data(root / "data" / "demo.yaml")
        (root / "loaded").write_text("", encoding="utf-8")
    return engine


def pending(engine: Engine) -> list[dict[str, Any]]:
    with engine.storage.transaction() as tx:
        assert isinstance(tx, SchedulingTransaction)
        return tx.scheduled()


def audit(engine: Engine) -> list[dict[str, Any]]:
    with engine.storage.transaction() as tx:
        return tx.audit()


def client(engine: Engine, id: str = SUBJECT) -> dict[str, Any]:
    return next(c for c in engine.export()["clients"] if c["id"] == id)


# the language -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30 minutes", 1800), ("1 minute", 60), ("2 hours", 7200), ("1 day", 86400), ("14 days", 14 * 86400), ("3 weeks", 3 * 604800)],
)
def test_a_duration_is_a_whole_number_and_a_unit(written: str, seconds: int) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize(
    "written", ["14", "14d", "14 day", "1 days", "0 days", "two weeks", "14 fortnights", "1.5 hours", "-2 days", "14 days ago", "１４ days"]
)
def test_anything_else_is_not_a_duration(written: str) -> None:
    assert parse_duration(written) is None


def test_the_model_holds_each_delayed_part_as_plain_data(tmp_path: Path) -> None:
    engine = open_delayed(delayed_project(tmp_path), "memory")
    outcome = engine.project.flow("deactivate-client").outcome
    (effect,) = outcome.effects
    assert effect.after is not None and (effect.after.written, effect.after.seconds, effect.after.at) == ("14 days", 14 * 86400, None)
    assert effect.after.unless is not None and effect.after.unless.source == "client.owner is not none"
    practice = next(e for e in outcome.emails if e.template == "deactivate-practice")
    assert practice.after is not None and practice.after.seconds == 7200 and practice.after.unless is None
    assert all(e.after is None for e in outcome.emails if e.template != "deactivate-practice")
    assert outcome.delayed and engine.project.flow("keep-client").outcome.cancel == ("deactivate-client",)
    assert not engine.project.flow("reactivate-client").outcome.delayed


@pytest.mark.parametrize(
    ("effect", "key", "words"),
    [
        (DELAYED_EFFECT.replace("14 days", "14d"), "after", "is not a duration such as `14 days`"),
        (DELAYED_EFFECT.replace("14 days", "1 days"), "after", "is not a duration"),
        (DELAYED_EFFECT.replace("14 days", "99999 weeks"), "after", "longer than a hundred years"),
        (DELAYED_EFFECT.replace("14 days", "nowhere.date"), "after", "nowhere"),
        (DELAYED_EFFECT.replace("client.owner is not none", "client.ownr is not none"), "unless", "ownr"),
        (DELAYED_EFFECT.replace("      after: 14 days\n", ""), "unless", "add after:"),
    ],
    ids=["unit-glued", "plural", "too-long", "unknown-name", "unless-typo", "unless-alone"],
)
def test_a_wrong_after_or_unless_is_a_located_error(tmp_path: Path, effect: str, key: str, words: str) -> None:
    root = delayed_project(tmp_path, effect=effect)
    with pytest.raises(DefinitionError) as caught:
        Engine.open(root, data=root / "data" / "demo.yaml", notifiers={})
    (problem,) = [p for p in caught.value.problems if words in p.message]
    text = (root / "flows" / "deactivate-client.yaml").read_text(encoding="utf-8").splitlines()
    assert problem.location is not None and problem.location.path.endswith("deactivate-client.yaml")
    assert text[problem.location.line - 1].lstrip().startswith(f"{key}:")


def test_cancel_names_a_flow_of_the_project(tmp_path: Path) -> None:
    root = delayed_project(tmp_path, keep=KEEP.replace("cancel: [deactivate-client]", "cancel: [deactivate-clinet]"))
    result = invoke("validate", "--project", root)
    assert result.exit_code == ExitCode.ERROR, result.output
    message = plain(result.output + result.stderr)
    line = KEEP.splitlines().index("  cancel: [deactivate-client]") + 1
    assert (
        f"keep-client.yaml:{line}:12: outcome.cancel[0]: unknown flow 'deactivate-clinet'" in message
        and "deactivate-clinet" in message
        and "did you mean" in message
    )


# the plan ---------------------------------------------------------------------------
def test_a_dry_run_lists_the_delayed_parts_and_applies_none_of_them(tmp_path: Path) -> None:
    engine = open_delayed(delayed_project(tmp_path), "memory")
    plan = engine.simulate("deactivate-client", ACTOR, SUBJECT, {"notify_client": True})
    assert plan.status == "completed" and plan.changes == []
    assert [e.template for e in plan.emails] == ["deactivate-client"]  # the client's email goes now, the practice's later
    scheduled = plan.to_json()["scheduled"]
    assert [{k: item[k] for k in ("kind", "due", "what", "unless")} for item in scheduled] == [
        {"kind": "effect", "due": (NOW + timedelta(days=14)).isoformat(), "what": {"op": "update", "entity": "client", "field": "subscription"},
         "unless": "client.owner is not none"},
        {"kind": "email", "due": (NOW + timedelta(hours=2)).isoformat(), "what": {"template": "deactivate-practice"}, "unless": None},
    ]  # fmt: skip
    # and, as the contract has it, each part's time and what it would change or send were it due now
    assert [item["at"] for item in scheduled] == [(NOW + timedelta(days=14)).isoformat(), (NOW + timedelta(hours=2)).isoformat()]
    assert scheduled[0]["changes"] == [{"op": "update", "entity": "client", "id": "c1", "field": "subscription", "before": "active", "after": "deactivated"}]
    assert scheduled[0]["emails"] == [] and scheduled[1]["changes"] == []
    assert [e["template"] for e in scheduled[1]["emails"]] == ["deactivate-practice"]
    assert pending(engine) == []


def test_a_flow_without_delays_plans_an_empty_schedule(tmp_path: Path) -> None:
    engine = open_delayed(delayed_project(tmp_path), "memory")
    plan = engine.simulate("reactivate-client", ACTOR, "c3")
    assert plan.to_json()["scheduled"] == []


def test_after_may_be_an_expression_giving_a_time(tmp_path: Path) -> None:
    root = delayed_project(tmp_path, effect=DELAYED_EFFECT.replace("after: 14 days", "after: \"now.date ~ 'T18:00:00Z'\""))
    plan = open_delayed(root, "memory").simulate("deactivate-client", ACTOR, SUBJECT)
    assert plan.to_json()["scheduled"][0]["due"] == NOW.replace(hour=18, minute=0, second=0).isoformat()


def test_an_expression_that_gives_no_time_is_an_error_naming_where(tmp_path: Path) -> None:
    root = delayed_project(tmp_path, effect=DELAYED_EFFECT.replace("after: 14 days", "after: client.name"))
    with pytest.raises(RunError, match=r"deactivate-client\.yaml:\d+:\d+: after: client.name gave 'Acme Ltd', not an ISO 8601 time"):
        open_delayed(root, "memory").simulate("deactivate-client", ACTOR, SUBJECT)


def test_the_text_plan_says_what_is_scheduled_and_when(tmp_path: Path) -> None:
    root = delayed_project(tmp_path)
    args = ("simulate", "deactivate-client", "--project", root, "--data", root / "data" / "demo.yaml", "--actor", ACTOR, "--client", SUBJECT)
    result = invoke(*args, "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    text = plain(result.output)
    assert f"Scheduled: update client.subscription on {(NOW + timedelta(days=14)).isoformat()} (unless client.owner is not none)" in text
    assert f"Scheduled: email deactivate-practice on {(NOW + timedelta(hours=2)).isoformat()}" in text
    document = json.loads(invoke(*args, "--now", NOW.isoformat(), "--format", "json").output)
    assert [item["kind"] for item in document["scheduled"]] == ["effect", "email"]


# the commit ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_commit_writes_the_delayed_parts_with_the_run_and_does_none_of_them(tmp_path: Path, backend: str) -> None:
    engine = open_delayed(delayed_project(tmp_path), backend)
    plan = engine.apply("deactivate-client", ACTOR, SUBJECT, {"notify_client": True}, deliver=False)
    assert plan is not None and plan.status == "completed" and plan.run
    assert client(engine)["subscription"] == "active"
    rows = pending(engine)
    assert [(r["kind"], r["due"], r["status"], r["flow"], r["subject"], r["actor"], r["run"]) for r in rows] == [
        ("email", (NOW + timedelta(hours=2)).isoformat(), "pending", "deactivate-client", SUBJECT, ACTOR, plan.run),
        ("effect", (NOW + timedelta(days=14)).isoformat(), "pending", "deactivate-client", SUBJECT, ACTOR, plan.run),
    ]
    (entry,) = [e for e in audit(engine) if e["run"] == plan.run]
    assert entry["scheduled"] == [r["id"] for r in sorted(rows, key=lambda r: r["kind"] != "effect")]
    with engine.storage.transaction() as tx:
        assert [m["email"]["template"] for m in tx.outbox()] == []  # no notifier: nothing queued; the practice's email waits
    engine.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_cancel_cancels_the_pending_work_of_the_named_flow_for_the_same_subject_only(tmp_path: Path, backend: str) -> None:
    engine = open_delayed(delayed_project(tmp_path), backend)
    first = engine.apply("deactivate-client", ACTOR, SUBJECT, deliver=False)
    other = engine.apply("deactivate-client", ACTOR, "c2", deliver=False)
    assert first is not None and other is not None
    kept = engine.apply("keep-client", ACTOR, SUBJECT, deliver=False)
    assert kept is not None and kept.status == "completed"
    statuses = {(r["subject"], r["kind"]): r["status"] for r in pending(engine)}
    assert statuses == {(SUBJECT, "effect"): "cancelled", (SUBJECT, "email"): "cancelled", ("c2", "effect"): "pending", ("c2", "email"): "pending"}
    (entry,) = [e for e in audit(engine) if e["run"] == kept.run]
    assert sorted(entry["cancelled"]) == sorted(r["id"] for r in pending(engine) if r["subject"] == SUBJECT)
    engine.close()


def test_a_blocked_run_schedules_nothing(tmp_path: Path) -> None:
    engine = open_delayed(delayed_project(tmp_path), "memory")
    plan = engine.apply("deactivate-client", "u3", SUBJECT, deliver=False)
    assert plan is not None and plan.status == "blocked" and plan.to_json()["scheduled"] == []
    assert pending(engine) == []


# a database made before scheduled work existed -------------------------------------------
def test_a_sqlite_database_without_the_scheduled_table_gains_it_when_opened(tmp_path: Path) -> None:
    import sqlite3

    from clientflow.plugins import Registry

    path = tmp_path / "old.db"
    storage = Registry.collect().storage("sqlite", path=str(path))
    with storage.transaction(write=True) as tx:
        tx.set_meta("kept", "yes")
    storage.close()
    with sqlite3.connect(path) as conn:  # as a database written before the table existed
        conn.execute("DROP TABLE scheduled")
    storage = Registry.collect().storage("sqlite", path=str(path))
    with storage.transaction(write=True) as tx:
        assert isinstance(tx, SchedulingTransaction) and tx.get_meta("kept") == "yes"
        tx.add_scheduled([{"id": "w1", "due": "2025-03-15T00:00:00+00:00", "subject": "s", "flow": "f", "status": "pending"}])
    with storage.transaction() as tx:
        assert isinstance(tx, SchedulingTransaction) and [i["id"] for i in tx.scheduled()] == ["w1"]
    storage.close()


def test_a_postgresql_schema_without_the_scheduled_table_gains_it_when_opened(postgres_url: str, postgres_schema: str) -> None:
    import psycopg

    from clientflow.plugins import Registry

    storage = Registry.collect().storage("postgresql", url=postgres_url, schema=postgres_schema)
    with storage.transaction(write=True) as tx:
        tx.set_meta("kept", "yes")
    storage.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{postgres_schema}".scheduled')
    storage = Registry.collect().storage("postgresql", url=postgres_url, schema=postgres_schema)
    with storage.transaction(write=True) as tx:
        assert isinstance(tx, SchedulingTransaction) and tx.get_meta("kept") == "yes"
        tx.add_scheduled([{"id": "w1", "due": "2025-03-15T00:00:00+00:00", "subject": "s", "flow": "f", "status": "pending"}])
    with storage.transaction() as tx:
        assert isinstance(tx, SchedulingTransaction) and [i["id"] for i in tx.scheduled()] == ["w1"]
    storage.close()


# the duration reader, against any text --------------------------------------------------
UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}


@given(st.one_of(st.text(max_size=24), st.from_regex(r"\A[0-9]{1,3}[ \t]{0,2}(minute|hour|day|week|fortnight)s?[ ]?\Z")))
@settings(max_examples=400, deadline=None)
def test_a_duration_is_read_only_when_it_is_exactly_a_count_and_a_unit(text: str) -> None:
    seconds = parse_duration(text)
    parts = text.split()
    exact = (
        len(parts) == 2
        and parts[0].isascii()
        and parts[0].isdigit()
        and int(parts[0]) > 0
        and parts[1] == (next(iter(u for u in UNITS if parts[1] in (u, u + "s")), "") + ("s" if int(parts[0]) != 1 else ""))
    )
    assert (seconds is not None) == exact
    if seconds is not None:
        assert seconds == int(parts[0]) * UNITS[parts[1].removesuffix("s")]


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(sorted(UNITS)))
def test_every_well_written_duration_is_read(count: int, unit: str) -> None:
    assert parse_duration(f"{count} {unit}{'' if count == 1 else 's'}") == count * UNITS[unit]


def test_the_http_plan_shows_the_delayed_parts_as_openapi_documents_them(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from clientflow.tokens import mint
    from clientflow.web import WebSettings, create_app, models

    root, secret = delayed_project(tmp_path), "K3vQ9xLm2ZpW7rTb5NcY8hJd4FsG6aUe1oXi0kVnR-w"
    headers = {"Authorization": f"Bearer {mint(secret, ACTOR, ttl=3600)}"}
    app = create_app(WebSettings(project=root, data=root / "data" / "demo.yaml", secret=secret, now=NOW, outbox=tmp_path / "outbox"))
    with TestClient(app) as api:
        run = api.post("/flows/deactivate-client/runs", json={"client": SUBJECT, "answers": {"notify_client": True}}, headers=headers).json()["run"]
        plan = api.get(f"/runs/{run}/plan", headers=headers).json()
        documented = api.get("/openapi.json").json()["components"]["schemas"]
    assert [(item["kind"], item["at"]) for item in plan["scheduled"]] == [
        ("effect", (NOW + timedelta(days=14)).isoformat()), ("email", (NOW + timedelta(hours=2)).isoformat())
    ]  # fmt: skip
    assert plan["scheduled"][0]["changes"][0]["after"] == "deactivated"
    assert [e["template"] for e in plan["scheduled"][1]["emails"]] == ["deactivate-practice"]
    assert models.Plan.model_validate(plan).scheduled[1].emails[0].template == "deactivate-practice"
    assert documented["Plan"]["properties"]["scheduled"]["items"] == {"$ref": "#/components/schemas/ScheduledPart"}
    assert set(documented["ScheduledPart"]["required"]) == {"kind", "at", "due", "what", "unless", "changes", "emails"}
