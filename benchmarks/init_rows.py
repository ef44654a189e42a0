"""The `init` rows of benchmarks/run.py (issue 20, a million clients): loading a data file, against raw executemany / COPY.

    python3 benchmarks/run.py --only init [--quick]

* Time: `clientflow init --data F.json` into a new SQLite file and into a new
  PostgreSQL schema, against `benchmarks/raw_load.py` writing the same rows
  (raw executemany into SQLite, COPY into PostgreSQL), both as subprocesses,
  sides interleaved; the rows the two wrote are compared before anything is
  timed. Throughput ratio, target ≥ 0.5×.
* Memory: the peak resident memory of `clientflow init` (the child's
  ru_maxrss, from wait4) at 10,000 and at 1,000,000 clients (100,000 with
  --quick), into each backend. Target: at most 150 MB more.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from run import CLI, HERE, PY, ROOT, Bench, cpu_check, environment, interleaved, make_data, say

SIZES = {"full": (100_000, (10_000, 1_000_000)), "quick": (20_000, (10_000, 100_000))}  # (timed clients, (memory: small, large))
PG_URL = os.environ.get("CLIENTFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SMALL_REPEATS = 3  # memory at the small size: the median of so many runs (the large one runs once: minutes)


def measured(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall-clock seconds, peak resident memory (MB) and standard output of one subprocess; a failure raises."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(args, env=env or environment(), cwd=ROOT, stdout=out, stderr=err)  # noqa: S603 - our own commands
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{' '.join(args[-8:])} exited {child.returncode}: {err.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def init_args(data: Path, db: str) -> list[str]:
    return [*CLI, "init", "--project", str(ROOT), "--data", str(data), "--db", db]


def sqlite_rows(db: Path) -> str:
    """A digest of what a database holds: every document and every index row, in order."""
    digest = hashlib.sha256()
    with sqlite3.connect(db) as conn:
        for row in conn.execute("SELECT collection, id, body, version FROM docs ORDER BY collection, id"):
            digest.update(repr(row).encode())
        for row in conn.execute("SELECT entity, key, value, collection, id FROM keys ORDER BY entity, key, value, collection, id"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def postgres_rows(schema: str) -> str:
    import psycopg

    s = f'"{schema}"'
    with psycopg.connect(PG_URL) as conn:
        docs = conn.execute(f"SELECT md5(string_agg(concat_ws('|', collection, id, body, version), E'\\n' ORDER BY collection, id)) FROM {s}.docs").fetchone()
        keys = conn.execute(
            f"SELECT md5(string_agg(concat_ws('|', entity, key, value, collection, id), E'\\n' ORDER BY entity, key, value, collection, id)) FROM {s}.keys"
        ).fetchone()
    return f"{docs[0] if docs else None}/{keys[0] if keys else None}"


def drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=5):
            return None
    except Exception as exc:  # noqa: BLE001 - any reason is reported in the table
        return f"PostgreSQL at {PG_URL} is not reachable ({type(exc).__name__}); set CLIENTFLOW_TEST_PG"


def section(bench: Bench) -> None:
    timed_clients, (small, large) = SIZES[bench.sizes.name]
    pg_problem = postgres_reachable()
    data = make_data(timed_clients, bench.work / f"clients-{timed_clients}.json")
    speed(bench, "sqlite", data, timed_clients)
    if pg_problem is None:
        speed(bench, "postgresql", data, timed_clients)
    else:
        bench.error("init", "init into PostgreSQL vs COPY", "≥ 0.5×", pg_problem)
    files = {n: make_data(n, bench.work / f"clients-{n}.json") for n in (small, large)}
    memory(bench, "sqlite", files, small, large)
    if pg_problem is None:
        memory(bench, "postgresql", files, small, large)
    else:
        bench.error("init", "init into PostgreSQL: peak memory", "≤ +150 MB", pg_problem)


def speed(bench: Bench, backend: str, data: Path, clients: int) -> None:
    """`clientflow init` against raw_load.py, each side writing a fresh database from the same file."""
    digests: dict[str, str] = {}
    peaks: dict[str, list[float]] = {"init": [], "raw": []}

    def side(name: str) -> Callable[[], float]:
        def run() -> float:
            if backend == "sqlite":
                db = bench.work / f"{name}-speed.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                args = init_args(data, str(db)) if name == "init" else [PY, str(HERE / "raw_load.py"), str(data), "sqlite", str(db)]
                seconds, peak, _ = measured(args)
                digests.setdefault(name, sqlite_rows(db))
            else:
                schema = f"cf_bench_{name}_{uuid.uuid4().hex[:8]}"
                try:
                    if name == "init":
                        seconds, peak, _ = measured(init_args(data, PG_URL), environment(CLIENTFLOW_DB_SCHEMA=schema))
                    else:
                        seconds, peak, _ = measured([PY, str(HERE / "raw_load.py"), str(data), "postgresql", PG_URL, schema])
                    digests.setdefault(name, postgres_rows(schema))
                finally:
                    drop(schema)
            peaks[name].append(peak)
            if len(digests) == 2 and digests["init"] != digests["raw"]:
                raise RuntimeError(f"init and raw_load.py wrote different rows into {backend}")
            return seconds

        return run

    raw_name = "raw executemany" if backend == "sqlite" else "raw COPY"
    times, cpus = interleaved({"init": side("init"), "raw": side("raw")}, bench.sizes.repeats, f"init {backend}")
    m = {name: statistics.median(values) for name, values in times.items()}
    bench.numbers[f"init {backend}"] = {"clients": clients, **times, "peak_mb": peaks}
    ratio = m["raw"] / m["init"]
    bench.row(
        "init",
        f"`clientflow init` of {clients:,} clients from JSON into a new {'SQLite file' if backend == 'sqlite' else 'PostgreSQL schema'} "
        f"vs {raw_name} of the same rows (clients/s, subprocesses)",
        f"{clients / m['init']:,.0f}/s",
        f"{clients / m['raw']:,.0f}/s",
        ratio,
        "≥ 0.5×",
        ratio >= 0.5,
    )
    spread = ", ".join(f"{name} {min(values):.2f}–{max(values):.2f} s" for name, values in times.items())
    bench.details.append(
        f"- **init into {backend}**, {clients:,} clients ({data.stat().st_size / 1e6:.0f} MB of JSON): rows written by both sides identical (docs and index); "
        f"runs {spread}; throughput ratio in CPU seconds {cpu_check(cpus, [('raw/init', 'raw', 'init')])}; peak memory init "
        f"{statistics.median(peaks['init']):.0f} MB, raw_load.py (whole file in memory) {statistics.median(peaks['raw']):.0f} MB."
    )


def memory(bench: Bench, backend: str, files: dict[int, Path], small: int, large: int) -> None:
    """Peak memory of `clientflow init` at two sizes (the small one the median of a few runs, the large one once)."""
    peaks: dict[int, list[float]] = {small: [], large: []}
    seconds: dict[int, list[float]] = {small: [], large: []}
    for n in [small] * SMALL_REPEATS + [large]:
        say(f"  init {backend}: peak memory at {n:,} clients")
        if backend == "sqlite":
            db = bench.work / f"memory-{n}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            took, peak, out = measured(init_args(files[n], str(db)))
            db.unlink()
        else:
            schema = f"cf_bench_mem_{uuid.uuid4().hex[:8]}"
            try:
                took, peak, out = measured(init_args(files[n], PG_URL), environment(CLIENTFLOW_DB_SCHEMA=schema))
            finally:
                drop(schema)
        if not out.startswith(f"loaded {n + 2} records"):
            raise RuntimeError(f"init at {n:,} clients said: {out[:300]}")
        peaks[n].append(peak)
        seconds[n].append(took)
    low, high = statistics.median(peaks[small]), statistics.median(peaks[large])
    bench.numbers[f"init memory {backend}"] = {"peak_mb": {str(k): v for k, v in peaks.items()}, "seconds": {str(k): v for k, v in seconds.items()}}
    grown = high - low
    bench.row(
        "init",
        f"`clientflow init` from JSON into {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}: peak memory at {large:,} vs {small:,} clients",
        f"{high:.1f} MB",
        f"{low:.1f} MB",
        None,
        "≤ +150 MB",
        grown <= 150,
    )
    bench.rows[-1].ratio = f"{grown:+.1f} MB"
    took = statistics.median(seconds[large])
    bench.details.append(
        f"- **init into {backend}, memory**: {small:,} clients {', '.join(f'{p:.1f}' for p in peaks[small])} MB; {large:,} clients "
        f"({files[large].stat().st_size / 1e6:.0f} MB of JSON) {high:.1f} MB, loaded in {took:.0f} s ({large / took:,.0f} clients/s, start-up included)."
    )
