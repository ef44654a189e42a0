"""Delivery from the outbox: each email to each notifier exactly once.

A commit queues one outbox row per email and notifier, in its own
transaction. Delivery claims due rows (status `sending`, with a lease), sends
them outside any transaction, and records the result: `sent`, or back to
`pending` with a later `next_attempt` (exponential backoff), or `failed` with
the reason after `max_attempts`. A row whose lease ran out (its process died
while sending) is due again; notifiers receive a stable Message-ID so that a
repeat after such a crash can be recognised and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .context import Clock
from .storage import Email, Notifier, Storage

LEASE_SECONDS = 300


@dataclass
class Delivery:
    """What one delivery pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed, "errors": list(self.errors)}


def email_of(row: Mapping[str, Any]) -> Email:
    e = row["email"]
    return Email(
        id=row["email_id"],
        message_id=row["message_id"],
        sender=e["from"],
        to=tuple(e["to"]),
        subject=e["subject"],
        text=e["text"],
        html=e.get("html"),
        template=e["template"],
        run=row["run"],
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def claim(storage: Storage, clock: Clock, limit: int = 50) -> list[dict[str, Any]]:
    """Take due messages for sending: pending ones due now, and sending ones whose lease expired."""
    now = clock.now()
    with storage.transaction(write=True) as tx:
        rows = tx.outbox(status="pending", due=_iso(now), limit=limit, claim=True)
        if len(rows) < limit:
            stale = tx.outbox(status="sending", due=_iso(now - timedelta(seconds=LEASE_SECONDS)), limit=limit - len(rows), claim=True)
            rows.extend(stale)
        for row in rows:
            tx.update_outbox(row["id"], {"status": "sending", "next_attempt": _iso(now), "attempts": row.get("attempts", 0) + 1})
            row["attempts"] = row.get("attempts", 0) + 1
    return rows


def deliver(
    storage: Storage,
    notifiers: Mapping[str, Notifier],
    clock: Clock,
    *,
    max_attempts: int = 5,
    backoff_seconds: float = 30,
    limit: int | None = None,
    batch: int = 50,
) -> Delivery:
    """Send every due message once; return counts. Never raises for a notifier's failure."""
    report = Delivery()
    done = 0
    while limit is None or done < limit:
        rows = claim(storage, clock, batch if limit is None else min(batch, limit - done))
        if not rows:
            break
        for row in rows:
            done += 1
            notifier = notifiers.get(row["notifier"])
            error: str | None = None
            if notifier is None:
                error = f"notifier {row['notifier']!r} is not enabled"
            else:
                try:
                    notifier.send(email_of(row))
                except Exception as exc:  # noqa: BLE001 - any failure is retried later
                    error = f"{type(exc).__name__}: {exc}"
            now = clock.now()
            with storage.transaction(write=True) as tx:
                if error is None:
                    tx.update_outbox(row["id"], {"status": "sent", "sent_at": _iso(now), "error": None, "next_attempt": None})
                    report.sent += 1
                elif row["attempts"] >= max_attempts:
                    tx.update_outbox(row["id"], {"status": "failed", "error": error, "next_attempt": None})
                    report.failed += 1
                    report.errors.append(f"{row['message_id']} to {', '.join(row['email']['to'])}: {error}")
                else:
                    delay = backoff_seconds * (2 ** (row["attempts"] - 1))
                    tx.update_outbox(row["id"], {"status": "pending", "error": error, "next_attempt": _iso(now + timedelta(seconds=delay))})
                    report.retried += 1
    return report


def retry_failed(storage: Storage, clock: Clock) -> int:
    """Put every failed message back in the queue, due now, with its attempts reset."""
    with storage.transaction(write=True) as tx:
        rows = tx.outbox(status="failed")
        for row in rows:
            tx.update_outbox(row["id"], {"status": "pending", "attempts": 0, "next_attempt": _iso(clock.now())})
    return len(rows)
