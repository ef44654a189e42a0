"""A write transaction's shared reads (SQLite's `get_shared`) and the context names computed once for them are never stale.

A bulk run's commits read their actor's holder and the names computed from it alone
(`practice_name` below) once while the file holds that record unchanged: whoever changes it
(this engine, another engine on the file, plain sqlite3), and whatever rolls back, the next
commit reads, computes and stores what the last commit holds; and what each commit stores is
what the same commit stores when every name is computed afresh.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.storage import Document, SharedReadTransaction


def _project(project_copy: Path) -> Path:
    """The fixture project, with a context name that reads the practice alone, written into the audit summaries."""
    flows = project_copy / "flows"
    text = (flows / "project.yaml").read_text(encoding="utf-8")
    if "practice_name" in text:  # made already (hypothesis runs each example in the same folder)
        return project_copy
    (flows / "project.yaml").write_text(
        text.replace(
            "  partner: lookup('partner', client.partner)\n",
            "  partner: lookup('partner', client.partner)\n  practice_name: partner.name if partner else 'none'\n",
        ),
        encoding="utf-8",
    )
    for name in ("deactivate-client", "reactivate-client"):
        flow = (flows / f"{name}.yaml").read_text(encoding="utf-8")
        marker = 'audit: "{{ actor.email }}'
        assert marker in flow
        (flows / f"{name}.yaml").write_text(flow.replace(marker, 'audit: "[{{ practice_name }}] {{ actor.email }}'), encoding="utf-8")
    return project_copy


def _open(root: Path, db: Path, *, shared: bool) -> Engine:
    engine = Engine.open(root, db=db, notifiers={})
    if not shared:  # every context name computed afresh, as before names were kept between scopes
        engine.runner.scope = lambda records, parties, now=None: engine.runner.scopes.build(parties, now or engine.clock.now(), records)  # type: ignore[method-assign]
    return engine


def _rename(db: Path, name: str) -> None:
    """Another process renames practice p1 (plain sqlite3, its version counted up)."""
    raw = sqlite3.connect(db, isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")
        body, version = raw.execute("SELECT body, version FROM docs WHERE collection='partners' AND id='p1'").fetchone()
        raw.execute("UPDATE docs SET body=?, version=? WHERE collection='partners' AND id='p1'", (json.dumps({**json.loads(body), "name": name}), version + 1))
        raw.execute("COMMIT")
    finally:
        raw.close()


def _rename_within(engine: Engine, name: str, *, roll_back: bool = False) -> None:
    """This engine's own connection renames practice p1 (or starts to, and rolls back)."""
    try:
        with engine.storage.transaction(write=True) as tx:
            if isinstance(tx, SharedReadTransaction):
                assert tx.get_shared("partners", "p1") == tx.get("partners", "p1")  # read shared first: kept, then written
            found = tx.get("partners", "p1")
            assert found is not None
            tx.put(Document("partners", "p1", {**found.body, "name": name}, 0), None, expect_version=found.version)
            if isinstance(tx, SharedReadTransaction):
                assert tx.get_shared("partners", "p1") == tx.get("partners", "p1")  # its own write, not what was kept
            if roll_back:
                raise RuntimeError("roll back")
    except RuntimeError:
        pass


def _summaries(engine: Engine) -> list[str]:
    return [str(e["summary"]) for e in engine.audit_log()]


_steps = st.lists(st.tuples(st.sampled_from(["commit", "other", "own", "rollback", "reopen"]), st.integers(0, 9)), min_size=1, max_size=10)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_steps)
def test_commits_store_what_names_computed_afresh_give_whoever_changes_the_practice(
    tmp_path_factory: pytest.TempPathFactory, project_copy: Path, steps: list[tuple[str, int]]
) -> None:
    root = _project(project_copy)
    folder = tmp_path_factory.mktemp("shared")
    dbs = {kind: folder / f"{kind}.db" for kind in ("shared", "afresh")}
    engines: dict[str, Engine] = {}
    for kind, db in dbs.items():
        engines[kind] = _open(root, db, shared=kind == "shared")
        engines[kind].load_data(DEMO)
    flows = [("deactivate-client", {"notify_client": False}), ("reactivate-client", {})]
    turn = 0
    try:
        for action, n in steps:
            for kind, engine in engines.items():
                if action == "commit":
                    flow, answers = flows[turn % 2]
                    plan = engine.apply(flow, "u1", "c1", answers)
                    assert plan is not None and plan.status == "completed", plan
                elif action == "other":
                    _rename(dbs[kind], f"Practice {n}")
                elif action in ("own", "rollback"):
                    _rename_within(engine, f"Own {n}", roll_back=action == "rollback")
                elif action == "reopen":
                    engine.storage.close()
            if action == "commit":
                turn += 1
                summaries = {kind: _summaries(engine) for kind, engine in engines.items()}
                assert summaries["shared"] == summaries["afresh"]
                raw = sqlite3.connect(dbs["shared"])
                try:
                    (body,) = raw.execute("SELECT body FROM docs WHERE collection='partners' AND id='p1'").fetchone()
                finally:
                    raw.close()
                assert summaries["shared"][-1].startswith(f"[{json.loads(body)['name']}] ")  # what the file holds now
    finally:
        for engine in engines.values():
            engine.close()


def test_a_bulk_run_reads_its_actors_practice_once_while_nobody_changes_it(tmp_path: Path, project_copy: Path) -> None:
    """The practice is decoded by the first commit only; its name, computed once, is in every commit's audit summary."""
    from clientflow.bulk import run_bulk

    root = _project(project_copy)
    engine = _open(root, tmp_path / "bulk.db", shared=True)
    try:
        engine.load_data(DEMO)
        decoded: list[Any] = []
        storage: Any = engine.storage
        conn = storage._connect()
        conn.set_trace_callback(lambda sql: decoded.append(sql) if "collection='partners'" in sql or "partners" in sql and "SELECT body" in sql else None)
        run_bulk(engine, "deactivate-client", "u1", ["c1", "c2"], {"notify_client": False}, dry_run=False, selection="list:c1,c2")
        conn.set_trace_callback(None)
        assert len([sql for sql in decoded if sql.startswith("SELECT body, version FROM docs")]) <= 1, decoded
        assert [s.split("]")[0] for s in _summaries(engine)] == ["[Northwind Bookkeeping", "[Northwind Bookkeeping"]
    finally:
        engine.close()
