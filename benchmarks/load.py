"""The HTTP API under load: `clientflow serve` with 1 and 2 worker processes on PostgreSQL, driven by locust.

    python3 benchmarks/load.py               # 1, 8 and 32 users; 1 and 2 workers (about 8 minutes)
    python3 benchmarks/load.py --quick       # shorter phases, fewer clients (about 2 minutes)
    python3 benchmarks/run.py --only load    # the same rows as a section of the benchmark table

Needs locust (`pip install -e '.[load]'`) and a PostgreSQL server
(CLIENTFLOW_TEST_PG, else postgresql://postgres@127.0.0.1:5432/test, or
--url); everything happens in a schema of its own, dropped afterwards.

For each number of workers, `clientflow serve --workers N` and a bare FastAPI
endpoint answering the same availability document (benchmarks/bare_api.py,
on the same uvicorn settings) run side by side. For 1, 8 and 32 users (closed
loop, no think time), the simulated users of benchmarks/load_users.py:
  * ask GET /availability of the engine, then of the bare endpoint, alternately
    (`repeats` phases each): requests/s, p50 and p99 latency, errors;
  * do whole runs: GET /availability, then start deactivate-client on a client
    no other user touches, answer its three screens and commit (6 requests).
The data come from benchmarks/gen_data.py; runs go only to the clients whose
rules pass, so none is blocked. Afterwards `consistency` checks every
committed run in the database: stored as completed, exactly one audit entry
holding the changes the commit answered, those changes in the records, and
each email it planned in the outbox exactly once per notifier.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent  # benchmarks/, on sys.path as the script's folder (run.py, gen_data.py)
ROOT = HERE.parent

if TYPE_CHECKING:
    from run import Bench

    from clientflow.api import Engine

PY = sys.executable
PG_ENV = "CLIENTFLOW_TEST_PG"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
FLOW, ACTOR = "deactivate-client", "u1"
SCREENS = [{"reason": "load test"}, {}, {"notify_client": True}]  # survey, explain, notify
NOTIFIERS = ("outbox",)
LABELS = {"/availability": "availability", "/flows/{flow}/runs": "start", "/runs/{run}/answers": "answers", "/runs/{run}/commit": "commit"}
KEEP_ENV = "LOAD_KEEP_SCHEMA"  # set by --keep: the schema stays for a look afterwards


@dataclass(frozen=True)
class LoadSizes:
    clients: int  # generated clients loaded into the schema
    seconds: float  # measured part of each phase
    warm: float  # unmeasured seconds after every user has spawned
    repeats: int  # availability phases against each of the engine and the bare endpoint
    users: tuple[int, ...] = (1, 8, 32)
    workers: tuple[int, ...] = (1, 2)


FULL = LoadSizes(30_000, 6.0, 1.0, 3)
QUICK = LoadSizes(6_000, 3.0, 1.0, 1)


# the consistency check ------------------------------------------------------------------
@dataclass
class Stored:
    """What the database holds after the load, as plain data."""

    runs: dict[str, dict[str, Any] | None]  # run id -> the stored run (None: not stored)
    audit: list[dict[str, Any]]  # in the order written
    outbox: list[dict[str, Any]]
    records: dict[tuple[str, str], dict[str, Any] | None]  # (entity, id) -> the record now, for every record a run changed


def _change(c: Mapping[str, Any]) -> tuple[Any, ...]:
    return (c.get("op"), c.get("entity"), c.get("id"), c.get("field"), json.dumps(c.get("after"), sort_keys=True))


def _email(e: Mapping[str, Any]) -> tuple[Any, ...]:
    return (e.get("template"), tuple(e.get("to") or ()), e.get("subject"))


def answered(plan: Mapping[str, Any]) -> dict[str, Any]:
    """What `consistency` keeps of a commit's answer (the plan): its run, changes and emails (without their texts)."""
    return {
        "run": plan["run"],
        "changes": plan["changes"],
        "emails": [{"template": e["template"], "to": e["to"], "subject": e["subject"]} for e in plan["emails"]],
    }


