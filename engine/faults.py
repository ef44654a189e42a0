"""Named fault points on the commit and delivery paths, for crash tests.

`point("after-recheck")` ends the process at once (`os._exit`, as a power cut
or SIGKILL would: no cleanup, no flush, no rollback by Python) when the
environment variable CLIENTFLOW_FAULT names that point. `NAME#N` fires on
the Nth time the point is reached instead of the first. The variable is read
once, at import; unset, a point is one comparison.

The points, in the order a commit meets them:

* `after-recheck`  the rules were re-checked on fresh data, nothing written yet
* `between-writes` after each record written in the transaction (audit and outbox not yet)
* `before-commit`  every write done (records, run, audit, outbox), the transaction not committed
* `after-commit`   the transaction committed, delivery not started
* `after-send`     a notifier sent a message, its outbox row not yet marked sent

and, on the path of scheduled work (engine/runtime/due.py; not in POINTS, which the run crash tests walk):

* `scheduled-claimed`        a due item was claimed and taken again in its own transaction, nothing applied
* `scheduled-before-commit`  the item applied and marked done, the transaction not committed
"""

from __future__ import annotations

import os

EXIT_CODE = 97  # what a process ended by a fault point exits with
POINTS = ("after-recheck", "between-writes", "before-commit", "after-commit", "after-send")

_name, _, _nth = (os.environ.get("CLIENTFLOW_FAULT") or "").partition("#")
ARMED: str | None = _name or None
_left = int(_nth) if _nth.isdigit() and int(_nth) > 0 else 1


def point(name: str) -> None:
    """End the process here when CLIENTFLOW_FAULT names this point (see the module docstring)."""
    global _left
    if name == ARMED:
        _left -= 1
        if _left <= 0:
            os._exit(EXIT_CODE)
