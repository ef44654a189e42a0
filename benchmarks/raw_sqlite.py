"""`bulk deactivate-client --yes` written by hand on raw sqlite3: the storage floor.

    python3 benchmarks/raw_sqlite.py DB [--actor u1] [--notifier NAME ...]

Makes the writes `clientflow bulk deactivate-client --db DB --actor u1 --where
true --answer notify_client=true --yes` makes, into the same schema, with the
same pragmas (those of plugins/sqlite.py), one transaction per client: for a
client that passes the checks, the document update with its version check
and its index keys, the run, the audit row, one outbox row per email and
notifier (none when no notifier is configured, as with CLIENTFLOW_NOTIFIERS=),
and the resume key; for a blocked one, the run and the audit row. Clients are
listed page by page in read transactions, as the engine does for --where.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handwritten import ADMIN_ONLY

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clientflow.default_plugins.sqlite import PRAGMAS  # noqa: E402 - the very pragmas the engine's backend sets

FLOW = "deactivate-client"
FLOW_VERSION = "0" * 16  # the engine writes its flow's 16-hex version here
SENDER = "no-reply@platform.example"
PAGE = 500


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def job_key(actor: str, selection: str, answers: dict[str, Any]) -> str:
    text = json.dumps([FLOW, actor, selection, dict(answers)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def admins(client: dict[str, Any]) -> list[str]:
    """The client's administrators' addresses: the flows' `client_admin_emails` (floor_bulk.admins, without importing Jinja2)."""
    return [u["email"] for u in client.get("users") or [] if u["role"] == "administrator"]


def keys_of(client: dict[str, Any]) -> list[tuple[str, str, str]]:
    keys = [("client", "id", str(client["id"])), ("client", "name", str(client["name"]))]
    for user in client.get("users") or []:
        keys += [("user", "id", str(user["id"])), ("user", "email", str(user["email"]))]
    return keys


def failed_rules(client: dict[str, Any], actor: dict[str, Any], practice: dict[str, Any] | None, business: dict[str, Any] | None) -> list[dict[str, str]]:
    name = client["name"]
    failed = []
    if not (practice is None or client["partner"] == practice["id"]):  # outside reach: the refusal alone, the client named by its id as asked
        return [
            {
                "rule": "own-practice-clients",
                "message": f"{client['id']} is not one of your practice's clients, so you cannot act on it. Ask the practice that holds it, or the business itself.",
            }
        ]
    if not (business is None or business["id"] == client["id"]):
        return [{"rule": "own-business", "message": "You can only act on the business you belong to."}]
    if not (practice is not None and actor["role"] == "administrator"):
        failed.append({"rule": "practice-administrator", "message": ADMIN_ONLY.format(role=actor["role"])})
    if client["billing"] != "partner":
        failed.append(
            {
                "rule": "paid-by-practice",
                "message": f'{name} pays for its own subscription, so your practice cannot change it. You can only remove it from your account, with "Disconnect self-paying client".',
            }
        )
    if client["subscription"] != "active":
        failed.append(
            {
                "rule": "active-subscription",
                "message": f"{name}'s subscription is already deactivated. You can reactivate it from Business settings > Subscription.",
            }
        )
    return failed


def run(db: Path, actor_id: str = "u1", notifiers: tuple[str, ...] = (), *, notify: bool = True, clock: Any = time.perf_counter) -> dict[str, Any]:
    """Commit deactivate-client for every client of `db`; returns the counts and `seconds` (the per-client loop)."""
    emails = None
    if notifiers:
        from floor_bulk import Emails

        emails = Emails()
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    answers = {"notify_client": notify, "reason": None}
    key = job_key(actor_id, "where:true", {"notify_client": notify})
    (ref,) = conn.execute("SELECT collection, id FROM keys WHERE entity='user' AND key='id' AND value=?", (actor_id,)).fetchall()
    holder = json.loads(conn.execute("SELECT body FROM docs WHERE collection=? AND id=?", ref).fetchone()[0])
    actor = next(u for u in holder["users"] if u["id"] == actor_id)
    practice = holder if ref[0] == "partners" else None
    business = holder if ref[0] == "clients" else None
    counts: Counter[str] = Counter()
    started = clock()
    after = ""
    while True:
        conn.execute("BEGIN")
        page = [row[0] for row in conn.execute("SELECT id FROM docs WHERE collection='clients' AND id > ? ORDER BY id LIMIT ?", (after, PAGE))]
        conn.execute("COMMIT")
        for client_id in page:
            counts[commit_one(conn, client_id, actor, practice, business, answers, key, notifiers, emails)] += 1
        if len(page) < PAGE:
            break
        after = page[-1]
    seconds = clock() - started
    conn.close()
    return {"total": sum(counts.values()), "completed": counts["completed"], "blocked": counts["blocked"], "skipped": counts["skipped"], "seconds": seconds}


