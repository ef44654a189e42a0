"""SQLite storage, the embedded default: one file under the project, WAL mode.

Each write transaction starts with BEGIN IMMEDIATE, so writers queue behind
each other and a commit's re-check and its writes see the same data. The
schema is created on first use and carries a version for later migrations.

Read-only transactions keep what they read decoded (`Decoded`: documents and
look-ups), for the next read-only transaction to use while the file holds the
same data: each starts by reading SQLite's `PRAGMA data_version` in its own
snapshot, which changes whenever another connection (another process, another
Engine on the same file) commits, and this connection's own commits empty it.
So a read never sees a record older than its snapshot, and a question such as
`available` reads and decodes nothing that has not changed.

Write transactions read documents from the file (what they read is the
caller's to change), but reuse the look-ups (`keys`: lists of references,
copied when handed out) kept while the data_version is the same, until the
transaction changes a document's look-up keys; their own commits keep the
look-ups their writes left as they were and forget the documents they wrote.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from clientflow.errors import ConfigError
from clientflow.hookspecs import RegisterStorage, hookimpl
from clientflow.storage import ConflictError, Document, IndexKey, ReadOnlyError, Ref, batches, dumps_body, loads_body

SCHEMA_VERSION = "1"
LOAD_BATCH = 1000  # documents per executemany when a data file is loaded
LOAD_CACHE_KIB = 65536  # the page cache while loading (default 2 MiB): at a million records it halves the time the index inserts take
SETTINGS_SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string", "description": "the database file, relative to the project folder"}},
    "additionalProperties": False,
}
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=30000")
SCHEDULED = """
CREATE TABLE IF NOT EXISTS scheduled (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, due TEXT NOT NULL, lease TEXT, subject TEXT NOT NULL, flow TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scheduled_due ON scheduled (status, due);
CREATE INDEX IF NOT EXISTS scheduled_subject ON scheduled (subject, flow);
"""  # added after schema version 1 was written: created in a database that lacks it, the version unchanged
SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    collection TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS keys (
    entity TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_lookup ON keys (entity, key, value);
CREATE INDEX IF NOT EXISTS keys_doc ON keys (collection, id);
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
    next_attempt TEXT, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, next_attempt);
"""
    + SCHEDULED
)


DECODED_MAX = 2048  # documents (and look-ups) kept decoded at most; past that, the oldest half is forgotten


