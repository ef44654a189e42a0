"""Scheduled work under crashes and races: a due occasion is carried out exactly once, all of it or none.

The fixture project's delete-client is changed to mark the client at once (its subscription
deactivated) and to delete it 14 days later, sending the confirmation at that same time, unless
the client was kept meanwhile; keep-client reactivates it and cancels that pending work.

* Killed at every boundary of the worker's path (the item claimed, the occasion applied but not
  committed, the email written but not marked sent), on SQLite and PostgreSQL: afterwards the
  data is entirely as before or entirely as after, and once a worker runs again the client is
  deleted once, with one audit entry per part, and the confirmation is delivered exactly once.
* One run's parts due together but claimed by two workers (two claims at once on PostgreSQL take
  rows as they meet them, so one may end between the parts): the first worker to reach the
  occasion carries out all of it, the other none of it.
* A keep racing the due deletion (two workers and a process committing keeps, all at once): per
  client exactly one outcome, never half of one: kept (the work cancelled, nothing applied, no
  email) or deleted (the work done once, the keep refused cleanly).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import copy_project
from conftest import NOW

from clientflow import Engine
from clientflow.faults import EXIT_CODE
from clientflow.runtime.due import Carried, _occasion, claim, occasions
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
    - {op: update, field: subscription, to: "'deactivated'"}
    - {op: delete, after: 14 days, unless: client.subscription == 'active'}
  emails:
    - template: delete-confirmation
      to: actor.email
      after: 14 days
      unless: client.subscription == 'active'
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
  effects:
    - {op: update, field: subscription, to: "'active'"}
  cancel: [delete-client]
  reversible: true
  audit: "{{ actor.email }} kept {{ client.name }}"
"""
DUE = NOW + timedelta(days=14)
BOUND = 180  # seconds a worker or a racing process may take at most
CLIENTS = 8


def later_project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    flow = root / "flows" / "delete-client.yaml"
    text = flow.read_text(encoding="utf-8")
    assert OUTCOME in text
    flow.write_text(text.replace(OUTCOME, LATER), encoding="utf-8")
    (root / "flows" / "keep-client.yaml").write_text(KEEP, encoding="utf-8")
    return root


def practice(clients: int) -> dict[str, Any]:
    partners = [
        {
            "id": "p1",
            "name": "Northwind Bookkeeping",
            "users": [{"id": "u1", "name": "Alice Admin", "email": "alice@northwind.example", "role": "administrator"}],
        }
    ]
    empty = [
        {"id": f"e{n}", "name": f"Empty {n} Ltd", "partner": "p1", "billing": "partner", "subscription": "active", "owner": None, "users": []}
        for n in range(clients)
    ]
    return {"partners": partners, "clients": empty}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"CLIENTFLOW_DB": str(tmp_path / "scheduled.db")}
    return {"CLIENTFLOW_DB": request.getfixturevalue("postgres_url"), "CLIENTFLOW_DB_SCHEMA": request.getfixturevalue("postgres_schema")}


class Setting:
    """A project, its database (with every client's deletion pending) and its outbox folder."""

    def __init__(self, tmp_path: Path, storage_env: dict[str, str], clients: int) -> None:
        self.tmp = tmp_path
        self.root = later_project(tmp_path)
        self.outbox = tmp_path / "outbox"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
        self.env.update(storage_env, CLIENTFLOW_NOTIFIERS="outbox", CLIENTFLOW_OUTBOX=str(self.outbox))
        data = tmp_path / "data.json"
        data.write_text(json.dumps(practice(clients)), encoding="utf-8")
        with self.engine() as engine:
            engine.load_data(data)
            for n in range(clients):
                plan = engine.apply("delete-client", "u1", f"e{n}", {"confirm_name": f"Empty {n} Ltd"}, deliver=False)
                assert plan is not None and plan.status == "completed" and len(plan.scheduled) == 2
        self.clients = clients

    def engine(self, now: Any = NOW) -> Engine:
        return Engine.open(self.root, now=now, env=self.env, notifiers={})

    def worker(self, now: Any, fault: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if fault:
            env["CLIENTFLOW_FAULT"] = fault
        args = [sys.executable, "-m", "clientflow", "worker", "--once", "--project", str(self.root), "--now", now.isoformat(), "--format", "json"]
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=BOUND, cwd=self.root)

    def state(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        """The clients, the scheduled items, the audit entries of scheduled work, and the outbox's Message-IDs by file."""
        with self.engine() as engine:
            clients = engine.export()["clients"]
            with engine.storage.transaction() as tx:
                assert isinstance(tx, SchedulingTransaction)
                items = tx.scheduled()
            audit = [e for e in engine.audit_log() if isinstance(e.get("scheduled"), str)]  # the entries of parts carried out or dropped
        files = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(self.outbox.glob("*"))] if self.outbox.is_dir() else []
        return clients, items, audit, [str(m["Message-ID"]) for m in files]


