"""Crash consistency: a commit killed at every boundary leaves all or nothing, and mail goes out once.

For every shipped flow (and one test flow that writes two records) and every
fault point of `engine/faults.py`, `clientflow run ... --yes` runs in a
subprocess against a SQLite file with CLIENTFLOW_FAULT naming the point, and
dies there (`os._exit`). Afterwards the data is either entirely as before or
entirely as after, the audit log agrees with it, and once delivery restarts
(`clientflow outbox --retry`) every email is in the outbox folder exactly
once, by Message-ID — even when the crash came after a file was written and
before its outbox row was marked sent.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import copy_project, invoke
from conftest import DEMO, PROJECT, figures

from clientflow import Engine
from clientflow.faults import EXIT_CODE, POINTS

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
LATER = NOW + timedelta(days=1)  # past every delivery lease taken at NOW
BOUND = 60  # seconds a crashed run may take at most (it takes about one)

# Which fault points leave the change out (the transaction never committed) and which leave it in.
BEFORE = {"after-recheck", "between-writes", "before-commit"}
AFTER = {"after-commit", "after-send", "after-send#2"}

TWO_RECORDS = """\
id: two-records
title: Change two records
summary: A test flow whose commit writes two top-level records.
subject: client
steps:
  - id: go
    kind: info
    title: Change {{ client.name }} and its practice
outcome:
  effects:
    - {op: update, field: subscription, to: "'deactivated'"}
    - {op: update, entity: partner, id: client.partner, field: name, to: "partner.name ~ ' (changed)'"}
  emails:
    - template: reactivate-client
      to: actor.email
    - template: deactivate-client
      to: client.users | map(attribute='email') | list
  banner: Two records changed.
  reversible: true
  audit: "two records of {{ client.id }}"
"""


@dataclass(frozen=True)
class Case:
    flow: str
    actor: str
    subject: str
    answers: dict[str, Any] = field(default_factory=dict)
    project: str = "accounts"  # "accounts" (the fixture project), or "extra" for the copy holding the two-records flow


CASES = [
    Case("disconnect-client", "alice@northwind.example", "Acme Ltd", {"reason": "Moving on", "owner": "carla@acme.example"}),
    Case("delete-client", "alice@northwind.example", "c2", {"confirm_name": "Empty Shell Co"}),
    Case("deactivate-client", "u1", "c1", {"reason": "Seasonal", "notify_client": True}),
    Case("disconnect-self-paying-client", "u1", "c4", {"owner": "cu4"}),
    Case("reactivate-client", "alice@northwind.example", "c3"),
    Case("invite-accountant", "finn@freeform.example", "c5", {"partner": "p2"}),
    Case("two-records", "u1", "c1", project="extra"),
]
FIXTURE_FLOWS = {p.stem for p in (PROJECT / "flows").glob("*.yaml")} - {"project", "rules"}

TALLY: Counter[str] = Counter()
CRASHED: set[str] = set()  # the flows crashed so far


def _figures() -> str:
    return (
        f"crash consistency: {TALLY['faults']} faults injected in {len(CRASHED)} flows at {len(POINTS)} points, "
        f"{TALLY['survived']} survived (data all-or-nothing, audit agreeing, {TALLY['emails']} emails delivered exactly once)"
    )


summary = figures(_figures)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    extra = copy_project(tmp_path_factory.mktemp("extra") / "project")
    (extra / "flows" / "two-records.yaml").write_text(TWO_RECORDS, encoding="utf-8")
    return {"accounts": PROJECT, "extra": extra}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory, projects: dict[str, Path]) -> Path:
    """The demo data in a SQLite file, made once and copied for each crash."""
    path = tmp_path_factory.mktemp("template") / "clientflow.db"
    engine = Engine.open(projects["extra"], db=path, now=NOW, notifiers={})
    engine.load_data(DEMO)
    engine.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


def expected(project: Path, case: Case) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The data before and after the case's commit, and the plan, worked out in memory."""
    engine = Engine.open(project, data=DEMO, now=NOW, notifiers={})
    before = engine.export()
    plan = engine.apply(case.flow, case.actor, case.subject, case.answers, deliver=False)
    assert plan is not None and plan.status == "completed", plan and plan.to_json()
    after = engine.export()
    engine.close()
    assert before != after
    return before, after, plan


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    env.update(extra)
    return env


