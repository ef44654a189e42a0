"""Races: processes commit conflicting runs on the same clients at once; per client exactly one wins.

Each racing process is a real OS process (a small driver around the Python
API). It starts its runs, waits at a barrier until every other process has
started its own, then commits them all at once. Afterwards, per client:
exactly one run committed; every other ended with a clear blocked result or a
conflict (never a traceback, never an "unknown client" error); the data is
what the winner alone would have made of it; the audit log names the winner
only; and the outbox holds, and delivers exactly once, the winners' emails and
no one else's.

The storage is a fixture (`storage_env`: the environment naming the database
every process opens), so that another backend runs the same races by adding
a parameter.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, figures

from clientflow import Engine
from clientflow.errors import RunError
from clientflow.outbox import Outbox

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
BOUND = 120  # seconds a racing process may take at most

# The racing process: start runs (or take given run ids), meet the others at the barrier, commit, report.
DRIVER = r"""
import json, sys, time
from pathlib import Path
from datetime import datetime
from clientflow import Engine
from clientflow.errors import RunError
from clientflow.errors import ClientflowError

spec = json.loads(sys.argv[1])
engine = Engine.open(spec["project"], now=datetime.fromisoformat(spec["now"]))
results = []
for job in spec["jobs"]:
    if "run" in job:
        results.append({**job})
        continue
    view = engine.start(job["flow"], job["actor"], job["subject"], job["answers"])
    assert view.status == "ready", view.to_json()
    results.append({**job, "run": view.run})
barrier = Path(spec["barrier"])
(barrier / f"ready-{spec['me']}").touch()
deadline = time.monotonic() + 60
while len(list(barrier.glob("ready-*"))) < spec["processes"]:
    if time.monotonic() > deadline:
        sys.exit("the other processes never reached the barrier")
    time.sleep(0.005)
for result in results:
    try:
        plan = engine.commit(result["run"])
    except ClientflowError as exc:
        result.update(outcome="error", error=type(exc).__name__, message=str(exc))
    else:
        result.update(outcome=plan.status, blocked_by=plan.blocked_by, emails=len(plan.emails))
engine.close()
print(json.dumps(results))
"""

TALLY: Counter[str] = Counter()


def _figures() -> str:
    return (
        f"races: {TALLY['races']} races run ({TALLY['contested']} contested clients, {TALLY['processes']} processes, "
        f"{TALLY['commits']} commits attempted): {TALLY['won']} won, {TALLY['lost']} refused cleanly, {TALLY['emails']} emails each delivered once"
    )


summary = figures(_figures)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment every racing process opens its storage with (CLIENTFLOW_DB, ...).

    SQLite: a file of its own. PostgreSQL: the test server (see tests/conftest.py:
    under CI=true an unreachable server fails) with a fresh schema, dropped afterwards.
    """
    if request.param == "sqlite":
        return {"CLIENTFLOW_DB": str(tmp_path / "race.db")}
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_schema")
    return {"CLIENTFLOW_DB": url, "CLIENTFLOW_DB_SCHEMA": schema}


def practice_data(with_users: int, without_users: int) -> dict[str, Any]:
    """One practice with two administrators; clients with users, and clients without."""
    partners = [
        {
            "id": "p1",
            "name": "Northwind Bookkeeping",
            "users": [
                {"id": "u1", "name": "Alice Admin", "email": "alice@northwind.example", "role": "administrator"},
                {"id": "u2", "name": "Bob Admin", "email": "bob@northwind.example", "role": "administrator"},
            ],
        }
    ]
    clients = []
    for n in range(with_users):
        users = [
            {"id": f"m{n}u1", "name": f"Owner {n}", "email": f"owner{n}@m{n}.example", "role": "administrator", "status": "active"},
            {"id": f"m{n}u2", "name": f"Helper {n}", "email": f"helper{n}@m{n}.example", "role": "standard", "status": "invited"},
        ]
        clients.append({"id": f"m{n}", "name": f"Busy {n} Ltd", "partner": "p1", "billing": "partner", "subscription": "active", "owner": None, "users": users})
    for n in range(without_users):
        clients.append({"id": f"e{n}", "name": f"Empty {n} Ltd", "partner": "p1", "billing": "partner", "subscription": "active", "owner": None, "users": []})
    return {"partners": partners, "clients": clients}


