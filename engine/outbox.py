"""Delivery from the outbox: each email to each notifier exactly once.

A commit queues one outbox row per email and notifier, in its own
transaction. Delivery claims due rows (status `sending`, with a lease), sends
them outside any transaction, and records the result: `sent`, or back to
`pending` with a later `next_attempt` (exponential backoff), or `failed` with
the reason after `max_attempts` (at once when the notifier says trying again
cannot help). A row whose lease ran out (its process died while sending) is
due again; notifiers receive a stable Message-ID so that a repeat after such a
crash can be recognised and dropped. A sender stops using its claimed rows
well before their lease runs out, so two live senders never hold one row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from . import faults
from .config import DELIVERY_DEFAULTS, Config, load_config, open_notifiers, open_storage, plugin_settings
from .plain import mutable
from .plugins import Registry, event
from .runtime.context import Clock
from .storage import Email, Notifier, Storage

LEASE_SECONDS = DELIVERY_DEFAULTS["lease_seconds"]
MAX_BACKOFF_SECONDS = 6 * 3600
RECORD_RETRY_PAUSES = (0.2, 1.0, 3.0)  # seconds between tries to record a result that was sent
STATUSES = ("pending", "sending", "sent", "failed")


class PermanentFailure(Exception):
    """A notifier's failure that trying again cannot cure (e.g. an SMTP 5xx reply).

    The message is parked as `failed` with the reason at once; `clientflow
    outbox --retry` queues it again once the cause is fixed.
    """


@mutable
class Delivery:
    """What one delivery pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed, "errors": list(self.errors)}

    def add(self, other: Delivery) -> None:
        """Count another pass into this one."""
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.errors.extend(other.errors)


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


def claim(storage: Storage, clock: Clock, limit: int = 50, *, lease_seconds: float = LEASE_SECONDS) -> list[dict[str, Any]]:
    """Take due messages for sending: pending ones due now, and sending ones whose lease expired.

    Each row comes back with `claimed` (when its lease started) and its
    `attempts` already counted.
    """
    now = clock.now()
    with storage.transaction(write=True) as tx:
        rows = tx.outbox(status="pending", due=_iso(now), limit=limit, claim=True)
        if len(rows) < limit:
            stale = tx.outbox(status="sending", due=_iso(now - timedelta(seconds=lease_seconds)), limit=limit - len(rows), claim=True)
            rows.extend(stale)
        for row in rows:
            row["attempts"] = row.get("attempts", 0) + 1
            row["claimed"] = _iso(now)
            tx.update_outbox(row["id"], {"status": "sending", "next_attempt": row["claimed"], "attempts": row["attempts"]})
    return rows


def release(storage: Storage, rows: list[dict[str, Any]]) -> int:
    """Give claimed rows that were not tried back to the queue, due at once; return how many.

    A row is released only while it is still this sender's claim (status
    `sending` since the same moment); its attempt is not counted.
    """
    if not rows:
        return 0
    wanted = {row["id"]: row for row in rows}
    released = 0
    with storage.transaction(write=True) as tx:
        for current in tx.outbox(status="sending"):
            row = wanted.get(current["id"])
            if row is None or current.get("next_attempt") != row["claimed"]:
                continue
            tx.update_outbox(row["id"], {"status": "pending", "attempts": row["attempts"] - 1, "next_attempt": row["claimed"]})
            released += 1
    return released


def _send(row: Mapping[str, Any], notifiers: Mapping[str, Notifier]) -> tuple[str | None, bool]:
    """Hand one row to its notifier: (the error or None, whether it is permanent)."""
    notifier = notifiers.get(row["notifier"])
    if notifier is None:
        return f"notifier {row['notifier']!r} is not enabled", False
    try:
        email = email_of(row)
    except (KeyError, TypeError) as exc:
        return f"the queued message is incomplete ({type(exc).__name__}: {exc})", True
    try:
        notifier.send(email)
    except PermanentFailure as exc:
        return str(exc), True
    except Exception as exc:  # noqa: BLE001 - any other failure is retried later
        return f"{type(exc).__name__}: {exc}", False
    return None, False


def deliver(
    storage: Storage,
    notifiers: Mapping[str, Notifier],
    clock: Clock,
    *,
    max_attempts: int = DELIVERY_DEFAULTS["max_attempts"],
    backoff_seconds: float = DELIVERY_DEFAULTS["backoff_seconds"],
    limit: int | None = None,
    batch: int = DELIVERY_DEFAULTS["batch"],
    lease_seconds: float = LEASE_SECONDS,
    stop: Callable[[], bool] | None = None,
) -> Delivery:
    """Send every due message once; return counts. Never raises for a notifier's failure.

    `stop` is asked before each message: when it says yes, the message in hand
    is finished and the rest of the claim goes back to the queue. Rows held
    for half their lease are given back too, so that no other sender can take
    a row this one might still send.
    """
    report = Delivery()
    done = 0
    stopped = stop or (lambda: False)
    while (limit is None or done < limit) and not stopped():
        rows = claim(storage, clock, batch if limit is None else min(batch, limit - done), lease_seconds=lease_seconds)
        if not rows:
            break
        for index, row in enumerate(rows):
            held = (clock.now() - datetime.fromisoformat(row["claimed"])).total_seconds()
            if stopped() or held > lease_seconds / 2:
                release(storage, rows[index:])
                break
            done += 1
            error, permanent = _send(row, notifiers)
            faults.point("after-send")
            _record(storage, clock, row, error, permanent, report, max_attempts=max_attempts, backoff_seconds=backoff_seconds)
    return report


