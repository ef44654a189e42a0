"""Carrying out due deletions written by hand on raw psycopg: the floor of the scheduled-work rows.

    python3 benchmarks/raw_scheduled.py URL SCHEMA NOW BARRIER ME PROCESSES

Makes the writes `clientflow worker --once --now NOW` makes (CLIENTFLOW_NOTIFIERS=, so no
outbox rows) when every pending item is the shipped delete-client's deletion and its
confirmation, due together: items claimed fifty at a time (`FOR UPDATE SKIP LOCKED`, a lease
written), then one READ COMMITTED transaction per run's parts due at one time (an occasion): its
parts taken again in one statement, locked in id order (waiting for whoever holds them), still
pending: this claim's while still its own, the others whoever claimed them (two claims at once
may split an occasion between two workers: the first to reach it does all of it, the other finds
it done, as the engine does), nothing when none claimed is still its own; the client locked (`SELECT ... FOR UPDATE`);
the practice and the actor read; the rules the worker checks again (the actor an administrator
of the client's practice, the practice paying, no users, the deletion still due); the client's
document and look-up keys deleted (by the deletion part), its version checked; one audit row per part; each item marked
done. The email is not rendered (the engine renders it; this floor does not), so the ratio is
conservative. Waits at BARRIER (a folder) for PROCESSES processes, prints {"done", "started",
"ended"} (wall-clock seconds), so that several processes can be timed as one.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

CLAIM = 50


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def run(url: str, schema: str, now: str, worker: str) -> int:
    s = f'"{schema}"'
    conn = psycopg.connect(url, autocommit=True)
    done = 0
    lease = (datetime.fromisoformat(now) + timedelta(seconds=300)).astimezone(UTC).isoformat()  # the engine's default lease
    while True:
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        rows = conn.execute(
            f"SELECT body FROM {s}.scheduled WHERE status = 'pending' AND due <= %s AND coalesce(lease, '') <= %s ORDER BY due, id LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, now, CLAIM),
        ).fetchall()
        claimed = [json.loads(b) for (b,) in rows]
        for item in claimed:
            item.update(lease=lease, worker=worker)
            conn.execute(f"UPDATE {s}.scheduled SET lease = %s, body = %s WHERE id = %s", (lease, _dumps(item), item["id"]))
        conn.execute("COMMIT")
        if not claimed:
            break
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for item in claimed:
            groups[(item["due"], item["run"])].append(item)
        for group in groups.values():
            done += occasion(conn, s, group, now)
        if len(claimed) < CLAIM:
            break
    conn.close()
    return done


def occasion(conn: psycopg.Connection[Any], s: str, claimed: list[dict[str, Any]], now: str) -> int:
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    try:
        first, mine = claimed[0], {c["id"]: c for c in claimed}
        rows = conn.execute(
            f"SELECT body FROM {s}.scheduled WHERE subject = %s AND flow = %s AND status = 'pending' AND due = %s AND body::json->>'run' = %s ORDER BY id FOR UPDATE",
            (first["subject"], first["flow"], first["due"], first["run"]),
        ).fetchall()
        items, ours = [], False
        for (body,) in rows:
            item = json.loads(body)
            c = mine.get(item["id"])
            if c is None:
                items.append(item)
            elif item.get("lease") == c["lease"] and item.get("worker") == c["worker"]:
                items.append(item)
                ours = True
        if not ours:
            conn.execute("COMMIT")
            return 0
        subject = items[0]["subject"]
        found = conn.execute(f"SELECT body, version FROM {s}.docs WHERE collection = 'clients' AND id = %s FOR UPDATE", (subject,)).fetchone()
        reason = None
        if found is None:
            reason = f"client {subject} no longer exists"
        else:
            client, version = json.loads(found[0]), found[1]
            practice_row = conn.execute(f"SELECT body FROM {s}.docs WHERE collection = 'partners' AND id = %s", (client.get("partner"),)).fetchone()
            practice = json.loads(practice_row[0]) if practice_row else None
            actor = next((u for u in (practice or {}).get("users", []) if u["id"] == items[0]["actor"]), None)
            if actor is None or actor["role"] != "administrator" or client["billing"] != "partner" or client["users"] or client.get("deletion_due") is None:
                reason = "a rule no longer holds"
        for item in items:
            entry = {
                "id": uuid.uuid4().hex, "time": now, "run": item["run"], "flow": item["flow"], "version": item["version"], "actor": item["actor"],
                "subject": subject, "answers": item.get("answers", {}), "status": "applied" if reason is None else "dropped",
                "changes": [], "summary": reason or "", "scheduled": item["id"], "kind": item["kind"],
            }  # fmt: skip
            if reason is None and item["kind"] == "effect":
                entry["changes"] = [{"op": "delete", "entity": "client", "id": subject, "field": None, "before": client, "after": None}]
            conn.execute(f"INSERT INTO {s}.audit (id, body) VALUES (%s, %s)", (entry["id"], _dumps(entry)))
        if reason is None and any(item["kind"] == "effect" for item in items):
            cursor = conn.execute(f"DELETE FROM {s}.docs WHERE collection = 'clients' AND id = %s AND version = %s", (subject, version))
            if cursor.rowcount != 1:
                raise RuntimeError(f"{subject} changed meanwhile")
            conn.execute(f"DELETE FROM {s}.keys WHERE collection = 'clients' AND id = %s", (subject,))
        for item in items:
            item.update(status="done" if reason is None else "dropped", finished=now, lease=None, **({"reason": reason} if reason else {}))
            conn.execute(f"UPDATE {s}.scheduled SET status = %s, lease = NULL, body = %s WHERE id = %s", (item["status"], _dumps(item), item["id"]))
        conn.execute("COMMIT")
        return len(items)
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def main(argv: list[str]) -> None:
    url, schema, now, barrier, me, processes = argv[0], argv[1], argv[2], Path(argv[3]), argv[4], int(argv[5])
    (barrier / f"ready-{me}").touch()
    while len(list(barrier.glob("ready-*"))) < processes:
        time.sleep(0.001)
    started = time.time()
    done = run(url, schema, now, f"raw-{me}")
    print(json.dumps({"done": done, "started": started, "ended": time.time()}))


if __name__ == "__main__":
    main(sys.argv[1:])
