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
`available` reads no scheduled work (one statement on docs and keys), so this row is a check that
the items cost nothing: measured in short alternating blocks, so that noise falls on both sides.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pg_rows import PG_URL, drop
from run import HERE, PY, ROOT, Bench, cpu_check, environment, interleaved, median, say

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


ROUNDS, BLOCKS, CALLS = 11, 200, 2  # `available`: rounds, each of BLOCKS blocks of CALLS calls per side, the sides alternating block by block
WARM = 50  # calls of each side before a round's clock: the statement prepared, and past PostgreSQL's five custom plans


def backend_seconds(pid: int | None) -> float:
    """The CPU seconds the server process `pid` has run so far (/proc/PID/schedstat, in ns); 0.0 when it cannot be read here."""
    if pid is None:
        return 0.0
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def local_backend(pid: int | None) -> int | None:
    """`pid` when it is a PostgreSQL process of this machine (a server elsewhere has its own pids), else None."""
    try:
        return pid if pid is not None and Path(f"/proc/{pid}/comm").read_text().strip() == "postgres" and backend_seconds(pid) else None
    except OSError:
        return None


def alternating(schemas: dict[str, str], first: str) -> tuple[dict[str, float], dict[str, float | None]]:
    """One round of `Engine.available('u1', 'c1')` on each schema, the sides alternating every CALLS calls.

    Each side gets a new engine, so a new connection and server process: which core a server process
    shares with the client is chosen anew each round, not kept for the whole measurement. Returns each
    side's median seconds per call over its blocks, and its CPU seconds per call (this thread and its
    server process; None when the server's process cannot be read from here).
    """
    import psycopg

    from clientflow.api import Engine
    from clientflow.default_plugins.postgres import PostgresStorage

    tag = uuid.uuid4().hex[:10]
    names = sorted(schemas, key=lambda name: name != first)
    engines = {
        name: Engine.open(ROOT, storage=PostgresStorage(PG_URL, schemas[name], application_name=f"cf-bench-{name}-{tag}"), notifiers={}, now=NOW)
        for name in names
    }
    try:
        for engine in engines.values():
            for _ in range(WARM):
                engine.available("u1", "c1")
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            pids = {
                name: conn.execute("SELECT min(pid) FROM pg_stat_activity WHERE application_name = %s", (f"cf-bench-{name}-{tag}",)).fetchone()
                for name in names
            }
        pid = {name: local_backend(row[0] if row else None) for name, row in pids.items()}
        walls: dict[str, list[float]] = {name: [] for name in names}
        cpus = dict.fromkeys(names, 0.0)
        gc.disable()
        try:
            for _ in range(BLOCKS):
                for name in names:
                    ask = engines[name].available
                    server, cpu, begin = backend_seconds(pid[name]), time.thread_time(), time.perf_counter()
                    for _ in range(CALLS):
                        ask("u1", "c1")
                    end = time.perf_counter()
                    cpus[name] += time.thread_time() - cpu + backend_seconds(pid[name]) - server
                    walls[name].append((end - begin) / CALLS)
        finally:
            gc.enable()
    finally:
        for engine in engines.values():
            engine.close()
    return {name: median(walls[name]) for name in names}, {name: cpus[name] / (BLOCKS * CALLS) if pid[name] else None for name in names}