def _record(
    storage: Storage, clock: Clock, row: dict[str, Any], error: str | None, permanent: bool, report: Delivery, *, max_attempts: int, backoff_seconds: float
) -> None:
    # The message has gone out: losing this record would send it again after the
    # lease, so a database that blinks gets a few more chances.
    for pause in RECORD_RETRY_PAUSES:
        try:
            _write_result(storage, clock, row, error, permanent, report, max_attempts=max_attempts, backoff_seconds=backoff_seconds)
            return
        except KeyError:
            raise
        except Exception:  # noqa: BLE001 - retried, then raised below
            time.sleep(pause)
    _write_result(storage, clock, row, error, permanent, report, max_attempts=max_attempts, backoff_seconds=backoff_seconds)


def _write_result(
    storage: Storage, clock: Clock, row: dict[str, Any], error: str | None, permanent: bool, report: Delivery, *, max_attempts: int, backoff_seconds: float
) -> None:
    now = clock.now()
    with storage.transaction(write=True) as tx:
        if error is None:
            tx.update_outbox(row["id"], {"status": "sent", "sent_at": _iso(now), "error": None, "next_attempt": None})
            report.sent += 1
        elif permanent or row["attempts"] >= max_attempts:
            tx.update_outbox(row["id"], {"status": "failed", "error": error, "next_attempt": None})
            report.failed += 1
            report.errors.append(f"{row.get('message_id')} to {', '.join(row.get('email', {}).get('to', []))}: {error}")
        else:
            delay = min(backoff_seconds * (2 ** (row["attempts"] - 1)), MAX_BACKOFF_SECONDS)
            tx.update_outbox(row["id"], {"status": "pending", "error": error, "next_attempt": _iso(now + timedelta(seconds=delay))})
            report.retried += 1


def retry_failed(storage: Storage, clock: Clock) -> int:
    """Put every failed message back in the queue, due now, with its attempts reset."""
    with storage.transaction(write=True) as tx:
        rows = tx.outbox(status="failed")
        for row in rows:
            tx.update_outbox(row["id"], {"status": "pending", "attempts": 0, "next_attempt": _iso(clock.now())})
    return len(rows)


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """One message as `clientflow outbox` lists it."""
    email = row.get("email") or {}
    return {
        "id": row["id"],
        "status": row["status"],
        "notifier": row.get("notifier"),
        "message_id": row.get("message_id"),
        "to": list(email.get("to", [])),
        "subject": email.get("subject"),
        "attempts": row.get("attempts", 0),
        "error": row.get("error"),
        "next_attempt": row.get("next_attempt"),
        "sent_at": row.get("sent_at"),
        "run": row.get("run"),
    }


@mutable
class Outbox:
    """The outbox of one project's storage with its notifiers, for the commands and workers.

    Opening one needs only the configuration, not the flows: a worker machine
    can deliver without the project's definitions.
    """

    storage: Storage
    notifiers: dict[str, Notifier]
    clock: Clock
    config: Config
    registry: Registry | None = None  # where events go; None: the process's plugins

    @classmethod
    def open(
        cls,
        root: str | Path = ".",
        *,
        db: str | None = None,
        outbox: str | Path | None = None,
        now: datetime | None = None,
        env: Mapping[str, str] | None = None,
        existing: bool = False,
    ) -> Outbox:
        """The configured storage and notifiers; `db` (a SQLite path or a postgresql:// URL) overrides the storage.

        `existing`: a store that was never made is refused (NoDatabase), not made, as `open_storage` says.
        """
        config = load_config(root, env, db=db)
        if outbox is not None:
            config.notifier_settings.setdefault("outbox", {})["dir"] = str(outbox)
        registry = Registry.collect()
        notifiers = open_notifiers(config, registry)
        storage = open_storage(config, registry, existing=existing)
        return cls(storage, notifiers, Clock(now), config, registry)

    def deliver(self, *, limit: int | None = None, stop: Callable[[], bool] | None = None) -> Delivery:
        """One pass over what is due now, with the configured attempts, backoff and batch; observers hear what it did."""
        settings = self.config.delivery
        report = deliver(
            self.storage,
            self.notifiers,
            self.clock,
            max_attempts=int(settings.get("max_attempts", DELIVERY_DEFAULTS["max_attempts"])),
            backoff_seconds=float(settings.get("backoff_seconds", DELIVERY_DEFAULTS["backoff_seconds"])),
            batch=int(settings.get("batch", DELIVERY_DEFAULTS["batch"])),
            lease_seconds=float(settings.get("lease_seconds", DELIVERY_DEFAULTS["lease_seconds"])),
            limit=limit,
            stop=stop,
        )
        self._announce(report)
        return report

    def _announce(self, report: Delivery) -> None:
        registry = self.registry or Registry()
        now = self.clock.now().isoformat()
        settings = partial(plugin_settings, self.config)
        if report.sent:
            registry.emit(event("delivered", now, sent=report.sent), settings)
        if report.failed:
            registry.emit(event("failed", now, failed=report.failed, errors=report.errors), settings)

    def retry_failed(self) -> int:
        return retry_failed(self.storage, self.clock)

    def messages(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every message (or those of one status) in queue order, as `summary` gives them."""
        with self.storage.transaction() as tx:
            return [summary(row) for row in tx.outbox(status=status)]

    def close(self) -> None:
        """Close the notifiers' connections and the storage."""
        for notifier in self.notifiers.values():
            close = getattr(notifier, "close", None)
            if callable(close):
                close()
        self.storage.close()
