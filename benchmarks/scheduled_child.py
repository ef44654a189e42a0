"""One engine worker for the scheduled-work rows: `Engine.carry_out` at NOW, timed from a barrier.

    python3 benchmarks/scheduled_child.py SCHEMA NOW BARRIER ME PROCESSES   (CLIENTFLOW_DB names the server)

Opens the shipped project on the schema (CLIENTFLOW_NOTIFIERS=, so no outbox rows) before the
barrier, then carries out everything due at NOW, as `clientflow worker --once --now NOW` does,
and prints {"done", "started", "ended"} (wall-clock seconds).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> None:
    from clientflow.api import Engine

    now, barrier, me, processes = datetime.fromisoformat(argv[1]), Path(argv[2]), argv[3], int(argv[4])
    engine = Engine.open(ROOT, now=now, notifiers={})
    engine.scheduled(subject="warm-up")  # the first transaction's set-up, not timed
    (barrier / f"ready-{me}").touch()
    while len(list(barrier.glob("ready-*"))) < processes:
        time.sleep(0.001)
    started = time.time()
    report = engine.carry_out()
    ended = time.time()
    engine.close()
    if report.retry or report.dropped:
        sys.exit(f"not every item applied: {report.to_json()}")
    print(json.dumps({"done": len(report.applied), "started": started, "ended": ended}))


if __name__ == "__main__":
    main(sys.argv[1:])
