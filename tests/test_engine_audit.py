"""The audit log: committed, blocked and cancelled attempts, each with its time from the engine's one clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from conftest import open_engine

from clientflow import Engine

CLOCK = datetime(2031, 7, 4, 16, 45, 12)  # naive: the engine takes it as UTC


def entries(engine: Engine) -> list[dict[str, object]]:
    return [{k: e[k] for k in ("status", "actor", "flow", "subject", "answers", "time")} for e in engine.audit_log()]


def test_every_attempt_is_recorded_with_the_clocks_time(embedded: str, tmp_path: Path) -> None:
    engine = open_engine(embedded, tmp_path, now=CLOCK)
    committed = engine.start("disconnect-client", "alice@northwind.example", "Acme Ltd", {"owner": "dev@acme.example"})
    plan = engine.commit(committed.run)
    engine.start("deactivate-client", "u2", "c2")  # blocked at the start
    engine.apply("delete-client", "u1", "c3", {"confirm_name": "Sunset Cafe"})  # blocked in one go
    cancelled = engine.start("deactivate-client", "u1", "c2")
    engine.submit(cancelled.run, {"reason": "Changed my mind"})
    engine.cancel(cancelled.run)
    engine.simulate("reactivate-client", "u1", "c3")  # a dry-run records nothing
    engine.apply("deactivate-client", "u1", "c2", {"reason": "x" * 5000})  # invalid: nothing to record

    time = "2031-07-04T16:45:12+00:00"
    assert entries(engine) == [
        {"status": "completed", "actor": "u1", "flow": "disconnect-client", "subject": "c1", "answers": {"reason": None, "owner": "cu2"}, "time": time},
        {"status": "blocked", "actor": "u2", "flow": "deactivate-client", "subject": "c2", "answers": {}, "time": time},
        {"status": "blocked", "actor": "u1", "flow": "delete-client", "subject": "c3", "answers": {}, "time": time},
        {"status": "cancelled", "actor": "u1", "flow": "deactivate-client", "subject": "c2", "answers": {"reason": "Changed my mind"}, "time": time},
    ]
    log = engine.audit_log()
    assert log[0]["changes"] == [c.to_json() for c in plan.changes] != []
    assert log[0]["summary"] == "alice@northwind.example disconnected Acme Ltd (c1); owner cu2"
    assert log[0]["run"] == committed.run and log[3]["run"] == cancelled.run
    assert [b["rule"] for b in log[1]["blocked_by"]] == ["practice-administrator"]
    assert [b["rule"] for b in log[2]["blocked_by"]] == ["no-users"]
    assert all(e["changes"] == [] for e in log[1:])
    assert len({e["id"] for e in log}) == 4


def test_the_dry_run_shows_the_audit_entry_the_commit_writes(embedded: str, tmp_path: Path) -> None:
    engine = open_engine(embedded, tmp_path)
    answers = {"notify_client": True}
    promised = engine.simulate("deactivate-client", "u1", "c1", answers).audit
    engine.apply("deactivate-client", "u1", "c1", answers)
    written = engine.audit_log()[-1]
    assert {k: written[k] for k in promised} == promised
    assert promised["answers"] == {"reason": None, "notify_client": True}


def test_the_clock_is_the_engines_own(embedded: str, tmp_path: Path) -> None:
    later = datetime(2040, 1, 1, 0, 0, 1)
    engine = open_engine(embedded, tmp_path, now=later)
    view = engine.start("reactivate-client", "u1", "c3")
    engine.cancel(view.run)
    assert engine.audit_log()[-1]["time"] == "2040-01-01T00:00:01+00:00"
    assert engine.clock.now().isoformat() == "2040-01-01T00:00:01+00:00"