def consistency(committed: Sequence[Mapping[str, Any]], stored: Stored, notifiers: Sequence[str] = NOTIFIERS) -> list[str]:
    """Every way the stored runs, audit entries, outbox rows and records disagree with each other or with what commits answered.

    `committed` holds what each commit answered (`run`, `changes`, `emails`).
    Checked: each answered run is stored as completed with exactly one audit
    entry, whose changes are the ones answered; every completed audit entry was
    answered; a run has at most one audit entry; the last committed value of
    every changed field is the record's; each planned email is queued exactly
    once per notifier and nothing else is queued. Empty when all agree.
    """
    problems: list[str] = []
    answered = {c["run"]: c for c in committed}
    problems += [f"run {r} was answered committed {n} times" for r, n in Counter(c["run"] for c in committed).items() if n > 1]
    entries: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in stored.audit:
        entries[str(entry.get("run"))].append(entry)
    for run, found in entries.items():
        if len(found) > 1:
            problems.append(f"run {run} has {len(found)} audit entries ({', '.join(str(e.get('status')) for e in found)}); a run has one")
    completed = {run for run, found in entries.items() if any(e.get("status") == "completed" for e in found)}
    for run, given in answered.items():
        state = stored.runs.get(run)
        status = None if state is None else state.get("status")
        if status != "completed":
            problems.append(f"run {run} was answered committed but is stored as {status or 'nothing'}")
        found = [e for e in entries.get(run, []) if e.get("status") == "completed"]
        if not found:
            problems.append(f"run {run} was answered committed but has no completed audit entry")
        elif sorted(map(_change, found[0].get("changes", []))) != sorted(map(_change, given.get("changes", []))):
            problems.append(f"run {run}: its audit entry's changes differ from the ones its commit answered")
    for run in sorted(completed - set(answered)):
        problems.append(f"run {run} has a completed audit entry, but no commit of it was answered")
    for run in sorted(completed):
        state = stored.runs.get(run)
        if state is not None and state.get("status") != "completed" and run not in answered:
            problems.append(f"run {run} has a completed audit entry but is stored as {state.get('status')}")
    # the records: the last committed value of each field, in audit order
    last: dict[tuple[str, str, str | None], tuple[str, dict[str, Any]]] = {}
    for entry in stored.audit:
        if entry.get("status") == "completed":
            for change in entry.get("changes", []):
                last[(str(change.get("entity")), str(change.get("id")), change.get("field"))] = (str(entry.get("run")), change)
    for (entity, id, name), (run, change) in sorted(last.items(), key=lambda item: str(item[0])):
        record = stored.records.get((entity, id))
        op = change.get("op")
        if op == "delete":
            ok = record is None
        elif record is None:
            ok = False
        else:
            ok = op == "create" or record.get(str(name)) == change.get("after")
        if not ok:
            now = "missing" if record is None else json.dumps(record.get(str(name)))
            problems.append(f"run {run}: {entity} {id} {name or ''} is {now} in the records, but the run committed {op} {json.dumps(change.get('after'))}")
    # the outbox: each planned email once per notifier, nothing for a run that did not commit
    queued: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in stored.outbox:
        queued[(str(row.get("run")), str(row.get("notifier")))].append(row)
    for (run, notifier), rows in sorted(queued.items()):
        if run not in completed:
            problems.append(f"run {run} did not commit, yet {len(rows)} email(s) are queued for it ({notifier})")
        ids = Counter(str(r.get("email_id")) for r in rows)
        problems += [f"run {run}: email {e} is queued {n} times for {notifier}" for e, n in sorted(ids.items()) if n > 1]
    for run in sorted(completed):
        given = answered.get(run)
        for notifier in notifiers:
            rows = queued.get((run, notifier), [])
            if given is not None:
                want, got = Counter(map(_email, given.get("emails", []))), Counter(_email(r.get("email", {})) for r in rows)
                if want != got:
                    missing, extra = sum((want - got).values()), sum((got - want).values())
                    problems.append(
                        f"run {run}: {notifier} outbox holds {sum(got.values())} email(s) for {sum(want.values())} planned ({missing} missing, {extra} not planned)"
                    )
    return problems


