"""The benchmark of issue 7: each ratio measured side by side in one run, median of several runs.

    python3 benchmarks/run.py            # the full table (5–6 minutes on 2 cores)
    python3 benchmarks/run.py --quick    # smaller sizes, fewer repeats (under a minute)
    python3 benchmarks/run.py --only availability,startup
    python3 benchmarks/run.py --only locales     # a plan in the second locale against the first (issue 18)
    python3 benchmarks/run.py --only scheduled   # due work on PostgreSQL vs raw psycopg; available beside 1,000,000 pending items (issue 17)
    python3 benchmarks/run.py --only load   # the HTTP API under locust (benchmarks/load.py; PostgreSQL, `.[load]`)
    python3 benchmarks/run.py --runs 5 --quick-sections load,init   # the table five times: each row's spread
    python3 benchmarks/run.py --runs 5 --quick --once load,init     # the same, the two long sections once

Adding a row: write a function `name(bench)` below (or a module with
`section(bench)` beside this file, as pg_rows.py and init_rows.py), call
`bench.row(...)` for each row and `bench.details.append(...)` for what the
row's reader needs, and add `name` to SECTIONS; `bench.sizes.name` says
whether this is a full or a --quick run.

Prints a Markdown table (median of each side, their ratio, PASS/FAIL against
the target) and writes it to benchmarks/results/latest.md (and the numbers to
latest.json). Every side is checked to give the same answer as the other
before it is timed. Exit status 0 when every row passes, 1 otherwise.
What each row measures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = HERE / "results"
DEMO = ROOT / "data" / "demo.yaml"
FLOW = "deactivate-client"
ACTOR = "u1"
PY = sys.executable
CLI = [PY, "-c", "import sys; from clientflow.cli import main; sys.argv[0] = 'clientflow'; main()"]
BULK_ARGS = ["bulk", FLOW, "--project", str(ROOT), "--actor", ACTOR, "--where", "true", "--answer", "notify_client=true", "--format", "json"]
SECTIONS = ("availability", "bulk", "storage", "postgres", "scheduled", "growth", "startup", "locales", "load", "init")


@dataclass(frozen=True)
class Sizes:
    """How big and how often: the full run, or --quick."""

    name: str
    repeats: int  # runs of each side, for the median
    batch_seconds: float  # one timed batch of availability calls
    bulk_clients: int
    verify_clients: int  # the file on which bulk's answers are compared line by line
    storage_clients: int
    growth: tuple[int, ...]
    growth_repeats: int
    startup_runs: int


FULL = Sizes("full", 5, 0.05, 20_000, 2_000, 5_000, (10_000, 1_000_000), 2, 10)  # growth: issue 20 item 2 (a million vs 10,000)
QUICK = Sizes("quick", 3, 0.02, 2_000, 500, 1_000, (1_000, 10_000), 2, 5)


@dataclass
class Row:
    section: str
    measure: str
    engine: str
    baseline: str
    ratio: str
    target: str
    result: str  # PASS | FAIL | ERROR

    def markdown(self, number: int) -> str:
        return f"| {number} | {self.measure} | {self.engine} | {self.baseline} | {self.ratio} | {self.target} | **{self.result}** |"


@dataclass
class Bench:
    sizes: Sizes
    work: Path
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    by_section: dict[str, list[str]] = field(default_factory=dict)  # the details each section wrote (run_once fills it)

    def row(self, section: str, measure: str, engine: str, baseline: str, ratio: float | None, target: str, passed: bool | None) -> None:
        shown = "–" if ratio is None else f"{ratio:.2f}×"
        self.rows.append(Row(section, measure, engine, baseline, shown, target, "ERROR" if passed is None else "PASS" if passed else "FAIL"))

    def error(self, section: str, measure: str, target: str, message: str) -> None:
        self.rows.append(Row(section, measure, "–", "–", "–", target, "ERROR"))
        self.details.append(f"- **{section} — error**: {message}")


# measuring ------------------------------------------------------------------
def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_now() -> float:
    """CPU seconds used so far by this process and by its finished subprocesses."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def interleaved(sides: dict[str, Callable[[], float]], repeats: int, label: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run each side `repeats` times, alternating their order, so that the machine's noise falls on all of them alike.

    Each side returns the seconds it measured; the CPU seconds it used (here
    and in its subprocesses) are recorded too, as a cross-check on a busy machine.
    """
    names = list(sides)
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        say(f"  {label}: run {i + 1}/{repeats}")
        for name in names if i % 2 == 0 else reversed(names):
            before = cpu_now()
            walls[name].append(sides[name]())
            cpus[name].append(cpu_now() - before)
    return walls, cpus


def cpu_check(cpus: dict[str, list[float]], pairs: list[tuple[str, str, str]]) -> str:
    """The same ratios in CPU seconds (medians), for judging a run on a loaded machine."""
    return "; ".join(f"{label} {median(cpus[a]) / median(cpus[b]):.2f}×" for label, a, b in pairs)


PYCACHE = Path(tempfile.gettempdir()) / "clientflow-bench-pycache"


def environment(**extra: str) -> dict[str, str]:
    """The environment of every subprocess: the repository importable, no CLIENTFLOW_* settings from the caller.

    Bytecode is cached, as on any installed system (PYTHONDONTWRITEBYTECODE
    would make every start compile the engine's modules from source), in a
    folder of its own so that the working tree stays clean.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra)
    return env


