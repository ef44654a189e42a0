"""The PostgreSQL rows of benchmarks/run.py (issue 20): `bulk --yes` against a raw psycopg loop making the same writes.

    python3 benchmarks/run.py --only postgres [--quick]

Every generated client passes deactivate-client (`gen_data.py --committable`),
so every one is committed, each in its own transaction. Each run gets a fresh
schema copied from one loaded once (documents and keys, then ANALYZE); the sides
are interleaved:

* `clientflow bulk --yes` (a subprocess, CLIENTFLOW_NOTIFIERS=, so no outbox
  rows) with 1 worker, and with `--workers 2`;
* `benchmarks/raw_postgres.py` as a subprocess (no outbox rows either);
* in process, `run_bulk(dry_run=False)` with one notifier that discards (so
  outbox rows are queued), its clock stopped at the last client, before the
  closing delivery, against `raw_postgres.run` queueing the same outbox rows.

Before anything counts, the schemas each pair wrote are compared table by table
(ids, times and versions left out), and the two-worker run against the
one-worker run. Throughput ratio (engine over raw): target ≥ 0.7×.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from run import CLI, HERE, PY, ROOT, Bench, cpu_check, environment, interleaved, median, say, timed

PG_URL = os.environ.get("CLIENTFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SIZES = {"full": 2_000, "quick": 500}
BULK = ["bulk", "deactivate-client", "--project", str(ROOT), "--actor", "u1", "--where", "true", "--answer", "notify_client=true", "--yes", "--format", "json"]


class Discard:
    """A notifier that drops what it is sent: rows are queued in the outbox, delivery costs nothing."""

    name = "outbox"

    def send(self, email: Any) -> None:
        return None


def drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def load(data: Path) -> str:
    """A schema holding the generated clients, loaded by the engine (not timed)."""
    from clientflow.api import Engine

    schema = f"cf_bench_pg_{uuid.uuid4().hex[:10]}"
    env = {"CLIENTFLOW_DB": PG_URL, "CLIENTFLOW_DB_SCHEMA": schema, "CLIENTFLOW_NOTIFIERS": ""}
    with Engine.open(ROOT, env=env, notifiers={}) as engine:
        engine.load_data(data)
    return schema


def copy(pristine: str) -> str:
    """A fresh schema with the pristine one's documents, keys and meta rows (the tables made by the backend itself)."""
    import psycopg

    from clientflow.default_plugins.postgres import PostgresStorage

    schema = f"cf_bench_pg_{uuid.uuid4().hex[:10]}"
    storage = PostgresStorage(PG_URL, schema)
    with storage.transaction(write=True) as tx:
        s, p = tx.s, f'"{pristine}"'
        for table in ("docs", "keys"):
            tx.execute(f"INSERT INTO {s}.{table} SELECT * FROM {p}.{table}")
        tx.execute(f"INSERT INTO {s}.meta SELECT * FROM {p}.meta ON CONFLICT (key) DO NOTHING")
    storage.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for table in ("docs", "keys", "meta", "runs", "audit", "outbox"):
            conn.execute(f'ANALYZE "{schema}".{table}')
    return schema


