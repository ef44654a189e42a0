"""Runs across processes and versions, commits against concurrent changes, and dry-runs that leave SQLite untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, NOW, PROJECT, REPO, Recorder

from clientflow import Engine
from clientflow.errors import DefinitionError, RunError
from clientflow.runtime.data import Records
from clientflow.storage import Document

# a separate Python process: open the SQLite file, do one thing, print JSON
PROCESS = """
import json, sys
from datetime import datetime, timezone
from clientflow import Engine

root, db, action = sys.argv[1:4]
engine = Engine.open(root, db=db, notifiers={}, now=datetime(2025, 3, 14, 9, 26, 53, tzinfo=timezone.utc))
if action == "start":
    view = engine.start("disconnect-client", "u1", "Acme Ltd")
    view = engine.submit(view.run, {})
    print(json.dumps({"pid": __import__("os").getpid(), "view": view.to_json()}))
else:
    run = sys.argv[4]
    seen = engine.view(run)
    engine.submit(run, {"reason": "Retiring"})
    ready = engine.submit(run, {"owner": "carla@acme.example"})
    plan = engine.commit(run, deliver=False)
    print(json.dumps({"pid": __import__("os").getpid(), "seen": seen.to_json(), "ready": ready.status, "plan": plan.to_json()}))