def commit_one(conn: sqlite3.Connection, client_id: str, actor: dict[str, Any], practice: dict[str, Any] | None, business: dict[str, Any] | None,
               answers: dict[str, Any], key: str, notifiers: tuple[str, ...], emails: Any) -> str:  # fmt: skip
    """One client in one transaction: the same reads and writes as the engine's commit."""
    once = f"bulk:{key}:{client_id}"
    now = datetime.now(UTC).isoformat()
    run_id = uuid.uuid4().hex
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT value FROM meta WHERE key=?", (once,)).fetchone() is not None:
            conn.execute("COMMIT")
            return "skipped"
        body, version = conn.execute("SELECT body, version FROM docs WHERE collection='clients' AND id=?", (client_id,)).fetchone()
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
            conn.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (run_id, _dumps(state)))
            conn.execute("INSERT INTO audit (id, body) VALUES (?, ?)", (audit["id"], _dumps(audit)))
            conn.execute("COMMIT")
            return "blocked"
        rendered = render(emails, client, actor, conn, answers) if notifiers else []
        change = {"op": "update", "entity": "client", "id": client_id, "field": "subscription", "before": client["subscription"], "after": "deactivated"}
        client["subscription"] = "deactivated"
        cursor = conn.execute(
            "UPDATE docs SET body=?, version=? WHERE collection='clients' AND id=? AND version=?", (_dumps(client), version + 1, client_id, version)
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"{client_id} changed meanwhile")
        conn.execute("DELETE FROM keys WHERE collection='clients' AND id=?", (client_id,))
        conn.executemany("INSERT INTO keys VALUES (?, ?, ?, 'clients', ?)", [(*k, client_id) for k in keys_of(client)])
        state.update(status="completed", answers=answers)
        conn.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (run_id, _dumps(state)))
        summary = (
            f"{actor['email']} deactivated {client['name']} ({client_id}); client notified: {'yes' if answers['notify_client'] and admins(client) else 'no'}"
        )
        audit.update(status="completed", answers=answers, changes=[change], summary=summary)
        conn.execute("INSERT INTO audit (id, body) VALUES (?, ?)", (audit["id"], _dumps(audit)))
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
            conn.executemany("INSERT INTO outbox (id, status, next_attempt, body) VALUES (?, ?, ?, ?)", [(m["id"], m["status"], None, _dumps(m)) for m in rows])
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (once, run_id))
        conn.execute("COMMIT")
        return "completed"
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def render(emails: Any, client: dict[str, Any], actor: dict[str, Any], conn: sqlite3.Connection, answers: dict[str, Any]) -> list[dict[str, Any]]:
    """The two emails, rendered by floor_bulk's Jinja2 sandbox."""
    from floor_bulk import PRODUCT, addresses

    partner = None
    if client["partner"] is not None:
        row = conn.execute("SELECT body FROM docs WHERE collection='partners' AND id=?", (client["partner"],)).fetchone()
        partner = json.loads(row[0]) if row else None
    context = {"actor": actor, "client": client, "partner": partner, "product": PRODUCT, "answers": answers, "client_admin_emails": admins(client)}
    out = [emails.render("deactivate-practice", addresses([actor["email"]]), context)]
    if answers["notify_client"]:
        to = addresses(admins(client))
        if to:
            out.append(emails.render("deactivate-client", to, context))
    return out


def main(argv: list[str]) -> None:
    db = Path(argv[0])
    actor = argv[argv.index("--actor") + 1] if "--actor" in argv else "u1"
    notifiers = tuple(argv[i + 1] for i, a in enumerate(argv) if a == "--notifier")
    print(json.dumps(run(db, actor, notifiers)))


if __name__ == "__main__":
    main(sys.argv[1:])


VOLATILE = {"id", "run", "time", "created", "updated", "version", "email_id", "message_id"}
QUEUED = {"email", "flow", "notifier"}  # what an outbox row says; its status and attempts change once delivery has run


def contents(db: Path) -> dict[str, Any]:
    """What a bulk run wrote, with ids, times and versions left out: comparable between the engine and this floor."""
    conn = sqlite3.connect(db)
    try:

        def plain(body: str) -> str:
            return _dumps({k: v for k, v in json.loads(body).items() if k not in VOLATILE})

        return {
            "docs": sorted(conn.execute("SELECT collection, id, body, version FROM docs")),
            "keys": sorted(conn.execute("SELECT * FROM keys")),
            "runs": sorted(plain(b) for (b,) in conn.execute("SELECT body FROM runs")),
            "audit": sorted(plain(b) for (b,) in conn.execute("SELECT body FROM audit")),
            "outbox": sorted(_dumps({k: v for k, v in json.loads(b).items() if k in QUEUED}) for (b,) in conn.execute("SELECT body FROM outbox")),
            "meta": sorted(k for (k,) in conn.execute("SELECT key FROM meta")),
        }
    finally:
        conn.close()


def differences(engine_db: Path, raw_db: Path) -> list[str]:
    """The tables in which the engine's writes and this floor's differ (empty: the same writes)."""
    a, b = contents(engine_db), contents(raw_db)
    return [
        f"{table}: engine {len(a[table])} rows, raw {len(b[table])} rows" + ("" if len(a[table]) != len(b[table]) else " (contents differ)")
        for table in a
        if a[table] != b[table]
    ]
