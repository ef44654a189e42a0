"""outbox, worker: looking at the outbox, retrying what failed, delivering in the background."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ..config import DELIVERY_DEFAULTS
from .common import command, db_option, emit_json, existing_store, format_option, now_option, outbox_option, project_option

STATUS_ORDER = ("pending", "sending", "failed", "sent")


def _open(project: Path, db: str | None, outbox: Path | None, now: datetime | None = None) -> Any:
    from ..outbox import Outbox  # the outbox (~50 ms: it loads the runtime and the language) not for `outbox --help` or `worker --help`

    with existing_store(db):
        return Outbox.open(project, db=db, outbox=outbox, now=now, existing=True)  # a store never made is refused, not made


def _table(messages: list[dict[str, Any]], status: str | None = None) -> None:
    if not messages:
        click.echo(f"No {status} messages in the outbox." if status else "The outbox is empty.")  # not "empty" when only these are none
        return
    counts = {status: sum(1 for m in messages if m["status"] == status) for status in STATUS_ORDER}
    click.echo(", ".join(f"{n} {status}" for status, n in counts.items() if n))
    for status in STATUS_ORDER:
        for m in (m for m in messages if m["status"] == status):
            line = f"{m['status']:<8} {m['id']}  to {', '.join(m['to'])}  {m['subject']!r}  attempts {m['attempts']}"
            if m["status"] in ("pending", "sending") and m["next_attempt"]:
                line += f"  next {m['next_attempt']}"
            if m["status"] == "sent" and m["sent_at"]:
                line += f"  sent {m['sent_at']}"
            click.echo(line)
            if m["error"] and m["status"] != "sent":
                click.echo(f"         error: {m['error']}")


@command()
@project_option
@db_option()
@outbox_option
@now_option
@click.option("--status", "status", type=click.Choice(STATUS_ORDER), help="Only messages with this status.")
@click.option("--retry", is_flag=True, help="Queue every failed message again and deliver what is due.")
@format_option("text", "json")
def outbox(project: Path, db: str | None, outbox: Path | None, now: datetime | None, status: str | None, retry: bool, fmt: str) -> None:
    """List the outbox's pending, sent and failed messages; with --retry, send the failed ones again."""
    box = _open(project, db, outbox, now)
    try:
        document: dict[str, Any] = {}
        if retry:
            document["requeued"] = box.retry_failed()
            report = box.deliver()
            document["delivery"] = report.to_json()
        messages = box.messages(status)
    finally:
        box.close()
    if fmt == "json":
        emit_json({**document, "messages": messages})
        return
    if retry:
        d = document["delivery"]
        click.echo(f"Queued {document['requeued']} failed message(s) again; sent {d['sent']}, to retry {d['retried']}, failed {d['failed']}.")
        for error in d["errors"]:
            click.echo(f"  failed: {error}", err=True)
    _table(messages, status)


def _held(box: Any) -> tuple[int, str] | None:
    """Emails another sender claimed and has not finished (it may be dead: its claim runs out after the lease), and when the last claim ends."""
    claimed = [m["next_attempt"] for m in box.messages("sending") if m["next_attempt"]]
    if not claimed:
        return None
    lease = float(box.config.delivery.get("lease_seconds", DELIVERY_DEFAULTS["lease_seconds"]))
    return len(claimed), (datetime.fromisoformat(max(claimed)) + timedelta(seconds=lease)).isoformat(timespec="seconds")


class Due:
    """The scheduled work a worker carries out, through an engine opened on the worker's storage the first time any is due."""

    def __init__(self, project: Path, box: Any, now: datetime | None) -> None:
        self.project, self.box, self.now = project, box, now
        self.engine: Any = None
        self.applied = self.dropped = self.retried = 0

    def waiting(self) -> bool:
        from ..storage import SchedulingTransaction  # loaded by _open by now; at the top it would weigh on `outbox --help` and `worker --help`

        with self.box.storage.transaction() as tx:
            if not isinstance(tx, SchedulingTransaction):
                return False
            moment = self.box.clock.now().astimezone(UTC).isoformat()
            return bool(tx.scheduled(status="pending", due=moment, limit=1))

    def carry_out(self) -> Any:
        from ..runtime.due import carry_out  # the runtime (~10 ms past the outbox) only for a worker, not for `outbox`

        if not self.waiting():
            return None
        if self.engine is None:
            from ..api import Engine  # the engine (~15 ms past the outbox) only once scheduled work is due: a worker that only sends mail opens none

            self.engine = Engine.open(self.project, storage=self.box.storage, notifiers=self.box.notifiers, now=self.now)
        report = carry_out(self.engine.runner, lease_seconds=float(self.box.config.delivery.get("lease_seconds", 300)))
        self.applied += len(report.applied)
        self.dropped += len(report.dropped)
        self.retried += len(report.retry)
        return report

    def close(self) -> None:
        if self.engine is not None:
            self.engine.runner.close()  # the storage and notifiers are the worker's: closed with it

    def to_json(self) -> dict[str, int]:
        return {"applied": self.applied, "dropped": self.dropped, "retry": self.retried}