def run_cli(project: Path, db: Path, out: Path, case: Case, fault: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-c", "from clientflow.cli import main; main()", "run", case.flow, "--project", str(project), "--db", str(db)]
    args += ["--actor", case.actor, "--client", case.subject, "--outbox", str(out), "--now", NOW.isoformat(), "--yes", "--format", "json"]
    for name, value in case.answers.items():
        args += ["--answer", f"{name}={'true' if value is True else value}"]
    return subprocess.run(args, env=clean_env(CLIENTFLOW_FAULT=fault), capture_output=True, text=True, timeout=BOUND, cwd=str(db.parent))


def state(project: Path, db: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    engine = Engine.open(project, db=db, now=LATER, notifiers={})
    try:
        with engine.storage.transaction() as tx:
            rows = tx.outbox()
        return engine.export(), engine.audit_log(), rows
    finally:
        engine.close()


def eml_files(out: Path) -> dict[str, list[Path]]:
    """The .eml files of the outbox folder, by their Message-ID header."""
    found: dict[str, list[Path]] = {}
    if out.exists():
        for path in sorted(out.iterdir()):
            assert path.suffix == ".eml", f"a stray file was left in the outbox folder: {path.name}"
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found.setdefault(str(message["Message-ID"]), []).append(path)
    return found


def params() -> list[Any]:
    out = []
    for case in CASES:
        points = [*POINTS]
        if case.flow in ("disconnect-client", "deactivate-client", "disconnect-self-paying-client", "two-records"):
            points.append("after-send#2")  # these send two emails: die after the second as well
        out += [pytest.param(case, point, id=f"{case.flow}-{point}") for point in points]
    return out


def test_every_shipped_flow_is_crash_tested() -> None:
    assert {c.flow for c in CASES if c.project == "accounts"} == FIXTURE_FLOWS


@pytest.mark.parametrize(("case", "point"), params())
def test_a_commit_killed_at_a_fault_point_leaves_all_or_nothing_and_mail_goes_out_once(
    case: Case, point: str, projects: dict[str, Path], template_db: Path, tmp_path: Path
) -> None:
    project = projects[case.project]
    before, after, plan = expected(project, case)
    db, out = tmp_path / "clientflow.db", tmp_path / "outbox"
    shutil.copy2(template_db, db)

    result = run_cli(project, db, out, case, point)
    TALLY["faults"] += 1
    assert result.returncode == EXIT_CODE, f"the fault point {point} was not reached:\n{result.stdout}\n{result.stderr}"

    data, audit, rows = state(project, db)
    completed = [e for e in audit if e["status"] == "completed"]
    if point in BEFORE:
        assert data == before, "a crash before the commit left part of the change behind"
        assert completed == [] and rows == [], "the audit log or the outbox holds a change that did not land"
        assert eml_files(out) == {}
    else:
        assert data == after, "a crash after the commit lost part of the change"
        assert [(e["flow"], e["subject"]) for e in completed] == [(case.flow, plan.audit["subject"])]
        assert completed[0]["changes"] == [c.to_json() for c in plan.changes]
        assert len(rows) == len(plan.emails), "one outbox row per email (one notifier)"

    written = {mid: [p.stat().st_ino for p in paths] for mid, paths in eml_files(out).items()}
    if point.startswith("after-send"):
        sent_before_crash = 2 if point.endswith("#2") else 1
        assert len(written) == sent_before_crash and all(len(v) == 1 for v in written.values())
        assert sum(1 for r in rows if r["status"] == "sending") >= 1, "the crash left a row claimed but not marked sent"

    # restart: the command an operator would run
    restart = invoke("outbox", "--project", project, "--db", db, "--outbox", out, "--now", LATER.isoformat(), "--retry", "--format", "json")
    assert restart.exit_code == 0, restart.output
    again = invoke("outbox", "--project", project, "--db", db, "--outbox", out, "--now", (LATER + timedelta(days=1)).isoformat(), "--retry")
    assert again.exit_code == 0, again.output

    _, _, rows = state(project, db)
    files = eml_files(out)
    assert [r["status"] for r in rows] == ["sent"] * len(rows)
    assert sorted(files) == sorted(r["message_id"] for r in rows), "each queued email is in the folder, and nothing else"
    assert all(len(paths) == 1 for paths in files.values()), "an email was delivered twice"
    if point in AFTER:
        assert len(files) == len(plan.emails)
        for mid, inodes in written.items():  # what was sent before the crash was not written again
            assert [p.stat().st_ino for p in files[mid]] == inodes
        for path in (p for paths in files.values() for p in paths):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert message["X-Clientflow-Run"] == completed[0]["run"]
    TALLY["survived"] += 1
    TALLY["emails"] += len(files)
    CRASHED.add(case.flow)


def test_the_database_takes_the_same_commit_after_a_crash_before_it(projects: dict[str, Path], template_db: Path, tmp_path: Path) -> None:
    """A crash inside the transaction leaves no lock or half-written page behind: the next run completes."""
    case = CASES[0]
    db, out = tmp_path / "clientflow.db", tmp_path / "outbox"
    shutil.copy2(template_db, db)
    assert run_cli(PROJECT, db, out, case, "before-commit").returncode == EXIT_CODE
    TALLY["faults"] += 1
    _, after, plan = expected(PROJECT, case)
    result = run_cli(PROJECT, db, out, case, "")
    assert result.returncode == 0, result.stdout + result.stderr
    data, audit, _ = state(PROJECT, db)
    assert data == after
    assert [e["status"] for e in audit] == ["completed"]
    assert len(eml_files(out)) == len(plan.emails)
    TALLY["survived"] += 1
