"""One bulk dry-run of deactivate-client against a database, in a process of its own, for the growth row.

    python3 benchmarks/bulk_child.py DB

Takes the path `clientflow bulk deactivate-client --db DB --actor u1 --where
true --answer notify_client=true` takes (Engine.open, where_subjects,
run_bulk) and prints JSON: the summary, the wall-clock and CPU seconds the
bulk run took (the engine already open), the seconds opening it took, and the
process's peak resident memory (VmHWM) in MB.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """The highest resident set size this process has had, in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def main(db: str) -> None:
    from clientflow.api import Engine
    from clientflow.bulk import run_bulk, where_subjects

    started = time.perf_counter()
    engine = Engine.open(ROOT, db=Path(db).absolute(), notifiers={})
    opened, cpu = time.perf_counter(), time.process_time()
    answers = {"notify_client": True}
    summary = run_bulk(engine, "deactivate-client", "u1", where_subjects(engine, "true"), answers, dry_run=True, selection="where:true")
    done, cpu = time.perf_counter(), time.process_time() - cpu
    engine.close()
    print(
        json.dumps({"summary": summary.to_json(), "seconds": done - opened, "cpu_seconds": cpu, "open_seconds": opened - started, "peak_rss_mb": peak_rss_mb()})
    )


if __name__ == "__main__":
    main(sys.argv[1])
