"""The shared storage suite on PostgreSQL, and what is particular to it.

The contract of clientflow.testing (engine/testing/storage.py) runs unchanged, each test in a fresh
PostgreSQL schema (dropped afterwards). Needs the server of `postgres_url`
(tests/conftest.py): CI fails without it, a laptop skips with instructions.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from clientflow.errors import ClientflowError, ConfigError
from clientflow.plugins import Registry
from clientflow.storage import ConflictError, Document, OccasionTransaction, QuestionStorage, ReadOnlyError, SchedulingTransaction, SnapshotMoved, Storage
from clientflow.testing.storage import Backend, StorageContract, later, message, put, read

pytestmark = pytest.mark.postgres


def open_postgres(url: str, schema: str, **settings: object) -> Storage:
    return Registry.collect().storage("postgresql", url=url, schema=schema, **settings)  # type: ignore[no-any-return]


@pytest.fixture
def backend(postgres_url: str, postgres_schema: str) -> Iterator[Backend]:
    yield Backend(open=lambda: open_postgres(postgres_url, postgres_schema), snapshot_reads=True)


class TestPostgresStorage(StorageContract):
    """The whole contract, on PostgreSQL."""


# particular to PostgreSQL ---------------------------------------------------------
def tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)).fetchall()
    return {r[0] for r in rows}


def test_the_schema_is_created_on_first_use_with_a_version(postgres_url: str, postgres_schema: str) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    assert tables(postgres_url, postgres_schema) == set()  # nothing happens before the first transaction
    with storage.transaction() as tx:
        assert tx.get_meta("schema_version") == "1"
    storage.close()
    assert tables(postgres_url, postgres_schema) == {"docs", "keys", "runs", "audit", "outbox", "scheduled", "meta"}


def test_many_processes_using_a_new_schema_at_once_create_it_once(postgres_url: str, postgres_schema: str) -> None:
    handles = [open_postgres(postgres_url, postgres_schema) for _ in range(6)]
    start = threading.Barrier(len(handles))
    errors: list[BaseException] = []

    def first_use(storage: Storage, n: int) -> None:
        try:
            start.wait(timeout=60)
            put(storage, f"t{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(h, n)) for n, h in enumerate(handles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with handles[0].transaction() as tx:
        assert [d.id for d in tx.scan("things")] == [f"t{n}" for n in range(6)]
    for handle in handles:
        handle.close()


def test_a_schema_version_it_does_not_know_is_refused(postgres_url: str, postgres_schema: str) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    with storage.transaction(write=True) as tx:
        tx.set_meta("schema_version", "99")
    storage.close()
    with pytest.raises(ConfigError, match=f"PostgreSQL schema '{postgres_schema}' has storage schema version 99"):
        read(open_postgres(postgres_url, postgres_schema), "t1")


def test_ids_order_by_code_point_whatever_the_database_collation(postgres_url: str, postgres_schema: str) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    ids = ["a", "B", "b", "_", "é", "Z", "a-b", "ab", "a b"]
    for id in ids:
        put(storage, id)
    with storage.transaction() as tx:
        assert [d.id for d in tx.scan("things")] == sorted(ids)
    storage.close()


def backend_waits_on_a_lock(url: str, application_name: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'", (application_name,)).fetchone()
    return bool(row and row[0])


def wait_until(condition: object, what: str, tries: int = 1200) -> None:
    import time

    for _ in range(tries):
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_locked_read_waits_for_the_other_writer_and_sees_its_commit(postgres_url: str, postgres_schema: str) -> None:
    first = open_postgres(postgres_url, postgres_schema)
    second = open_postgres(postgres_url, postgres_schema, application_name="clientflow-second")
    put(first, "t1", {"by": "nobody"})
    seen: list[object] = []

    def locker() -> None:
        with second.transaction(write=True) as tx:
            seen.append(tx.get("things", "t1", lock=True))

    thread = threading.Thread(target=locker)
    with first.transaction(write=True) as tx:
        held = tx.get("things", "t1", lock=True)
        assert held is not None
        thread.start()
        wait_until(lambda: backend_waits_on_a_lock(postgres_url, "clientflow-second"), "the second writer to wait on the row lock")
        assert seen == []
        tx.put(Document("things", "t1", {"id": "t1", "by": "first"}, 0), [], expect_version=held.version)
    thread.join(timeout=120)
    assert [(d.body["by"], d.version) for d in seen] == [("first", 2)]  # type: ignore[attr-defined]
    first.close()
    second.close()


def test_claimed_outbox_rows_are_skipped_by_other_workers(postgres_url: str, postgres_schema: str) -> None:
    first = open_postgres(postgres_url, postgres_schema)
    second = open_postgres(postgres_url, postgres_schema)
    with first.transaction(write=True) as tx:
        tx.add_outbox([message(f"m{n}") for n in range(5)])
    with first.transaction(write=True) as tx:
        mine = [m["id"] for m in tx.outbox(status="pending", limit=2, claim=True)]
        with second.transaction(write=True) as other:
            theirs = [m["id"] for m in other.outbox(status="pending", limit=10, claim=True)]
    assert mine == ["m0", "m1"]
    assert theirs == ["m2", "m3", "m4"]
    first.close()
    second.close()


def test_a_forked_process_opens_its_own_connection(postgres_url: str, postgres_schema: str) -> None:
    import multiprocessing

    storage = open_postgres(postgres_url, postgres_schema)
    put(storage, "t1", {"n": 1})
    context = multiprocessing.get_context("fork")
    child = context.Process(target=put, args=(storage, "t1", {"n": 2}), kwargs={"expect": 1})
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    assert put(storage, "t1", {"n": 3}, expect=2) == 3  # the parent's connection survived the child
    storage.close()


def test_a_dropped_connection_is_replaced_at_the_next_transaction(postgres_url: str, postgres_schema: str) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    put(storage, "t1")
    with storage.transaction() as tx:
        pid = tx.conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[attr-defined]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(lambda: not admin_sees(postgres_url, pid), "the backend to go")
    assert read(storage, "t1") is not None
    storage.close()


def admin_sees(url: str, pid: int) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is not None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": None}, "needs a url"),
        ({"schema": "Bad-Name"}, "must be lower-case letters"),
        ({"schema": "x; DROP TABLE docs"}, "must be lower-case letters"),
        ({"shema": "x"}, "unknown storage backend setting 'shema' for 'postgresql'; did you mean 'schema'?"),
    ],
    ids=["no-url", "bad-schema", "injection", "typo"],
)
def test_bad_settings_are_refused(postgres_url: str, settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Registry.collect().storage("postgresql", **{"url": postgres_url, "schema": "ok", **settings})


def test_conflicting_commits_from_two_engine_processes_apply_once(postgres_url: str, postgres_schema: str) -> None:
    from conftest import DEMO, NOW, PROJECT

    from clientflow import Engine

    env = {"CLIENTFLOW_DB": postgres_url, "CLIENTFLOW_DB_SCHEMA": postgres_schema}
    engines = [Engine.open(PROJECT, env=env, now=NOW, notifiers={}) for _ in range(2)]
    assert {e.storage.name for e in engines} == {"postgresql"}
    engines[0].load_data(DEMO)
    runs = [e.start("deactivate-client", "u1", "c1", {"notify_client": False}).run for e in engines]
    start = threading.Barrier(2)
    plans: list[object] = [None, None]

    def commit(n: int) -> None:
        start.wait(timeout=60)
        try:
            plans[n] = engines[n].commit(runs[n], deliver=False)
        except ConflictError as exc:
            plans[n] = exc

    threads = [threading.Thread(target=commit, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    outcomes = sorted(getattr(p, "status", type(p).__name__) for p in plans)
    assert outcomes == ["blocked", "completed"]
    with engines[0].storage.transaction() as tx:
        client = tx.get("clients", "c1")
        completed = [e for e in tx.audit() if e["status"] == "completed"]
    assert client is not None and client.body["subscription"] == "deactivated" and client.version == 2
    assert len(completed) == 1
    for engine in engines:
        engine.close()


# round trips: BEGIN and the writes nobody waits for go with the next statement, or with COMMIT ------------------------
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Each round trip to the server, as the statements it carried (their first word)."""
    from clientflow.default_plugins import postgres

    sent: list[list[str]] = []
    original = postgres.PostgresTransaction._send

    def counting(self: object, statements: list[tuple[str, object]]) -> object:
        sent.append([sql.split()[0] for sql, _ in statements])
        return original(self, statements)  # type: ignore[arg-type]

    monkeypatch.setattr(postgres.PostgresTransaction, "_send", counting)
    alone = postgres._exec_prepared

    def counting_alone(conn: object, sql: str, params: list[str]) -> object:  # a question's first statement, prepared on the connection
        sent.append([sql.split()[0]])
        return alone(conn, sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(postgres, "_exec_prepared", counting_alone)
    return sent


def test_a_commit_of_a_locked_document_sends_its_writes_with_commit_in_one_round_trip(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    put(storage, "t1", {"n": 1}, keys=[("thing", "k", "one")])
    sent = round_trips(monkeypatch)
    with storage.transaction(write=True) as tx:
        found = tx.get("things", "t1", lock=True)
        assert found is not None
        tx.put(Document("things", "t1", {"id": "t1", "n": 2}, 0), [("thing", "k", "two")], expect_version=found.version)
        tx.save_run({"id": "r1"})
        tx.add_audit({"id": "a1"})
        tx.add_outbox([message("m1"), message("m2")])
        tx.set_meta("suite:k", "v")
    assert sent == [["BEGIN", "SELECT"], ["WITH", "DELETE", "INSERT", "INSERT", "INSERT", "INSERT", "INSERT", "COMMIT"]]
    with storage.transaction() as tx:
        assert tx.get("things", "t1") == Document("things", "t1", {"id": "t1", "n": 2}, 2)
        assert tx.lookup("thing", "k", "two") == [("things", "t1")] and tx.lookup("thing", "k", "one") == []
        assert tx.load_run("r1") == {"id": "r1"} and [e["id"] for e in tx.audit()] == ["a1"]
        assert [m["id"] for m in tx.outbox()] == ["m1", "m2"] and tx.get_meta("suite:k") == "v"
    storage.close()


def test_a_locked_documents_deletion_and_a_locked_items_updates_go_with_commit(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    put(storage, "t1", {"n": 1}, keys=[("thing", "k", "one")])
    due = "2025-03-15T00:00:00+00:00"
    with storage.transaction(write=True) as tx:
        assert isinstance(tx, SchedulingTransaction)
        tx.add_scheduled([{**later(f"w{n}", due), "run": "r1"} for n in (1, 2)])
    sent = round_trips(monkeypatch)
    with storage.transaction(write=True) as tx:  # a claim: the items read locked, their leases written with COMMIT
        assert isinstance(tx, SchedulingTransaction)
        for item in tx.scheduled(status="pending", due=due, limit=2, claim=True):
            tx.update_scheduled(item["id"], {"lease": "2025-03-15T01:00:00+00:00", "worker": "a"})
    assert sent == [["BEGIN", "SELECT"], ["UPDATE", "UPDATE", "COMMIT"]]
    sent.clear()
    with storage.transaction(write=True) as tx:  # an occasion: its items locked in one statement, the document, then the writes with COMMIT
        assert isinstance(tx, OccasionTransaction) and isinstance(tx, SchedulingTransaction)
        assert [i["lease"] for i in tx.lock_occasion("s1", "f1", "r1", due)] == ["2025-03-15T01:00:00+00:00"] * 2
        found = tx.get("things", "t1", lock=True)
        assert found is not None
        tx.delete("things", "t1", expect_version=found.version)
        tx.update_scheduled("w1", {"status": "done", "lease": None})
        tx.update_scheduled("w2", {"status": "done", "lease": None})
    assert sent == [["BEGIN", "SELECT"], ["SELECT"], ["WITH", "DELETE", "UPDATE", "UPDATE", "COMMIT"]]
    with storage.transaction() as tx:
        assert isinstance(tx, SchedulingTransaction)
        assert tx.get("things", "t1") is None and tx.lookup("thing", "k", "one") == []
        assert [(i["id"], i["status"], i["lease"], i["worker"]) for i in tx.scheduled()] == [("w1", "done", None, "a"), ("w2", "done", None, "a")]
    storage.close()


def test_a_held_back_write_that_fails_at_commit_leaves_nothing_of_its_transaction(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    put(storage, "t1", {"n": 1})
    with storage.transaction(write=True) as tx:
        tx.add_audit({"id": "a1"})
    sent = round_trips(monkeypatch)
    with pytest.raises(ConflictError) as caught, storage.transaction(write=True) as tx:
        found = tx.get("things", "t1", lock=True)
        assert found is not None
        tx.put(Document("things", "t1", {"id": "t1", "n": 2}, 0), None, expect_version=found.version)
        tx.set_meta("suite:k", "v")
        tx.add_audit({"id": "a1"})  # used already: only COMMIT's round trip finds out
    assert (caught.value.collection, caught.value.id) == ("audit", "a1")
    assert sent[-1][-1] == "COMMIT"
    with storage.transaction() as tx:
        assert tx.get("things", "t1") == Document("things", "t1", {"id": "t1", "n": 1}, 1)
        assert tx.get_meta("suite:k") is None and [e["id"] for e in tx.audit()] == ["a1"]
    assert put(storage, "t1", {"n": 3}, expect=1) == 2  # the storage is still usable
    storage.close()


def test_a_transaction_that_sends_nothing_costs_no_round_trip(postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    put(storage, "t1")
    sent = round_trips(monkeypatch)
    with storage.transaction(write=True):
        pass
    with storage.transaction():
        pass
    assert sent == []
    storage.close()


def test_a_question_answered_by_one_statement_sends_neither_begin_nor_commit(postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = open_postgres(postgres_url, postgres_schema)
    assert isinstance(storage, QuestionStorage)
    put(storage, "t1", {"n": 1}, keys=[("thing", "k", "v")])
    put(storage, "t2", {"n": 2})
    sent = round_trips(monkeypatch)
    with storage.question() as tx:  # type: ignore[attr-defined]
        assert tx.get("things", "t1") == Document("things", "t1", {"id": "t1", "n": 1}, 1)
    assert sent == [["SELECT"]]
    sent.clear()
    with storage.question() as tx:  # type: ignore[attr-defined]
        assert tx.lookup("thing", "k", "v") == [("things", "t1")]
        assert tx.get("things", "t2") == Document("things", "t2", {"id": "t2", "n": 2}, 1)
        assert tx.get("things", "t1") is not None and tx.get_meta("suite:k") is None
        with pytest.raises(ReadOnlyError):
            tx.set_meta("suite:k", "v")
    assert sent == [["SELECT"], ["BEGIN", "SELECT"], ["SELECT"], ["SELECT"], ["SELECT"], ["COMMIT"]]  # the second: in a snapshot
    with pytest.raises(KeyError), storage.question() as tx:  # type: ignore[attr-defined]
        tx.get("things", "t1")
        raise KeyError("the caller's own error")
    assert read(storage, "t1") is not None  # the storage is still usable
    storage.close()


def test_a_question_whose_first_read_changed_before_its_second_is_asked_again(postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    storage, other = open_postgres(postgres_url, postgres_schema), open_postgres(postgres_url, postgres_schema)
    put(storage, "t1", {"n": 1})
    put(storage, "t2", {"n": 2})
    with pytest.raises(SnapshotMoved), storage.question() as tx:  # type: ignore[attr-defined]
        assert tx.get("things", "t1") is not None
        put(other, "t1", {"n": 3}, expect=1)  # committed between the question's two statements
        tx.get("things", "t2")
    with storage.question() as tx:  # type: ignore[attr-defined]
        found = tx.get("things", "t1")
        put(other, "t2", {"n": 4}, expect=1)  # another document: the first read still holds, and the rest is as of now
        assert found == tx.get("things", "t1") == Document("things", "t1", {"id": "t1", "n": 3}, 2)
        assert tx.get("things", "t2") == Document("things", "t2", {"id": "t2", "n": 4}, 2)
    storage.close()
    other.close()


def test_a_question_reads_its_actor_and_subject_in_one_statement_and_answers_as_before(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import DEMO, NOW, PROJECT

    from clientflow.api import Engine
    from clientflow.runtime.data import Records

    monkeypatch.setenv("CLIENTFLOW_DB_SCHEMA", postgres_schema)
    engine = Engine.open(PROJECT, db=postgres_url, now=NOW, notifiers={})
    engine.load_data(DEMO)
    asked = [("u1", "c1"), ("alice@northwind.example", "Acme Ltd"), ("u2", "c1"), ("u1", "nobody"), ("nobody", "c1")]

    def answers() -> list[object]:
        out: list[object] = []
        for actor, subject in asked:
            try:
                out.append(engine.available(actor, subject).to_json())
            except ClientflowError as exc:
                out.append(str(exc))
        return out

    sent = round_trips(monkeypatch)
    fetched = answers()
    assert sent[:1] == [["(SELECT"]]  # u1 by id, c1 by id: one statement for both, no BEGIN or COMMIT
    monkeypatch.setattr(engine, "_questions", False)
    sent.clear()
    assert fetched == answers() and isinstance(fetched[0], dict) and isinstance(fetched[-1], str)
    assert sent[:2] == [["BEGIN", "(SELECT"], ["COMMIT"]]  # in a transaction
    monkeypatch.setattr(Records, "prefetch", lambda self, wanted: None)
    assert fetched == answers()
    sent.clear()
    engine.available("u1", "c1")
    assert sent == [["BEGIN", "SELECT"], ["SELECT"], ["COMMIT"]]  # without it: the actor's look-up, then the subject
    engine.close()


def test_a_question_sent_as_a_prepared_statement_answers_and_fails_as_through_a_cursor(postgres_url: str, postgres_schema: str) -> None:
    import psycopg

    storage = open_postgres(postgres_url, postgres_schema)
    put(storage, "t1", {"n": 1, "name": "Zoë \u2603"}, keys=[("thing", "k", "v")])
    put(storage, "t2", {"n": 2}, keys=[("thing", "k", "v")])
    asked: list[tuple[list[tuple[str, str, str]], list[tuple[str, str]]]] = [
        ([("thing", "k", "v")], [("things", "t2")]),
        ([("thing", "k", "nothing")], [("things", "t1"), ("things", "none")]),
        ([], [("things", "t1")]),
    ]

    def fetched(how: str) -> list[object]:
        out: list[object] = []
        for lookups, refs in asked:
            with getattr(storage, how)() as tx:
                out.append(tx.fetch_documents(lookups, refs))  # type: ignore[attr-defined]
        return out

    through_cursor = fetched("transaction")
    assert fetched("question") == through_cursor
    assert through_cursor[0] == ([[read(storage, "t1"), read(storage, "t2")]], [read(storage, "t2")])
    with storage.transaction() as tx:
        tx.execute("DEALLOCATE ALL")  # type: ignore[attr-defined]  # the connection's prepared statements gone: prepared again
    assert fetched("question") == through_cursor
    for how in ("transaction", "question"):  # a parameter the cursor refuses is refused alike
        with pytest.raises(psycopg.DataError), getattr(storage, how)() as tx:
            tx.fetch_documents([("thing", "k", "v\x00")], [])
    with pytest.raises(psycopg.errors.UndefinedTable), storage.question() as tx:  # type: ignore[attr-defined]
        tx.s = '"no_such_schema_here"'  # a server error: psycopg's own, as a cursor raises it
        tx.fetch_documents([], [("things", "t1")])
    assert read(storage, "t1") is not None  # the storage is still usable
    storage.close()


def test_an_availability_question_whose_data_changed_while_it_was_read_is_asked_again(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import DEMO, NOW, PROJECT

    from clientflow.api import Engine
    from clientflow.default_plugins import postgres

    monkeypatch.setenv("CLIENTFLOW_DB_SCHEMA", postgres_schema)
    engine, other = (Engine.open(PROJECT, db=postgres_url, now=NOW, notifiers={}) for _ in range(2))
    engine.load_data(DEMO)
    before = engine.available("u1", "Acme Ltd").to_json()  # by name: a second statement, the look-up by name
    original = postgres.PostgresTransaction._question
    changed: list[bool] = []

    def meanwhile(self: postgres.PostgresTransaction, sql: str, params: object) -> object:
        if self._first is not None and not changed:  # between the question's first statement and its second
            with other.storage.transaction(write=True) as tx:
                practice = tx.get("partners", "p1", lock=True)
                assert practice is not None
                practice.body["users"][0]["role"] = "standard"
                tx.put(practice, None, expect_version=practice.version)
            changed.append(True)
        return original(self, sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(postgres.PostgresTransaction, "_question", meanwhile)
    moved = engine.available("u1", "Acme Ltd").to_json()
    assert changed and moved != before
    assert moved == engine.available("u1", "Acme Ltd").to_json()  # as asked afresh, after the change
    engine.close()
    other.close()


def test_a_bulk_commit_asks_for_its_actor_with_its_first_question_and_commits_as_before(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`get_locked_with_meta_then_lookup`: the actor's look-up goes in the round trip of the subject's lock and resume key,
    as a statement of its own: the same plans, errors and stored data, one round trip less a commit."""
    from conftest import DEMO, NOW, PROJECT

    from clientflow.api import Engine
    from clientflow.default_plugins import postgres

    monkeypatch.setenv("CLIENTFLOW_DB_SCHEMA", postgres_schema)
    asked = [("u1", "c1"), ("alice@northwind.example", "c4"), ("u2", "c6"), ("u1", "Sunset Cafe"), ("nobody", "c2"), ("u1", "missing"), ("u1", "c1")]
    sent = round_trips(monkeypatch)
    results = []
    for together in (True, False):
        if not together:
            monkeypatch.delattr(postgres.PostgresTransaction, "get_locked_with_meta_then_lookup")
        engine = Engine.open(PROJECT, db=postgres_url, now=NOW, notifiers={})
        engine.storage.clear()
        engine.load_data(DEMO)
        outcomes: list[object] = []
        trips = []
        for actor, subject in asked:
            sent.clear()
            try:
                plan = engine.apply("deactivate-client", actor, subject, {"notify_client": True}, once=f"bulk:suite:{subject}", brief=True)
                outcomes.append(None if plan is None else (plan.status, plan.changes, plan.audit.get("summary"), plan.blocked_by, plan.emails))
            except ClientflowError as exc:
                outcomes.append(str(exc))
            trips.append(len(sent))
            if together and (actor, subject) == ("u1", "c1") and outcomes[-1] is not None:
                assert sent[0] == ["BEGIN", "SELECT", "SELECT"]  # the lock, then the resume key and the actor's look-up
        results.append((outcomes, engine.export(), trips))
        engine.close()
    (outcomes, stored, trips), (before, stored_before, trips_before) = results
    assert outcomes == before and stored == stored_before
    assert outcomes[0] is not None and outcomes[0][0] == "completed" and outcomes[-1] is None  # committed, then resumed: nothing runs
    assert isinstance(outcomes[4], str) and isinstance(outcomes[5], str)  # an unknown actor, an unknown subject
    assert [b - a for a, b in zip(trips, trips_before, strict=True)] == [1, 1, 1, 0, 1, 0, 0]  # by name: its lock comes later


def test_an_actor_looked_up_with_the_first_question_is_read_after_the_lock_is_held(postgres_url: str, postgres_schema: str) -> None:
    """Whoever held the subject commits a change to the looked-up document while we wait: the look-up sees it (its own
    statement, its own snapshot), as a look-up asked next would; in the statement of the lock it would not."""
    storage, other = open_postgres(postgres_url, postgres_schema), open_postgres(postgres_url, postgres_schema)
    put(storage, "t1", {"n": 1})
    put(storage, "t2", {"n": 2}, keys=[("thing", "k", "v")])
    answer: list[object] = []

    def wait_then_ask() -> None:
        with storage.transaction(write=True) as tx:
            answer.append(tx.get_locked_with_meta_then_lookup("things", "t1", "suite:k", ("thing", "k", "v")))  # type: ignore[attr-defined]

    with other.transaction(write=True) as holder:
        assert holder.get("things", "t1", lock=True) is not None
        waiting = threading.Thread(target=wait_then_ask)
        waiting.start()
        with psycopg.connect(postgres_url, autocommit=True) as watch:
            for _ in range(2000):
                row = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s", (f'%"{postgres_schema}".docs%FOR UPDATE%',)
                ).fetchone()
                if row and row[0]:
                    break
                threading.Event().wait(0.01)
            else:
                raise AssertionError("the first question never waited for the lock")
        holder.put(Document("things", "t2", {"id": "t2", "n": 3}, 0), [("thing", "k", "v"), ("thing", "k", "w")], expect_version=1)
    waiting.join(timeout=30)
    assert answer == [(Document("things", "t1", {"id": "t1", "n": 1}, 1), None, [Document("things", "t2", {"id": "t2", "n": 3}, 2)])]
    storage.close()
    other.close()


@pytest.mark.parametrize(
    ("match", "one_question"),
    [("[id, name]", True), ("[name]", True), ("[id, name]", False)],
    ids=["by id: one question", "by name: the key read again", "a backend without the one question: the key read again"],
)
def test_two_runs_of_one_resumable_commit_at_once_run_it_once(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, match: str, one_question: bool
) -> None:
    """Two processes apply the same bulk commit (one resume key) to one subject at once: the second waits for the first's
    lock, then finds the key the first committed, and runs nothing (before, it read the key as it was before it waited,
    and ran the flow again: a flow whose rules do not notice what the first changed would send its emails twice)."""
    from conftest import NOW, PROJECT

    from clientflow import faults
    from clientflow.api import Engine

    root = tmp_path / "project"
    shutil.copytree(PROJECT, root)
    project_file = root / "flows" / "project.yaml"
    project_file.write_text(project_file.read_text(encoding="utf-8").replace("  match: [id, name]", f"  match: {match}"), encoding="utf-8")
    subject = "c1" if match == "[id, name]" else "Acme Ltd"
    if not one_question:  # as a backend whose writers overlap but which offers no OnceTransaction would be used
        from clientflow.default_plugins import postgres

        monkeypatch.delattr(postgres.PostgresTransaction, "get_locked_with_meta_then_lookup")
        monkeypatch.delattr(postgres.PostgresTransaction, "get_locked_with_meta")
    monkeypatch.setenv("CLIENTFLOW_DB_SCHEMA", postgres_schema)
    first, second = (Engine.open(root, db=postgres_url, now=NOW, notifiers={}) for _ in range(2))
    first.storage.clear()
    first.load_data(root / "data" / "demo.yaml")
    committing, go_on = threading.Event(), threading.Event()
    real_point = faults.point

    def point(name: str) -> None:  # the first run waits before its COMMIT, its subject locked
        if name == "before-commit" and threading.current_thread().name == "first":
            committing.set()
            go_on.wait(10)
        real_point(name)

    monkeypatch.setattr(faults, "point", point)
    plans: dict[str, object] = {}

    def run(engine: Engine) -> None:
        name = threading.current_thread().name
        try:
            plans[name] = engine.apply("deactivate-client", "u1", subject, {"notify_client": True}, once=f"bulk:same:{subject}", brief=True)
        except BaseException as exc:  # noqa: BLE001 - compared below
            plans[name] = exc

    threads = [threading.Thread(target=run, args=(engine,), name=name) for engine, name in ((first, "first"), (second, "second"))]
    threads[0].start()
    assert committing.wait(10)
    threads[1].start()
    with psycopg.connect(postgres_url, autocommit=True) as watch:  # the second waits for the subject's lock
        for _ in range(1000):
            row = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s", ("%FOR UPDATE%",)).fetchone()
            if row and row[0]:
                break
            threading.Event().wait(0.01)
        else:
            raise AssertionError("the second run never waited for the first's lock")
    go_on.set()
    for thread in threads:
        thread.join(30)
    completed = plans["first"]
    assert getattr(completed, "status", completed) == "completed"
    assert plans["second"] is None  # it ran nothing: no second run, no second audit row, no second email
    with psycopg.connect(postgres_url, autocommit=True) as look:
        counted = [look.execute(f'SELECT count(*) FROM "{postgres_schema}".{table}').fetchone() for table in ("runs", "audit")]
    assert counted == [(1,), (1,)]
    first.close()
    second.close()
