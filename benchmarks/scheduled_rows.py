"""The scheduled-work rows of benchmarks/run.py (issue 17): carrying out due work on PostgreSQL, and `available` beside a million pending items.

    python3 benchmarks/run.py --only scheduled [--quick]

The shipped project, its practice keeping deleted clients for 2 days (so a deletion schedules
two parts due together: the deletion and its confirmation, no reminder). Every generated client
has no users and its deletion pending: loaded and committed by the engine once (not timed), each
run on a fresh schema copied from that one. Interleaved:

* the engine: `Engine.carry_out` at a time after every deletion is due (as `clientflow worker
  --once --now` does; CLIENTFLOW_NOTIFIERS=, so no outbox rows), in 1 and in 2 processes
  (`scheduled_child.py`), timed from a barrier to the last process's end;
* `raw_scheduled.py`, the same claims and writes on raw psycopg, in 1 and in 2 processes.

Before anything counts, each side's writes are compared with the engine's one-worker run:
the documents and look-up keys left, each item's status, the audit rows of the parts by
status. Throughput ratio (engine over raw): target ≥ 0.5×.

Then `available` (in process, per call) on a schema with no scheduled work against the same
schema holding 1,000,000 pending items (other subjects, due in a year): target ≤ 1.25×, flat.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from pg_rows import PG_URL, drop
from run import HERE, PY, ROOT, Bench, cpu_check, environment, interleaved, median, per_call, say

SIZES = {"full": 1_000, "quick": 200}
PENDING = {"full": 1_000_000, "quick": 1_000_000}
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=3)  # after every deletion (2 days) is due


def data(n: int) -> dict[str, Any]:
    users = [{"id": "u1", "name": "Alice Admin", "email": "alice@northwind.example", "role": "administrator"}]
    partners = [{"id": "p1", "name": "Northwind Bookkeeping", "users": users, "settings": {"deletion_grace_days": 2}}]
    clients = [
        {"id": f"e{i:06d}", "name": f"Empty {i} Ltd", "partner": "p1", "billing": "partner", "subscription": "active", "owner": None, "users": []}
        for i in range(n)
    ]
    return {"partners": partners, "clients": clients}


def pristine(bench: Bench, n: int) -> str:
    """A schema whose every client has its deletion pending (the engine's own commits; not timed)."""
    from clientflow.api import Engine

    schema = f"cf_bench_sched_{uuid.uuid4().hex[:10]}"
    path = bench.work / f"deletions-{n}.json"
    path.write_text(json.dumps(data(n)), encoding="utf-8")
    env = {"CLIENTFLOW_DB": PG_URL, "CLIENTFLOW_DB_SCHEMA": schema, "CLIENTFLOW_NOTIFIERS": ""}
    with Engine.open(ROOT, env=env, notifiers={}, now=NOW) as engine:
        engine.load_data(path)
        for i in range(n):
            plan = engine.apply("delete-client", "u1", f"e{i:06d}", {"confirm_name": f"Empty {i} Ltd"}, deliver=False)
            if plan is None or plan.status != "completed" or len(plan.scheduled) != 2:
                raise RuntimeError(f"the deletion of e{i:06d} was not scheduled: {plan and plan.to_json()}")
    return schema


def copy(source: str, tables: tuple[str, ...] = ("docs", "keys", "scheduled")) -> str:
    """A fresh schema (made by the backend itself) with `source`'s rows of `tables` and its meta rows, analysed."""
    import psycopg

    from clientflow.default_plugins.postgres import PostgresStorage

    schema = f"cf_bench_sched_{uuid.uuid4().hex[:10]}"
    storage = PostgresStorage(PG_URL, schema)
    with storage.transaction(write=True) as tx:
        for table in tables:
            tx.execute(f'INSERT INTO {tx.s}.{table} SELECT * FROM "{source}".{table}')
        tx.execute(f'INSERT INTO {tx.s}.meta SELECT * FROM "{source}".meta ON CONFLICT (key) DO NOTHING')
    storage.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for table in ("docs", "keys", "meta", "scheduled", "audit", "outbox"):
            conn.execute(f'ANALYZE "{schema}".{table}')
    return schema


def contents(schema: str) -> dict[str, Any]:
    """What carrying out the work left in `schema`, comparable between sides (no ids, times or leases)."""
    import psycopg

    s = f'"{schema}"'
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        audit = [json.loads(b) for (b,) in conn.execute(f"SELECT body FROM {s}.audit")]
        return {
            "docs": sorted(conn.execute(f"SELECT collection, id, body, version FROM {s}.docs").fetchall()),
            "keys": sorted(conn.execute(f"SELECT entity, key, value, collection, id FROM {s}.keys").fetchall()),
            "scheduled": sorted(conn.execute(f"SELECT id, status FROM {s}.scheduled").fetchall()),
            "audit": sorted(Counter((e["status"], e["kind"], len(e["changes"])) for e in audit if isinstance(e.get("scheduled"), str)).items()),
            "outbox": conn.execute(f"SELECT count(*) FROM {s}.outbox").fetchone(),
        }


def differences(got: dict[str, Any], reference: dict[str, Any], most: int = 6) -> str:
    """The tables that differ, each with (at most `most` of) its rows only one side has: `-` the reference's, `+` this side's."""
    said = []
    for table in got:
        if got[table] == reference[table]:
            continue
        if not isinstance(got[table], list):
            said.append(f"{table}: {reference[table]!r} -> {got[table]!r}")
            continue
        ours, theirs = Counter(map(repr, got[table])), Counter(map(repr, reference[table]))
        rows = [f"-{row}" for row in sorted((theirs - ours).elements())] + [f"+{row}" for row in sorted((ours - theirs).elements())]
        more = f" (and {len(rows) - most} more)" if len(rows) > most else ""
        said.append(f"{table}: {' '.join(rows[:most])}{more}")
    return "; ".join(said)


def carry(bench: Bench, pristine_schema: str, n: int, script: str, processes: int, side: str, reference: dict[str, Any]) -> float:
    """Carry out every due item of a fresh copy with `processes` processes of `script`; the seconds from the barrier to the last end."""
    schema = copy(pristine_schema)
    barrier = bench.work / f"barrier-{uuid.uuid4().hex[:8]}"
    barrier.mkdir()
    env = environment(CLIENTFLOW_DB=PG_URL, CLIENTFLOW_DB_SCHEMA=schema, CLIENTFLOW_NOTIFIERS="")
    if script == "engine":
        args = [[PY, str(HERE / "scheduled_child.py"), schema, DUE.isoformat(), str(barrier), str(me), str(processes)] for me in range(processes)]
    else:
        args = [[PY, str(HERE / "raw_scheduled.py"), PG_URL, schema, DUE.isoformat(), str(barrier), str(me), str(processes)] for me in range(processes)]
    try:  # the copy is dropped whatever happens: a failed comparison must not leave schemas behind in the database
        children = [subprocess.Popen(a, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in args]
        reports = []
        for child in children:
            out, err = child.communicate(timeout=600)
            if child.returncode != 0:
                raise RuntimeError(f"{side}: a process failed: {err[-800:]}")
            reports.append(json.loads(out))
        done = sum(r["done"] for r in reports)
        if done != 2 * n:
            raise RuntimeError(f"{side}: {done} of {2 * n} items carried out")
        got = contents(schema)
        if not reference:
            reference.update(got)
        elif got != reference:
            raise RuntimeError(f"{side} wrote what the engine's one-worker run did not: {differences(got, reference)}")
    finally:
        drop(schema)
    return max(r["ended"] for r in reports) - min(r["started"] for r in reports)


def add_pending(schema: str, count: int) -> None:
    """`count` pending items of other subjects, due in a year, written straight into the table (not timed)."""
    import psycopg

    body = '{"actor":"u1","answers":{},"due":"2026-03-03T09:00:00+00:00","flow":"deactivate-client","id":"x","index":0,"kind":"email","lease":null,"run":"r","status":"pending","subject":"x","unless":null,"version":"v","what":{"template":"deactivate-practice"}}'
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".scheduled (id, status, due, lease, subject, flow, body) '
            "SELECT 'bench-' || g, 'pending', '2026-03-03T09:00:00+00:00', NULL, 'other-' || g, 'deactivate-client', %s FROM generate_series(1, %s) AS g",
            (body, count),
        )
        # vacuumed and checkpointed now, not timed: else the autovacuum of a million new rows and the checkpoint of their
        # writes would run during the timed calls, on the same two cores, as no steady database does
        conn.execute(f'VACUUM (ANALYZE) "{schema}".scheduled')
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:  # a superuser's (or pg_checkpoint's) to ask: else left to the server's own
            pass


def section(bench: Bench) -> None:
    n = SIZES[bench.sizes.name]
    say(f"  scheduled: committing {n:,} deletions (not timed)...")
    source = pristine(bench, n)
    reference: dict[str, Any] = {}
    sides = {
        "engine": lambda: carry(bench, source, n, "engine", 1, "engine", reference),
        "raw": lambda: carry(bench, source, n, "raw", 1, "raw", reference),
        "engine 2 workers": lambda: carry(bench, source, n, "engine", 2, "engine 2 workers", reference),
        "raw 2 workers": lambda: carry(bench, source, n, "raw", 2, "raw 2 workers", reference),
    }
    try:
        times, cpus = interleaved(sides, bench.sizes.repeats, "scheduled")
    finally:
        drop(source)
    m = {name: median(values) for name, values in times.items()}
    bench.numbers["scheduled"] = {"clients": n, "items": 2 * n, **times, "cpu": cpus}
    for workers, engine_side, raw_side in ((1, "engine", "raw"), (2, "engine 2 workers", "raw 2 workers")):
        ratio = m[raw_side] / m[engine_side]
        bench.row(
            "scheduled", f"due work carried out on PostgreSQL, {n:,} deletions (2 parts each, due together), {workers} worker{'s' if workers > 1 else ''}: engine vs raw psycopg loop (occasions/s)",
            f"{n / m[engine_side]:,.0f}/s", f"{n / m[raw_side]:,.0f}/s", ratio, "≥ 0.5×", ratio >= 0.5,
        )  # fmt: skip
    spread = "; ".join(f"{name} {min(v):.2f}–{max(v):.2f} s" for name, v in times.items())
    bench.details.append(
        f"- **scheduled (carrying out)**: {n:,} clients each with its deletion and confirmation due together ({2 * n:,} items), every run on a fresh copy; "
        f"each side's writes compared with the engine's one-worker run (documents, keys, item statuses, audit rows: identical). Runs: {spread}. "
        f"The raw loop does not render the confirmation (the engine does). CPU: {cpu_check(cpus, [('1 worker', 'raw', 'engine'), ('2 workers', 'raw 2 workers', 'engine 2 workers')])}."
    )
    say(f"  scheduled: {', '.join(f'{k} {v:.2f} s' for k, v in m.items())}")
    available(bench)


def available(bench: Bench) -> None:
    """`available` with no scheduled work, and beside PENDING pending items of other subjects."""
    from clientflow.api import Engine

    count = PENDING[bench.sizes.name]
    base = f"cf_bench_avail_{uuid.uuid4().hex[:10]}"
    env = {"CLIENTFLOW_DB": PG_URL, "CLIENTFLOW_DB_SCHEMA": base, "CLIENTFLOW_NOTIFIERS": ""}
    with Engine.open(ROOT, env=env, notifiers={}, now=NOW) as engine:
        engine.load_data(ROOT / "data" / "demo.yaml")
    crowded = copy(base, ("docs", "keys"))
    say(f"  scheduled: writing {count:,} pending items (not timed)...")
    started = time.perf_counter()
    add_pending(crowded, count)
    say(f"  scheduled: written in {time.perf_counter() - started:.1f} s")
    engines = {
        "none": Engine.open(ROOT, env={**env, "CLIENTFLOW_DB_SCHEMA": base}, notifiers={}, now=NOW),
        "pending": Engine.open(ROOT, env={**env, "CLIENTFLOW_DB_SCHEMA": crowded}, notifiers={}, now=NOW),
    }
    try:
        answers = {name: e.available("u1", "c1").to_json() for name, e in engines.items()}
        if answers["none"] != answers["pending"]:
            raise RuntimeError("available answered differently beside the pending items")
        sides = {name: per_call(lambda e=e: e.available("u1", "c1"), (), bench.sizes.batch_seconds * 4) for name, e in engines.items()}
        times, _ = interleaved(sides, max(bench.sizes.repeats, 5), "available beside pending work")
    finally:
        for e in engines.values():
            e.close()
        drop(base)
        drop(crowded)
    m = {name: median(values) for name, values in times.items()}
    bench.numbers["scheduled_available"] = {"pending": count, **times}
    ratio = m["pending"] / m["none"]
    bench.row(
        "scheduled", f"`available` on PostgreSQL beside {count:,} pending scheduled items (other subjects) vs none (per call, in process)",
        f"{m['pending'] * 1e6:,.0f} µs", f"{m['none'] * 1e6:,.0f} µs", ratio, "≤ 1.25× (flat)", ratio <= 1.25,
    )  # fmt: skip
    bench.details.append(
        f"- **scheduled (available)**: the demo data on PostgreSQL, `Engine.available('u1', 'c1')` per call, with an empty scheduled table and with "
        f"{count:,} pending items of other subjects in it; same answer on both. Medians {m['none'] * 1e6:,.0f} µs and {m['pending'] * 1e6:,.0f} µs "
        f"(runs {', '.join(f'{v * 1e6:.0f}' for v in times['none'])} / {', '.join(f'{v * 1e6:.0f}' for v in times['pending'])} µs)."
    )


if __name__ == "__main__":
    sys.exit("run it through benchmarks/run.py --only scheduled")
