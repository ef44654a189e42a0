"""PostgreSQL storage: one database shared by many engine processes and workers.

Write transactions run at READ COMMITTED: `get(..., lock=True)` takes the row
lock (`SELECT ... FOR UPDATE`) and every write checks the version it read, so a
commit's re-check and its writes cannot interleave with another machine's
commit on the same record. Outbox claims use `FOR UPDATE SKIP LOCKED`, so
workers never take the same message. Read transactions see one snapshot
(REPEATABLE READ, READ ONLY). The tables live in their own PostgreSQL schema
(setting `schema`, default `clientflow`), created and versioned on first use
under an advisory lock; `missing()` tells whether it is there without creating
it. psycopg is imported when a storage is opened, so the package works without it.

Round trips: a transaction's BEGIN, and the writes whose outcome the caller
does not wait for, are held back and sent with the next statement that needs
an answer, or with COMMIT, in one pipeline (psycopg's pipeline mode): a bulk
commit's update, run, audit row, outbox rows and resume key go to the server
with its COMMIT in one round trip, and its first question (the subject, locked;
then, in a statement of its own so that it is read once the lock is held, is the
resume key recorded?) is one round trip (`get_locked_with_meta`), the actor's
look-up read by that second statement too (`get_locked_with_meta_then_lookup`). A read-only transaction holds nothing
back but its BEGIN, and sends it on its own just before its first statement:
for BEGIN and one statement, psycopg's pipeline mode costs more CPU than the
round trip it saves, and on a server nearby more time too (BEGIN, a look-up
and COMMIT: 106 against 63 µs of CPU, 175 against 119 µs). A question
(`question()`, which `Engine.available` reads through) sends its first
statement alone, without BEGIN or COMMIT, and opens its snapshot only when it
needs a second statement (see there): one round trip when one statement
answers it. Only writes that cannot fail, or whose failure the server reports
as an error (which aborts the transaction, so
COMMIT does not happen), are held back: a run or a meta value (upserts), an
audit or outbox row (a used id is a unique violation: ConflictError), an
update or deletion of a document this transaction holds locked at the very
version it expects (a guard divides by zero should it not match), and an
update of a scheduled item this transaction holds locked (read FOR UPDATE). Such a ConflictError is
raised by the statement that carried the write, or by COMMIT; either way the
transaction rolls back whole. psycopg prepares each statement on the server
after its fifth use (its `prepare_threshold`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from clientflow.config import hide_secrets
from clientflow.errors import ConfigError
from clientflow.hookspecs import RegisterStorage, hookimpl
from clientflow.storage import ConflictError, Document, IndexKey, ReadOnlyError, Ref, SnapshotMoved, batches, dumps_body

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = "1"
DEFAULT_SCHEMA = "clientflow"
PAGE = 500  # rows per page of a scan
LOAD_BATCH = 5000  # documents per COPY when a data file is loaded
LOCK_NAMESPACE = 0x636C66  # first key of the advisory lock taken while creating the schema
SETTINGS = ("url", "schema", "connect_timeout", "lock_timeout", "application_name")
SETTINGS_SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": ["string", "null"], "description": "postgresql://user@host:5432/dbname, or a keyword DSN"},
        "schema": {"type": "string", "description": "the PostgreSQL schema that holds the tables"},
        "connect_timeout": {"type": "number", "exclusiveMinimum": 0},
        "lock_timeout": {"type": "number", "exclusiveMinimum": 0},
        "application_name": {"type": "string"},
    },
    "additionalProperties": False,
}
READ_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"  # a read transaction sees one snapshot
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# {s} is the quoted schema; ids and keys compare byte-wise (COLLATE "C") so that
# every backend orders them the same way, whatever the database's locale.
SCHEDULED = """
CREATE TABLE IF NOT EXISTS {s}.scheduled (
    id text COLLATE "C" PRIMARY KEY, status text COLLATE "C" NOT NULL, due text COLLATE "C" NOT NULL, lease text COLLATE "C",
    subject text COLLATE "C" NOT NULL, flow text COLLATE "C" NOT NULL, body text NOT NULL
);
CREATE INDEX IF NOT EXISTS scheduled_due ON {s}.scheduled (status, due);
CREATE INDEX IF NOT EXISTS scheduled_subject ON {s}.scheduled (subject, flow);
"""  # added after schema version 1 was written: created in a schema that lacks it, the version unchanged
TABLES = (
    """
