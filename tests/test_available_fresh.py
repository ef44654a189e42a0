"""Availability reads fresh data: SQLite's decoded records are never stale, and a question's scope computes names when read.

SQLite keeps what read-only transactions decoded while `PRAGMA data_version` (read in each
one's snapshot) is unchanged, and forgets what its own commits changed, and everything when its
connection is opened or closed (plugins/sqlite.py). A committed change must be seen by the very next read:
by the engine that made it, by another engine on the same file, by a plain sqlite3 writer.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import DEMO, NOW, PROJECT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.plugins import Registry
from clientflow.storage import Document


def _engine(db: Path, *, load: bool = False, root: Path = PROJECT) -> Engine:
    engine = Engine.open(root, db=db, now=NOW, notifiers={})
    if load:
        engine.load_data(DEMO)
    return engine


def _offered(engine: Engine, actor: str = "u1", subject: str = "c1") -> list[str]:
    return engine.available(actor, subject).offered()


def test_a_commit_by_another_engine_on_the_same_file_is_seen_by_the_next_question(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    first, second = _engine(db, load=True), _engine(db)
    before = _offered(first)
    assert "deactivate-client" in before and "reactivate-client" not in before  # asked once: its records are now kept decoded
    assert _offered(first) == before
    plan = second.apply("deactivate-client", "u1", "c1", {"notify_client": False})
    assert plan is not None and plan.status == "completed", plan
    after = _offered(first)
    assert "reactivate-client" in after and "deactivate-client" not in after
    second.apply("reactivate-client", "u1", "c1", {})
    assert _offered(first) == before
    first.close()
    second.close()


def test_the_engines_own_commit_is_seen_by_its_next_question(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "own.db", load=True)
    assert "deactivate-client" in _offered(engine)
    engine.apply("deactivate-client", "u1", "c1", {"notify_client": False})
    assert "reactivate-client" in _offered(engine) and "deactivate-client" not in _offered(engine)
    engine.close()


def test_a_write_by_plain_sqlite3_is_seen_and_a_reopened_connection_forgets_what_it_kept(tmp_path: Path) -> None:
    db = tmp_path / "raw.db"
    engine = _engine(db, load=True)
    assert engine.available("u1", "c1").to_json()["flows"][0]["available"] is True
    raw = sqlite3.connect(db, isolation_level=None)
    body = json.loads(raw.execute("SELECT body FROM docs WHERE collection='clients' AND id='c1'").fetchone()[0])
    body["subscription"] = "deactivated"
    raw.execute("UPDATE docs SET body=?, version=version+1 WHERE collection='clients' AND id='c1'", (json.dumps(body),))
    assert "reactivate-client" in _offered(engine)
    engine.storage.close()  # a new connection counts data_version afresh: nothing kept survives it
    body["subscription"] = "active"
    raw.execute("UPDATE docs SET body=?, version=version+1 WHERE collection='clients' AND id='c1'", (json.dumps(body),))
    assert "deactivate-client" in _offered(engine)
    raw.close()
    engine.close()


def test_a_rolled_back_write_leaves_nothing_kept_that_it_wrote(tmp_path: Path) -> None:
    store = Registry.collect().storage("sqlite", path=str(tmp_path / "rollback.db"))
    with store.transaction(write=True) as tx:
        tx.put(Document("things", "a", {"n": 1}, 0), [("thing", "id", "a")], expect_version=None)
    with store.transaction() as tx:
        assert tx.get("things", "a") == Document("things", "a", {"n": 1}, 1)
    with store.transaction(write=True) as tx:  # this connection's own commit: its data_version stays as it was
        tx.put(Document("things", "a", {"n": 3}, 0), None, expect_version=1)
    with store.transaction() as tx:
        assert tx.get("things", "a") == Document("things", "a", {"n": 3}, 2)
    with store.transaction(write=True) as tx:
        tx.put(Document("things", "a", {"n": 1}, 0), None, expect_version=2)
    try:
        with store.transaction(write=True) as tx:
            tx.put(Document("things", "a", {"n": 2}, 0), None, expect_version=3)
            assert tx.get("things", "a") == Document("things", "a", {"n": 2}, 4)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with store.transaction() as tx:
        assert tx.get("things", "a") == Document("things", "a", {"n": 1}, 3)
        assert tx.lookup("thing", "id", "a") == [("things", "a")]
    store.close()


_steps = st.lists(
    st.tuples(st.sampled_from(["write", "read", "delete", "reopen"]), st.integers(0, 2), st.sampled_from(["a", "b"]), st.integers(0, 9)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_steps)
def test_reads_always_see_the_last_committed_write_whoever_wrote_it(tmp_path_factory: object, steps: list[tuple[str, int, str, int]]) -> None:
    """Three connections to one file (two storages and plain sqlite3) write, delete and read in any order: every read is the last commit."""
    folder = tmp_path_factory.mktemp("fresh")  # type: ignore[attr-defined]
    path = folder / "prop.db"
    stores = [Registry.collect().storage("sqlite", path=str(path)) for _ in range(2)]
    with stores[0].transaction():
        pass  # the schema
    raw = sqlite3.connect(path, isolation_level=None)
    model: dict[str, tuple[int, int]] = {}  # id -> (value, version)
    for action, who, id, value in steps:
        if action == "reopen":
            stores[who % 2].close()
        elif action == "read":
            store = stores[who % 2]
            with store.transaction() as tx:
                found = tx.get("things", id)
                refs = tx.lookup("thing", "value", str(model[id][0])) if id in model else []
            if id in model:
                assert found == Document("things", id, {"value": model[id][0]}, model[id][1])
                assert ("things", id) in refs
            else:
                assert found is None
        elif action == "write" and who == 2:  # another process: plain SQL
            version = model[id][1] + 1 if id in model else 1
            body = json.dumps({"value": value})
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT OR REPLACE INTO docs VALUES ('things', ?, ?, ?)", (id, body, version))
            raw.execute("DELETE FROM keys WHERE collection='things' AND id=?", (id,))
            raw.execute("INSERT INTO keys VALUES ('thing', 'value', ?, 'things', ?)", (str(value), id))
            raw.execute("COMMIT")
            model[id] = (value, version)
        elif action == "write":
            with stores[who].transaction(write=True) as tx:
                current = tx.get("things", id)
                version = tx.put(
                    Document("things", id, {"value": value}, 0), [("thing", "value", str(value))], expect_version=None if current is None else current.version
                )
            model[id] = (value, version)
        elif action == "delete" and id in model:
            store = stores[who % 2]
            with store.transaction(write=True) as tx:
                tx.delete("things", id, expect_version=model[id][1])
            del model[id]
    raw.close()
    for store in stores:
        store.close()


def test_a_context_name_no_rule_reads_is_not_computed_and_one_that_fails_refuses_only_what_reads_it(project_copy: Path) -> None:
    project = project_copy / "flows" / "project.yaml"
    text = project.read_text(encoding="utf-8")
    project.write_text(
        text.replace("  partner: lookup('partner', client.partner)\n", "  partner: lookup('partner', client.partner)\n  unread: client.users[99]\n"),
        encoding="utf-8",
    )
    engine = Engine.open(project_copy, data=DEMO, now=NOW)
    assert engine.available("u1", "c1").to_json() == Engine.open(PROJECT, data=DEMO, now=NOW).available("u1", "c1").to_json()

    project.write_text(text.replace("lookup('partner', client.partner)", "lookup('partner', client.users[99].id)"), encoding="utf-8")
    broken = Engine.open(project_copy, data=DEMO, now=NOW)
    answer = {f.flow: f for f in broken.available("u1", "c2").flows}  # c2 has no users: the name cannot be computed
    invite = answer["invite-accountant"]
    assert not invite.available
    messages = [r["message"] for r in invite.reasons if r["rule"] == "not-connected"]
    assert messages and "could not be written" in messages[0], invite.reasons  # its message reads the name
    assert [v.rule for v in invite.rules if v.broken] == []
    assert answer["deactivate-client"].available, answer["deactivate-client"]  # nothing there reads it
    assert broken.checker()("u1", "c2") == broken.available("u1", "c2").to_json()["flows"]


def test_a_text_jinja2_renders_sees_every_name_of_a_question(project_copy: Path) -> None:
    rules = project_copy / "flows" / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    old = "{{ client.name }} is already connected to {{ partner.name if partner else 'a practice' }}."
    assert old in text
    loop = "{% for u in client.users %}{{ u.id }} {% endfor %}connected to {{ partner.name }} in {{ now.year }}."  # a loop: Jinja2 renders it
    rules.write_text(text.replace(old, loop).replace("That practice has to disconnect it before you can invite another one.", ""), encoding="utf-8")
    engine = Engine.open(project_copy, data=DEMO, now=NOW)
    reasons = [r for f in engine.available("u1", "c1").flows for r in f.reasons if r["rule"] == "not-connected"]
    assert reasons and reasons[0]["message"] == "cu1 cu2 connected to Northwind Bookkeeping in 2025.", reasons


def test_records_read_only_find_and_find_held_answer_as_the_general_look_ups() -> None:
    """Records.find and find_held read a question's parties directly when nothing changed; the same records, holders and refusals."""
    import yaml

    from clientflow.errors import UnknownName
    from clientflow.runtime.data import Records

    engine = Engine.open(PROJECT, data=DEMO)
    project = engine.project
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    users = [u[k] for group in ("partners", "clients") for r in data[group] for u in r["users"] for k in ("id", "email")]
    clients = [c[k] for c in data["clients"] for k in ("id", "name")]
    compared = held = 0
    with engine.storage.transaction() as tx:
        lean = Records(project, tx)
        general = Records(project, tx)
        general.deleted = {("nowhere", "x")}  # a change (of nothing read here): the general look-ups answer
        for given in [*users, "nobody", "u1 ", ""]:
            try:
                want = general.find_held(project.actor_entity, given, project.actor_match)
            except UnknownName as exc:
                want = ("refused", str(exc))  # type: ignore[assignment]
            try:
                got = lean.find_held(project.actor_entity, given, project.actor_match)
            except UnknownName as exc:
                got = ("refused", str(exc))  # type: ignore[assignment]
            assert got == want, given
            compared += 1
            held += got[0] != "refused" and got[1] is not None
        for given in [*clients, "nobody", "c1 "]:
            try:
                found = general.find(project.subject_entity, given, project.subject_match)
            except UnknownName as exc:
                found = {"refused": str(exc)}
            try:
                mine = lean.find(project.subject_entity, given, project.subject_match)
            except UnknownName as exc:
                mine = {"refused": str(exc)}
            assert mine == found, given
            compared += 1
        partners = [p["id"] for p in data["partners"]]
        for entity, ids in (("client", [*clients, "nobody"]), ("partner", [*partners, "nobody"]), ("user", [*users[:4], "nobody"])):
            for given in ids:  # `get` (what lookup() gives conditions) reads a top-level record directly when nothing changed
                assert lean.get(entity, given) == general.get(entity, given), (entity, given)
                compared += 1
                held += lean.get(entity, given) is not None
    # every user found, with the record holding it; by `get`, each record by its id (two users among the four words)
    assert compared > 20 and held == len(users) + len(data["clients"]) + len(partners) + 2