class Decoded:
    """What transactions read, decoded, valid while `version` is the file's data_version on this connection.

    Documents are shared by the read-only transactions that get them (which never change
    what they read, as the storage contract says); a write transaction reads documents from
    the file itself, and uses and adds to the look-ups until it changes a document's keys.
    """

    __slots__ = ("version", "docs", "refs")

    def __init__(self) -> None:
        self.version: int | None = None  # None: nothing known (no connection yet, or a write committed)
        self.docs: dict[Ref, Document | None] = {}
        self.refs: dict[IndexKey, list[Ref]] = {}

    def forget(self, version: int | None = None) -> None:
        self.version = version
        self.docs.clear()
        self.refs.clear()

    @staticmethod
    def keep(table: dict[Any, Any], key: Any, value: Any) -> None:
        if len(table) >= DECODED_MAX:  # dicts keep insertion order: drop the older half
            for old in list(itertools.islice(table, DECODED_MAX // 2)):
                del table[old]
        table[key] = value


def _begun(storage: SQLiteStorage, begin: str) -> tuple[sqlite3.Connection, sqlite3.Cursor]:
    """The storage's lock taken, its connection, and its own cursor (one for every statement of one row: none made for
    each) with `begin` run; the lock released again should any of it fail."""
    storage._lock.acquire()
    try:
        conn = storage._connect()
        cursor = storage._cursor
        if cursor is None:
            cursor = storage._cursor = conn.cursor()
        cursor.execute(begin)
    except BaseException:
        storage._lock.release()
        raise
    return conn, cursor


class _Reading:
    """A read-only transaction's block: BEGIN, the data_version in its snapshot (the decoded records kept or forgotten), COMMIT."""

    __slots__ = ("storage", "cursor")

    def __init__(self, storage: SQLiteStorage) -> None:
        self.storage = storage

    def __enter__(self) -> SQLiteTransaction:
        storage = self.storage
        conn, cursor = _begun(storage, "BEGIN")
        self.cursor = cursor
        try:
            version = cursor.execute("PRAGMA data_version").fetchone()[0]  # read in this transaction's snapshot: what it will see
        except BaseException:
            storage._lock.release()
            raise
        decoded = storage.decoded
        if decoded.version != version:
            decoded.forget(version)
        return SQLiteTransaction(conn, False, decoded, cursor)

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            self.cursor.execute("ROLLBACK" if kind is not None else "COMMIT")
        finally:
            self.storage._lock.release()


class _Writing:
    """A write transaction's block: BEGIN IMMEDIATE, the data_version in its snapshot; COMMIT (what it wrote forgotten by
    the decoded records kept) or, on any exception, ROLLBACK (all of them forgotten). As `_Reading`, its statements of
    one row go through the connection's own cursor, not one made for each (a bulk commit makes about ten)."""

    __slots__ = ("storage", "cursor", "tx", "version")

    def __init__(self, storage: SQLiteStorage) -> None:
        self.storage = storage

    def __enter__(self) -> SQLiteTransaction:
        storage = self.storage
        conn, cursor = _begun(storage, "BEGIN IMMEDIATE")
        decoded = storage.decoded
        try:
            version = cursor.execute("PRAGMA data_version").fetchone()[0]  # in this transaction's snapshot: what it will see
            if decoded.version != version:
                decoded.forget(version)
            self.tx = SQLiteTransaction(conn, True, decoded, cursor)
        except BaseException:
            try:
                decoded.forget()
                cursor.execute("ROLLBACK")
            finally:
                storage._lock.release()
            raise
        self.cursor, self.version = cursor, version
        return self.tx

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        storage = self.storage
        decoded = storage.decoded
        try:
            if kind is not None:
                decoded.forget()
                self.cursor.execute("ROLLBACK")
                return
            try:
                self.cursor.execute("COMMIT")
            except BaseException:
                decoded.forget()
                raise
            # this connection's own commits leave its data_version as it was: what they changed is forgotten here
            tx = self.tx
            if tx.rewrote is None:
                decoded.forget(self.version)
            else:
                if tx.refs is None:
                    decoded.refs.clear()
                for ref in tx.rewrote:
                    decoded.docs.pop(ref, None)
        finally:
            storage._lock.release()


class SQLiteStorage:
    """A SQLite file; one connection per storage object, one transaction at a time."""

    name = "sqlite"

    def __init__(self, path: str | Path = ".clientflow/clientflow.db", **_settings: Any) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None  # the connection's cursor for a read-only transaction's BEGIN, data_version and COMMIT
        self.decoded = Decoded()  # emptied whenever the connection is opened or closed; a write forgets what it changed

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            fresh = not self.path.exists()
            cannot = f"cannot open the SQLite database {self.path}"
            try:
                if fresh:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            except (OSError, sqlite3.OperationalError) as exc:  # no folder can be made there, no permission: the user's to fix
                raise ConfigError(f"{cannot} ({getattr(exc, 'strerror', None) or exc}); give a --db in a folder you may write in") from exc
            try:
                for pragma in PRAGMAS:
                    conn.execute(pragma)
            except sqlite3.DatabaseError as exc:
                conn.close()
                if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN:  # its file cannot be made or opened there
                    raise ConfigError(f"{cannot} ({exc}); give a --db in a folder you may write in") from exc
                raise ConfigError(f"{self.path} is not a SQLite database ({exc}); remove it, or give another --db") from exc
            version = None
            if not fresh:
                try:
                    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                    version = row[0] if row else None
                except sqlite3.OperationalError:
                    version = None
            if version is None:
                conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + f"INSERT OR REPLACE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');COMMIT;")
            elif version != SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has storage schema version {version}; this engine knows {SCHEMA_VERSION}")
            elif conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='scheduled'").fetchone() is None:
                conn.executescript("BEGIN IMMEDIATE;" + SCHEDULED + "COMMIT;")
            self._conn, self._cursor = conn, None
            self.decoded.forget()  # a new connection counts data_version afresh
        return self._conn

    def missing(self) -> str | None:
        """None when the file is there; else its path (ExistingStorage): only a command that makes a store makes it."""
        return None if self._conn is not None or self.path.exists() else str(self.path)

    def transaction(self, *, write: bool = False) -> AbstractContextManager[SQLiteTransaction]:
        return _Writing(self) if write else _Reading(self)

    def clear(self) -> None:
        """Empty every table in one transaction; the storage schema stays."""
        with self.transaction(write=True) as tx:
            tx.clear()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = self._cursor = None
            self.decoded.forget()


class SQLiteTransaction:
    def __init__(self, conn: sqlite3.Connection, write: bool, decoded: Decoded | None = None, cursor: sqlite3.Cursor | None = None) -> None:
        self.conn = conn
        # for statements whose rows are read at once (not `scan`'s, read as they are wanted): the connection's own cursor
        self.cursor = conn.cursor() if cursor is None else cursor
        self.write = write
        self.decoded = decoded  # what earlier transactions decoded, valid in this snapshot: documents for a read-only one, look-ups for both
        self.refs = None if decoded is None else decoded.refs  # the look-ups kept; None once this transaction changed look-up keys
        self.rewrote: set[Ref] | None = set()  # the documents this transaction wrote; None: every one (clear, load)

    def _check(self) -> None:
        if not self.write:
            raise ReadOnlyError()

    def get(self, collection: str, id: str, *, lock: bool = False) -> Document | None:
        decoded = None if self.write else self.decoded  # a write transaction's documents are the caller's to change: read afresh
        if decoded is not None and (collection, id) in decoded.docs:
            return decoded.docs[(collection, id)]  # a Document or None, as read in this data_version
        row = self.cursor.execute("SELECT body, version FROM docs WHERE collection=? AND id=?", (collection, id)).fetchone()
        found = Document(collection, id, loads_body(row[0]), row[1]) if row else None
        if decoded is not None:
            decoded.keep(decoded.docs, (collection, id), found)
        return found

    def get_shared(self, collection: str, id: str) -> Document | None:
        """`get(collection, id)`, its body the caller's to read only (SharedReadTransaction): in a write transaction too,
        the decoded document kept while the file's data_version is the same, unless this transaction wrote it (then
        read from the file, and not kept: its commit forgets it, its rollback forgets all)."""
        decoded, rewrote, ref = self.decoded, self.rewrote, (collection, id)
        if decoded is None or rewrote is None or ref in rewrote:
            return self.get(collection, id)
        docs = decoded.docs
        if ref in docs:
            return docs[ref]
        row = self.cursor.execute("SELECT body, version FROM docs WHERE collection=? AND id=?", ref).fetchone()
        found = Document(collection, id, loads_body(row[0]), row[1]) if row else None
        Decoded.keep(docs, ref, found)
        return found

    def lookup(self, entity: str, key: str, value: str) -> list[Ref]:
        kept = self.refs
        if kept is not None:
            refs = kept.get((entity, key, value))
            if refs is not None:
                return list(refs)
        rows = self.cursor.execute(
            "SELECT DISTINCT collection, id FROM keys WHERE entity=? AND key=? AND value=? ORDER BY collection, id",
            (entity, key, value),
        )
        found = [(r[0], r[1]) for r in rows]
        if kept is not None:
            Decoded.keep(kept, (entity, key, value), list(found))
        return found

    def scan(self, collection: str, *, after: str | None = None, limit: int | None = None) -> Iterator[Document]:
        cursor = self.conn.execute(
            "SELECT id, body, version FROM docs WHERE collection=? AND id > ? ORDER BY id LIMIT ?",
            (collection, "" if after is None else after, -1 if limit is None else limit),
        )
        while rows := cursor.fetchmany(500):
            for id, body, version in rows:
                yield Document(collection, id, loads_body(body), version)

    def scan_ids(self, collection: str, *, after: str | None = None, limit: int | None = None) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM docs WHERE collection=? AND id > ? ORDER BY id LIMIT ?",
            (collection, "" if after is None else after, -1 if limit is None else limit),
        )
        return [row[0] for row in rows]

    def put(self, document: Document, keys: list[IndexKey] | None, *, expect_version: int | None) -> int:
        self._check()
        ref = (document.collection, document.id)
        body = dumps_body(document.body)
        if self.rewrote is not None:
            self.rewrote.add(ref)
        if expect_version is None:
            try:
                self.cursor.execute("INSERT INTO docs VALUES (?, ?, ?, 1)", (*ref, body))
            except sqlite3.IntegrityError as exc:
                raise ConflictError(*ref) from exc
            version = 1
        else:
            version = expect_version + 1
            cursor = self.cursor.execute(
                "UPDATE docs SET body=?, version=? WHERE collection=? AND id=? AND version=?",
                (body, version, *ref, expect_version),
            )
            if cursor.rowcount != 1:
                raise ConflictError(*ref)
            if keys is None:
                return version  # the document's keys stay as they are
            self.cursor.execute("DELETE FROM keys WHERE collection=? AND id=?", ref)
        self.refs = None
        self.conn.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", [(*k, *ref) for k in keys or ()])
        return version

    def load_documents(self, items: Iterable[tuple[Document, list[IndexKey]]]) -> int:
        """New documents by the thousand (`clientflow init`): one executemany per batch, all or nothing."""
        self._check()
        self.refs = self.rewrote = None
        conn, count = self.conn, 0
        cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}")
        conn.execute("SAVEPOINT load_documents")
        try:
            for batch in batches(items, LOAD_BATCH):
                conn.execute("SAVEPOINT load_batch")
                try:
                    conn.executemany("INSERT INTO docs VALUES (?, ?, ?, 1)", [(d.collection, d.id, dumps_body(d.body)) for d, _ in batch])
                except sqlite3.IntegrityError as exc:
                    conn.execute("ROLLBACK TO load_batch")
                    raise ConflictError(*self._first_taken(batch)) from exc
                conn.execute("RELEASE load_batch")
                conn.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", [(*k, d.collection, d.id) for d, keys in batch for k in keys])
                count += len(batch)
        except BaseException:
            conn.execute("ROLLBACK TO load_documents")
            conn.execute("RELEASE load_documents")
            raise
        finally:
            conn.execute(f"PRAGMA cache_size = {int(cache)}")
        conn.execute("RELEASE load_documents")
        return count

    def _first_taken(self, batch: list[tuple[Document, list[IndexKey]]]) -> Ref:
        """The first document of a batch that exists already (its batch rolled back) or comes twice."""
        seen: set[Ref] = set()
        for document, _ in batch:
            ref = (document.collection, document.id)
            if ref in seen or self.conn.execute("SELECT 1 FROM docs WHERE collection=? AND id=?", ref).fetchone():
                return ref
            seen.add(ref)
        return (batch[0][0].collection, batch[0][0].id)

    def clear(self) -> None:
        """Empty the store inside this transaction (`clientflow init --force`): every table, the schema version kept."""
        self._check()
        self.refs = self.rewrote = None
        for table in ("docs", "keys", "runs", "audit", "outbox", "scheduled"):
            self.conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        self.conn.execute("DELETE FROM meta WHERE key <> 'schema_version'")
        self.conn.execute("DELETE FROM sqlite_sequence")

    def delete(self, collection: str, id: str, *, expect_version: int) -> None:
        self._check()
        self.refs = None
        if self.rewrote is not None:
            self.rewrote.add((collection, id))
        cursor = self.conn.execute("DELETE FROM docs WHERE collection=? AND id=? AND version=?", (collection, id, expect_version))
        if cursor.rowcount != 1:
            raise ConflictError(collection, id)
        self.conn.execute("DELETE FROM keys WHERE collection=? AND id=?", (collection, id))

    def add_audit(self, entry: dict[str, Any]) -> None:
        self._check()
        try:
            self.cursor.execute("INSERT INTO audit (id, body) VALUES (?, ?)", (entry["id"], dumps_body(entry)))
        except sqlite3.IntegrityError as exc:
            raise ConflictError("audit", entry["id"]) from exc

    def audit(self, *, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT body FROM audit ORDER BY seq LIMIT ? OFFSET ?", (-1 if limit is None else limit, since))
        return [json.loads(r[0]) for r in rows]

    def save_run(self, run: dict[str, Any]) -> None:
        self._check()
        self.cursor.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (run["id"], dumps_body(run)))

    def runs(self, *, after: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        rows = self.conn.execute("SELECT body FROM runs WHERE id > ? ORDER BY id LIMIT ?", ("" if after is None else after, -1 if limit is None else limit))
        for (body,) in rows:
            yield json.loads(body)

    def load_run(self, id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT body FROM runs WHERE id=?", (id,)).fetchone()
        return json.loads(row[0]) if row else None

    def add_outbox(self, messages: list[dict[str, Any]]) -> None:
        self._check()
        try:
            self.conn.executemany(
                "INSERT INTO outbox (id, status, next_attempt, body) VALUES (?, ?, ?, ?)",
                [(m["id"], m["status"], m.get("next_attempt"), dumps_body(m)) for m in messages],
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError("outbox", str(exc)) from exc

    def outbox(self, *, status: str | None = None, due: str | None = None, limit: int | None = None, claim: bool = False) -> list[dict[str, Any]]:
        sql, args = "SELECT seq, body FROM outbox WHERE 1=1", list[Any]()
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        if due is not None:
            sql += " AND coalesce(next_attempt, '') <= ?"
            args.append(due)
        sql += " ORDER BY seq LIMIT ?"
        args.append(-1 if limit is None else limit)
        found = []
        for seq, body in self.conn.execute(sql, args):
            message = json.loads(body)
            message["seq"] = seq
            found.append(message)
        return found

    def update_outbox(self, id: str, changes: dict[str, Any]) -> None:
        self._check()
        row = self.conn.execute("SELECT body FROM outbox WHERE id=?", (id,)).fetchone()
        if row is None:
            raise KeyError(id)
        message = json.loads(row[0])
        message.update(changes)
        message.pop("seq", None)
        self.conn.execute(
            "UPDATE outbox SET status=?, next_attempt=?, body=? WHERE id=?",
            (message["status"], message.get("next_attempt"), dumps_body(message), id),
        )

    def add_scheduled(self, items: list[dict[str, Any]]) -> None:
        self._check()
        self.conn.execute("SAVEPOINT add_scheduled")
        try:
            self.conn.executemany(
                "INSERT INTO scheduled (id, status, due, lease, subject, flow, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(i["id"], i["status"], i["due"], i.get("lease"), i["subject"], i["flow"], dumps_body(i)) for i in items],
            )
        except sqlite3.IntegrityError as exc:
            self.conn.execute("ROLLBACK TO add_scheduled")
            raise ConflictError("scheduled", str(exc)) from exc
        finally:
            self.conn.execute("RELEASE add_scheduled")

    def scheduled(
        self,
        *,
        status: str | None = None,
        due: str | None = None,
        subject: str | None = None,
        flow: str | None = None,
        limit: int | None = None,
        claim: bool = False,
        id: str | None = None,
    ) -> list[dict[str, Any]]:
        sql, args = "SELECT body FROM scheduled WHERE 1=1", list[Any]()
        for column, value in (("id", id), ("status", status), ("subject", subject), ("flow", flow)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        if due is not None:
            sql += " AND due <= ? AND coalesce(lease, '') <= ?"
            args += [due, due]
        sql += " ORDER BY due, id LIMIT ?"
        args.append(-1 if limit is None else limit)
        return [json.loads(body) for (body,) in self.conn.execute(sql, args)]

    def update_scheduled(self, id: str, changes: dict[str, Any]) -> None:
        self._check()
        row = self.conn.execute("SELECT body FROM scheduled WHERE id=?", (id,)).fetchone()
        if row is None:
            raise KeyError(id)
        item = json.loads(row[0])
        item.update(changes)
        self.conn.execute(
            "UPDATE scheduled SET status=?, due=?, lease=?, body=? WHERE id=?",
            (item["status"], item["due"], item.get("lease"), dumps_body(item), id),
        )

    def get_meta(self, key: str) -> str | None:
        row = self.cursor.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def get_locked_with_meta(self, collection: str, id: str, key: str) -> tuple[Document | None, str | None]:
        """`get(collection, id, lock=True)` and `get_meta(key)` in one statement (OnceTransaction): a bulk commit's first
        question. A write transaction holds the file's write lock from its BEGIN IMMEDIATE on, so both are read under it
        (the engine would otherwise read the key, lock the subject, and read the key again: two statements fewer a subject,
        2,000 a 1,000-subject `bulk --yes`)."""
        if not self.write:
            return self.get(collection, id), self.get_meta(key)
        body, version, value = self.cursor.execute(
            "SELECT d.body, d.version, (SELECT value FROM meta WHERE key=?) FROM (SELECT 1) LEFT JOIN docs d ON d.collection=? AND d.id=?",
            (key, collection, id),
        ).fetchone()
        return (None if body is None else Document(collection, id, loads_body(body), version)), value

    def set_meta(self, key: str, value: str | None) -> None:
        self._check()
        if value is None:
            self.cursor.execute("DELETE FROM meta WHERE key=?", (key,))
        else:
            self.cursor.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


class SQLitePlugin:
    """Registers the SQLite backend under the name `sqlite` (the default)."""

    @hookimpl
    def clientflow_register_storage(self, register: RegisterStorage) -> None:
        register("sqlite", SQLiteStorage, settings=SETTINGS_SCHEMA)