def section(bench: Bench) -> None:
    import raw_postgres

    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    n = SIZES[bench.sizes.name]
    data = bench.work / f"committable-{n}.json"
    if not data.exists():
        timed([PY, str(HERE / "gen_data.py"), str(n), str(data), "--committable"])
    pristine = load(data)
    kept: dict[str, str] = {}  # the first schema each side wrote, compared with its pair's, then dropped
    summaries: dict[str, Any] = {}
    compared: list[str] = []

    def keep_or_drop(side: str, schema: str) -> None:
        if side in kept:
            drop(schema)
            return
        kept[side] = schema
        for a, b, label in (
            ("cli", "raw script", "CLI vs raw"),
            ("cli", "cli 2 workers", "1 vs 2 workers"),
            ("in process", "raw in process", "in process vs raw"),
        ):
            if a in kept and b in kept and label not in compared:
                problems = raw_postgres.differences(PG_URL, kept[a], kept[b])
                if problems:
                    raise RuntimeError(f"{label}: the two wrote different things: {'; '.join(problems)}")
                compared.append(label)

    def cli(workers: int) -> Any:
        side = "cli" if workers == 1 else f"cli {workers} workers"

        def measure() -> float:
            schema = copy(pristine)
            env = environment(CLIENTFLOW_DB=PG_URL, CLIENTFLOW_DB_SCHEMA=schema, CLIENTFLOW_NOTIFIERS="")
            seconds, out = timed([*CLI, *BULK, "--workers", str(workers)], env=env)
            summary = json.loads(out)
            if summary["completed"] != n:
                raise RuntimeError(f"{side}: {summary['completed']} of {n} clients committed: {json.dumps(summary)[:400]}")
            summaries[side] = summary
            keep_or_drop(side, schema)
            return seconds

        return measure

    def raw_script() -> float:
        schema = copy(pristine)
        seconds, out = timed([PY, str(HERE / "raw_postgres.py"), PG_URL, schema, "--actor", "u1"])
        if json.loads(out)["completed"] != n:
            raise RuntimeError(f"raw psycopg committed {out.strip()} of {n}")
        keep_or_drop("raw script", schema)
        return seconds

    def in_process() -> float:
        schema = copy(pristine)
        env = {"CLIENTFLOW_DB": PG_URL, "CLIENTFLOW_DB_SCHEMA": schema}
        engine = Engine.open(ROOT, env=env, notifiers={"outbox": Discard()})
        last = [0.0]
        started = time.perf_counter()
        summary = run_bulk(
            engine, "deactivate-client", "u1", where_subjects(engine, "true"), {"notify_client": True}, dry_run=False, selection="where:true",
            on_item=lambda item: last.__setitem__(0, time.perf_counter()),
        )  # fmt: skip
        engine.close()
        if summary.completed != n:
            raise RuntimeError(f"in process: {summary.completed} of {n} clients committed")
        keep_or_drop("in process", schema)
        return last[0] - started

    def raw_in_process() -> float:
        schema = copy(pristine)
        result = raw_postgres.run(PG_URL, schema, "u1", ("outbox",))
        if result["completed"] != n:
            raise RuntimeError(f"raw psycopg in process committed {result['completed']} of {n}")
        keep_or_drop("raw in process", schema)
        return float(result["seconds"])

    sides = {"cli": cli(1), "raw script": raw_script, "cli 2 workers": cli(2), "in process": in_process, "raw in process": raw_in_process}
    try:
        times, cpus = interleaved(sides, bench.sizes.repeats, "postgres")
    finally:
        for schema in [pristine, *kept.values()]:
            drop(schema)
    m = {name: median(values) for name, values in times.items()}
    bench.numbers["postgres"] = {"clients": n, **times, "cpu": cpus}
    ratio = m["raw script"] / m["cli"]
    bench.row(
        "postgres", f"`bulk --yes` on PostgreSQL, {n:,} clients all committed, CLIENTFLOW_NOTIFIERS= (no outbox rows): engine vs raw psycopg loop (clients/s, subprocesses)",
        f"{n / m['cli']:,.0f}/s", f"{n / m['raw script']:,.0f}/s", ratio, "≥ 0.7×", ratio >= 0.7,
    )  # fmt: skip
    ratio = m["raw in process"] / m["in process"]
    bench.row(
        "postgres", f"`run_bulk(dry_run=False)` on PostgreSQL, {n:,} clients all committed, one notifier (outbox rows queued, delivery not timed): engine vs raw psycopg loop (clients/s, in process)",
        f"{n / m['in process']:,.0f}/s", f"{n / m['raw in process']:,.0f}/s", ratio, "≥ 0.7×", ratio >= 0.7,
    )  # fmt: skip
    speedup = m["cli"] / m["cli 2 workers"]
    bench.row(
        "postgres", f"`bulk --yes --workers 2` on PostgreSQL, {n:,} clients: speed-up over 1 worker (clients/s, subprocesses; reported, both write the same)",
        f"{n / m['cli 2 workers']:,.0f}/s", f"{n / m['cli']:,.0f}/s", speedup, "reported", True,
    )  # fmt: skip
    spread = "; ".join(f"{name} {min(v):.2f}–{max(v):.2f} s" for name, v in times.items())
    bench.details.append(
        f"- **postgres**: {n:,} clients, every one committed in its own transaction; each run on a fresh schema copied from one loaded by the engine; "
        f"writes compared table by table ({', '.join(compared) or 'none'}: identical). Runs: {spread}. "
        f"Throughput ratios in CPU seconds of the client processes (PostgreSQL's own work is in neither): "
        f"{cpu_check(cpus, [('CLI', 'raw script', 'cli'), ('in process', 'raw in process', 'in process')])}."
    )
    say(f"  postgres: {', '.join(f'{k} {v:.2f} s' for k, v in m.items())}")
