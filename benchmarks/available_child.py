"""`Engine.available` over a sample of a database's clients, in a process of its own, for the growth rows.

    python3 benchmarks/available_child.py DB CLIENTS SAMPLE

Opens the engine on DB (a SQLite file made by `clientflow init` from gen_data.py,
CLIENTS clients), asks `Engine.available('u1', client)` once for SAMPLE clients
spread evenly over the whole file (each a different record: no answer is reused),
and prints JSON: wall-clock and CPU seconds per call, the process's peak resident
memory, and a digest of the answers for the first 50 clients, which every file
made by gen_data.py shares, so two sizes can be shown to answer alike.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bulk_child import peak_rss_mb  # noqa: E402 - after the path is set

COMMON = 50  # the first clients of every gen_data.py file are the same (same seed, drawn in order)


def main(db: str, clients: int, sample: int) -> None:
    from clientflow.api import Engine

    engine = Engine.open(ROOT, db=Path(db).absolute(), notifiers={})
    digest = hashlib.sha256()
    for i in range(COMMON):
        digest.update(json.dumps(engine.available("u1", f"c{i:06d}").to_json()["flows"], sort_keys=True).encode())
    step = max(1, clients // sample)
    ids = [f"c{i:06d}" for i in range(COMMON, clients, step)][:sample]
    wall, cpu = time.perf_counter(), time.process_time()
    for cid in ids:
        engine.available("u1", cid)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.close()
    print(
        json.dumps({"calls": len(ids), "seconds": wall / len(ids), "cpu_seconds": cpu / len(ids), "peak_rss_mb": peak_rss_mb(), "answers": digest.hexdigest()})
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