def gather(engine: Engine, committed: Sequence[Mapping[str, Any]], started: Sequence[str] = ()) -> Stored:
    """Read what `consistency` checks from the engine's storage, in one read transaction."""
    from clientflow.runtime.data import Records

    with engine.storage.transaction() as tx:
        audit = tx.audit()
        outbox = tx.outbox()
        ids = {str(c["run"]) for c in committed} | set(started) | {str(e.get("run")) for e in audit} | {str(r.get("run")) for r in outbox}
        runs = {run: tx.load_run(run) for run in sorted(ids)}
        changed = {(str(c["entity"]), str(c["id"])) for e in audit for c in e.get("changes", [])}
        changed |= {(str(c["entity"]), str(c["id"])) for given in committed for c in given.get("changes", [])}
        records = Records(engine.project, tx)
        found = {ref: records.get(*ref) for ref in sorted(changed)}
    return Stored(runs, audit, outbox, found)


# measuring -----------------------------------------------------------------------------
@dataclass
class Phase:
    """One locust run against one server: what its measured window saw, and what the whole phase did."""

    kind: str  # engine | bare | runs
    workers: int
    users: int
    window: float
    latencies: dict[str, list[float]]  # request name -> milliseconds, measured window only
    errors: int  # failed requests and errors in the simulated users over the whole phase, warm-up and drain included
    failures: dict[str, int]
    committed: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    exhausted: int = 0
    server_cpu: float = 0.0  # cores used by the server's processes during the phase
    cpu_per_request: float = 0.0  # the server's CPU seconds over the phase / the requests it answered
    locust_cpu: float = 0.0  # cores used by the load generator
    load: float = 0.0  # 1-minute load average at the end

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def rate(self) -> float:
        return self.count / self.window if self.window > 0 else 0.0

    def percentile(self, q: float, name: str | None = None) -> float:
        values = sorted(self.latencies.get(name, []) if name else [x for v in self.latencies.values() for x in v])
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


