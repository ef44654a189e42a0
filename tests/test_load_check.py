"""benchmarks/load.py's consistency check: quiet on what real commits wrote, and each way records, audit and outbox can disagree found.

Not timed: the load test itself lives in benchmarks/ (docs/performance.md).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any

import pytest
from conftest import DEMO, NOW, PROJECT, REPO

from clientflow import Engine

sys.path.insert(0, str(REPO / "benchmarks"))
import load  # noqa: E402

FLOW = "deactivate-client"


class Keep:
    """A notifier that sends nothing: the rows stay queued in the outbox."""

    name = "outbox"

    def send(self, email: Any) -> None:
        return None


@pytest.fixture(scope="module")
def written() -> tuple[list[dict[str, Any]], load.Stored]:
    """Two runs committed by the engine (what their commits answered), and what storage then holds."""
    engine = Engine.open(PROJECT, data=DEMO, now=NOW, notifiers={"outbox": Keep()})
    committed = []
    for client in ("c1", "c2", "c3", "c4", "c5"):
        if len(committed) == 2:
            break
        flows = {f.flow: f.available for f in engine.available("u1", client).flows}
        if flows.get(FLOW):
            plan = engine.apply(FLOW, "u1", client, {"notify_client": True}, deliver=False).to_json()
            committed.append(load.answered(plan))
    stored = load.gather(engine, committed)
    engine.close()
    assert len(committed) == 2 and all(c["emails"] and c["changes"] for c in committed), "the fixture data let u1 deactivate two clients, with emails"
    return committed, stored


def test_what_the_engine_committed_is_consistent(written: tuple[list[dict[str, Any]], load.Stored]) -> None:
    committed, stored = written
    assert load.consistency(committed, stored) == []
    assert len(stored.outbox) == sum(len(c["emails"]) for c in committed)


def rows_of(stored: load.Stored, run: str) -> list[dict[str, Any]]:
    return [r for r in stored.outbox if r["run"] == run]


def entry_of(stored: load.Stored, run: str) -> dict[str, Any]:
    return next(e for e in stored.audit if e["run"] == run)


def lose_an_email(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    stored.outbox.remove(rows_of(stored, run)[0])


def queue_an_email_twice(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    stored.outbox.append(copy.deepcopy(rows_of(stored, run)[-1]))


def queue_an_email_nobody_planned(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    extra = copy.deepcopy(rows_of(stored, run)[0])
    extra.update(email_id=f"{run}-99", id=f"{run}-99-outbox", email={**extra["email"], "template": "another"})
    stored.outbox.append(extra)


def queue_for_a_run_that_did_not_commit(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    entry_of(stored, run)["status"] = "cancelled"
    stored.runs[run] = {**(stored.runs[run] or {}), "status": "cancelled"}
    committed[:] = [c for c in committed if c["run"] != run]


def lose_the_audit_entry(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    stored.audit.remove(entry_of(stored, run))


def audit_twice(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    stored.audit.append({**copy.deepcopy(entry_of(stored, run)), "id": "another"})


def audit_other_changes(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    entry_of(stored, run)["changes"][0]["after"] = "something else"


def lose_the_change(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    change = entry_of(stored, run)["changes"][0]
    record = stored.records[(change["entity"], change["id"])]
    assert record is not None
    record[change["field"]] = change["before"]


def lose_the_record(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    change = entry_of(stored, run)["changes"][0]
    stored.records[(change["entity"], change["id"])] = None


def store_the_run_unfinished(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    stored.runs[run] = {**(stored.runs[run] or {}), "status": "ready"}


def lose_the_run(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    stored.runs[run] = None


def commit_unanswered(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    committed[:] = [c for c in committed if c["run"] != run]


def answer_twice(committed: list[dict[str, Any]], stored: load.Stored, run: str) -> None:
    committed.append(copy.deepcopy(next(c for c in committed if c["run"] == run)))


BREAKS: list[Callable[[list[dict[str, Any]], load.Stored, str], None]] = [
    lose_an_email,
    queue_an_email_twice,
    queue_an_email_nobody_planned,
    queue_for_a_run_that_did_not_commit,
    lose_the_audit_entry,
    audit_twice,
    audit_other_changes,
    lose_the_change,
    lose_the_record,
    store_the_run_unfinished,
    lose_the_run,
    commit_unanswered,
    answer_twice,
]


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("brk", BREAKS, ids=lambda f: f.__name__)
def test_each_inconsistency_is_found_and_names_its_run(
    written: tuple[list[dict[str, Any]], load.Stored], brk: Callable[[list[dict[str, Any]], load.Stored, str], None], which: int
) -> None:
    committed, stored = copy.deepcopy(written)
    run = committed[which]["run"]
    other = committed[1 - which]["run"]
    brk(committed, stored, run)
    problems = load.consistency(committed, stored)
    assert problems, f"{brk.__name__} went unnoticed"
    assert all(run in p and other not in p for p in problems), problems