"""


def in_process(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROCESS, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def sqlite_engine(db: Path, *, root: Path = PROJECT, **options: Any) -> Engine:
    options.setdefault("now", NOW)
    options.setdefault("notifiers", {})
    return Engine.open(root, db=db, **options)


def test_a_run_started_in_one_process_is_completed_in_another(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    setup = sqlite_engine(db)
    setup.load_data(DEMO)
    setup.close()

    started = in_process(str(PROJECT), str(db), "start")
    run = started["view"]["run"]
    assert started["view"]["screen"]["step"] == "survey"

    finished = in_process(str(PROJECT), str(db), "finish", run)
    assert finished["pid"] != started["pid"] != os.getpid()
    assert finished["seen"]["screen"]["step"] == "survey"  # it resumed where the other process stopped
    assert finished["ready"] == "ready"
    plan = finished["plan"]
    assert (plan["status"], plan["run"], plan["audit"]["answers"]) == ("completed", run, {"reason": "Retiring", "owner": "cu1"})

    here = sqlite_engine(db)
    acme = next(c for c in here.export()["clients"] if c["id"] == "c1")
    assert (acme["owner"], acme["partner"]) == ("cu1", None)
    assert [(e["run"], e["status"]) for e in here.audit_log()] == [(run, "completed")]
    assert here.view(run).status == "completed"


def copy_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for folder in ("flows", "templates", "schema"):
        shutil.copytree(PROJECT / folder, root / folder)
    return root


def test_resuming_after_the_flow_changed_says_so_when_its_version_is_not_kept(tmp_path: Path) -> None:
    """A run finishes on the version it started under (tests/test_versioned_runs.py); without that version, it is refused."""
    from clientflow.runtime.core import VERSION_KEY

    root = copy_project(tmp_path)
    db = tmp_path / "runs.db"
    first = sqlite_engine(db, root=root)
    first.load_data(DEMO)
    changed = first.submit(first.start("deactivate-client", "u1", "c1").run, {"reason": "Quiet season"})
    untouched = first.start("reactivate-client", "u1", "c3")
    with first.storage.transaction(write=True) as tx:
        tx.set_meta(VERSION_KEY + changed.version, None)
    first.close()

    flow_file = root / "flows" / "deactivate-client.yaml"
    flow_file.write_text(flow_file.read_text(encoding="utf-8").replace("title: Before you go on (optional)", "title: Why? (optional)"), encoding="utf-8")

    second = sqlite_engine(db, root=root)
    for attempt in (
        lambda: second.view(changed.run),
        lambda: second.submit(changed.run, {}),
        lambda: second.back(changed.run),
        lambda: second.plan(changed.run),
    ):
        with pytest.raises(RunError, match=r"the flow deactivate-client changed since run \w+ started .*start it again"):
            attempt()
    assert second.view(untouched.run).screen.step == "confirm"  # type: ignore[union-attr]
    assert second.commit(second.submit(untouched.run, {}).run).status == "completed"
    subscription = {c["id"]: c["subscription"] for c in second.export()["clients"]}
    assert subscription["c1"] == "active"  # the changed run applied nothing

    fresh = second.start("deactivate-client", "u1", "c1")
    assert fresh.screen is not None and fresh.screen.title == "Why? (optional)"


# conflicting changes -----------------------------------------------------------------
def two_engines(tmp_path: Path) -> tuple[Engine, Engine, Recorder]:
    db = tmp_path / "busy.db"
    seen = Recorder()
    a = sqlite_engine(db, notifiers={"record": seen})
    a.load_data(DEMO)
    return a, sqlite_engine(db, notifiers={"record": Recorder()}), seen


def ready_run(engine: Engine, flow: str, subject: str, answers: dict[str, Any]) -> str:
    view = engine.start(flow, "u1", subject, answers)
    assert view.status == "ready", view.to_json()
    return view.run


def snapshot(engine: Engine) -> dict[str, Any]:
    data = engine.export()
    with engine.storage.transaction() as tx:
        return {"data": data, "outbox": tx.outbox()}


def assert_refused(a: Engine, run: str, seen: Recorder, rule: str, words: str) -> None:
    before = snapshot(a)
    plan = a.commit(run)
    assert plan.status == "blocked"
    assert [b["rule"] for b in plan.blocked_by] == [rule]
    assert words in plan.blocked_by[0]["message"]
    assert (plan.changes, plan.emails) == ([], [])
    assert snapshot(a) == before  # nothing changed, nothing queued
    assert seen.sent == []
    entry = a.audit_log()[-1]
    assert (entry["run"], entry["status"], entry["blocked_by"]) == (run, "blocked", plan.blocked_by)
    with pytest.raises(RunError, match="is blocked"):
        a.commit(run)


def test_a_commit_after_the_subject_was_deleted_is_refused(tmp_path: Path) -> None:
    a, b, seen = two_engines(tmp_path)
    run = ready_run(a, "deactivate-client", "c2", {"notify_client": True})
    assert b.apply("deactivate-client", "u1", "c2", {}) is not None  # unrelated noise first
    b_plan = b.apply("delete-client", "u1", "c2", {"confirm_name": "Empty Shell Co"})
    assert b_plan is not None and b_plan.status == "completed"
    assert_refused(a, run, seen, "unchanged-since-start", "client c2 no longer exists")


def test_a_commit_whose_rule_no_longer_holds_is_refused_with_the_rules_message(tmp_path: Path) -> None:
    a, b, seen = two_engines(tmp_path)
    run = ready_run(a, "deactivate-client", "c1", {"notify_client": True})
    other = ready_run(b, "deactivate-client", "c1", {})
    assert b.commit(other).status == "completed"
    assert_refused(a, run, seen, "active-subscription", "Acme Ltd's subscription is already deactivated")


def test_a_commit_after_any_other_change_to_the_subject_is_refused(tmp_path: Path) -> None:
    a, b, seen = two_engines(tmp_path)
    run = ready_run(a, "disconnect-client", "c1", {"owner": "cu2"})
    with b.storage.transaction(write=True) as tx:  # another system renames the client
        current = tx.get("clients", "c1")
        assert current is not None
        body = {**current.body, "name": "Acme Limited"}
        tx.put(Document("clients", "c1", body, 0), Records(b.project, tx).keys("clients", body), expect_version=current.version)
    assert_refused(a, run, seen, "unchanged-since-start", "c1 was changed by someone else after this run started")
    assert {c["id"]: c["partner"] for c in a.export()["clients"]}["c1"] == "p1"


# dry-runs ----------------------------------------------------------------------------------
def fingerprint(db: Path) -> tuple[str, int]:
    wal = db.with_name(db.name + "-wal")
    return hashlib.sha256(db.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


def test_dry_runs_leave_the_sqlite_file_byte_identical(tmp_path: Path) -> None:
    db = tmp_path / "still.db"
    setup = sqlite_engine(db)
    setup.load_data(DEMO)
    run = setup.start("disconnect-client", "u1", "c1", {"reason": "Sold"}).run
    setup.close()
    before = fingerprint(db)
    assert before[1] == 0

    engine = sqlite_engine(db, notifiers={"record": Recorder()})
    for subject in ("c1", "c2", "c3", "c4", "c5", "c7"):
        engine.available("u1", subject)
    assert engine.simulate("disconnect-client", "u1", "c1", {"owner": "cu1"}).status == "completed"
    assert engine.simulate("delete-client", "u1", "c2", {"confirm_name": "Empty Shell Co"}).status == "completed"
    assert engine.simulate("deactivate-client", "u1", "c1", {"notify_client": True}).status == "completed"
    assert engine.simulate("deactivate-client", "u2", "c1").status == "blocked"
    assert engine.simulate("delete-client", "u1", "c2", {"confirm_name": "nope"}).status == "invalid"
    assert engine.plan(run).status == "needs_input"
    assert engine.view(run).screen is not None
    assert engine.deliver().sent == 0
    assert fingerprint(db) == before  # nothing reached the file or its write-ahead log
    engine.close()
    assert fingerprint(db) == before


def test_open_pauses_the_collector_while_loading_and_restores_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from clientflow import api

    seen: list[bool] = []
    real = api.load_project

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "load_project", watched)
    assert gc.isenabled()
    engine = Engine.open(PROJECT, data=DEMO, notifiers={}, now=NOW)
    assert seen == [False] and gc.isenabled() and engine.available("u1", "c1").flows  # paused while loading, collecting again after
    with pytest.raises(DefinitionError):  # a failure while opening (here: no project) leaves the collector as it was
        Engine.open(tmp_path, data=DEMO, notifiers={})
    assert gc.isenabled()
    gc.disable()
    try:
        Engine.open(PROJECT, data=DEMO, notifiers={}, now=NOW)
        assert seen == [False, False, False] and not gc.isenabled()  # a caller's own pause is left as it is
    finally:
        gc.enable()