class Server:
    """A server process (and its workers) in a process group of its own, ready when `ready_path` answers."""

    def __init__(self, label: str, args: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.label, self.args, self.env, self.port, self.log = label, args, env, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited {self.process.returncode}: {self.log.read_text(encoding='utf-8', errors='replace')[-1500:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/openapi.json", timeout=2):  # noqa: S310 - a local URL
                    return self
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.label} did not answer within 60 s") from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the server and its worker processes."""
        import psutil

        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            total = 0.0
            for p in [root, *root.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
            return total
        except psutil.Error:
            return float("nan")


def locust_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def phase(kind: str, server: Server, users: int, sizes: LoadSizes, work: Path, plan: dict[str, Any], workers: int) -> Phase:
    """One locust run: `users` users of the class for `kind`, measured for sizes.seconds after sizes.warm."""
    out = work / f"samples-{kind}-{workers}w-{users}u-{uuid.uuid4().hex[:6]}.json"
    plan_file = out.with_suffix(".plan.json")
    plan_file.write_text(json.dumps({**plan, "engine": kind != "bare", "out": str(out)}), encoding="utf-8")
    user_class = "FullRun" if kind == "runs" else "Availability"
    args = [PY, "-m", "locust", "-f", str(HERE / "load_users.py"), "--headless", "-u", str(users), "-r", str(users)]
    args += ["-t", f"{math.ceil(sizes.warm + sizes.seconds + 2)}s", "--stop-timeout", "60", "--host", server.base]
    args += ["--only-summary", "--loglevel", "ERROR", "--exit-code-on-error", "0", user_class]
    env = {**os.environ, "LOAD_PLAN": str(plan_file), "PYTHONPATH": str(HERE)}
    cpu_before, server_before, started = locust_cpu(), server.cpu_seconds(), time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=work, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"locust exited {done.returncode}: {(done.stderr or done.stdout)[-1500:]}")
    result = json.loads(out.read_text(encoding="utf-8"))
    spawned = result["spawned"] or min((s[0] for s in result["samples"]), default=0.0)
    begin = spawned + sizes.warm
    end = min(begin + sizes.seconds, result["stopping"] or begin + sizes.seconds)
    latencies: dict[str, list[float]] = defaultdict(list)
    for finished, name, ms, ok in result["samples"]:
        if ok and begin <= finished <= end:
            latencies[name].append(ms)
    errors = sum(1 for s in result["samples"] if not s[3]) + int(result["user_errors"])
    measured = Phase(kind, workers, users, max(end - begin, 0.0), dict(latencies), errors, result["failures"], result["committed"], result["started"])
    measured.exhausted = int(result["exhausted"])
    used = server.cpu_seconds() - server_before
    measured.server_cpu = used / elapsed
    measured.cpu_per_request = used / max(len(result["samples"]), 1)
    measured.locust_cpu = (locust_cpu() - cpu_before) / elapsed
    measured.load = os.getloadavg()[0]
    out.unlink()
    plan_file.unlink()
    return measured


# the section ------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def figures(rate: float, p50: float, p99: float, unit: str = "req/s") -> str:
    return f"{rate:,.0f} {unit}; p50 {ms(p50)}, p99 {ms(p99)}"


def schema_env(url: str, schema: str, secret: str, outbox: Path) -> dict[str, str]:
    import run

    return run.environment(
        CLIENTFLOW_DB=url, CLIENTFLOW_DB_SCHEMA=schema, CLIENTFLOW_API_SECRET=secret, CLIENTFLOW_NOTIFIERS=",".join(NOTIFIERS), CLIENTFLOW_OUTBOX=str(outbox)
    )


def prepare(engine: Engine, sizes: LoadSizes, work: Path) -> tuple[list[str], list[str]]:
    """Load the generated clients into the schema; the clients to ask about, and those whose runs pass every rule."""
    from gen_data import make

    data = make(sizes.clients)
    path = work / f"clients-{sizes.clients}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    engine.load_data(path)
    path.unlink()
    # deactivate-client for u1, the administrator of practice p1: the practice's own clients (reach), paid by the practice, still active
    own = [c for c in data["clients"] if c["partner"] == "p1"]
    return [c["id"] for c in own], [c["id"] for c in own if c["billing"] == "partner" and c["subscription"] == "active"]


def drop(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def section(bench: Bench) -> None:
    """The rows of the load test, as a section of benchmarks/run.py (`--only load`)."""
    try:
        import locust  # noqa: F401 - only to fail here, with advice
        import psutil  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"the load test needs locust: pip install -e '.[load]' ({exc.name} is missing)") from exc
    sizes = QUICK if bench.sizes.name == "quick" else FULL
    url = os.environ.get(PG_ENV) or PG_DEFAULT
    schema = f"cf_load_{uuid.uuid4().hex[:10]}"
    work = bench.work / "load"
    work.mkdir(parents=True, exist_ok=True)
    env = schema_env(url, schema, secrets.token_urlsafe(32), work / "outbox")
    from run import say

    from clientflow.api import Engine

    phases: list[Phase] = []
    try:
        # One engine for the setup and the final check, opened first: the check reads the project as the servers had it.
        with Engine.open(ROOT, env=env, notifiers={}) as engine:
            say(f"  load: {sizes.clients:,} generated clients into PostgreSQL schema {schema}")
            ask, runnable = prepare(engine, sizes, work)
            measure(sizes, url, env, work, ask, runnable, phases)
            say("  load: checking records, audit entries and outbox rows")
            committed = [c for p in phases for c in p.committed]
            stored = gather(engine, committed, [r for p in phases for r in p.started])
    finally:
        if os.environ.get(KEEP_ENV):
            say(f"  load: schema {schema} kept")
        else:
            drop(url, schema)
    report(bench, sizes, phases, consistency(committed, stored), len(committed), len(stored.outbox))


def measure(sizes: LoadSizes, url: str, env: dict[str, str], work: Path, ask: list[str], runnable: list[str], phases: list[Phase]) -> None:
    """Every phase, for each number of workers: availability against the engine and the bare endpoint, then full runs."""
    from run import say

    token = subprocess.run(
        [PY, "-m", "clientflow", "serve", "--project", str(ROOT), "--db", url, "--token-for", ACTOR], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    mixed = len(sizes.workers) * len(sizes.users)
    share = len(runnable) // mixed
    slices = iter(runnable[i * share : (i + 1) * share] for i in range(mixed))
    plan = {"token": token, "flow": FLOW, "screens": SCREENS, "ask_clients": ask}
    document = work / "availability.json"
    for workers in sizes.workers:
        port = free_port()
        serve = [PY, "-m", "clientflow", "serve", "--project", str(ROOT), "--db", url, "--port", str(port), "--workers", str(workers)]
        with Server(f"clientflow serve --workers {workers}", serve, env, port, work / f"serve-{workers}.log") as engine:
            if not document.exists():
                request = urllib.request.Request(f"{engine.base}/availability?client={runnable[0]}", headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local URL
                    document.write_bytes(response.read())
            port = free_port()
            bare_args = [PY, str(HERE / "bare_api.py"), str(port), str(workers), str(document)]
            with Server(f"bare_api.py {workers}", bare_args, env, port, work / f"bare-{workers}.log") as bare:
                for users in sizes.users:
                    for i in range(sizes.repeats):
                        for kind, server in [("engine", engine), ("bare", bare)][:: 1 if i % 2 == 0 else -1]:
                            say(f"  load: {plural(workers, 'worker')}, {plural(users, 'user')}, availability against {kind} ({i + 1}/{sizes.repeats})")
                            phases.append(phase(kind, server, users, sizes, work, plan, workers))
                    say(f"  load: {plural(workers, 'worker')}, {plural(users, 'user')}, full runs")
                    phases.append(phase("runs", engine, users, sizes, work, {**plan, "run_clients": next(slices)}, workers))


def report(bench: Bench, sizes: LoadSizes, phases: list[Phase], problems: list[str], committed: int, rows: int) -> None:
    import locust
    import uvicorn

    def of(kind: str, workers: int, users: int) -> list[Phase]:
        return [p for p in phases if (p.kind, p.workers, p.users) == (kind, workers, users)]

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    bench.numbers["load"] = [
        {"kind": p.kind, "workers": p.workers, "users": p.users, "rate": p.rate, "p50": p.percentile(0.5), "p99": p.percentile(0.99), "errors": p.errors,
         "server_cpu": p.server_cpu, "cpu_per_request": p.cpu_per_request, "locust_cpu": p.locust_cpu, "load": p.load, "committed": len(p.committed)}
        for p in phases
    ]  # fmt: skip
    throughput: dict[tuple[str, int, int], float] = {}
    cpu_lines: list[str] = []
    for workers in sizes.workers:
        for users in sizes.users:
            engine, bare, runs = of("engine", workers, users), of("bare", workers, users), of("runs", workers, users)
            rate, base = med([p.rate for p in engine]), med([p.rate for p in bare])
            errors = sum(p.errors for p in engine + bare)
            throughput[("engine", workers, users)], throughput[("bare", workers, users)] = rate, base
            cell = figures(rate, med([p.percentile(0.5) for p in engine]), med([p.percentile(0.99) for p in engine]))
            ratio = rate / base if base else None
            bench.row(
                "load", f"`GET /availability` on PostgreSQL, {plural(workers, 'worker')}, {plural(users, 'user')}: `clientflow serve` vs a bare FastAPI endpoint (requests/s; latency)",
                cell + (f"; **{errors} errors**" if errors else ""), figures(base, med([p.percentile(0.5) for p in bare]), med([p.percentile(0.99) for p in bare])),
                ratio, "≥ 0.5×, 0 errors", None if ratio is None else ratio >= 0.5 and errors == 0,
            )  # fmt: skip
            cpu_lines.append(
                f"{plural(workers, 'worker')}/{plural(users, 'user')} {med([p.cpu_per_request for p in engine]) * 1000:.2f} vs {med([p.cpu_per_request for p in bare]) * 1000:.2f} ms"
            )
            for run in runs:
                done = sum(len(v) for k, v in run.latencies.items() if k.endswith("commit"))
                throughput[("runs", workers, users)] = done / run.window if run.window else 0.0
                bench.row(
                    "load", f"full runs (`GET /availability`, start, 3 answers, commit), {plural(workers, 'worker')}, {plural(users, 'user')}: all requests; committed runs",
                    f"{figures(run.rate, run.percentile(0.5), run.percentile(0.99))}; {throughput[('runs', workers, users)]:,.1f} runs/s", "–", None,
                    "0 errors", run.errors == 0 and run.exhausted == 0,
                )  # fmt: skip
                bench.rows[-1].ratio = f"{run.errors} errors"
                steps = ", ".join(
                    f"{label} {ms(run.percentile(0.5, name))} / {ms(run.percentile(0.99, name))}" for name, label in LABELS.items() if name in run.latencies
                )
                bench.details.append(
                    f"- load, full runs, {plural(workers, 'worker')}, {plural(users, 'user')}: p50 / p99 by request: {steps}; "
                    f"{len(run.committed):,} runs committed in the whole phase; cores used: server {run.server_cpu:.2f}, locust {run.locust_cpu:.2f}; load average {run.load:.2f}"
                    + (f"; **{run.exhausted} users ran out of clients**" if run.exhausted else "")
                )
    bench.details.append(
        "- load, the server's CPU time per `GET /availability` (its processes' CPU seconds over a phase / the requests answered; "
        "less sensitive than requests/s to what else the machine runs), engine vs bare: " + "; ".join(cpu_lines) + "."
    )
    bench.row(
        "load", f"after the load: the {committed:,} committed runs' stored status, audit entries, records and {rows:,} outbox rows agree (`consistency`)",
        f"{len(problems)} problems", "–", None, "0 problems", not problems,
    )  # fmt: skip
    bench.rows[-1].ratio = f"{len(problems)}"
    for problem in problems[:10]:
        bench.details.append(f"- load, consistency: {problem}")
    failures = Counter[str]()
    for p in phases:
        failures.update(p.failures)
    for text, n in failures.most_common(5):
        bench.details.append(f"- load, failed requests ({n}×): {text}")
    first, last = sizes.workers[0], sizes.workers[-1]
    top = sizes.users[-1]
    if first != last:
        bench.details.append(
            f"- load, {last} workers vs {first} at {top} users: `/availability` {throughput[('engine', last, top)] / throughput[('engine', first, top)]:.2f}×, "
            f"bare endpoint {throughput[('bare', last, top)] / throughput[('bare', first, top)]:.2f}×, "
            f"full runs {throughput[('runs', last, top)] / max(throughput[('runs', first, top)], 1e-9):.2f}×."
        )
    cpu = ", ".join(
        f"{p.kind} {p.workers}w/{p.users}u {p.server_cpu:.2f}+{p.locust_cpu:.2f}"
        for p in phases
        if p.kind != "runs" and (p.workers, p.users) in {(w, top) for w in sizes.workers}
    )
    loads = [p.load for p in phases]
    bench.details.append(
        f"- **load**: locust {locust.__version__} (FastHttpUser, no think time) and the servers on the same {os.cpu_count()} cores as PostgreSQL; "
        f"uvicorn {uvicorn.__version__}, log level info as `clientflow serve` runs it; {sizes.clients:,} clients from gen_data.py; "
        f"each phase measured {sizes.seconds:.0f} s after {sizes.warm:.0f} s of warm-up, availability {sizes.repeats}× against each side, alternately (medians); "
        f"errors counted over whole phases. Notifier `outbox` (.eml files), delivered after each commit as the API does. "
        f"Cores used (server + locust) by the availability phases at {top} users: {cpu}. Load average (1 min) at the end of the phases: {min(loads):.2f}–{max(loads):.2f}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter phases, fewer clients")
    parser.add_argument("--url", help=f"the PostgreSQL server (default ${PG_ENV}, else {PG_DEFAULT})")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) and the schema")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "load.md", help="where to write the Markdown table")
    args = parser.parse_args(argv)
    if args.url:
        os.environ[PG_ENV] = args.url
    if args.keep:
        os.environ[KEEP_ENV] = "1"
    import run

    return run.main(["--only", "load", "--out", str(args.out), *(["--quick"] if args.quick else []), *(["--keep"] if args.keep else [])])


if __name__ == "__main__":
    sys.exit(main())