def warm_up() -> None:
    """Run each kind of subprocess once untimed, so that bytecode exists before any timing (generated code is never cached)."""
    timed([*CLI, "validate", "--project", str(ROOT), "--no-cache"])
    timed([*CLI, "bulk", "--help"])
    timed(
        [
            PY,
            "-c",
            "import yaml, jinja2, jsonschema, click, pluggy, clientflow.api, clientflow.bulk, floor_bulk, raw_sqlite, raw_postgres, bulk_child, available_child",
        ]
    )


def timed(args: list[str], *, env: dict[str, str] | None = None, codes: tuple[int, ...] = (0,), cwd: Path | None = None) -> tuple[float, str]:
    """Wall-clock seconds of one subprocess, and its standard output; a surprising exit status raises."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env or environment(), cwd=cwd or ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in codes:
        raise RuntimeError(f"{' '.join(args[-12:])} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return seconds, done.stdout


def per_call(fn: Callable[..., Any], args: tuple[Any, ...], seconds: float) -> Callable[[], float]:
    """A timer of one batch of calls lasting about `seconds`; returns seconds per call."""
    started, calls = time.perf_counter(), 0
    while calls < 20 or time.perf_counter() - started < 0.01:
        fn(*args)
        calls += 1
    each = (time.perf_counter() - started) / calls
    n = max(20, int(seconds / each))

    def batch() -> float:
        gc.disable()
        try:
            begin = time.perf_counter()
            for _ in range(n):
                fn(*args)
            return (time.perf_counter() - begin) / n
        finally:
            gc.enable()

    batch.calls = n  # type: ignore[attr-defined] - for the CPU seconds per call
    return batch


def make_data(clients: int, path: Path) -> Path:
    """A data file from benchmarks/gen_data.py (the same generator, the same seed)."""
    if not path.exists():
        timed([PY, str(HERE / "gen_data.py"), str(clients), str(path)])
    return path


def make_db(data: Path, db: Path) -> Path:
    """A database loaded by `clientflow init` (not timed): it streams a JSON file of any size in bounded memory."""
    if not db.exists():
        timed([*CLI, "init", "--project", str(ROOT), "--data", str(data), "--db", str(db)])
        for suffix in ("-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                raise RuntimeError(f"{db}{suffix} left behind by init; the copy would not be a fresh database")
    return db


def fresh_copy(db: Path, name: str) -> Path:
    target = db.parent / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db, target)
    return target


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


# 1. availability --------------------------------------------------------------
CHECKER_TARGET = 1.2  # the checker against the hand-written check over in-memory indexes
AVAILABLE_TARGET = 1.5  # Engine.available (the API's path) against the hand-written check with the same record look-up


def availability(bench: Bench) -> None:
    import handwritten
    import peers
    import yaml

    from clientflow.api import Engine

    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    ix = handwritten.index(data)
    engine = Engine.open(ROOT, data=DEMO, notifiers={})
    checker = engine.checker(data)
    db = bench.work / "availability.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    on_sqlite = Engine.open(ROOT, db=db, notifiers={})
    on_sqlite.load_data(DEMO)
    raw = handwritten.open_sqlite(db)
    contenders: dict[str, Callable[[str, str], Any]] = {
        "engine": checker,
        "hand-written": lambda a, c: handwritten.available(ix, a, c),
        "hand-written, SQLite": lambda a, c: handwritten.available_sqlite(raw, a, c),
    }
    versions = []
    for peer in peers.PEERS:
        try:
            made = peer(ix)
        except ImportError as exc:
            bench.error("availability", f"peer {peer.name}", "faster", f"{peer.name} is not installed ({exc}); `pip install -e '.[bench]'`")
            continue
        contenders[made.name] = made
        versions.append(f"{made.name} {made.version}")
    public = {"Engine.available": engine, "Engine.available, SQLite": on_sqlite}
    bench.details.append(
        f"- **availability**: peers {', '.join(versions)}; data `data/demo.yaml` (in memory, and loaded into a SQLite file for the SQLite sides); "
        f"each timed batch about {bench.sizes.batch_seconds * 1000:.0f} ms of calls, gc off. `Engine.available` returns its `Availability` "
        '(flows, reasons, every rule\'s verdict); the answers compared are `.to_json()["flows"]`.'
    )
    for actor, client in (("u1", "c1"), ("u2", "c1")):
        want = handwritten.available(ix, actor, client)
        failed = sum(not f["available"] for f in want)
        reasons = sum(len(f["reasons"]) for f in want)
        pair = f"`{actor}`/`{client}`"
        sides: dict[str, Callable[[], float]] = {}
        for name, fn in contenders.items():
            got = fn(actor, client)
            if got != want:
                bench.error("availability", f"{name} {pair}", "same answer", f"{name} answers {pair} differently from handwritten.py: {json.dumps(got)[:600]}")
                continue
            sides[name] = per_call(fn, (actor, client), bench.sizes.batch_seconds)
        for name, api in public.items():
            answer = api.available(actor, client).to_json()["flows"]
            if answer != want:
                bench.error("availability", f"{name} {pair}", "same answer", f"{name} answers {pair} differently: {json.dumps(answer)[:600]}")
                continue
            sides[name] = per_call(api.available, (actor, client), bench.sizes.batch_seconds)
        walls, cpus = interleaved(sides, bench.sizes.repeats + 2, f"availability {actor}/{client}")
        times = {name: median(values) for name, values in walls.items()}
        bench.numbers[f"availability {actor}/{client}"] = times
        bench.numbers[f"availability {actor}/{client} cpu"] = {name: median(values) / getattr(sides[name], "calls", 1) for name, values in cpus.items()}
        label = f"availability {pair} ({failed} of {len(want)} flows refused, {reasons} reasons)"
        ratios = [
            ("engine", "hand-written", f"{label}: `checker` vs hand-written (in-memory indexes)", CHECKER_TARGET),
            ("Engine.available", "hand-written", f"{label}: `Engine.available`, memory backend, vs hand-written (in-memory indexes)", AVAILABLE_TARGET),
            (
                "Engine.available, SQLite",
                "hand-written, SQLite",
                f"{label}: `Engine.available`, SQLite backend, vs hand-written reading the same SQLite file (sqlite3, json.loads)",
                AVAILABLE_TARGET,
            ),
        ]
        for mine, floor, measure, target in ratios:
            if mine in times and floor in times:
                ratio = times[mine] / times[floor]
                bench.row("availability", measure, us(times[mine]), us(times[floor]), ratio, f"≤ {target:g}×", ratio <= target)
        peer_times = {peer.name: times[peer.name] for peer in peers.PEERS if peer.name in times}
        if "engine" in times:
            for name, peer_t in peer_times.items():
                ratio = times["engine"] / peer_t
                bench.row("availability", f"availability {pair}: `checker` vs {name}", us(times["engine"]), us(peer_t), ratio, "< 1× (faster)", ratio < 1)
        if peer_times and all(name in times for name in public):
            fastest = min(peer_times, key=peer_times.__getitem__)
            slower = max(public, key=times.__getitem__)
            ratio = times[slower] / peer_times[fastest]
            bench.row(
                "availability",
                f"availability {pair}: `Engine.available` (the slower of memory and SQLite: {slower.split(', ')[-1] if ', ' in slower else 'memory'}) "
                f"vs the fastest peer ({fastest})",
                us(times[slower]), us(peer_times[fastest]), ratio, "< 1× (faster)", ratio < 1,
            )  # fmt: skip
        cpu = {name: median(values) / getattr(sides[name], "calls", 1) for name, values in cpus.items()}
        bench.details.append(
            f"- availability {pair}, every side (µs per call): "
            + ", ".join(f"{name} {times[name] * 1e6:.2f}" for name in times)
            + "; the same ratios in CPU time: "
            + "; ".join(
                f"{a} / {b} {cpu[a] / cpu[b]:.2f}×"
                for a, b in (("engine", "hand-written"), ("Engine.available", "hand-written"), ("Engine.available, SQLite", "hand-written, SQLite"))
                if a in cpu and b in cpu
            )
            + "."
        )
    raw.close()
    on_sqlite.close()
    engine.close()


# 2. bulk vs floor -------------------------------------------------------------------
def bulk(bench: Bench) -> None:
    import floor_bulk

    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    n = bench.sizes.bulk_clients
    verify_bulk(bench, make_data(bench.sizes.verify_clients, bench.work / f"clients-{bench.sizes.verify_clients}.json"))
    data = make_data(n, bench.work / f"clients-{n}.json")
    want, _ = floor_bulk.run(data, ACTOR, {"notify_client": True})

    def cli() -> float:
        seconds, out = timed([*CLI, *BULK_ARGS, "--data", str(data)], codes=(0, 3))
        if json.loads(out) != want:
            raise RuntimeError(f"clientflow bulk's summary differs from the floor's: {out[:600]} != {want}")
        return seconds

    def floor_script() -> float:
        seconds, out = timed([PY, str(HERE / "floor_bulk.py"), str(data), "--actor", ACTOR])
        assert json.loads(out) == want
        return seconds

    phases: dict[str, list[float]] = {"open": [], "run": []}

    def in_process() -> float:
        started = time.perf_counter()
        engine = Engine.open(ROOT, data=data, notifiers={})
        opened = time.perf_counter()
        summary = run_bulk(engine, FLOW, ACTOR, where_subjects(engine, "true"), {"notify_client": True}, dry_run=True, selection="where:true")
        seconds = time.perf_counter() - started
        phases["open"].append(opened - started)
        phases["run"].append(seconds - (opened - started))
        engine.close()
        if summary.to_json() != want:
            raise RuntimeError(f"run_bulk's summary differs from the floor's: {summary.to_json()} != {want}")
        return seconds

    def floor_in_process() -> float:
        started = time.perf_counter()
        floor_bulk.run(data, ACTOR, {"notify_client": True})
        return time.perf_counter() - started

    times, cpus = interleaved(
        {"cli": cli, "floor script": floor_script, "in process": in_process, "floor in process": floor_in_process}, bench.sizes.repeats, "bulk"
    )
    m = {name: median(values) for name, values in times.items()}
    bench.numbers["bulk"] = {"clients": n, **times}
    ratio = m["cli"] / m["floor script"]
    bench.row(
        "bulk",
        f"bulk dry-run, {n:,} clients from JSON: `clientflow bulk` vs `floor_bulk.py` (both subprocesses, start-up included)",
        secs(m["cli"]),
        secs(m["floor script"]),
        ratio,
        "≤ 1.25×",
        ratio <= 1.25,
    )
    ratio = m["in process"] / m["floor in process"]
    bench.row(
        "bulk",
        f"bulk dry-run, {n:,} clients from JSON: `Engine.open` + `run_bulk` vs `floor_bulk.run` (in process)",
        secs(m["in process"]),
        secs(m["floor in process"]),
        ratio,
        "≤ 1.25×",
        ratio <= 1.25,
    )
    bench.details.append(
        f"- **bulk**: {n:,} clients, {want['completed']:,} completed and {want['blocked']:,} blocked; per client: CLI {m['cli'] / n * 1e6:.0f} µs, "
        f"in process {m['in process'] / n * 1e6:.0f} µs, floor {m['floor in process'] / n * 1e6:.0f} µs. In process, `Engine.open` (project and data file) "
        f"took {median(phases['open']):.2f} s and `run_bulk` {median(phases['run']):.2f} s, against the floor's {m['floor in process']:.2f} s in all. "
        f"The same ratios in CPU seconds: {cpu_check(cpus, [('CLI', 'cli', 'floor script'), ('in process', 'in process', 'floor in process')])}."
    )


def verify_bulk(bench: Bench, data: Path) -> None:
    """Before timing: the floor's line for each client equals the engine's report line and its plan (emails, changes, banner, summary)."""
    import floor_bulk

    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    _, lines = floor_bulk.run(data, ACTOR, {"notify_client": True}, keep=True)
    engine = Engine.open(ROOT, data=data, notifiers={})
    items: list[dict[str, Any]] = []
    run_bulk(
        engine,
        FLOW,
        ACTOR,
        where_subjects(engine, "true"),
        {"notify_client": True},
        dry_run=True,
        selection="where:true",
        on_item=lambda i: items.append(i.to_json()),
    )
    floor_items = [
        {
            "subject": x["subject"],
            "status": x["status"],
            "rules": x["rules"],
            "message": x["message"],
            "run": None,
            "changes": len(x["changes"]),
            "emails": len(x["emails"]),
        }
        for x in lines
    ]
    if sorted(items, key=lambda i: i["subject"]) != sorted(floor_items, key=lambda i: i["subject"]):
        raise RuntimeError("the floor's report lines differ from run_bulk's")
    checked = 0
    for line in lines:
        if line["status"] != "completed" or checked >= 50:
            continue
        plan = engine.simulate(FLOW, ACTOR, line["subject"], {"notify_client": True}).to_json()
        mine = {"changes": line["changes"], "emails": line["emails"], "banners": [line["banner"]], "summary": line["summary"]}
        theirs = {"changes": plan["changes"], "emails": plan["emails"], "banners": plan["banners"], "summary": plan["audit"]["summary"]}
        if mine != theirs:
            raise RuntimeError(f"the floor's plan for {line['subject']} differs from Engine.simulate's: {json.dumps(mine)[:400]} != {json.dumps(theirs)[:400]}")
        checked += 1
    engine.close()
    bench.details.append(
        f"- bulk answers checked before timing: {len(items):,} report lines equal to the floor's; {checked} plans' changes, emails, banner and summary equal."
    )


# 3. storage vs raw ------------------------------------------------------------------
class Discard:
    """A notifier that drops what it is sent: rows are queued in the outbox, delivery costs nothing."""

    name = "outbox"

    def send(self, email: Any) -> None:
        return None


def storage(bench: Bench) -> None:
    import raw_sqlite

    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    n = bench.sizes.storage_clients
    pristine = make_db(make_data(n, bench.work / f"clients-{n}.json"), bench.work / f"storage-{n}.db")
    checked: set[str] = set()
    expected: dict[str, Any] = {}

    def compare(kind: str, engine_db: Path, raw_db: Path) -> None:
        if kind in checked:
            return
        problems = raw_sqlite.differences(engine_db, raw_db)
        if problems:
            raise RuntimeError(f"{kind}: the engine and raw sqlite3 wrote different things: {'; '.join(problems)}")
        checked.add(kind)

    def cli() -> float:
        db = fresh_copy(pristine, "clientflow.db")
        seconds, out = timed([*CLI, *BULK_ARGS, "--db", str(db), "--yes"], env=environment(CLIENTFLOW_NOTIFIERS=""), codes=(0, 3))
        expected["cli"] = json.loads(out)
        return seconds

    def raw_script() -> float:
        db = fresh_copy(pristine, "raw.db")
        seconds, out = timed([PY, str(HERE / "raw_sqlite.py"), str(db), "--actor", ACTOR])
        counts = json.loads(out)
        if "cli" in expected and (counts["completed"], counts["blocked"]) != (expected["cli"]["completed"], expected["cli"]["blocked"]):
            raise RuntimeError(f"raw sqlite3 counts {counts} differ from the engine's {expected['cli']}")
        if "cli" in expected:
            compare("cli", pristine.parent / "clientflow.db", db)
        return seconds

    def in_process() -> float:
        db = fresh_copy(pristine, "engine-outbox.db")
        engine = Engine.open(ROOT, db=db, notifiers={"outbox": Discard()})
        last = [0.0]
        started = time.perf_counter()
        run_bulk(
            engine, FLOW, ACTOR, where_subjects(engine, "true"), {"notify_client": True}, dry_run=False, selection="where:true",
            on_item=lambda item: last.__setitem__(0, time.perf_counter()),
        )  # fmt: skip
        engine.close()
        return last[0] - started

    def raw_in_process() -> float:
        db = fresh_copy(pristine, "raw-outbox.db")
        result = raw_sqlite.run(db, ACTOR, ("outbox",))
        if (pristine.parent / "engine-outbox.db").exists():
            compare("in process", pristine.parent / "engine-outbox.db", db)
        return float(result["seconds"])

    times, cpus = interleaved(
        {"cli": cli, "raw script": raw_script, "in process": in_process, "raw in process": raw_in_process}, bench.sizes.repeats, "storage"
    )
    m = {name: median(values) for name, values in times.items()}
    bench.numbers["storage"] = {"clients": n, **times}
    ratio = m["raw script"] / m["cli"]  # throughput ratio: engine clients/s over raw clients/s
    bench.row(
        "storage", f"`bulk --yes` into SQLite, {n:,} clients, CLIENTFLOW_NOTIFIERS= (no outbox rows): engine vs raw sqlite3 (clients/s, subprocesses)",
        f"{n / m['cli']:,.0f}/s", f"{n / m['raw script']:,.0f}/s", ratio, "≥ 0.5×", ratio >= 0.5,
    )  # fmt: skip
    ratio = m["raw in process"] / m["in process"]
    bench.row(
        "storage", f"`run_bulk(dry_run=False)` into SQLite, {n:,} clients, one notifier (outbox rows queued, delivery not timed): engine vs raw sqlite3 (clients/s, in process)",
        f"{n / m['in process']:,.0f}/s", f"{n / m['raw in process']:,.0f}/s", ratio, "≥ 0.5×", ratio >= 0.5,
    )  # fmt: skip
    completed = expected.get("cli", {}).get("completed", "?")
    bench.details.append(
        f"- **storage**: {n:,} clients ({completed:,} committed, the rest blocked: a run and an audit row each); each run on a fresh copy of a database made by "
        f"`clientflow init`; writes compared table by table after the first run of each pair ({', '.join(sorted(checked)) or 'none'}: identical). "
        f"With CLIENTFLOW_NOTIFIERS= the engine queues no outbox rows at all (one row per email and notifier), so that row has none on either side; the in-process row "
        f"queues them (a notifier that discards) and stops the clock at the last client, before `run_bulk`'s closing delivery. "
        f"Throughput ratios in CPU seconds (setup included): {cpu_check(cpus, [('CLI', 'raw script', 'cli'), ('in process', 'raw in process', 'in process')])}."
    )


# 3b. PostgreSQL vs raw psycopg ----------------------------------------------------------
def postgres(bench: Bench) -> None:
    """`bulk --yes` on PostgreSQL (1 and 2 workers) against a raw psycopg loop making the same writes: benchmarks/pg_rows.py."""
    import pg_rows

    pg_rows.section(bench)


# 3c. scheduled work on PostgreSQL -------------------------------------------------------
def scheduled(bench: Bench) -> None:
    """Due work carried out on PostgreSQL (1 and 2 workers) against a raw psycopg loop, and `available` beside 1,000,000 pending items: benchmarks/scheduled_rows.py."""
    import scheduled_rows

    scheduled_rows.section(bench)


# 4. growth ------------------------------------------------------------------------------
def growth(bench: Bench) -> None:
    sizes = bench.sizes.growth
    dbs = {n: make_db(make_data(n, bench.work / f"clients-{n}.json"), bench.work / f"growth-{n}.db") for n in sizes}
    results: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}

    def child(n: int) -> Callable[[], float]:
        def run() -> float:
            _, out = timed([PY, str(HERE / "bulk_child.py"), str(dbs[n])])
            result = json.loads(out)
            if result["summary"]["total"] != n:
                raise RuntimeError(f"bulk over {n} clients saw {result['summary']['total']}")
            results[n].append(result)
            return float(result["seconds"])

        return run

    interleaved({str(n): child(n) for n in sizes}, bench.sizes.growth_repeats, "growth")
    # CPU time: the runs differ a hundredfold in length, so on a shared machine the long ones would also measure other
    # people's load in wall-clock time; on an idle machine the two agree (the run is single-threaded and SQLite is in process)
    cpu = {n: median([r["cpu_seconds"] for r in results[n]]) / n for n in sizes}
    wall = {n: median([r["seconds"] for r in results[n]]) / n for n in sizes}
    peak = {n: median([r["peak_rss_mb"] for r in results[n]]) for n in sizes}
    bench.numbers["growth"] = {str(n): results[n] for n in sizes}
    small, large = sizes[0], sizes[-1]
    ratio = cpu[large] / cpu[small]
    bench.row(
        "growth",
        f"bulk dry-run against SQLite: CPU time per client at {large:,} vs {small:,} clients",
        us(cpu[large]),
        us(cpu[small]),
        ratio,
        "≤ 1.25×",
        ratio <= 1.25,
    )
    grown = peak[large] - peak[small]
    bench.row(
        "growth", f"bulk dry-run against SQLite: peak memory (VmHWM) at {large:,} vs {small:,} clients",
        f"{peak[large]:.1f} MB", f"{peak[small]:.1f} MB", None, "≤ +50 MB", grown <= 50,
    )  # fmt: skip
    bench.rows[-1].ratio = f"{grown:+.1f} MB"
    lines = ", ".join(f"{n:,}: {cpu[n] * 1e6:.0f} µs CPU ({wall[n] * 1e6:.0f} µs wall-clock) per client, peak {peak[n]:.1f} MB" for n in sizes)
    bench.details.append(
        f"- **growth** (medians of {bench.sizes.growth_repeats}; `run_bulk` timed with the engine open, each run in a fresh process): {lines}; "
        f"wall-clock ratio {wall[large] / wall[small]:.2f}×."
    )
    growth_available(bench, dbs, small, large)


AVAILABLE_SAMPLE = 2_000  # clients asked about per run: each a different record, spread over the whole file


def growth_available(bench: Bench, dbs: dict[int, Path], small: int, large: int) -> None:
    """`Engine.available` per call against the large file vs the small one (SQLite), each run in a fresh process."""
    results: dict[int, list[dict[str, Any]]] = {small: [], large: []}

    def child(n: int) -> Callable[[], float]:
        def run() -> float:
            _, out = timed([PY, str(HERE / "available_child.py"), str(dbs[n]), str(n), str(AVAILABLE_SAMPLE)])
            results[n].append(json.loads(out))
            return float(results[n][-1]["seconds"])

        return run

    # two runs more than the other rows take (as availability takes two batches more): a run lasts 0.05-0.1 s of calls,
    # in which one neighbour's burst moves its figure by a tenth or more
    repeats = bench.sizes.repeats + 2
    interleaved({str(n): child(n) for n in (small, large)}, repeats, "growth: available")
    answers = {r["answers"] for n in (small, large) for r in results[n]}
    if len(answers) != 1:
        bench.error("growth", f"`Engine.available` at {large:,} vs {small:,} clients", "≤ 1.25×", "the two files answer their 50 shared clients differently")
        return
    cpu = {n: median([r["cpu_seconds"] for r in results[n]]) for n in (small, large)}
    wall = {n: median([r["seconds"] for r in results[n]]) for n in (small, large)}
    ratio = cpu[large] / cpu[small]
    bench.row(
        "growth", f"`Engine.available` against SQLite: CPU time per call at {large:,} vs {small:,} clients ({AVAILABLE_SAMPLE:,} different clients a run)",
        us(cpu[large]), us(cpu[small]), ratio, "≤ 1.25×", ratio <= 1.25,
    )  # fmt: skip
    bench.details.append(
        f"- **growth, available** (medians of {repeats}; each run a fresh process asking `Engine.available('u1', client)` once for "
        f"{AVAILABLE_SAMPLE:,} clients spread evenly over the file, after the 50 every file shares, whose answers are compared first: identical): "
        f"{small:,}: {cpu[small] * 1e6:.0f} µs CPU ({wall[small] * 1e6:.0f} µs wall-clock) per call; {large:,}: {cpu[large] * 1e6:.0f} µs CPU "
        f"({wall[large] * 1e6:.0f} µs wall-clock); wall-clock ratio {wall[large] / wall[small]:.2f}×."
    )


# 4b. init ---------------------------------------------------------------------------------
def init(bench: Bench) -> None:
    """`clientflow init` against raw executemany / COPY of the same rows, and its peak memory at 10k vs 1M clients: benchmarks/init_rows.py."""
    import init_rows

    init_rows.section(bench)


# 5. start-up -------------------------------------------------------------------------------
def startup(bench: Bench) -> None:
    """`clientflow validate` against the bare imports: cold (--no-cache, a full check) and warm (its clean result remembered).

    The remembered results live in a cache folder of this run's own (XDG_CACHE_HOME), filled by the
    untimed first run; both sides must print the same before anything is timed.
    """
    shutil.rmtree(bench.work / "cache", ignore_errors=True)  # a run before this one may have remembered another state of the project
    env = environment(XDG_CACHE_HOME=str(bench.work / "cache"))
    warm = [*CLI, "validate", "--project", str(ROOT)]
    cold = [*warm, "--no-cache"]
    imports = [PY, "-c", "import yaml, jinja2, jsonschema, click, pluggy"]
    said = {name: timed(args, env=env)[1] for name, args in (("cold", cold), ("remembers", warm), ("warm", warm))}  # the file cache warmed too
    if not said["cold"] == said["remembers"] == said["warm"]:
        raise RuntimeError(f"validate printed something else from its cache: {said}")
    remembered = list((bench.work / "cache" / "clientflow" / "validate").glob("*.json"))
    if len(remembered) != 1:
        raise RuntimeError(f"expected one remembered result, found {len(remembered)}")
    timed(imports)
    times, cpus = interleaved(
        {"warm": lambda: timed(warm, env=env)[0], "cold": lambda: timed(cold, env=env)[0], "imports": lambda: timed(imports)[0]},
        bench.sizes.startup_runs,
        "start-up",
    )
    m = {name: median(values) for name, values in times.items()}
    pairs = [("validate (warm) vs imports", "warm", "imports"), ("validate --no-cache (cold) vs imports", "cold", "imports")]
    bench.details.append(f"- **start-up**: in CPU seconds, {cpu_check(cpus, pairs)}.")
    bench.numbers["startup"] = times
    bench.numbers["startup_cpu"] = cpus
    bare = 'python -c "import yaml, jinja2, jsonschema, click, pluggy"'
    ratio = m["cold"] / m["imports"]
    bench.row(
        "startup",
        f"start-up, cold: `clientflow validate --no-cache` (the full check) on the shipped project vs `{bare}`",
        secs(m["cold"]),
        secs(m["imports"]),
        ratio,
        "≤ 1.5×",
        ratio <= 1.5,
    )
    ratio = m["warm"] / m["imports"]
    bench.row(
        "startup",
        f"start-up, warm: `clientflow validate` on the shipped project, its clean result remembered (cache hit) vs `{bare}`",
        secs(m["warm"]),
        secs(m["imports"]),
        ratio,
        "≤ 1.2×",
        ratio <= 1.2,
    )


# 5b. a second locale -------------------------------------------------------------------------
def locales(bench: Bench) -> None:
    """A dry-run plan rendered in the second locale (fr) against the first (en), in process: benchmarks/locale_rows.py."""
    import locale_rows

    locale_rows.section(bench)


# 6. the API under load ------------------------------------------------------------------------
def load(bench: Bench) -> None:
    """`clientflow serve` with 1 and 2 workers on PostgreSQL under locust, against a bare FastAPI endpoint: benchmarks/load.py."""
    import load as api_load

    api_load.section(bench)


# the table ------------------------------------------------------------------------------
def machine() -> str:
    """The machine a table was measured on: processor, cores, memory, and the versions that matter to its rows."""
    import sqlite3

    cpu = memory = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        memory = f"{kib / 1024**2:.0f} GB"
    except (OSError, StopIteration, ValueError):
        pass
    versions = [f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}"]
    try:
        import psycopg

        with psycopg.connect(os.environ.get("CLIENTFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"), connect_timeout=3) as conn:
            server = conn.execute("SHOW server_version").fetchone()
        versions.append(f"PostgreSQL {str(server[0]).split()[0] if server else '?'} (same machine), psycopg {psycopg.__version__}")
    except Exception:  # noqa: BLE001 - no server: the PostgreSQL rows will say so
        versions.append("no PostgreSQL server reached")
    return f"{platform.machine()}, {cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}; {', '.join(versions)}"


def command_line() -> str:
    return shlex.join(["python3", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def how(bench: Bench, quick_sections: set[str]) -> str:
    quick = f"; sections run with --quick sizes: {', '.join(sorted(quick_sections))}" if quick_sections else ""
    return (
        f"Medians of {bench.sizes.repeats} runs of each side (availability: {bench.sizes.repeats + 2} batches; growth: {bench.sizes.growth_repeats}, `Engine.available` against the file's size {bench.sizes.repeats + 2}; "
        f"start-up: {bench.sizes.startup_runs}), the sides interleaved{quick}."
    )


def table(bench: Bench, started: datetime, elapsed: float, quick_sections: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = [
        f"## Benchmark ({bench.sizes.name} run, {started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"`{command_line()}` on {machine()}; load average {load[0]:.2f} at the end; took {elapsed / 60:.1f} minutes. {how(bench, quick_sections)}",
        "",
        "| # | measure | clientflow | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|---|",
        *(row.markdown(i) for i, row in enumerate(bench.rows, 1)),
        "",
        *bench.details,
        "",
    ]
    return "\n".join(lines)


_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


def _value(shown: str) -> float | None:
    found = _NUMBER.search(shown)
    return float(found.group().replace(",", "")) if found else None


def spread_table(
    benches: list[tuple[Bench, datetime, float, float]],
    started: datetime,
    elapsed: float,
    quick_sections: set[str] = frozenset(),
    once: set[str] = frozenset(),  # type: ignore[assignment]
) -> str:
    """One table for several runs of the whole command: each row's ratio in the median run, and the spread (min–max) of its runs' medians."""
    first = benches[0][0]
    keys: list[tuple[str, str]] = []
    for bench, _, _, _ in benches:
        keys += [(r.section, r.measure) for r in bench.rows if (r.section, r.measure) not in keys]
    lines = [
        f"## Benchmark ({first.sizes.name} run ×{len(benches)}, {started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"`{command_line()}` on {machine()}. {len(benches)} runs of the whole table, one after the other, in {elapsed / 60:.1f} minutes "
        f"(each: {', '.join(f'{seconds / 60:.1f} min, load average {load:.1f} at its end' for _, _, seconds, load in benches)}). "
        f"In each run, {how(first, quick_sections)[0].lower()}{how(first, quick_sections)[1:]} "
        "Below, each row's figures are those of its median run (by ratio); in brackets, the lowest and highest of the runs' ratios; "
        "the result counts the runs that passed" + (f" (sections {', '.join(sorted(once))} ran in the first run only)." if once and len(benches) > 1 else "."),
        "",
        "| # | measure | clientflow | baseline | ratio (min–max) | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, key in enumerate(keys, 1):
        rows = [r for bench, _, _, _ in benches for r in bench.rows if (r.section, r.measure) == key]
        measured = sorted(((v, r) for r in rows if (v := _value(r.ratio)) is not None and r.result != "ERROR"), key=lambda pair: pair[0])
        passed = sum(r.result == "PASS" for r in rows)
        verdict = "PASS" if passed == len(rows) else "ERROR" if not measured else "FAIL"
        result = f"**{verdict}** {passed}/{len(rows)}"
        if not measured:
            lines.append(f"| {number} | {key[1]} | – | – | – | {rows[0].target} | {result} |")
            continue
        middle = measured[(len(measured) - 1) // 2][1]
        low, high = measured[0][1].ratio, measured[-1][1].ratio
        lines.append(f"| {number} | {key[1]} | {middle.engine} | {middle.baseline} | {middle.ratio} ({low} – {high}) | {middle.target} | {result} |")
    details: list[str] = []
    for section in SECTIONS:  # each section's notes from the last run it ran in, and any other run's errors
        ran = [bench for bench, _, _, _ in benches if section in bench.by_section]
        if ran:
            details += ran[-1].by_section[section]
            details += [d for bench in ran[:-1] for d in bench.by_section[section] if "— error**" in d]
    lines += ["", "Notes of each section's last run:", "", *details, ""]
    return "\n".join(lines)


def run_once(sizes: Sizes, chosen: list[str], work: Path, quick_sections: set[str]) -> Bench:
    """Every chosen section once, in the table's order; a section that breaks becomes an ERROR row and the others still run."""
    bench = Bench(sizes, work)
    for section in SECTIONS:
        if section not in chosen:
            continue
        say(f"{section}...")
        bench.sizes = QUICK if section in quick_sections else sizes
        before = len(bench.details)
        try:
            globals()[section](bench)
        except Exception as exc:  # noqa: BLE001 - a broken section is reported in the table, the others still run
            bench.error(section, section, "–", f"{type(exc).__name__}: {exc}")
            say(traceback.format_exc())
        finally:
            bench.sizes = sizes
            bench.by_section[section] = bench.details[before:]
    return bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (under a minute)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections (default: all of {','.join(SECTIONS)})")
    parser.add_argument("--quick-sections", default="", metavar="SECTIONS", help="comma-separated sections to run with --quick sizes in a full run")
    parser.add_argument("--once", default="", metavar="SECTIONS", help="with --runs: comma-separated sections to run in the first run only (the long ones)")
    parser.add_argument("--repeats", type=int, help="runs of each side (overrides the mode's)")
    parser.add_argument(
        "--runs", type=int, default=1, help="run the whole table this many times; the table gives each row's spread (min–max of the runs' medians)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.md", help="where to write the Markdown table")
    parser.add_argument("--keep", action="store_true", help="keep the generated data files and databases (their folder is printed)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.repeats:
        sizes = Sizes(**{**sizes.__dict__, "repeats": args.repeats, "startup_runs": max(sizes.startup_runs, args.repeats)})
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    quick_sections = {s.strip() for s in args.quick_sections.split(",") if s.strip()}
    once = {s.strip() for s in args.once.split(",") if s.strip()}
    unknown = sorted((set(chosen) | quick_sections | once) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="clientflow-bench-"))
    started, clock = datetime.now(UTC), time.perf_counter()
    say("warming up (bytecode)...")
    warm_up()
    benches: list[tuple[Bench, datetime, float, float]] = []
    try:
        for n in range(args.runs):
            if args.runs > 1:
                say(f"=== run {n + 1} of {args.runs}")
            begun, at = datetime.now(UTC), time.perf_counter()
            bench = run_once(sizes, chosen if n == 0 else [c for c in chosen if c not in once], work, quick_sections)
            benches.append((bench, begun, time.perf_counter() - at, os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")))
            if args.runs > 1:  # each run's own table as soon as it is done: nothing is lost should a later run break
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.with_name(f"{args.out.stem}.run{n + 1}.md").write_text(table(bench, begun, benches[-1][2], quick_sections), encoding="utf-8")
    finally:
        if args.keep:
            say(f"data and databases kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - clock
    text = table(benches[0][0], started, elapsed, quick_sections) if len(benches) == 1 else spread_table(benches, started, elapsed, quick_sections, once)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    runs = [{"started": str(begun), "seconds": seconds, "rows": [r.__dict__ for r in b.rows], "numbers": b.numbers} for b, begun, seconds, _ in benches]
    args.out.with_suffix(".json").write_text(json.dumps({"sizes": sizes.__dict__, "runs": runs}, indent=1, default=str), encoding="utf-8")
    say(f"written to {args.out}")
    return 0 if all(b.rows and all(row.result == "PASS" for row in b.rows) for b, _, _, _ in benches) else 1


if __name__ == "__main__":
    sys.exit(main())
