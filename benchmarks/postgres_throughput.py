"""`bulk --yes` throughput against PostgreSQL with 1 and 2 worker processes sharing the database.

    python3 benchmarks/postgres_throughput.py [CLIENTS] [--url postgresql://...]

Each run loads the same generated clients into a fresh schema, commits
`deactivate-client` for every one (each in its own transaction: the client's
update, the run, the audit row and the outbox rows), and reports clients/s of
the whole `clientflow bulk` command; the schemas are dropped afterwards.
Prints Markdown rows for docs/performance.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from gen_data import make  # noqa: E402

from clientflow import Engine  # noqa: E402


def run(url: str, clients: int, workers: int, data_file: Path) -> tuple[float, dict[str, object]]:
    schema = f"cf_bench_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    env.update(CLIENTFLOW_DB=url, CLIENTFLOW_DB_SCHEMA=schema, CLIENTFLOW_NOTIFIERS="")
    try:
        with Engine.open(REPO, env=env, notifiers={}) as engine:
            engine.load_data(data_file)
        args = [sys.executable, "-m", "clientflow", "bulk", "deactivate-client", "--project", str(REPO), "--actor", "u1"]
        args += ["--where", "true", "--answer", "notify_client=true", "--yes", "--workers", str(workers), "--format", "json"]
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800, cwd=REPO)
        elapsed = time.perf_counter() - started
        if done.returncode not in (0, 3):
            raise SystemExit(done.stderr)
        return elapsed, json.loads(done.stdout)
    finally:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
    url = sys.argv[sys.argv.index("--url") + 1] if "--url" in sys.argv else os.environ.get("CLIENTFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    with tempfile.TemporaryDirectory() as folder:
        data_file = Path(folder) / "data.json"
        data_file.write_text(json.dumps(make(clients)), encoding="utf-8")
        rows = []
        for workers in (1, 2):
            elapsed, summary = run(url, clients, workers, data_file)
            rows.append((workers, elapsed, summary))
    first = rows[0][2]
    assert all(summary == first for _, _, summary in rows), "the runs disagree"
    print(f"{clients:,} clients, {first['completed']:,} committed and {first['blocked']:,} blocked (each its own transaction):")
    print("| workers | seconds | clients/s | vs 1 worker |")
    print("|---|---|---|---|")
    for workers, elapsed, _ in rows:
        print(f"| {workers} | {elapsed:.2f} | {clients / elapsed:,.0f} | {rows[0][1] / elapsed:.2f}× |")


if __name__ == "__main__":
    main()
