"""Where the engine's time goes in one row of the benchmark: cProfile, top functions by own time.

    python3 benchmarks/profiles.py availability|available|available-sqlite|bulk|storage|postgres|growth|startup [--clients N] [--top 25] [--sort tottime|cumulative]

Runs the engine's side of that row in this process under cProfile (start-up:
the `validate` command, plus `python -X importtime`'s slowest imports) and
prints the top functions (availability: the `checker`; available and available-sqlite:
`Engine.available` on each backend). Data files and databases go to a temporary folder.
postgres (the in-process PostgreSQL row, on a schema of its own, dropped
afterwards) first commits every client once without the profiler and prints
where each commit's time goes: round trips, statements, the time spent
waiting for the server, and the process's CPU inside and outside psycopg.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from run import ACTOR, CLI, DEMO, FLOW, PYCACHE, Discard, environment, fresh_copy, make_data, make_db  # noqa: E402 - after the path is set


def profiled(fn: Callable[[], object], top: int, sort: str) -> str:
    profile = cProfile.Profile()
    profile.runcall(fn)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


def availability(work: Path, clients: int) -> Callable[[], object]:
    import yaml

    from clientflow.api import Engine

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    checker = Engine.open(ROOT, data=DEMO, notifiers={}).checker(data)

    def run() -> None:
        for _ in range(clients):
            checker("u1", "c1")
            checker("u2", "c1")

    return run


def available(work: Path, clients: int) -> Callable[[], object]:
    """`Engine.available`, what the CLI and the HTTP API call, on the memory backend."""
    from clientflow.api import Engine

    engine = Engine.open(ROOT, data=DEMO, notifiers={})
    return lambda: [(engine.available("u1", "c1"), engine.available("u2", "c1")) for _ in range(clients)]


def available_sqlite(work: Path, clients: int) -> Callable[[], object]:
    """`Engine.available` on a SQLite file holding the demo data (its read transaction, data_version check and look-ups included)."""
    from clientflow.api import Engine

    engine = Engine.open(ROOT, db=work / "available.db", notifiers={})
    engine.load_data(DEMO)
    return lambda: [(engine.available("u1", "c1"), engine.available("u2", "c1")) for _ in range(clients)]


def bulk(work: Path, clients: int) -> Callable[[], object]:
    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    data = make_data(clients, work / f"clients-{clients}.json")

    def run() -> None:
        engine = Engine.open(ROOT, data=data, notifiers={})
        run_bulk(engine, FLOW, ACTOR, where_subjects(engine, "true"), {"notify_client": True}, dry_run=True, selection="where:true")

    return run


def storage(work: Path, clients: int) -> Callable[[], object]:
    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    db = fresh_copy(make_db(make_data(clients, work / f"clients-{clients}.json"), work / f"pristine-{clients}.db"), "profiled.db")

    engine = Engine.open(ROOT, db=db, notifiers={"outbox": Discard()})  # opening is not timed in this row
    engine.deliver = lambda limit=None, stop=None: None  # type: ignore[method-assign] - nor is the delivery after the last client

    def run() -> None:
        run_bulk(engine, FLOW, ACTOR, where_subjects(engine, "true"), {"notify_client": True}, dry_run=False, selection="where:true")

    return run


def growth(work: Path, clients: int) -> Callable[[], object]:
    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    db = make_db(make_data(clients, work / f"clients-{clients}.json"), work / f"growth-{clients}.db")
    engine = Engine.open(ROOT, db=db, notifiers={})  # opening is not timed in this row

    def run() -> None:
        run_bulk(engine, FLOW, ACTOR, where_subjects(engine, "true"), {"notify_client": True}, dry_run=True, selection="where:true")

    return run


def postgres(work: Path, clients: int) -> Callable[[], object]:
    import pg_rows

    from clientflow.api import Engine
    from clientflow.bulk import job_key, run_one

    data = work / f"committable-{clients}.json"
    subprocess.run([sys.executable, str(HERE / "gen_data.py"), str(clients), str(data), "--committable"], check=True)
    pristine = pg_rows.load(data)
    schemas = [pg_rows.copy(pristine), pg_rows.copy(pristine)]
    key = job_key(FLOW, ACTOR, "where:true", {"notify_client": True})

    def commit_all(schema: str) -> None:
        engine = Engine.open(ROOT, env={"CLIENTFLOW_DB": pg_rows.PG_URL, "CLIENTFLOW_DB_SCHEMA": schema}, notifiers={"outbox": Discard()})
        for n in range(clients):  # as run_bulk does, without its closing delivery
            run_one(engine, FLOW, ACTOR, f"c{n:06d}", {"notify_client": True}, dry_run=False, key=key)
        engine.close()

    try:
        print(commit_breakdown(lambda: commit_all(schemas[0]), clients))
    except BaseException:
        for schema in [pristine, *schemas]:
            pg_rows.drop(schema)
        raise

    def run() -> None:
        try:
            commit_all(schemas[1])
        finally:
            for schema in [pristine, *schemas]:
                pg_rows.drop(schema)

    return run


def commit_breakdown(fn: Callable[[], None], clients: int) -> str:
    """Per commit: wall-clock time, round trips and statements, the time waiting inside psycopg, and the process's CPU."""
    import time

    from clientflow.default_plugins import postgres

    counted = {"trips": 0, "statements": 0, "wall": 0.0, "cpu": 0.0}
    original = postgres.PostgresTransaction._send

    def send(self: postgres.PostgresTransaction, statements: list[tuple[str, object]]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return original(self, statements)
        finally:
            counted["trips"] += 1
            counted["statements"] += len(statements)
            counted["wall"] += time.perf_counter() - wall
            counted["cpu"] += time.process_time() - cpu

    postgres.PostgresTransaction._send = send  # type: ignore[method-assign]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        postgres.PostgresTransaction._send = original  # type: ignore[method-assign]
    per = {k: v / clients for k, v in counted.items()}
    ms = 1000 / clients
    return (
        f"per commit ({clients:,} clients, each committed in its own transaction): {wall * ms:.2f} ms wall-clock, {cpu * ms:.2f} ms CPU of this process; "
        f"{per['trips']:.1f} round trips carrying {per['statements']:.1f} statements; inside them {per['wall'] * 1000:.2f} ms wall-clock "
        f"(waiting for the server, and psycopg's own work: {per['cpu'] * 1000:.2f} ms CPU); outside them {(wall - counted['wall']) * ms:.2f} ms wall-clock, "
        f"{(cpu - counted['cpu']) * ms:.2f} ms CPU (the engine: plan, rules, rendering, JSON)\n"
    )


def startup(work: Path, clients: int) -> Callable[[], object]:
    from clientflow.cli import main

    def run() -> None:
        try:
            main(["validate", "--project", str(ROOT), "--no-cache"])  # the full check (a remembered result would skip it)
        except SystemExit:
            pass

    return run


def slowest_imports(top: int) -> str:
    """`python -X importtime` of `clientflow validate`: the imports with the most cumulative time."""
    done = subprocess.run(
        [*CLI[:1], "-X", "importtime", *CLI[1:], "validate", "--project", str(ROOT), "--no-cache"],
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|", 2))
            rows.append((int(cumulative), int(own), name))
    rows.sort(reverse=True)
    lines = ["cumulative µs   own µs  module"] + [f"{c:>12} {o:>8}  {n}" for c, o, n in rows[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    sections = {
        "availability": (availability, 20_000),
        "available": (available, 20_000),
        "available-sqlite": (available_sqlite, 20_000),
        "bulk": (bulk, 20_000),
        "storage": (storage, 2_000),
        "postgres": (postgres, 1_000),
        "growth": (growth, 10_000),
        "startup": (startup, 0),
    }
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("section", choices=sorted(sections))
    parser.add_argument("--clients", type=int, help="clients (availability: pairs of calls); default per section")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX") != str(PYCACHE):
        # profile as the benchmark runs: bytecode cached (else imports compile every module from source)
        os.execve(sys.executable, [sys.executable, __file__, *(sys.argv[1:] if argv is None else argv)], environment())
    build, default = sections[args.section]
    with tempfile.TemporaryDirectory(prefix="clientflow-profile-") as folder:
        run = build(Path(folder), args.clients or default)
        print(profiled(run, args.top, args.sort))
    if args.section == "startup":
        print(slowest_imports(args.top))
    print(json.dumps({"section": args.section, "clients": args.clients or default}))


if __name__ == "__main__":
    main()