class Race:
    """One database, its outbox folder, and the processes that race on it."""

    def __init__(self, tmp_path: Path, storage_env: dict[str, str], data: dict[str, Any]) -> None:
        self.tmp = tmp_path
        self.outbox = tmp_path / "outbox"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
        self.env.update(storage_env, CLIENTFLOW_NOTIFIERS="outbox", CLIENTFLOW_OUTBOX=str(self.outbox))
        self.data_file = tmp_path / "data.json"
        self.data_file.write_text(json.dumps(data), encoding="utf-8")
        with self.engine() as engine:
            engine.load_data(self.data_file)
            self.before = engine.export()

    def engine(self, notifiers: dict[str, Any] | None = None) -> Engine:
        return Engine.open(PROJECT, now=NOW, env=self.env, notifiers={} if notifiers is None else notifiers)

    def start(self, flow: str, actor: str, subject: str, answers: dict[str, Any]) -> str:
        with self.engine() as engine:
            view = engine.start(flow, actor, subject, answers)
        assert view.status == "ready", view.to_json()
        return view.run

    def run(self, processes: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Run each list of jobs in its own process, all committing at once; every job's result."""
        barrier = self.tmp / f"barrier{TALLY['races']}"
        barrier.mkdir()
        children = []
        for me, jobs in enumerate(processes):
            spec = {"project": str(PROJECT), "now": NOW.isoformat(), "jobs": jobs, "barrier": str(barrier), "me": me, "processes": len(processes)}
            children.append(
                subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(spec)], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            )
        results = []
        for child in children:
            out, err = child.communicate(timeout=BOUND)
            assert child.returncode == 0, f"a racing process failed (a traceback is never a clean refusal):\n{err}"
            results.extend(json.loads(out))
        TALLY["races"] += 1
        TALLY["processes"] += len(processes)
        return results

    def check(self, results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Every property a race must keep; returns the winner of each client."""
        by_subject: dict[str, list[dict[str, Any]]] = {}
        for result in results:
            by_subject.setdefault(result["subject"], []).append(result)
        winners: dict[str, dict[str, Any]] = {}
        for subject, tried in by_subject.items():
            won = [r for r in tried if r["outcome"] == "completed"]
            assert len(won) == 1, f"{subject}: {len(won)} runs committed, not exactly one: {tried}"
            winners[subject] = won[0]
            for lost in (r for r in tried if r is not won[0]):
                assert_clean_refusal(lost)
        TALLY["contested"] += len(by_subject)
        TALLY["commits"] += len(results)
        TALLY["won"] += len(winners)
        TALLY["lost"] += len(results) - len(winners)

        # the data: what each winner alone would have made of its client
        expected = Engine.open(PROJECT, data=self.data_file, now=NOW, notifiers={})
        for winner in winners.values():
            plan = expected.apply(winner["flow"], winner["actor"], winner["subject"], winner["answers"], deliver=False)
            assert plan is not None and plan.status == "completed"
        with self.engine() as engine:
            assert engine.export() == expected.export()
            audit = engine.audit_log()
            for result in results:
                status = engine.view(result["run"]).status
                if result["run"] == winners[result["subject"]]["run"]:
                    assert status == "completed", result
                elif result["outcome"] == "blocked":
                    assert status == "blocked", result
                else:  # a conflict found while writing: rolled back, the run still waits to be committed
                    assert status == "ready", result
        completed = [e for e in audit if e["status"] == "completed"]
        assert sorted(e["run"] for e in completed) == sorted(w["run"] for w in winners.values()), "the audit log names a run that did not commit"

        # the mail: the winners', each exactly once, after one more delivery pass
        box = Outbox.open(PROJECT, now=NOW + timedelta(days=1), env=self.env)
        try:
            box.deliver()
            rows = box.messages()
        finally:
            box.close()
        winning_runs = {w["run"] for w in winners.values()}
        assert {r["run"] for r in rows} <= winning_runs, "a run that did not commit queued an email"
        assert [r["status"] for r in rows] == ["sent"] * len(rows)
        files = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(self.outbox.glob("*"))]
        ids = Counter(str(m["Message-ID"]) for m in files)
        assert all(n == 1 for n in ids.values()), f"an email went out twice: {ids}"
        assert {str(m["X-Clientflow-Run"]) for m in files} <= winning_runs, "an email went out for a run that did not commit"
        assert len(files) == sum(w["emails"] for w in winners.values()) == len(rows)
        TALLY["emails"] += len(files)
        return winners


def assert_clean_refusal(result: dict[str, Any]) -> None:
    """A losing run: blocked with a rule and its message, or a conflict error that says what happened."""
    if result["outcome"] == "blocked":
        assert result["blocked_by"] and all(b["rule"] and b["message"].strip() for b in result["blocked_by"]), result
        assert result["emails"] == 0
        return
    assert result["outcome"] == "error", result
    assert result["error"] == "RunError", f"not a clear conflict: {result}"
    assert not result["message"].startswith("unknown"), f"a vanished client must be reported as such, not as unknown: {result}"


def job(flow: str, subject: str, answers: dict[str, Any] | None = None, actor: str = "alice@northwind.example") -> dict[str, Any]:
    return {"flow": flow, "actor": actor, "subject": subject, "answers": answers or {}}


def disconnect(n: int, owner: int = 1) -> dict[str, Any]:
    return job("disconnect-client", f"m{n}", {"reason": "race", "owner": f"m{n}u{owner}"})


def deactivate(subject: str) -> dict[str, Any]:
    return job("deactivate-client", subject, {"notify_client": True}, actor="bob@northwind.example")


def delete(n: int) -> dict[str, Any]:
    return job("delete-client", f"e{n}", {"confirm_name": f"Empty {n} Ltd"})


def test_two_deletes_of_one_client(tmp_path: Path, storage_env: dict[str, str]) -> None:
    race = Race(tmp_path, storage_env, practice_data(0, 1))
    results = race.run([[delete(0)], [delete(0) | {"actor": "bob@northwind.example"}]])
    winners = race.check(results)
    (lost,) = [r for r in results if r is not winners["e0"]]
    assert lost["outcome"] == "blocked" and lost["blocked_by"][0]["rule"] == "unchanged-since-start"
    assert "no longer exists" in lost["blocked_by"][0]["message"]


def test_a_disconnect_against_a_deactivate(tmp_path: Path, storage_env: dict[str, str]) -> None:
    race = Race(tmp_path, storage_env, practice_data(1, 0))
    results = race.run([[disconnect(0)], [deactivate("m0")]])
    winners = race.check(results)
    (lost,) = [r for r in results if r is not winners["m0"]]
    # a deactivation that won leaves the disconnection's rules true: it is refused because the client changed;
    # a disconnection that won takes the client out of the practice: the deactivation is refused by reach
    expected = "unchanged-since-start" if winners["m0"]["flow"] == "deactivate-client" else "own-practice-clients"
    assert lost["outcome"] == "blocked" and [b["rule"] for b in lost["blocked_by"]] == [expected], lost


def test_many_clients_four_processes_each_committing_in_its_own_order(tmp_path: Path, storage_env: dict[str, str]) -> None:
    busy, empty = 8, 4
    race = Race(tmp_path, storage_env, practice_data(busy, empty))
    processes = []
    for me in range(4):
        jobs = [disconnect(n, owner=1 + me % 2) if me % 2 == 0 else deactivate(f"m{n}") for n in range(busy)]
        jobs += [delete(n) if me % 2 == 0 else deactivate(f"e{n}") for n in range(empty)]
        random.Random(me).shuffle(jobs)
        processes.append(jobs)
    winners = race.check(race.run(processes))
    assert len(winners) == busy + empty


def test_one_run_committed_by_three_processes_at_once_commits_once(tmp_path: Path, storage_env: dict[str, str]) -> None:
    race = Race(tmp_path, storage_env, practice_data(1, 0))
    run = race.start("disconnect-client", "alice@northwind.example", "m0", {"owner": "m0u1"})
    same = job("disconnect-client", "m0", {"owner": "m0u1"}) | {"run": run}
    results = race.run([[same], [same], [same]])
    winners = race.check(results)
    assert winners["m0"]["run"] == run
    with race.engine() as engine:
        assert engine.view(run).status == "completed"
        assert [e["status"] for e in engine.audit_log() if e["run"] == run].count("completed") == 1


def test_a_run_left_on_a_screen_when_its_client_is_deleted_says_so(tmp_path: Path, storage_env: dict[str, str]) -> None:
    """Not a race of commits, but of a slow user: the next screen must say the client is gone."""
    race = Race(tmp_path, storage_env, practice_data(0, 1))
    with race.engine() as engine:
        slow = engine.start("delete-client", "bob@northwind.example", "e0")
        assert slow.status == "open"
        plan = engine.apply("delete-client", "alice@northwind.example", "e0", {"confirm_name": "Empty 0 Ltd"}, deliver=False)
        assert plan is not None and plan.status == "completed"
        for attempt in (lambda: engine.submit(slow.run, {}), lambda: engine.view(slow.run), lambda: engine.back(slow.run)):
            with pytest.raises(RunError) as caught:
                attempt()
            message = str(caught.value)
            assert "no longer exists" in message and not message.startswith("unknown"), message
        dry = engine.plan(slow.run)
        assert dry.status == "blocked" and "no longer exists" in dry.blocked_by[0]["message"]