def available(bench: Bench) -> None:
    """`available` with no scheduled work, and beside PENDING pending items of other subjects.

    Both sides are copies of one schema the engine loaded, made and analysed alike, so that they
    differ by the pending items alone (the engine's load does not analyse docs and keys, and
    autovacuum may or may not have yet: the same statement then has another plan on one side). The
    items are written, vacuumed and checkpointed before any clock starts. Then ROUNDS rounds, each
    with new engines warmed up, the sides alternating every CALLS calls: with one 80 ms batch per
    side at a time, as before, a burst of the machine's other work could land on one side only (on
    a busy machine, one schema compared with itself that way went over 1.25x in 4 of 20 tries).
    """
    from clientflow.api import Engine

    count = PENDING[bench.sizes.name]
    base = f"cf_bench_avail_{uuid.uuid4().hex[:10]}"
    env = {"CLIENTFLOW_DB": PG_URL, "CLIENTFLOW_DB_SCHEMA": base, "CLIENTFLOW_NOTIFIERS": ""}
    with Engine.open(ROOT, env=env, notifiers={}, now=NOW) as engine:
        engine.load_data(ROOT / "data" / "demo.yaml")
    schemas: dict[str, str] = {}
    try:
        schemas["none"] = copy(base, ("docs", "keys"))
        schemas["pending"] = copy(base, ("docs", "keys"))
        say(f"  scheduled: writing {count:,} pending items (not timed)...")
        started = time.perf_counter()
        add_pending(schemas["pending"], count)
        say(f"  scheduled: written in {time.perf_counter() - started:.1f} s")
        answers = {}
        for name, schema in schemas.items():
            with Engine.open(ROOT, env={**env, "CLIENTFLOW_DB_SCHEMA": schema}, notifiers={}, now=NOW) as engine:
                answers[name] = engine.available("u1", "c1").to_json()
        if answers["none"] != answers["pending"]:
            raise RuntimeError("available answered differently beside the pending items")
        times: dict[str, list[float]] = {name: [] for name in schemas}
        cpus: dict[str, list[float | None]] = {name: [] for name in schemas}
        for i in range(ROUNDS):
            say(f"  available beside pending work: round {i + 1}/{ROUNDS}")
            walls, cpu = alternating(schemas, "none" if i % 2 == 0 else "pending")
            for name in schemas:
                times[name].append(walls[name])
                cpus[name].append(cpu[name])
    finally:
        for schema in (base, *schemas.values()):
            drop(schema)
    m = {name: median(values) for name, values in times.items()}
    bench.numbers["scheduled_available"] = {"items": count, "rounds": ROUNDS, "calls": BLOCKS * CALLS, **times, "cpu": cpus}
    # the median of the rounds' ratios: within a round the sides alternate, so its ratio compares like with like, and a
    # round whose server process of one side shared a busy core for the whole round is one ratio of ROUNDS, not a median moved
    ratios = [pending / none for none, pending in zip(times["none"], times["pending"], strict=True)]
    ratio = median(ratios)
    bench.row(
        "scheduled", f"`available` on PostgreSQL beside {count:,} pending scheduled items (other subjects) vs none (per call, in process)",
        f"{m['pending'] * 1e6:,.0f} µs", f"{m['none'] * 1e6:,.0f} µs", ratio, "≤ 1.25× (flat)", ratio <= 1.25,
    )  # fmt: skip
    measured = [[v for v in cpus[name] if v is not None] for name in ("none", "pending")]
    cpu_said = (
        f" In CPU time per call (this process and its server process, medians of the rounds): {median(measured[0]) * 1e6:,.0f} and "
        f"{median(measured[1]) * 1e6:,.0f} µs, ratio {median([p / n for n, p in zip(*measured, strict=True)]):.2f}×."
        if all(len(v) == ROUNDS for v in measured)
        else ""
    )
    bench.details.append(
        f"- **scheduled (available)**: the demo data on PostgreSQL, `Engine.available('u1', 'c1')` per call, with an empty scheduled table and with "
        f"{count:,} pending items of other subjects in it (both schemas copies of one, analysed alike; the items vacuumed and checkpointed before timing); "
        f"same answer on both. {ROUNDS} rounds, each with new engines warmed up by {WARM} calls, then {BLOCKS * CALLS:,} calls a side alternating every {CALLS}; "
        f"a round's figure is the median of its blocks, the ratio the median of the rounds' ratios ({min(ratios):.2f}–{max(ratios):.2f}×). "
        f"Medians {m['none'] * 1e6:,.0f} µs and {m['pending'] * 1e6:,.0f} µs "
        f"(rounds {', '.join(f'{v * 1e6:.0f}' for v in times['none'])} / {', '.join(f'{v * 1e6:.0f}' for v in times['pending'])} µs).{cpu_said}"
    )


if __name__ == "__main__":
    sys.exit("run it through benchmarks/run.py --only scheduled")