# killed at every boundary ---------------------------------------------------------------
@pytest.mark.parametrize("fault", ["scheduled-claimed", "scheduled-before-commit", "after-send"])
def test_a_worker_killed_at_a_boundary_leaves_all_or_nothing_and_the_deletion_happens_once(tmp_path: Path, storage_env: dict[str, str], fault: str) -> None:
    setting = Setting(tmp_path, storage_env, 1)
    killed = setting.worker(DUE, fault)
    assert killed.returncode == EXIT_CODE, killed.stderr
    clients, items, audit, sent = setting.state()
    if fault == "after-send":  # the occasion committed, then the process died while delivering its email
        assert clients == [] and {i["status"] for i in items} == {"done"} and len(audit) == 2 and len(sent) == 1
    else:  # nothing of the occasion was kept: the client marked, the work pending, no audit, no email
        assert [c["subscription"] for c in clients] == ["deactivated"] and {i["status"] for i in items} == {"pending"}
        assert audit == [] and sent == []
    again = setting.worker(DUE + timedelta(days=1))  # past every lease the dead worker held
    assert again.returncode == 0, again.stderr
    clients, items, audit, sent = setting.state()
    assert clients == [] and {i["status"] for i in items} == {"done"}
    assert Counter(e["scheduled"] for e in audit) == {i["id"]: 1 for i in items}  # each part carried out once
    assert [e["status"] for e in audit] == ["applied", "applied"]
    assert len(sent) == 1 and Counter(sent).most_common(1)[0][1] == 1  # the confirmation, delivered exactly once


def test_the_commit_that_schedules_is_all_or_nothing_with_its_scheduled_work(tmp_path: Path) -> None:
    root = later_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    env.update(CLIENTFLOW_DB=str(tmp_path / "commit.db"), CLIENTFLOW_NOTIFIERS="outbox", CLIENTFLOW_OUTBOX=str(tmp_path / "outbox"))
    data = tmp_path / "data.json"
    data.write_text(json.dumps(practice(1)), encoding="utf-8")
    with Engine.open(root, now=NOW, env=env, notifiers={}) as engine:
        engine.load_data(data)
    for fault in ("after-recheck", "between-writes", "before-commit"):
        args = [sys.executable, "-m", "clientflow", "run", "delete-client", "--project", str(root), "--actor", "u1", "--client", "e0"]
        args += ["--answer", "confirm_name=Empty 0 Ltd", "--yes", "--now", NOW.isoformat()]
        died = subprocess.run(args, env={**env, "CLIENTFLOW_FAULT": fault}, capture_output=True, text=True, timeout=BOUND)
        assert died.returncode == EXIT_CODE, died.stderr
        with Engine.open(root, now=NOW, env=env, notifiers={}) as engine:
            assert engine.export()["clients"][0]["subscription"] == "active" and engine.scheduled() == []  # neither the mark nor the work
    args = [sys.executable, "-m", "clientflow", "run", "delete-client", "--project", str(root), "--actor", "u1", "--client", "e0"]
    args += ["--answer", "confirm_name=Empty 0 Ltd", "--yes", "--now", NOW.isoformat()]
    done = subprocess.run(args, env={**env, "CLIENTFLOW_FAULT": "after-commit"}, capture_output=True, text=True, timeout=BOUND)
    assert done.returncode == EXIT_CODE, done.stderr
    with Engine.open(root, now=NOW, env=env, notifiers={}) as engine:
        assert engine.export()["clients"][0]["subscription"] == "deactivated" and [i["at"] for i in engine.scheduled()] == [DUE.isoformat()] * 2


