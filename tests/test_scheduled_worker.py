"""Scheduled work carried out by `clientflow worker --once`: when due, exactly once, every rule checked again.

On the copy of the fixture project of test_scheduled.py: deactivate-client deactivates 14 days
after the commit (unless the client has an owner by then) and emails the practice 2 hours after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import invoke, plain
from conftest import NOW
from test_scheduled import ACTOR, SUBJECT, audit, client, delayed_project, open_delayed, pending

from clientflow import Engine
from clientflow.runtime.due import carry_out, claim
from clientflow.storage import Document

LATER = NOW + timedelta(hours=3)  # the practice's email is due, the deactivation not yet
DUE = NOW + timedelta(days=14, minutes=1)  # both are due


def at(engine: Engine, moment: datetime) -> Engine:
    engine.clock.fixed = moment
    return engine


def entries(engine: Engine) -> list[dict[str, Any]]:
    return [e for e in audit(engine) if "kind" in e]  # the audit entries of scheduled work


def edit_client(engine: Engine, **changes: Any) -> None:
    with engine.storage.transaction(write=True) as tx:
        found = tx.get("clients", SUBJECT, lock=True)
        assert found is not None
        tx.put(Document("clients", SUBJECT, {**found.body, **changes}, found.version), None, expect_version=found.version)


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = open_delayed(delayed_project(tmp_path), request.param)
    plan = engine.apply("deactivate-client", ACTOR, SUBJECT, {"notify_client": True}, deliver=False)
    assert plan is not None and plan.status == "completed"
    yield engine
    engine.close()


def test_nothing_is_done_before_it_is_due(engine: Engine) -> None:
    report = carry_out(at(engine, NOW + timedelta(hours=1)).runner)
    assert report.to_json() == {"applied": [], "dropped": [], "retry": []}
    assert {r["status"] for r in pending(engine)} == {"pending"} and entries(engine) == []


def test_each_part_is_applied_when_due_and_only_once(engine: Engine) -> None:
    email, effect = pending(engine)
    assert carry_out(at(engine, LATER).runner).applied == [email["id"]]
    assert client(engine)["subscription"] == "active"
    assert carry_out(at(engine, DUE).runner).applied == [effect["id"]]
    assert client(engine)["subscription"] == "deactivated"
    assert carry_out(at(engine, DUE + timedelta(days=1)).runner).applied == []
    done = entries(engine)
    assert [(e["scheduled"], e["status"], e["kind"]) for e in done] == [(email["id"], "applied", "email"), (effect["id"], "applied", "effect")]
    assert done[1]["changes"] == [{"op": "update", "entity": "client", "id": SUBJECT, "field": "subscription", "before": "active", "after": "deactivated"}]
    assert [r["status"] for r in pending(engine)] == ["done", "done"]


def test_a_due_email_goes_into_the_outbox_once_per_notifier(tmp_path: Path) -> None:
    root = delayed_project(tmp_path)
    engine = open_delayed(root, "sqlite")
    engine.notifiers["record"] = _Nobody()
    engine.apply("deactivate-client", ACTOR, SUBJECT, deliver=False)
    with engine.storage.transaction() as tx:
        assert tx.outbox() == []
    carry_out(at(engine, LATER).runner)
    carry_out(at(engine, LATER).runner)
    with engine.storage.transaction() as tx:
        (row,) = tx.outbox()
    assert row["email"]["template"] == "deactivate-practice" and row["email"]["to"] == ["alice@northwind.example"]
    assert row["notifier"] == "record" and row["status"] == "pending"
    engine.close()


class _Nobody:
    name = "record"

    def send(self, email: object) -> None:
        raise AssertionError("delivery is not part of these tests")


def test_a_rule_that_no_longer_holds_drops_the_part_with_an_audit_entry_saying_why(engine: Engine) -> None:
    edit_client(engine, billing="self_paying")  # paid-by-practice no longer holds
    report = carry_out(at(engine, DUE).runner)
    assert report.applied == [] and len(report.dropped) == 2
    assert client(engine)["subscription"] == "active"
    for entry in entries(engine):
        assert entry["status"] == "dropped" and entry["changes"] == []
        assert [b["rule"] for b in entry["blocked_by"]] == ["paid-by-practice"] and "paid-by-practice" in entry["reason"]
    assert {r["status"] for r in pending(engine)} == {"dropped"}


def test_unless_is_checked_on_what_is_stored_when_due(engine: Engine) -> None:
    edit_client(engine, owner="cu1")
    report = carry_out(at(engine, DUE).runner)
    (dropped,) = report.dropped
    assert dropped["reason"] == "unless client.owner is not none held" and len(report.applied) == 1  # the email has no unless
    assert client(engine)["subscription"] == "active"


def test_the_actor_must_still_be_allowed(engine: Engine) -> None:
    with engine.storage.transaction(write=True) as tx:
        found = tx.get("partners", "p1", lock=True)
        assert found is not None
        users = [dict(u, role="standard") if u["id"] == ACTOR else u for u in found.body["users"]]
        tx.put(Document("partners", "p1", {**found.body, "users": users}, found.version), None, expect_version=found.version)
    report = carry_out(at(engine, DUE).runner)
    assert report.applied == [] and all("practice-administrator" in d["reason"] for d in report.dropped) and len(report.dropped) == 2


def test_cancelled_work_is_never_carried_out(engine: Engine) -> None:
    kept = engine.apply("keep-client", ACTOR, SUBJECT, deliver=False)
    assert kept is not None and kept.status == "completed"
    assert carry_out(at(engine, DUE).runner).to_json() == {"applied": [], "dropped": [], "retry": []}
    assert client(engine)["subscription"] == "active" and entries(engine) == []


def test_a_claim_whose_worker_died_is_taken_again_after_its_lease(engine: Engine) -> None:
    email, effect = pending(engine)
    (taken,) = claim(engine.storage, DUE, "dead-worker", limit=1, lease_seconds=600)  # claimed, then nothing: the worker died
    assert taken["id"] == email["id"]
    assert carry_out(at(engine, DUE + timedelta(minutes=5)).runner, lease_seconds=600).applied == [effect["id"]]
    late = carry_out(at(engine, DUE + timedelta(minutes=11)).runner, lease_seconds=600)  # taken again, and its rules checked again:
    assert [d["id"] for d in late.dropped] == [email["id"]] and "active-subscription" in late.dropped[0]["reason"]  # now deactivated
    assert Counter(e["scheduled"] for e in entries(engine)) == {email["id"]: 1, effect["id"]: 1}


# several workers ---------------------------------------------------------------------------
def _many(engine: Engine, count: int) -> None:
    for _ in range(count):  # the deactivation waits, so the flow stays offered: each commit schedules two parts
        plan = engine.apply("deactivate-client", ACTOR, SUBJECT, deliver=False)
        assert plan is not None and plan.status == "completed"


def _race(engines: list[Engine]) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def work(engine: Engine) -> None:
        try:
            start.wait()
            reports.append(carry_out(at(engine, DUE).runner, worker=f"w{id(engine)}").to_json())
        except BaseException as exc:  # noqa: BLE001 - a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [] and not any(t.is_alive() for t in threads)
    return reports


def _exactly_once(engine: Engine, reports: list[dict[str, Any]], count: int) -> None:
    items = pending(engine)
    assert len(items) == 2 * count and {i["status"] for i in items} <= {"done", "dropped"}
    per_item = Counter(e["scheduled"] for e in entries(engine))
    assert per_item == {i["id"]: 1 for i in items}  # one audit entry per item: carried out once
    applied = [i for r in reports for i in r["applied"]]
    assert len(applied) == len(set(applied)) == sum(1 for i in items if i["status"] == "done")
    effects = [i for i in items if i["kind"] == "effect"]
    assert sum(1 for i in effects if i["status"] == "done") == 1  # the first deactivates; after it active-subscription fails
    assert all("active-subscription" in i["reason"] for i in effects if i["status"] == "dropped")
    assert client(engine)["subscription"] == "deactivated"


def test_two_workers_on_sqlite_carry_out_each_item_exactly_once(tmp_path: Path) -> None:
    root = delayed_project(tmp_path)
    first = open_delayed(root, "sqlite")
    _many(first, 12)
    second = open_delayed(root, "sqlite")
    reports = _race([first, second])
    _exactly_once(first, reports, 12)
    first.close()
    second.close()


def test_two_workers_on_postgresql_carry_out_each_item_exactly_once(tmp_path: Path, postgres_url: str, postgres_schema: str) -> None:
    root = delayed_project(tmp_path)
    env = {"CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema}
    first = Engine.open(root, env=env, notifiers={}, now=NOW)
    first.load_data(root / "data" / "demo.yaml")
    _many(first, 12)
    second = Engine.open(root, env=env, notifiers={}, now=NOW)
    reports = _race([first, second])
    _exactly_once(first, reports, 12)
    assert all(r["applied"] or r["dropped"] for r in reports) or len(reports) == 2
    first.close()
    second.close()


# the command -------------------------------------------------------------------------
def _worker(root: Path, now: datetime, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    if fault:
        env["CLIENTFLOW_FAULT"] = fault
    args = [sys.executable, "-m", "clientflow", "worker", "--once", "--project", str(root), "--db", str(root / "clientflow.db")]
    args += ["--now", now.isoformat(), "--format", "json"]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=root)


def test_worker_once_carries_out_what_is_due_at_now(tmp_path: Path) -> None:
    root = delayed_project(tmp_path)
    engine = open_delayed(root, "sqlite")
    engine.apply("deactivate-client", ACTOR, SUBJECT, deliver=False)
    engine.close()
    early = invoke("worker", "--once", "--project", root, "--db", root / "clientflow.db", "--now", (NOW + timedelta(days=13)).isoformat(), "--format", "json")
    assert early.exit_code == 0, early.output
    assert json.loads(early.stdout)["scheduled"] == {"applied": 1, "dropped": 0, "retry": 0}  # the email, due after 2 hours
    done = invoke("worker", "--once", "--project", root, "--db", root / "clientflow.db", "--now", DUE.isoformat(), "--format", "json")
    assert json.loads(done.stdout)["scheduled"] == {"applied": 1, "dropped": 0, "retry": 0}
    engine = open_delayed(root, "sqlite")
    assert client(engine)["subscription"] == "deactivated"
    engine.close()


def test_a_worker_killed_while_holding_an_item_leaves_it_to_be_taken_after_its_lease(tmp_path: Path) -> None:
    root = delayed_project(tmp_path)
    engine = open_delayed(root, "sqlite")
    engine.apply("deactivate-client", ACTOR, SUBJECT, deliver=False)
    engine.close()
    for minutes, fault in ((0, "scheduled-claimed"), (6, "scheduled-before-commit")):  # the second after the first one's lease
        killed = _worker(root, DUE + timedelta(minutes=minutes), fault)
        assert killed.returncode == 97, killed.stderr  # faults.EXIT_CODE: ended as a power cut would
    engine = open_delayed(root, "sqlite")
    assert client(engine)["subscription"] == "active" and entries(engine) == []
    assert all(r["status"] == "pending" and r["lease"] for r in pending(engine))
    engine.close()
    soon = _worker(root, DUE + timedelta(minutes=7))
    assert soon.returncode == 0 and "scheduled" not in json.loads(soon.stdout)  # nothing due: still leased to the dead worker
    after = _worker(root, DUE + timedelta(minutes=12))
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["scheduled"] == {"applied": 2, "dropped": 0, "retry": 0}
    engine = open_delayed(root, "sqlite")
    assert client(engine)["subscription"] == "deactivated"
    assert Counter(e["scheduled"] for e in entries(engine)) == {r["id"]: 1 for r in pending(engine)}
    engine.close()


# clientflow scheduled ------------------------------------------------------------------
def _listed(root: Path, *args: object) -> Any:
    result = invoke("scheduled", "--project", root, "--db", root / "clientflow.db", *args)
    assert result.exit_code == 0, result.output
    return result


def test_scheduled_lists_the_pending_work_soonest_first(tmp_path: Path) -> None:
    root = delayed_project(tmp_path)
    engine = open_delayed(root, "sqlite")
    one = engine.apply("deactivate-client", ACTOR, SUBJECT, deliver=False)
    two = engine.apply("deactivate-client", ACTOR, "c2", deliver=False)
    assert one is not None and two is not None
    engine.close()
    items = json.loads(_listed(root, "--format", "json", "--now", LATER.isoformat()).stdout)["scheduled"]
    assert [(i["at"], i["id"]) for i in items] == sorted((i["at"], i["id"]) for i in items)  # soonest first, then by id
    assert {(i["flow"], i["subject"], i["kind"], i["at"], i["due"], i["run"]) for i in items} == {
        ("deactivate-client", SUBJECT, "email", (NOW + timedelta(hours=2)).isoformat(), True, one.run),
        ("deactivate-client", "c2", "email", (NOW + timedelta(hours=2)).isoformat(), True, two.run),
        ("deactivate-client", SUBJECT, "effect", (NOW + timedelta(days=14)).isoformat(), False, one.run),
        ("deactivate-client", "c2", "effect", (NOW + timedelta(days=14)).isoformat(), False, two.run),
    }
    assert all(isinstance(i["id"], str) and i["id"] for i in items)
    only = json.loads(_listed(root, "--format", "json", "--subject", "c2").stdout)["scheduled"]
    assert [i["id"] for i in only] == [i["id"] for i in items if i["subject"] == "c2"]
    assert json.loads(_listed(root, "--format", "json", "--flow", "keep-client").stdout) == {"scheduled": []}
    text = plain(_listed(root, "--now", LATER.isoformat()).output)
    assert f"{(NOW + timedelta(days=14)).isoformat()}  deactivate-client on c2: update client.subscription  unless client.owner is not none" in text
    assert "4 pending." in text and text.count("(due)") == 2
    assert _worker(root, DUE).returncode == 0
    assert plain(_listed(root).output).strip() == "nothing scheduled"


def test_scheduled_with_an_unknown_flow_says_which_it_meant(tmp_path: Path) -> None:
    root = delayed_project(tmp_path)
    open_delayed(root, "sqlite").close()
    result = invoke("scheduled", "--project", root, "--db", root / "clientflow.db", "--flow", "deactivate-clinet")
    assert result.exit_code == 1 and "deactivate-client" in plain(result.output + result.stderr)
