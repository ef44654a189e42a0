"""`clientflow init` written by hand: the same documents into the same tables, by raw executemany (SQLite) or COPY (PostgreSQL).

    python3 benchmarks/raw_load.py DATA.json sqlite DB
    python3 benchmarks/raw_load.py DATA.json postgresql URL SCHEMA

Reads the whole file with `json.load`, builds each document's body (the
engine's own serialisation: compact, sorted keys) and its look-up keys (the
shipped project's: id and name of each practice and client, id and email of
their users, written out by hand), and writes them in one transaction into the
storage schema of plugins/sqlite.py (its pragmas, and the page cache it loads with) or plugins/postgres.py (a
fresh PostgreSQL schema): executemany of 1,000 rows at a time into SQLite, one
COPY per table into PostgreSQL. No checks: no schema, no unique keys. Prints
JSON: the seconds from opening the file to the commit, and the rows written.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clientflow.default_plugins import postgres, sqlite  # noqa: E402 - the very schema and pragmas the engine's backends use

BATCH = 1000
ENTITIES = {"partners": "partner", "clients": "client"}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def keys_of(entity: str, record: dict[str, Any]) -> list[tuple[str, str, str]]:
    keys = [(entity, "id", str(record["id"])), (entity, "name", str(record["name"]))]
    for user in record.get("users") or []:
        keys += [("user", "id", str(user["id"])), ("user", "email", str(user["email"]))]
    return keys


def rows(data: dict[str, Any]) -> Iterator[tuple[str, str, str, list[tuple[str, str, str]]]]:
    for collection, entity in ENTITIES.items():
        for record in data.get(collection) or []:
            yield collection, str(record["id"]), _dumps(record), keys_of(entity, record)


def into_sqlite(data_file: Path, db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in (*sqlite.PRAGMAS, f"PRAGMA cache_size = -{sqlite.LOAD_CACHE_KIB}"):  # the page cache the engine's bulk path loads with
        conn.execute(pragma)
    conn.executescript("BEGIN IMMEDIATE;" + sqlite.SCHEMA + f"INSERT OR REPLACE INTO meta VALUES ('schema_version', '{sqlite.SCHEMA_VERSION}');COMMIT;")
    started = time.perf_counter()
    data = json.loads(data_file.read_text(encoding="utf-8"))
    docs = keys = 0
    conn.execute("BEGIN IMMEDIATE")
    batch: list[tuple[str, str, str, list[tuple[str, str, str]]]] = []
    for row in rows(data):
        batch.append(row)
        if len(batch) == BATCH:
            docs, keys = docs + len(batch), keys + _sqlite_batch(conn, batch)
            batch = []
    docs, keys = docs + len(batch), keys + _sqlite_batch(conn, batch)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "docs": docs, "keys": keys}


def _sqlite_batch(conn: sqlite3.Connection, batch: list[tuple[str, str, str, list[tuple[str, str, str]]]]) -> int:
    conn.executemany("INSERT INTO docs VALUES (?, ?, ?, 1)", [(c, i, body) for c, i, body, _ in batch])
    key_rows = [(*k, c, i) for c, i, _, keys in batch for k in keys]
    conn.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", key_rows)
    return len(key_rows)


def into_postgres(data_file: Path, url: str, schema: str) -> dict[str, Any]:
    import psycopg

    s = f'"{schema}"'
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {s}")
        for statement in postgres.TABLES.format(s=s).split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"INSERT INTO {s}.meta VALUES ('schema_version', %s)", (postgres.SCHEMA_VERSION,))
        started = time.perf_counter()
        data = json.loads(data_file.read_text(encoding="utf-8"))
        docs = keys = 0
        with conn.transaction(), conn.cursor() as cursor:
            key_rows: list[tuple[str, ...]] = []
            with cursor.copy(f"COPY {s}.docs (collection, id, body, version) FROM STDIN") as copy:
                for collection, id, body, row_keys in rows(data):
                    copy.write_row((collection, id, body, 1))
                    key_rows += [(*k, collection, id) for k in row_keys]
                    docs += 1
            with cursor.copy(f"COPY {s}.keys (entity, key, value, collection, id) FROM STDIN") as copy:
                for key_row in key_rows:
                    copy.write_row(key_row)
            keys = len(key_rows)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "docs": docs, "keys": keys}


def main(argv: list[str]) -> None:
    data_file, backend = Path(argv[0]), argv[1]
    result = into_sqlite(data_file, Path(argv[2])) if backend == "sqlite" else into_postgres(data_file, argv[2], argv[3])
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
