"""`bulk deactivate-client --yes` written by hand on raw psycopg: the PostgreSQL floor.

    python3 benchmarks/raw_postgres.py URL SCHEMA [--actor u1] [--notifier NAME ...]

Makes the writes `clientflow bulk deactivate-client --actor u1 --where true
--answer notify_client=true --yes` makes on PostgreSQL, into the same tables
(plugins/postgres.py), one READ COMMITTED transaction per client, a statement
at a time as a plain psycopg loop is written: the resume key looked up, the
client locked (`SELECT ... FOR UPDATE`), its document updated with its
version checked, the run, the audit row, one outbox row per email and notifier
(none when no notifier is configured, as with CLIENTFLOW_NOTIFIERS=), and the
resume key; for a blocked client, the run and the audit row. The actor is read
once; client ids are listed page by page in read transactions, as the engine
does for --where. The document's look-up keys are left as they are (the engine
rewrites them only when they change). psycopg prepares each statement after
its fifth use, as it does for the engine.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
from raw_sqlite import FLOW, FLOW_VERSION, PAGE, QUEUED, SENDER, VOLATILE, _dumps, admins, failed_rules, job_key


def run(url: str, schema: str, actor_id: str = "u1", notifiers: tuple[str, ...] = (), *, notify: bool = True, clock: Any = time.perf_counter) -> dict[str, Any]:
    """Commit deactivate-client for every client of `schema`; returns the counts and `seconds` (the per-client loop)."""
    emails = None
    if notifiers:
        from floor_bulk import Emails

        emails = Emails()
    s = f'"{schema}"'
    conn = psycopg.connect(url, autocommit=True)
    answers = {"notify_client": notify, "reason": None}
    key = job_key(actor_id, "where:true", {"notify_client": notify})
    (ref,) = conn.execute(f"SELECT collection, id FROM {s}.keys WHERE entity='user' AND key='id' AND value=%s", (actor_id,)).fetchall()
    holder = json.loads(conn.execute(f"SELECT body FROM {s}.docs WHERE collection=%s AND id=%s", ref).fetchone()[0])  # type: ignore[index]
    actor = next(u for u in holder["users"] if u["id"] == actor_id)
    practice = holder if ref[0] == "partners" else None
    business = holder if ref[0] == "clients" else None
    counts: Counter[str] = Counter()
    started = clock()
    after = ""
    while True:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        page = [row[0] for row in conn.execute(f"SELECT id FROM {s}.docs WHERE collection='clients' AND id > %s ORDER BY id LIMIT %s", (after, PAGE))]
        conn.execute("COMMIT")
        for client_id in page:
            counts[commit_one(conn, s, client_id, actor, practice, business, answers, key, notifiers, emails)] += 1
        if len(page) < PAGE:
            break
        after = page[-1]
    seconds = clock() - started
    conn.close()
    return {"total": sum(counts.values()), "completed": counts["completed"], "blocked": counts["blocked"], "skipped": counts["skipped"], "seconds": seconds}


def commit_one(conn: psycopg.Connection[Any], s: str, client_id: str, actor: dict[str, Any], practice: dict[str, Any] | None, business: dict[str, Any] | None,
               answers: dict[str, Any], key: str, notifiers: tuple[str, ...], emails: Any) -> str:  # fmt: skip
    """One client in one transaction: the engine's writes, a statement at a time."""
    once = f"bulk:{key}:{client_id}"
    now = datetime.now(UTC).isoformat()
    run_id = uuid.uuid4().hex
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    try:
        if conn.execute(f"SELECT value FROM {s}.meta WHERE key=%s", (once,)).fetchone() is not None:
            conn.execute("COMMIT")
            return "skipped"
        body, version = conn.execute(f"SELECT body, version FROM {s}.docs WHERE collection='clients' AND id=%s FOR UPDATE", (client_id,)).fetchone()  # type: ignore[misc]
        client = json.loads(body)
        failed = failed_rules(client, actor, practice, business)
        state = {
            "id": run_id, "flow": FLOW, "version": FLOW_VERSION, "actor": actor["id"], "subject": client_id, "subject_version": None,
            "answers": {}, "created": now, "updated": now, "cursor": 0, "shown": [], "status": "blocked",
        }  # fmt: skip
        audit = {
            "id": uuid.uuid4().hex, "time": now, "run": run_id, "flow": FLOW, "version": FLOW_VERSION, "actor": actor["id"], "subject": client_id,
            "answers": {}, "status": "blocked", "changes": [], "summary": "",
        }  # fmt: skip
        if failed:
            audit["blocked_by"] = failed
            conn.execute(f"INSERT INTO {s}.runs VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET body = excluded.body", (run_id, _dumps(state)))
            conn.execute(f"INSERT INTO {s}.audit (id, body) VALUES (%s, %s)", (audit["id"], _dumps(audit)))
            conn.execute("COMMIT")
            return "blocked"
        rendered = render(emails, client, actor, conn, s, answers) if notifiers else []
        change = {"op": "update", "entity": "client", "id": client_id, "field": "subscription", "before": client["subscription"], "after": "deactivated"}
        client["subscription"] = "deactivated"
        cursor = conn.execute(
            f"UPDATE {s}.docs SET body=%s, version=%s WHERE collection='clients' AND id=%s AND version=%s", (_dumps(client), version + 1, client_id, version)
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"{client_id} changed meanwhile")
        state.update(status="completed", answers=answers)
        conn.execute(f"INSERT INTO {s}.runs VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET body = excluded.body", (run_id, _dumps(state)))
        summary = (
            f"{actor['email']} deactivated {client['name']} ({client_id}); client notified: {'yes' if answers['notify_client'] and admins(client) else 'no'}"
        )
        audit.update(status="completed", answers=answers, changes=[change], summary=summary)
        conn.execute(f"INSERT INTO {s}.audit (id, body) VALUES (%s, %s)", (audit["id"], _dumps(audit)))
        if notifiers:
            rows = []
            for index, email in enumerate(rendered):
                email_id = f"{run_id}-{index}"
                for notifier in notifiers:
                    rows.append({
                        "id": f"{email_id}-{notifier}", "email_id": email_id, "message_id": f"<{email_id}@{SENDER.rsplit('@', 1)[-1]}>",
                        "notifier": notifier, "status": "pending", "attempts": 0, "next_attempt": None, "error": None,
                        "run": run_id, "flow": FLOW, "created": now, "email": {"from": SENDER, **email},
                    })  # fmt: skip
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {s}.outbox (id, status, next_attempt, body) VALUES (%s, %s, %s, %s)", [(m["id"], m["status"], None, _dumps(m)) for m in rows]
                )
        conn.execute(f"INSERT INTO {s}.meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (once, run_id))
        conn.execute("COMMIT")
        return "completed"
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def render(emails: Any, client: dict[str, Any], actor: dict[str, Any], conn: psycopg.Connection[Any], s: str, answers: dict[str, Any]) -> list[dict[str, Any]]:
    """The two emails, rendered by floor_bulk's Jinja2 sandbox (the practice read inside the transaction, as the engine reads it)."""
    from floor_bulk import PRODUCT, addresses

    partner = None
    if client["partner"] is not None:
        row = conn.execute(f"SELECT body FROM {s}.docs WHERE collection='partners' AND id=%s", (client["partner"],)).fetchone()
        partner = json.loads(row[0]) if row else None
    context = {"actor": actor, "client": client, "partner": partner, "product": PRODUCT, "answers": answers, "client_admin_emails": admins(client)}
    out = [emails.render("deactivate-practice", addresses([actor["email"]]), context)]
    if answers["notify_client"]:
        to = addresses(admins(client))
        if to:
            out.append(emails.render("deactivate-client", to, context))
    return out


def contents(url: str, schema: str) -> dict[str, Any]:
    """What a bulk run wrote into `schema`, with ids, times and versions left out: comparable between the engine and this floor."""
    s = f'"{schema}"'

    def plain(body: str) -> str:
        return _dumps({k: v for k, v in json.loads(body).items() if k not in VOLATILE})

    with psycopg.connect(url, autocommit=True) as conn:
        return {
            "docs": sorted(conn.execute(f"SELECT collection, id, body, version FROM {s}.docs").fetchall()),
            "keys": sorted(conn.execute(f"SELECT entity, key, value, collection, id FROM {s}.keys").fetchall()),
            "runs": sorted(plain(b) for (b,) in conn.execute(f"SELECT body FROM {s}.runs")),
            "audit": sorted(plain(b) for (b,) in conn.execute(f"SELECT body FROM {s}.audit")),
            "outbox": sorted(_dumps({k: v for k, v in json.loads(b).items() if k in QUEUED}) for (b,) in conn.execute(f"SELECT body FROM {s}.outbox")),
            "meta": sorted(k for (k,) in conn.execute(f"SELECT key FROM {s}.meta")),
        }


def differences(url: str, engine_schema: str, raw_schema: str) -> list[str]:
    """The tables in which two schemas' writes differ (empty: the same writes)."""
    a, b = contents(url, engine_schema), contents(url, raw_schema)
    return [
        f"{table}: {engine_schema} {len(a[table])} rows, {raw_schema} {len(b[table])} rows" + ("" if len(a[table]) != len(b[table]) else " (contents differ)")
        for table in a
        if a[table] != b[table]
    ]


def main(argv: list[str]) -> None:
    url, schema = argv[0], argv[1]
    actor = argv[argv.index("--actor") + 1] if "--actor" in argv else "u1"
    notifiers = tuple(argv[i + 1] for i, a in enumerate(argv) if a == "--notifier")
    print(json.dumps(run(url, schema, actor, notifiers)))


if __name__ == "__main__":
    main(sys.argv[1:])