# a keep racing the due deletion -----------------------------------------------------------
DRIVER = r"""
import json, sys, time
from datetime import datetime
from pathlib import Path
from clientflow import Engine
from clientflow.errors import ClientflowError

spec = json.loads(sys.argv[1])
engine = Engine.open(spec["project"], now=datetime.fromisoformat(spec["now"]))  # the outbox notifier of the environment
barrier = Path(spec["barrier"])
(barrier / f"ready-{spec['me']}").touch()
deadline = time.monotonic() + 60
while len(list(barrier.glob("ready-*"))) < spec["processes"]:
    if time.monotonic() > deadline:
        sys.exit("the other processes never reached the barrier")
    time.sleep(0.002)
results = []
if spec["role"] == "worker":
    report = engine.carry_out()
    results.append({"role": "worker", "applied": report.applied, "dropped": report.dropped, "retry": report.retry})
else:
    for run in spec["runs"]:
        try:
            plan = engine.commit(run["run"])
        except ClientflowError as exc:
            results.append({**run, "outcome": "error", "error": type(exc).__name__, "message": str(exc)})
        else:
            results.append({**run, "outcome": plan.status, "blocked_by": plan.blocked_by})
engine.close()
print(json.dumps(results))
"""


def test_a_keep_racing_the_due_deletion_leaves_exactly_one_outcome_never_half(tmp_path: Path, storage_env: dict[str, str]) -> None:
    setting = Setting(tmp_path, storage_env, CLIENTS)
    with setting.engine(DUE - timedelta(hours=1)) as engine:
        order = list(dict.fromkeys(i["subject"] for i in engine.scheduled()))  # the order the workers take the clients in
        runs = []
        for subject in reversed(order):  # the keepers start from the other end: they meet the workers in the middle
            view = engine.submit(engine.start("keep-client", "u1", subject).run, {})
            assert view.status == "ready", view.to_json()
            runs.append({"subject": subject, "run": view.run})
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    roles = [("worker", []), ("worker", []), ("keeper", runs[::2]), ("keeper", runs[1::2])]
    children = []
    for me, (role, mine) in enumerate(roles):
        spec = {"project": str(setting.root), "now": DUE.isoformat(), "barrier": str(barrier), "me": me, "processes": len(roles), "role": role, "runs": mine}
        children.append(
            subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(spec)], env=setting.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    results: list[dict[str, Any]] = []
    for child in children:
        out, err = child.communicate(timeout=BOUND)
        assert child.returncode == 0, f"a racing process failed (a traceback is never a clean refusal):\n{err}"
        results.extend(json.loads(out))
    # a keep that met the worker's lock and a worker whose item met the keep: one more pass settles what waited
    assert setting.worker(DUE + timedelta(days=1)).returncode == 0

    clients, items, audit, sent = setting.state()
    alive = {c["id"]: c for c in clients}
    keeps = {r["subject"]: r for r in results if r.get("run")}
    with setting.engine() as engine, engine.storage.transaction() as tx:
        keep_status = {subject: (tx.load_run(r["run"]) or {}).get("status") for subject, r in keeps.items()}  # as stored: a view of a vanished client refuses
    kept = deleted = 0
    for n in range(CLIENTS):
        subject = f"e{n}"
        mine = [i for i in items if i["subject"] == subject]
        statuses = {i["status"] for i in mine}
        applied = [e for e in audit if e["subject"] == subject and e["status"] == "applied"]
        if subject in alive:  # kept: the keep committed, the work cancelled, nothing of it applied
            kept += 1
            assert keep_status[subject] == "completed" and alive[subject]["subscription"] == "active", (subject, keeps[subject])
            assert statuses == {"cancelled"} and applied == [], (subject, mine)
        else:  # deleted: every part done once, the keep refused cleanly and never committed
            deleted += 1
            assert statuses == {"done"} and Counter(e["scheduled"] for e in applied) == {i["id"]: 1 for i in mine}, (subject, mine)
            assert keep_status[subject] != "completed", (subject, keeps[subject])
            result = keeps[subject]
            # refused cleanly: blocked, or an error that rolled the keep back whole (RunError; ConflictError when
            # PostgreSQL chose the keep as the loser of a deadlock with the worker's locks)
            assert result["outcome"] == "blocked" or (result["outcome"] == "error" and result["error"] in ("RunError", "ConflictError")), result
    assert kept + deleted == CLIENTS
    assert len(sent) == deleted and all(n == 1 for n in Counter(sent).values())  # one confirmation per deletion, none for a kept client