_write_steps = st.lists(
    st.tuples(
        st.sampled_from(["write", "touch", "look", "read", "delete", "rollback", "reopen"]), st.integers(0, 2), st.sampled_from(["a", "b"]), st.integers(0, 3)
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_write_steps)
def test_look_ups_kept_across_write_transactions_are_always_those_of_the_last_commit(tmp_path_factory: object, steps: list[tuple[str, int, str, int]]) -> None:
    """Write transactions reuse the look-ups, and their shared reads (`get_shared`) the documents, kept while data_version
    is unchanged (plugins/sqlite.py): whatever writes, touches (keys unchanged), rolls back or reopens in between, each
    look-up and each read, in a write or a read, gives what the last commit holds."""
    folder = tmp_path_factory.mktemp("kept")  # type: ignore[attr-defined]
    path = folder / "prop.db"
    stores = [Registry.collect().storage("sqlite", path=str(path)) for _ in range(2)]
    with stores[0].transaction():
        pass  # the schema
    raw = sqlite3.connect(path, isolation_level=None)
    model: dict[str, tuple[int, int, int]] = {}  # id -> (key value, note, version)

    def expected(value: int) -> list[tuple[str, str]]:
        return sorted(("things", id) for id, (v, _, _) in model.items() if v == value)

    def check(tx: object, id: str) -> None:
        for value in range(4):
            assert tx.lookup("thing", "value", str(value)) == expected(value), (value, model)  # type: ignore[attr-defined]
        found = tx.get("things", id)  # type: ignore[attr-defined]
        assert found == (Document("things", id, {"value": model[id][0], "note": model[id][1]}, model[id][2]) if id in model else None)
        assert tx.get_shared("things", id) == found  # type: ignore[attr-defined] # kept between transactions, never stale

    for action, who, id, value in steps:
        store = stores[who % 2]
        if action == "reopen":
            store.close()
        elif action == "read":
            with store.transaction() as tx:
                check(tx, id)
        elif action == "look":  # look-ups in a write transaction that writes nothing else
            with store.transaction(write=True) as tx:
                check(tx, id)
                tx.save_run({"id": f"r{value}", "n": value})
        elif action == "write" and who == 2:  # another process: plain SQL
            version = model[id][2] + 1 if id in model else 1
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT OR REPLACE INTO docs VALUES ('things', ?, ?, ?)", (id, json.dumps({"value": value, "note": 0}), version))
            raw.execute("DELETE FROM keys WHERE collection='things' AND id=?", (id,))
            raw.execute("INSERT INTO keys VALUES ('thing', 'value', ?, 'things', ?)", (str(value), id))
            raw.execute("COMMIT")
            model[id] = (value, 0, version)
        elif action in ("write", "rollback"):
            try:
                with store.transaction(write=True) as tx:
                    check(tx, id)
                    current = tx.get("things", id)
                    version = tx.put(
                        Document("things", id, {"value": value, "note": 0}, 0), [("thing", "value", str(value))],
                        expect_version=None if current is None else current.version,
                    )  # fmt: skip
                    if action == "rollback":
                        raise RuntimeError("roll back")
                    model[id] = (value, 0, version)
                    check(tx, id)
            except RuntimeError:
                pass
        elif action == "touch" and id in model:  # the document changes, its keys do not
            with store.transaction(write=True) as tx:
                check(tx, id)
                version = tx.put(Document("things", id, {"value": model[id][0], "note": value}, 0), None, expect_version=model[id][2])
            model[id] = (model[id][0], value, version)
        elif action == "delete" and id in model:
            with store.transaction(write=True) as tx:
                tx.delete("things", id, expect_version=model[id][2])
                del model[id]
                check(tx, id)
        for other in stores:
            with other.transaction() as tx:
                check(tx, id)
    raw.close()
    for store in stores:
        store.close()