CREATE TABLE IF NOT EXISTS {s}.meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.docs (
    collection text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, body text NOT NULL, version bigint NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS {s}.keys (
    entity text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text COLLATE "C" NOT NULL,
    collection text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_lookup ON {s}.keys (entity, key, value);
CREATE INDEX IF NOT EXISTS keys_doc ON {s}.keys (collection, id);
CREATE TABLE IF NOT EXISTS {s}.runs (id text COLLATE "C" PRIMARY KEY, body text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.audit (seq bigserial PRIMARY KEY, id text COLLATE "C" NOT NULL UNIQUE, body text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.outbox (
    seq bigserial PRIMARY KEY, id text COLLATE "C" NOT NULL UNIQUE, status text COLLATE "C" NOT NULL,
    next_attempt text COLLATE "C", body text NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_status ON {s}.outbox (status, seq);
"""
    + SCHEDULED
)


class PostgresStorage:
    """A PostgreSQL database; one connection per storage object, one transaction at a time.

    Settings: `url` (a `postgresql://` URL, required), `schema` (the PostgreSQL
    schema holding the tables), `connect_timeout` and `lock_timeout` (seconds),
    `application_name` (shown in `pg_stat_activity`).
    """

    name = "postgresql"

    def __init__(
        self,
        url: str | None = None,
        schema: str = DEFAULT_SCHEMA,
        connect_timeout: float = 10,
        lock_timeout: float = 30,
        application_name: str = "clientflow",
        project_root: Any = None,  # every factory gets it; a server needs no folder
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigError(f"unknown PostgreSQL storage setting(s) {', '.join(sorted(unknown))}; known: {', '.join(SETTINGS)}")
        if not url:
            raise ConfigError("the postgresql storage needs a url: set storage.url or CLIENTFLOW_DB=postgresql://user@host:5432/dbname")
        if not _SCHEMA_NAME.match(schema):
            raise ConfigError(f"storage schema {schema!r} must be lower-case letters, digits and underscores (at most 63), starting with a letter")
        try:
            import psycopg  # noqa: F401 - only to fail here, with advice, when it is missing
        except ImportError as exc:
            raise ConfigError("the postgresql storage needs psycopg 3: pip install 'clientflow[postgres]'") from exc
        self.url = url
        self.schema = schema
        self.connect_timeout = float(connect_timeout)
        self.lock_timeout = float(lock_timeout)
        self.application_name = application_name
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._cursor: psycopg.Cursor[Any] | None = None  # the last transaction's, for the next one on the same connection
        self._pid = os.getpid()
        self._inherited: list[Any] = []

    # connection ---------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        if self._pid != os.getpid():
            # A forked child must not use (or close) its parent's socket: keep the
            # object alive, unused, so that its finaliser never says goodbye for it.
            if self._conn is not None:
                self._inherited.append(self._conn)
            self._conn, self._pid = None, os.getpid()
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._conn = None
        if self._conn is None:
            conn = self._dial()
            try:
                self._ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _dial(self) -> psycopg.Connection[Any]:
        """A new connection with this storage's lock timeout, the schema not looked at."""
        import psycopg  # the postgres extra (psycopg, ~100 ms): imported when this storage connects, not with the plugin

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout)), application_name=self.application_name)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to PostgreSQL at {hide_secrets(self.url, self.url)}: {hide_secrets(str(exc).strip(), self.url)}") from exc
        try:
            conn.execute(f"SET lock_timeout = {int(self.lock_timeout * 1000)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def missing(self) -> str | None:
        """None when the schema is there; else the database and schema it should be in (ExistingStorage), nothing made.

        The connection that looked is kept for the transactions that follow (its schema checked as `_connect` checks it).
        """
        with self._lock:
            if self._conn is not None:  # it was there when this storage connected (in this process or its parent)
                return None
            conn = self._dial()
            try:
                row = conn.execute("SELECT to_regclass(%s)", (f'"{self.schema}".meta',)).fetchone()
                if row is None or row[0] is None:
                    conn.close()
                    return f"{hide_secrets(self.url, self.url)} (it has no schema {self.schema!r})"
                self._ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            return None

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        s = f'"{self.schema}"'
        row = conn.execute("SELECT to_regclass(%s), to_regclass(%s)", (f"{s}.meta", f"{s}.scheduled")).fetchone()
        if row is None or row[0] is None or row[1] is None:
            with conn.transaction():
                # Processes starting together: the first creates, the others wait and find it done.
                conn.execute("SELECT pg_advisory_xact_lock(%s::int, %s::int)", (LOCK_NAMESPACE, zlib.crc32(self.schema.encode()) - 2**31))
                exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone()
                if exists is None:
                    conn.execute(f"CREATE SCHEMA {s}")
                for statement in TABLES.format(s=s).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"INSERT INTO {s}.meta VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING", (SCHEMA_VERSION,))
        found = conn.execute(f"SELECT value FROM {s}.meta WHERE key = 'schema_version'").fetchone()
        version = found[0] if found else None
        if version != SCHEMA_VERSION:
            raise ConfigError(f"PostgreSQL schema {self.schema!r} has storage schema version {version}; this engine knows {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[PostgresTransaction]:
        begin = "BEGIN ISOLATION LEVEL READ COMMITTED" if write else READ_BEGIN
        with self._lock:
            yield from self._run(self._transaction(write, begin))

    @contextmanager
    def question(self) -> Iterator[PostgresTransaction]:
        """A read-only transaction whose first statement goes alone, without BEGIN or COMMIT (QuestionStorage).

        A statement sees one snapshot by itself, so a question its first statement answers costs one
        round trip. A second statement opens the snapshot (BEGIN), runs the first again and, when its
        rows are the same, goes on: everything read is then as of that snapshot. When they differ,
        SnapshotMoved: the caller asks again in `transaction()`.
        """
        with self._lock:
            yield from self._run(self._transaction(False, READ_BEGIN, lazy=True))

    def _transaction(self, write: bool, begin: str, *, lazy: bool = False) -> PostgresTransaction:
        """A transaction on the connection, with the cursor the last one left (a cursor made per transaction was about 5 us of
        a question's CPU); one nested in another makes its own, so that neither overwrites the answer the other reads."""
        conn = self._connect()
        cursor, self._cursor = self._cursor, None
        if cursor is not None and (cursor.connection is not conn or cursor.closed):
            cursor = None
        return PostgresTransaction(conn, self.schema, write, begin=begin, reconnect=self._reconnect, lazy=lazy, cursor=cursor)

    def _run(self, tx: PostgresTransaction) -> Iterator[PostgresTransaction]:
        """Yield `tx`; then COMMIT it, or ROLLBACK what it sent when the block or COMMIT failed."""
        import psycopg  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        try:
            yield tx
        except BaseException:
            tx.abandon()
            if tx.begun:
                self._end(tx.conn, "ROLLBACK")
            raise
        try:
            tx.finish()
        except psycopg.OperationalError:
            # The connection broke: drop it, the next transaction connects afresh.
            self._drop(tx.conn)
            raise
        except BaseException:
            self._end(tx.conn, "ROLLBACK")  # a write held back until COMMIT failed: nothing of it stays
            raise
        if tx.conn is self._conn:
            self._cursor = tx.cursor  # for the next transaction (only one that finished cleanly leaves it)

    def _reconnect(self) -> psycopg.Connection[Any]:
        """A new connection, when the server restarted or dropped an idle one before a transaction sent anything."""
        self.close()
        return self._connect()

    def _drop(self, conn: psycopg.Connection[Any]) -> None:
        self._conn, self._cursor = None, None
        conn.close()

    def _end(self, conn: psycopg.Connection[Any], statement: str) -> None:
        import psycopg  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        try:
            conn.execute(statement)
        except psycopg.OperationalError:
            # The connection broke: drop it, the next transaction connects afresh.
            self._drop(conn)
            if statement == "COMMIT":
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self._cursor = None, None

    def clear(self) -> None:
        """Empty every table of the schema in one transaction; the storage schema stays."""
        with self.transaction(write=True) as tx:
            tx.clear()

    def drop_schema(self) -> None:
        """Remove the schema and everything in it (for tests and teardown)."""
        with self._lock:
            conn = self._connect()
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self.close()


def _raw(result: Any) -> list[tuple[bytes | None, ...]]:
    """The rows of a statement's answer as the server sent them, undecoded (the same statement's answers are equal when these are)."""
    if result is None or not result.nfields:
        return []
    columns = range(result.nfields)
    return [tuple(result.get_value(row, column) for column in columns) for row in range(result.ntuples)]


_PIPELINE: list[bool] = []  # whether libpq has pipeline mode, asked once


def _pipeline_supported() -> bool:
    if not _PIPELINE:
        import psycopg  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        _PIPELINE.append(psycopg.Pipeline.is_supported())
    return _PIPELINE[0]


_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, bytes] | None] = weakref.WeakKeyDictionary()  # a connection's statements prepared by `_exec_prepared`
_PREPARING = threading.Lock()
_NAMES = itertools.count(1)  # a name a statement was prepared under is never given again in this process


def _exec_prepared(conn: psycopg.Connection[Any], sql: str, params: list[str]) -> Any:
    """`sql` (its parameters %s, none a literal %) run with these text parameters as a statement prepared on `conn`, prepared
    the first time (named clientflow_N, never psycopg's own names); its answer, a PGresult in text format. None when
    `conn` is not in UTF-8 (the caller sends it through a cursor). Errors are psycopg's, as a cursor raises them."""
    from psycopg import pq  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

    with _PREPARING:
        if conn not in _PREPARED:
            _PREPARED[conn] = {} if conn.info.encoding == "utf-8" else None
        names = _PREPARED[conn]
    if names is None:
        return None
    pgconn = conn.pgconn
    values = [value.encode() for value in params]
    for attempt in (1, 2):
        name = names.get(sql)
        if name is None:
            name = f"clientflow_{next(_NAMES)}".encode()
            text = sql.split("%s")
            prepared = pgconn.prepare(name, "".join(part + (f"${n}" if n < len(text) else "") for n, part in enumerate(text, 1)).encode())
            if prepared.status != pq.ExecStatus.COMMAND_OK:
                raise _failed(pgconn, prepared)
            names[sql] = name
        result = pgconn.exec_prepared(name, values)
        if result.status == pq.ExecStatus.TUPLES_OK:
            return result
        if attempt == 1 and result.error_field(pq.DiagnosticField.SQLSTATE) == b"26000" and pgconn.status == pq.ConnStatus.OK:
            del names[sql]  # deallocated by someone else (DEALLOCATE ALL, DISCARD ALL): prepared again, once
            continue
        raise _failed(pgconn, result)
    raise AssertionError("unreachable")


_LOOKUP_DOCUMENTS = (
    "SELECT d.collection, d.id, d.body, d.version FROM {s}.docs d "
    "JOIN (SELECT DISTINCT collection, id FROM {s}.keys WHERE entity = %s AND key = %s AND value = %s) k "
    "ON d.collection = k.collection AND d.id = k.id ORDER BY d.collection, d.id"
)


def _failed(pgconn: Any, result: Any) -> Exception:
    """The error psycopg raises for this answer; a connection that broke is an OperationalError, as psycopg's cursors say."""
    import psycopg  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin
    from psycopg import pq

    if pgconn.status == pq.ConnStatus.BAD or result.error_field(pq.DiagnosticField.SQLSTATE) is None:
        return psycopg.OperationalError((pgconn.error_message or result.error_message or b"the connection failed").decode("utf-8", "replace").strip())
    return psycopg.errors.error_from_result(result, encoding="utf-8")


_FETCHES: dict[tuple[str, int, int], str] = {}  # fetch_documents' statement by schema and counts: the same text each time


class PostgresTransaction:
    """The statements of one transaction; the schema name is validated, so it is safe in SQL text."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        schema: str,
        write: bool,
        *,
        begin: str | None = None,
        reconnect: Callable[[], psycopg.Connection[Any]] | None = None,
        lazy: bool = False,
        cursor: psycopg.Cursor[Any] | None = None,
    ) -> None:
        self.conn = conn
        # one for the whole transaction (a cursor made per statement cost a quarter of psycopg's time); `cursor`: one of `conn` to use
        self.cursor = conn.cursor() if cursor is None else cursor
        self.write = write
        self.s = f'"{schema}"'
        self.begun = begin is None  # without `begin`, the caller opened the transaction
        self._held: list[tuple[str, Any]] = [] if begin is None else [(begin, None)]  # statements not sent yet, BEGIN first
        self._puts: list[Ref] = []  # documents whose held-back update is guarded, in the order held
        self._locked: dict[Ref, int] = {}  # documents this transaction holds locked, with their version now
        self._items: dict[str, str] = {}  # scheduled items this transaction holds locked (so nobody else changes them), with their body now
        self._reconnect = reconnect
        self._pipeline = _pipeline_supported()
        self._lazy = lazy and not write and begin is not None  # a question: its first statement alone (PostgresStorage.question)
        self._first: tuple[str, Any, Any] | None = None  # that statement, and its answer (a PGresult)
        self._apart: psycopg.Cursor[Any] | None = None  # for one send: the cursor the statement before the last runs on, its answer kept

    def _check(self) -> None:
        if not self.write:
            raise ReadOnlyError()

    # round trips ------------------------------------------------------------
    def execute(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        """Run one statement in this transaction and wait for its answer; what was held back goes with it, in one round trip.

        The cursor returned is the transaction's own: read its answer before the next statement.
        """
        import psycopg  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        if self._lazy:
            return self._question(sql, params)
        if not self._held:
            return self._send([(sql, params)])
        held, self._held = [*self._held, (sql, params)], []
        first = not self.begun
        self.begun = True
        try:
            return self._send(held)
        except psycopg.OperationalError:
            if not (first and self._reconnect is not None and (self.conn.closed or self.conn.broken)):
                raise
            # The server restarted or dropped an idle connection before this
            # transaction sent anything: connecting again is safe.
            self.conn = self._reconnect()
            self.cursor = self.conn.cursor()
            if self._apart is not None:
                self._apart = self.conn.cursor()
            return self._send(held)

    def _question(self, sql: str, params: Any) -> psycopg.Cursor[Any]:
        """A question's statement: the first alone (its own snapshot); the second after BEGIN and the first again, unchanged."""
        import psycopg  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        if self._first is None:
            try:
                cursor = self._send([(sql, params)])
            except psycopg.OperationalError:
                if not (self._reconnect is not None and (self.conn.closed or self.conn.broken)):
                    raise
                self.conn = self._reconnect()  # nothing was sent yet: connecting again is safe
                self.cursor = self.conn.cursor()
                cursor = self._send([(sql, params)])
            # Its answer as the server sent it (a result the cursor lets go of at its next statement, not freed while held here),
            # kept to compare with a second statement's: the caller decodes the rows once, as ever, and one statement compares nothing.
            self._first = (sql, params, cursor.pgresult)
            return cursor
        self._lazy = False
        first, given, answer = self._first
        again = self.execute(first, given)  # with BEGIN: the snapshot the rest is read in
        if _raw(again.pgresult) != _raw(answer):
            raise SnapshotMoved()
        return self.execute(sql, params)

    def _alone(self, sql: str, params: list[Any]) -> list[tuple[int, str, str, str, int]] | None:
        """A question's first statement, when it is `fetch_documents`' (text parameters): sent by libpq's own call for a statement
        prepared on the connection (PQexecPrepared, which lets the GIL go while it waits) and its rows decoded here, as the
        cursor decodes them: the same answer, the same errors, without the cursor's layers (about 20-35 us less CPU a question).
        None: not sent (a parameter that is not text, or holds NUL, which the cursor refuses; a connection not in UTF-8).
        """
        import psycopg  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        if not all(type(value) is str and "\x00" not in value for value in params):
            return None
        try:
            result = _exec_prepared(self.conn, sql, params)
        except psycopg.OperationalError:
            if not (self._reconnect is not None and (self.conn.closed or self.conn.broken)):
                raise
            self.conn = self._reconnect()  # nothing was sent yet: connecting again is safe
            self.cursor = self.conn.cursor()
            result = _exec_prepared(self.conn, sql, params)
        if result is None:
            return None
        self._first = (sql, params, result)  # as `_question` keeps it: a second statement compares its answer with this one
        get = result.get_value
        return [(int(get(row, 0)), get(row, 1).decode(), get(row, 2).decode(), get(row, 3).decode(), int(get(row, 4))) for row in range(result.ntuples)]

    def hold(self, sql: str, params: Any = None) -> None:
        """Send a write with the next statement (or COMMIT); only for writes that cannot fail or fail as a server error."""
        if self._pipeline:
            self._held.append((sql, params))
        else:  # a libpq without pipeline mode: one statement at a time
            self.execute(sql, params)

    def _send(self, statements: list[tuple[str, Any]]) -> psycopg.Cursor[Any]:
        import psycopg.errors  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        puts, self._puts = self._puts, []
        apart = self._apart
        try:
            if apart is not None:  # two answers kept: the last statement's and, apart, the one's before it
                with self.conn.pipeline():
                    for sql, params in statements[:-2]:
                        self.cursor.execute(sql, params)
                    apart.execute(*statements[-2])
                    cursor = self.cursor.execute(*statements[-1])
            elif len(statements) == 1 or not self._pipeline or not self.write:  # a read's BEGIN goes alone: see the module's docstring
                for sql, params in statements:
                    cursor = self.cursor.execute(sql, params)
            else:
                with self.conn.pipeline():
                    for sql, params in statements:
                        cursor = self.cursor.execute(sql, params)  # the last statement's answer is the one kept
        except psycopg.errors.UniqueViolation as exc:  # an audit or outbox id used already
            table = exc.diag.table_name or ""
            found = re.search(r"\(id\)=\((.*)\) already exists", exc.diag.message_detail or "")
            if table in ("audit", "outbox") and found:
                raise ConflictError(table, found.group(1)) from exc
            raise
        except psycopg.errors.DivisionByZero as exc:  # a guarded update found another version (its lock should make that impossible)
            raise ConflictError(*(puts[0] if puts else ("docs", "?"))) from exc
        return cursor

    def finish(self) -> None:
        """COMMIT, with whatever was held back, in one round trip; a transaction that sent nothing sends nothing."""
        if self.begun or len(self._held) > 1:
            self.execute("COMMIT")
        self._held, self._items = [], {}

    def abandon(self) -> None:
        """Forget what was held back: the transaction is rolled back."""
        self._held, self._puts, self._items = [], [], {}

    @contextmanager
    def _guard(self, collection: str, id: str) -> Iterator[None]:
        """A deadlock or a lock wait that ran out means someone else is changing the record."""
        import psycopg.errors  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        try:
            yield
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable, psycopg.errors.SerializationFailure) as exc:
            raise ConflictError(collection, id) from exc

    def get(self, collection: str, id: str, *, lock: bool = False) -> Document | None:
        sql = f"SELECT body, version FROM {self.s}.docs WHERE collection = %s AND id = %s"
        if lock and self.write:
            sql += " FOR UPDATE"
        with self._guard(collection, id):
            row = self.execute(sql, (collection, id)).fetchone()
        if row is None:
            return None
        if lock and self.write:
            self._locked[(collection, id)] = row[1]
        return Document(collection, id, json.loads(row[0]), row[1])

    def lookup(self, entity: str, key: str, value: str) -> list[Ref]:
        rows = self.execute(
            f"SELECT DISTINCT collection, id FROM {self.s}.keys WHERE entity = %s AND key = %s AND value = %s ORDER BY collection, id",
            (entity, key, value),
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def lookup_documents(self, entity: str, key: str, value: str) -> list[Document]:
        """`lookup` and a `get` of each document it names, in one statement (FetchingTransaction)."""
        rows = self.execute(_LOOKUP_DOCUMENTS.format(s=self.s), (entity, key, value)).fetchall()
        return [Document(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def fetch_documents(self, lookups: list[IndexKey], refs: list[Ref]) -> tuple[list[list[Document]], list[Document | None]]:
        """`lookup_documents` of each look-up and `get` of each reference, in one statement (PrefetchingTransaction)."""
        params = [value for given in (*lookups, *refs) for value in given]
        found: list[list[Document]] = [[] for _ in range(len(lookups) + len(refs))]
        if found:
            shape = (self.s, len(lookups), len(refs))
            sql = _FETCHES.get(shape)
            if sql is None:
                parts = [
                    f"SELECT {n}, d.collection, d.id, d.body, d.version FROM {self.s}.docs d "
                    f"JOIN (SELECT DISTINCT collection, id FROM {self.s}.keys WHERE entity = %s AND key = %s AND value = %s) k "
                    "ON d.collection = k.collection AND d.id = k.id"
                    for n in range(len(lookups))
                ]
                parts += [
                    f"SELECT {n}, collection, id, body, version FROM {self.s}.docs WHERE collection = %s AND id = %s" for n in range(len(lookups), len(found))
                ]
                sql = " UNION ALL ".join(f"({p})" for p in parts) + " ORDER BY 1, 2, 3"
                if len(_FETCHES) < 64:
                    _FETCHES[shape] = sql
            decoded: dict[tuple[str, str, int], Document] = {}  # a document several parts name is decoded once
            rows = self._alone(sql, params) if self._lazy and self._first is None else None
            for n, collection, id, body, version in self.execute(sql, params).fetchall() if rows is None else rows:
                document = decoded.get((collection, id, version))
                if document is None:
                    document = decoded[(collection, id, version)] = Document(collection, id, json.loads(body), version)
                found[n].append(document)
        return found[: len(lookups)], [(given[0] if given else None) for given in found[len(lookups) :]]

    def scan(self, collection: str, *, after: str | None = None, limit: int | None = None) -> Iterator[Document]:
        # Keyset pages: nothing stays open between pages, so the caller may run
        # other statements (or stop early) while it iterates.
        select = f"SELECT id, body, version FROM {self.s}.docs WHERE collection = %s"
        left = limit
        while left is None or left > 0:
            size = PAGE if left is None else min(PAGE, left)
            if after is None:
                rows = self.execute(f"{select} ORDER BY id LIMIT %s", (collection, size)).fetchall()
            else:
                rows = self.execute(f"{select} AND id > %s ORDER BY id LIMIT %s", (collection, after, size)).fetchall()
            for id, body, version in rows:
                yield Document(collection, id, json.loads(body), version)
            if len(rows) < size:
                return
            after = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def put(self, document: Document, keys: list[IndexKey] | None, *, expect_version: int | None) -> int:
        self._check()
        ref = (document.collection, document.id)
        body = dumps_body(document.body)
        if expect_version is not None and self._locked.get(ref) == expect_version:
            return self._put_locked(ref, body, keys, expect_version)
        with self._guard(*ref):
            if expect_version is None:
                cursor = self.execute(
                    f"INSERT INTO {self.s}.docs VALUES (%s, %s, %s, 1) ON CONFLICT (collection, id) DO NOTHING",
                    (*ref, body),
                )
                if cursor.rowcount != 1:
                    raise ConflictError(*ref)
                version = 1
            else:
                version = expect_version + 1
                cursor = self.execute(
                    f"UPDATE {self.s}.docs SET body = %s, version = %s WHERE collection = %s AND id = %s AND version = %s",
                    (body, version, *ref, expect_version),
                )
                if cursor.rowcount != 1:
                    raise ConflictError(*ref)
                self._locked[ref] = version  # written, so locked until the transaction ends
                if keys is None:
                    return version  # the document's keys stay as they are
                self.hold(f"DELETE FROM {self.s}.keys WHERE collection = %s AND id = %s", ref)
        self._locked[ref] = version
        self._hold_keys(ref, keys)
        return version

    def _put_locked(self, ref: Ref, body: str, keys: list[IndexKey] | None, expect_version: int) -> int:
        """An update of a document this transaction holds locked at `expect_version`: nobody else can have changed it, so it is held back.

        The guard turns "no row at that version" into an error of the server,
        which aborts the transaction before its COMMIT.
        """
        version = expect_version + 1
        self.hold(
            f"WITH written AS (UPDATE {self.s}.docs SET body = %s, version = %s WHERE collection = %s AND id = %s AND version = %s RETURNING 1) "
            "SELECT 1 / count(*) FROM written",
            (body, version, *ref, expect_version),
        )
        self._puts.append(ref)
        self._locked[ref] = version
        if keys is not None:
            self.hold(f"DELETE FROM {self.s}.keys WHERE collection = %s AND id = %s", ref)
            self._hold_keys(ref, keys)
        return version

    def _hold_keys(self, ref: Ref, keys: list[IndexKey] | None) -> None:
        if keys:
            self.hold(
                f"INSERT INTO {self.s}.keys SELECT *, %s::text, %s::text FROM unnest(%s::text[], %s::text[], %s::text[])",
                (*ref, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
            )

    def load_documents(self, items: Iterable[tuple[Document, list[IndexKey]]]) -> int:
        """New documents by the thousand (`clientflow init`): COPY per batch into docs and keys, all or nothing."""
        import psycopg.errors  # psycopg (~100 ms: the postgres extra) is imported once this storage connects, never with the plugin

        self._check()
        self.execute("SAVEPOINT load_documents")  # and what was held back
        conn, count = self.conn, 0
        try:
            with conn.cursor() as cursor:
                for batch in batches(items, LOAD_BATCH):
                    conn.execute("SAVEPOINT load_batch")
                    try:
                        with cursor.copy(f"COPY {self.s}.docs (collection, id, body, version) FROM STDIN") as copy:
                            for document, _ in batch:
                                copy.write_row((document.collection, document.id, dumps_body(document.body), 1))
                    except psycopg.errors.UniqueViolation as exc:
                        conn.execute("ROLLBACK TO SAVEPOINT load_batch")
                        raise ConflictError(*self._first_taken(batch)) from exc
                    conn.execute("RELEASE SAVEPOINT load_batch")
                    with cursor.copy(f"COPY {self.s}.keys (entity, key, value, collection, id) FROM STDIN") as copy:
                        for document, keys in batch:
                            for key in keys:
                                copy.write_row((*key, document.collection, document.id))
                    count += len(batch)
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.execute("ROLLBACK TO SAVEPOINT load_documents")
                conn.execute("RELEASE SAVEPOINT load_documents")
            raise
        conn.execute("RELEASE SAVEPOINT load_documents")
        return count

    def _first_taken(self, batch: list[tuple[Document, list[IndexKey]]]) -> Ref:
        """The first document of a batch that exists already (its batch rolled back) or comes twice."""
        seen: set[Ref] = set()
        for document, _ in batch:
            ref = (document.collection, document.id)
            if ref in seen or self.execute(f"SELECT 1 FROM {self.s}.docs WHERE collection = %s AND id = %s", ref).fetchone():
                return ref
            seen.add(ref)
        return (batch[0][0].collection, batch[0][0].id)

    def clear(self) -> None:
        """Empty the store inside this transaction (`clientflow init --force`): every table, the schema version kept."""
        self._check()
        self.execute(f"TRUNCATE {self.s}.docs, {self.s}.keys, {self.s}.runs, {self.s}.audit, {self.s}.outbox, {self.s}.scheduled RESTART IDENTITY")
        self.execute(f"DELETE FROM {self.s}.meta WHERE key <> 'schema_version'")

    def delete(self, collection: str, id: str, *, expect_version: int) -> None:
        self._check()
        ref = (collection, id)
        if self._locked.get(ref) == expect_version:  # held locked at that version: nobody else can have changed it, so held back
            self.hold(
                f"WITH gone AS (DELETE FROM {self.s}.docs WHERE collection = %s AND id = %s AND version = %s RETURNING 1) SELECT 1 / count(*) FROM gone",
                (collection, id, expect_version),
            )  # the guard: no row at that version is an error of the server (ConflictError), which aborts the transaction
            self._puts.append(ref)
            del self._locked[ref]
            self.hold(f"DELETE FROM {self.s}.keys WHERE collection = %s AND id = %s", ref)
            return
        with self._guard(collection, id):
            cursor = self.execute(
                f"DELETE FROM {self.s}.docs WHERE collection = %s AND id = %s AND version = %s",
                (collection, id, expect_version),
            )
        if cursor.rowcount != 1:
            raise ConflictError(collection, id)
        self._locked.pop((collection, id), None)
        self.hold(f"DELETE FROM {self.s}.keys WHERE collection = %s AND id = %s", (collection, id))

    def add_audit(self, entry: dict[str, Any]) -> None:
        self._check()
        # held back: an id used already is a unique violation, raised as ConflictError by the statement that carries it
        self.hold(f"INSERT INTO {self.s}.audit (id, body) VALUES (%s, %s)", (entry["id"], dumps_body(entry)))

    def audit(self, *, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        rows = self.execute(f"SELECT body FROM {self.s}.audit ORDER BY seq OFFSET %s LIMIT %s", (since, limit)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def save_run(self, run: dict[str, Any]) -> None:
        self._check()
        self.hold(
            f"INSERT INTO {self.s}.runs VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            (run["id"], dumps_body(run)),
        )

    def load_run(self, id: str) -> dict[str, Any] | None:
        row = self.execute(f"SELECT body FROM {self.s}.runs WHERE id = %s", (id,)).fetchone()
        return json.loads(row[0]) if row else None

    def runs(self, *, after: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        query = f"SELECT body FROM {self.s}.runs WHERE id > %s ORDER BY id" + (" LIMIT %s" if limit is not None else "")
        params: tuple[Any, ...] = ("" if after is None else after,) + ((limit,) if limit is not None else ())
        for (body,) in self.execute(query, params).fetchall():
            yield json.loads(body)

    def add_outbox(self, messages: list[dict[str, Any]]) -> None:
        self._check()
        if not messages:
            return
        # Held back, rows in queue order: an id used already (or twice here) is a unique violation, raised as ConflictError.
        # One VALUES row per message (a statement per count, each prepared once): psycopg escapes text arrays with a regular
        # expression per element, which cost more than the statement itself for a body of a few kilobytes.
        for batch in batches(messages, 100):
            self.hold(
                f"INSERT INTO {self.s}.outbox (id, status, next_attempt, body) VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(batch)),
                [value for m in batch for value in (m["id"], m["status"], m.get("next_attempt"), dumps_body(m))],
            )

    def outbox(self, *, status: str | None = None, due: str | None = None, limit: int | None = None, claim: bool = False) -> list[dict[str, Any]]:
        sql, args = f"SELECT seq, body FROM {self.s}.outbox WHERE true", list[Any]()
        if status is not None:
            sql += " AND status = %s"
            args.append(status)
        if due is not None:
            sql += " AND coalesce(next_attempt, '') <= %s"
            args.append(due)
        sql += " ORDER BY seq LIMIT %s"
        args.append(limit)
        if claim and self.write:
            sql += " FOR UPDATE SKIP LOCKED"
        found = []
        for seq, body in self.execute(sql, args).fetchall():
            message = json.loads(body)
            message["seq"] = seq
            found.append(message)
        return found

    def update_outbox(self, id: str, changes: dict[str, Any]) -> None:
        self._check()
        with self._guard("outbox", id):
            row = self.execute(f"SELECT body FROM {self.s}.outbox WHERE id = %s FOR UPDATE", (id,)).fetchone()
        if row is None:
            raise KeyError(id)
        message = json.loads(row[0])
        message.update(changes)
        message.pop("seq", None)
        self.execute(
            f"UPDATE {self.s}.outbox SET status = %s, next_attempt = %s, body = %s WHERE id = %s",
            (message["status"], message.get("next_attempt"), dumps_body(message), id),
        )

    def add_scheduled(self, items: list[dict[str, Any]]) -> None:
        self._check()
        if not items:
            return
        ids = [i["id"] for i in items]
        self.execute("SAVEPOINT add_scheduled")  # a conflict keeps nothing of this call
        rows = self.execute(
            f"INSERT INTO {self.s}.scheduled (id, status, due, lease, subject, flow, body) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            (
                ids,
                [i["status"] for i in items],
                [i["due"] for i in items],
                [i.get("lease") for i in items],
                [i["subject"] for i in items],
                [i["flow"] for i in items],
                [dumps_body(i) for i in items],
            ),
        ).fetchall()
        if len(rows) != len(items):
            self.execute("ROLLBACK TO SAVEPOINT add_scheduled")
            added = {r[0] for r in rows}
            duplicate = next((i for i in ids if i not in added), ids[-1])
            raise ConflictError("scheduled", duplicate)
        self.execute("RELEASE SAVEPOINT add_scheduled")

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
        sql, args = f"SELECT body FROM {self.s}.scheduled WHERE true", list[Any]()
        for column, value in (("id", id), ("status", status), ("subject", subject), ("flow", flow)):
            if value is not None:
                sql += f" AND {column} = %s"
                args.append(value)
        if due is not None:
            sql += " AND due <= %s AND coalesce(lease, '') <= %s"
            args += [due, due]
        sql += " ORDER BY due, id LIMIT %s"
        args.append(limit)
        if not (claim and self.write):
            return [json.loads(body) for (body,) in self.execute(sql, args).fetchall()]
        sql += " FOR UPDATE SKIP LOCKED"
        return self._hold_items(self.execute(sql, args).fetchall())

    def lock_occasion(self, subject: str, flow: str, run: str, due: str) -> list[dict[str, Any]]:
        """The pending items of one run due at one time, in id order, each locked: one statement (OccasionTransaction)."""
        self._check()
        with self._guard("scheduled", run):  # the rows are locked in id order (the sort comes first), as every worker locks them
            rows = self.execute(
                f"SELECT body FROM {self.s}.scheduled WHERE subject = %s AND flow = %s AND status = 'pending' AND due = %s "
                "AND body::json->>'run' = %s ORDER BY id FOR UPDATE",
                (subject, flow, due, run),
            ).fetchall()  # a row held by another transaction is waited for, then read again: still pending, or left out
        return self._hold_items(rows)

    def _hold_items(self, rows: list[tuple[str]]) -> list[dict[str, Any]]:
        """Scheduled items just read with their rows locked: kept (as text) so that their updates need not read them again."""
        items = []
        for (body,) in rows:
            item = json.loads(body)
            self._items[item["id"]] = body
            items.append(item)
        return items

    def update_scheduled(self, id: str, changes: dict[str, Any]) -> None:
        self._check()
        body = self._items.get(id)
        if body is None:
            with self._guard("scheduled", id):
                row = self.execute(f"SELECT body FROM {self.s}.scheduled WHERE id = %s FOR UPDATE", (id,)).fetchone()
            if row is None:
                raise KeyError(id)
            body = row[0]
        item = json.loads(body)
        item.update(changes)
        body = dumps_body(item)
        # held back: the row is locked by this transaction (read FOR UPDATE), so the update cannot miss it nor meet another's
        self.hold(
            f"UPDATE {self.s}.scheduled SET status = %s, due = %s, lease = %s, body = %s WHERE id = %s",
            (item["status"], item["due"], item.get("lease"), body, id),
        )
        self._items[id] = body

    def get_meta(self, key: str) -> str | None:
        row = self.execute(f"SELECT value FROM {self.s}.meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def get_locked_with_meta(self, collection: str, id: str, key: str) -> tuple[Document | None, str | None]:
        """`get(collection, id, lock=True)` and `get_meta(key)` in one round trip (OnceTransaction): a bulk commit's first
        question. Two statements in one pipeline: the meta value is read by a statement of its own, which takes its snapshot
        (READ COMMITTED) once the lock is held. Read in the locking statement's snapshot, taken before it waited, it would
        miss the resume key of the writer it waited for, committed with the very change it waited for: two runs of one
        bulk at once would both run a subject."""
        if not (self.write and self._pipeline):  # nothing to lock, or one statement at a time (the lock first)
            return self.get(collection, id, lock=self.write), self.get_meta(key)
        document, rows = self._after_lock(collection, id, f"SELECT (SELECT value FROM {self.s}.meta WHERE key = %s)", (key,))
        return document, rows[0][0]

    def get_locked_with_meta_then_lookup(self, collection: str, id: str, key: str, lookup: IndexKey) -> tuple[Document | None, str | None, list[Document]]:
        """`get_locked_with_meta`, then `lookup_documents(*lookup)`, in one round trip (OnceLookupTransaction): a bulk
        commit's first question and its actor's look-up, both read by the statement after the lock (its snapshot taken
        once the lock is held, as when asked next): one row for the meta value alone when the look-up finds nothing."""
        if not (self.write and self._pipeline):  # nothing to lock, or one statement at a time
            document, value = self.get_locked_with_meta(collection, id, key)
            return document, value, self.lookup_documents(*lookup)
        sql = (
            f"SELECT m.value, d.collection, d.id, d.body, d.version FROM (SELECT (SELECT value FROM {self.s}.meta WHERE key = %s) AS value) m "
            f"LEFT JOIN LATERAL ({_LOOKUP_DOCUMENTS.format(s=self.s)}) d ON true ORDER BY d.collection, d.id"
        )
        document, rows = self._after_lock(collection, id, sql, (key, *lookup))
        return document, rows[0][0], [Document(r[1], r[2], json.loads(r[3]), r[4]) for r in rows if r[1] is not None]

    def _after_lock(self, collection: str, id: str, sql: str, params: Any) -> tuple[Document | None, list[Any]]:
        """The document locked, then `sql` (a statement of its own, after the lock), in one pipeline: the document and its rows."""
        self._held.append((f"SELECT body, version FROM {self.s}.docs WHERE collection = %s AND id = %s FOR UPDATE", (collection, id)))
        self._apart = self.conn.cursor()
        try:
            with self._guard(collection, id):
                rows = self.execute(sql, params).fetchall()
            locked = self._apart.fetchone()  # (the cursor made again should the connection have been)
        finally:
            if self._apart is not None:
                self._apart.close()
            self._apart = None
        if locked is None:
            return None, rows
        self._locked[(collection, id)] = locked[1]
        return Document(collection, id, json.loads(locked[0]), locked[1]), rows

    def set_meta(self, key: str, value: str | None) -> None:
        self._check()
        if value is None:
            self.hold(f"DELETE FROM {self.s}.meta WHERE key = %s", (key,))
        else:
            self.hold(
                f"INSERT INTO {self.s}.meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


class PostgresPlugin:
    """Registers the PostgreSQL backend under the name `postgresql`."""

    @hookimpl
    def clientflow_register_storage(self, register: RegisterStorage) -> None:
        register("postgresql", PostgresStorage, settings=SETTINGS_SCHEMA)