# one occasion, two claims ------------------------------------------------------------------
@pytest.mark.parametrize("deletion_first", [True, False])
def test_an_occasion_whose_parts_two_workers_claimed_is_carried_out_whole_by_the_first_and_once(
    tmp_path: Path, storage_env: dict[str, str], deletion_first: bool
) -> None:
    setting = Setting(tmp_path, storage_env, 1)
    with setting.engine(DUE) as engine:
        (deletion,) = claim(engine.storage, DUE, "w1", limit=1)
        (confirmation,) = claim(engine.storage, DUE, "w2", limit=1)
        assert (deletion["kind"], confirmation["kind"], deletion["run"]) == ("effect", "email", confirmation["run"])
        first, second = Carried(), Carried()
        for claimed, report in ((deletion, first), (confirmation, second)) if deletion_first else ((confirmation, first), (deletion, second)):
            for group in occasions([claimed]):
                _occasion(engine.runner, group, report)
    assert first.to_json() == {"applied": [deletion["id"], confirmation["id"]], "dropped": [], "retry": []}  # both, in one transaction
    assert second.to_json() == {"applied": [], "dropped": [], "retry": []}  # found it done: nothing twice
    clients, items, audit, _ = setting.state()
    assert clients == [] and [(i["id"], i["status"]) for i in items] == [(deletion["id"], "done"), (confirmation["id"], "done")]
    assert sorted((e["scheduled"], e["status"], len(e["changes"])) for e in audit) == [(deletion["id"], "applied", 1), (confirmation["id"], "applied", 0)]


def test_two_workers_reaching_the_occasions_they_split_at_once_carry_out_each_whole_and_once(tmp_path: Path, storage_env: dict[str, str]) -> None:
    setting = Setting(tmp_path, storage_env, CLIENTS)
    engines = [setting.engine(DUE), setting.engine(DUE)]
    claimed: list[list[dict[str, Any]]] = [[], []]
    for _ in range(CLIENTS):  # each occasion split: its deletion claimed by the first worker, its confirmation by the second
        for me, engine in enumerate(engines):
            claimed[me] += claim(engine.storage, DUE, f"w{me}", limit=1)
    assert [i["kind"] for i in claimed[0]] == ["effect"] * CLIENTS and [i["kind"] for i in claimed[1]] == ["email"] * CLIENTS
    reports = [Carried(), Carried()]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(me: int) -> None:
        try:
            start.wait()
            for group in occasions(claimed[me]):
                _occasion(engines[me].runner, group, reports[me])
        except BaseException as exc:  # noqa: BLE001 - a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(me,)) for me in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BOUND)
    for engine in engines:
        engine.close()
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert [r.dropped for r in reports] == [[], []] and [r.retry for r in reports] == [[], []]  # no deadlock, nothing dropped
    applied = reports[0].applied + reports[1].applied
    pairs = {i["id"]: i["run"] for i in claimed[0] + claimed[1]}
    assert sorted(applied) == sorted(pairs)  # every part once
    for report in reports:  # each occasion by one worker, whole
        assert Counter(pairs[i] for i in report.applied) == {run: 2 for run in {pairs[i] for i in report.applied}}
    clients, items, audit, _ = setting.state()
    assert clients == [] and {i["status"] for i in items} == {"done"}
    assert Counter((e["kind"], e["status"], len(e["changes"])) for e in audit) == {("effect", "applied", 1): CLIENTS, ("email", "applied", 0): CLIENTS}