@command()
@project_option
@db_option()
@outbox_option
@now_option
@click.option("--once", is_flag=True, help="Carry out the scheduled work and deliver the emails due now, then stop.")
@click.option(
    "--poll",
    "poll",
    type=click.FloatRange(min=0.01),
    help="Seconds between looks at the outbox when it is empty (default: delivery.poll_seconds, or 5).",
)
@format_option("text", "json")
def worker(project: Path, db: str | None, outbox: Path | None, now: datetime | None, once: bool, poll: float | None, fmt: str) -> None:
    """Carry out due scheduled work and deliver pending emails until stopped (SIGTERM or Ctrl-C finish the item in hand, then exit 0).

    Run as many workers as you like against one database: each scheduled item
    and each message is claimed by one of them (FOR UPDATE SKIP LOCKED on
    PostgreSQL; on SQLite the claims take turns), and each scheduled item is
    carried out exactly once, in its own transaction, its flow's rules checked again.
    """
    box = _open(project, db, outbox, now)
    due = Due(project, box, now)
    interval = poll if poll is not None else float(box.config.delivery.get("poll_seconds", 5))
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    from ..outbox import Delivery  # loaded by _open by now; at the top it would weigh on `worker --help`

    total = Delivery()
    how_often = "once" if once else f"every {interval:g}s"
    click.echo(f"worker: ready; {box.storage.name} storage, notifiers {', '.join(box.notifiers) or '(none)'}, {how_often}", err=True)
    try:
        while not stop.is_set():
            try:
                carried = due.carry_out()
                if carried is not None and (carried.applied or carried.dropped or carried.retry):
                    click.echo(
                        f"worker: scheduled work applied {len(carried.applied)}, dropped {len(carried.dropped)}, to retry {len(carried.retry)}", err=True
                    )
                report = box.deliver(stop=stop.is_set)
            except Exception as exc:  # noqa: BLE001 - a worker outlives a database restart
                if once:
                    raise
                # The database went away for a moment: say so, wait, try again.
                click.echo(f"worker: delivery failed ({type(exc).__name__}: {exc}); trying again in {interval:g}s", err=True)
                stop.wait(interval)
                continue
            total.add(report)
            if report.sent or report.retried or report.failed:
                click.echo(f"worker: sent {report.sent}, to retry {report.retried}, failed {report.failed}", err=True)
            if once:
                break
            if not (report.sent or report.retried or report.failed):
                stop.wait(interval)
        held = _held(box) if once else None
    finally:
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
        due.close()
        box.close()
    if fmt == "json":
        carried = {"scheduled": due.to_json()} if due.engine is not None else {}  # only when scheduled work was due: the document is unchanged otherwise
        still = {"held": held[0], "held_until": held[1]} if held else {}  # only when some are: the document is unchanged otherwise
        emit_json({**total.to_json(), "stopped": stop.is_set(), **carried, **still})
    else:
        click.echo(f"worker: {'stopped' if stop.is_set() else 'done'}; sent {total.sent}, to retry {total.retried}, failed {total.failed}")
        if held:
            click.echo(
                f"worker: {held[0]} email(s) claimed by another sender, which may have been stopped while sending; "
                f"due again when its claim runs out, at {held[1]} (then a worker sends each once)"
            )
        if due.applied or due.dropped or due.retried:
            click.echo(f"worker: scheduled work applied {due.applied}, dropped {due.dropped}, to retry {due.retried}")
