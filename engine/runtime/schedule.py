"""Scheduled work: the parts of an outcome that wait for a later time (`after:`).

At the commit, `immediate` is the outcome without its delayed parts and `scheduled` says when
each delayed part is due; the rows are written in the commit's transaction (`rows`). When a
part is due, the worker (engine/runtime/due.py) checks its flow's rules and `unless` again and
applies it, or drops it with an audit entry saying why.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ClientflowError, RunError
from ..language.model import Delay, Effect, Email, Flow, Project
from ..storage import SchedulingTransaction, Transaction
from .data import Records
from .outcome import EffectSpec, execute

_immediate: dict[int, tuple[Flow, Flow]] = {}


def utc_iso(moment: datetime) -> str:
    """A moment as scheduled work stores and compares it: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Scheduled:
    """One delayed part of an outcome, due at a time: what a plan lists and a scheduled row holds."""

    kind: str  # effect | email
    index: int  # its position in the outcome's effects or emails
    due: datetime
    what: dict[str, Any]
    unless: str | None
    changes: tuple[dict[str, Any], ...] = ()  # what it would change, were it due now on the data after the commit
    emails: tuple[dict[str, Any], ...] = ()  # what it would send, rendered as at the commit

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "due": self.due.isoformat(),
            "what": dict(self.what),
            "unless": self.unless,
            "at": utc_iso(self.due),
            "changes": [dict(c) for c in self.changes],
            "emails": [dict(e) for e in self.emails],
        }

    def describe(self) -> str:
        """One line for the text output: `update account.status`, `email reminder`."""
        what = self.what
        if self.kind == "email":
            return f"email {what['template']}"
        return f"{what['op']} {what['entity']}" + (f".{what['field']}" if what.get("field") else "")


def immediate(flow: Flow) -> Flow:
    """The flow whose outcome holds only the parts done at the commit (the flow itself when nothing waits)."""
    if not flow.outcome.delayed:
        return flow
    kept = _immediate.get(id(flow))
    if kept is not None and kept[0] is flow:
        return kept[1]
    outcome = dataclasses.replace(
        flow.outcome,
        effects=tuple(e for e in flow.outcome.effects if e.after is None),
        emails=tuple(e for e in flow.outcome.emails if e.after is None),
    )
    now_flow = dataclasses.replace(flow, outcome=outcome)
    _immediate[id(flow)] = (flow, now_flow)
    return now_flow


def part(flow: Flow, kind: str, index: int) -> Effect | Email:
    """The delayed part a scheduled row names; KeyError when the flow has no such delayed part."""
    parts: tuple[Effect | Email, ...] = flow.outcome.effects if kind == "effect" else flow.outcome.emails
    if not 0 <= index < len(parts) or parts[index].after is None:
        raise KeyError(f"{kind} {index}")
    return parts[index]


def what(thing: Effect | Email) -> dict[str, Any]:
    if isinstance(thing, Email):
        return {"template": thing.template}
    return {"op": thing.op, "entity": thing.entity, "field": thing.field}


def scheduled(project: Project, flow: Flow, scope: Mapping[str, Any], now: datetime) -> list[Scheduled]:
    """The delayed parts of the outcome whose `when` holds now, each with its due time, in order of the outcome."""
    found: list[Scheduled] = []
    program = project.program
    groups: tuple[tuple[str, tuple[Effect | Email, ...]], ...] = (("effect", flow.outcome.effects), ("email", flow.outcome.emails))
    for kind, parts in groups:
        for index, thing in enumerate(parts):
            if thing.after is None or (thing.when is not None and not program.evaluate(thing.when, scope)):
                continue
            due = due_time(project, thing.after, scope, now)
            unless = thing.after.unless.source if thing.after.unless is not None else None
            found.append(Scheduled(kind, index, due, what(thing), unless))
    return found


def preview(
    project: Project, flow: Flow, items: list[Scheduled], scope: Mapping[str, Any], records: Records, effects: Mapping[str, EffectSpec]
) -> list[Scheduled]:
    """The items with what each would change and send, done on a copy of `records` after the commit's changes (never written)."""
    scratch = Records(project, records.tx, records.read)
    scratch.working = copy.deepcopy(records.working)
    scratch.deleted, scratch.created, scratch.looked_up = set(records.deleted), set(records.created), dict(records.looked_up)
    shown: list[Scheduled] = []
    for item in items:
        thing = dataclasses.replace(part(flow, item.kind, item.index), after=None, when=None)
        outcome = dataclasses.replace(
            flow.outcome,
            effects=(thing,) if isinstance(thing, Effect) else (),
            emails=(thing,) if isinstance(thing, Email) else (),
            banner=None,
            cancel=(),
        )
        try:
            result = execute(project, dataclasses.replace(flow, outcome=outcome), scope, scratch, effects, dry_run=True)
        except (ClientflowError, KeyError):  # what it will do is decided when it is due (a record gone by then, say)
            shown.append(item)
            continue
        changes = tuple(c.to_json() for c in result.changes)
        emails = tuple(e.to_json() for e in result.emails)
        shown.append(dataclasses.replace(item, changes=changes, emails=emails))
    return shown


def due_time(project: Project, delay: Delay, scope: Mapping[str, Any], now: datetime) -> datetime:
    """When a delayed part is due: `now` plus its duration, or the time its expression gives (UTC when it names no zone)."""
    if delay.seconds is not None:
        return now + timedelta(seconds=delay.seconds)
    assert delay.at is not None
    value = project.program.evaluate(delay.at, scope)
    if isinstance(value, Mapping) and isinstance(value.get("iso"), str):  # `now` and other moments
        value = value["iso"]
    moment: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        where = delay.at.location
        place = f"{where}: " if where is not None else ""
        raise RunError(f"{place}after: {delay.written} gave {value!r}, not an ISO 8601 time (like 2025-03-28T09:00:00Z)")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rows(plan_scheduled: list[Scheduled], flow: Flow, run_id: str, actor: str, subject: str, answers: Mapping[str, Any], now: str) -> list[dict[str, Any]]:
    """The scheduled-work rows a commit writes, one per delayed part (ids derived from the run: written once)."""
    return [
        {
            "id": f"{run_id}-{item.kind}-{item.index}",
            "due": utc_iso(item.due),
            "flow": flow.id,
            "version": flow.version,
            "subject": subject,
            "actor": actor,
            "run": run_id,
            "kind": item.kind,
            "index": item.index,
            "what": dict(item.what),
            "unless": item.unless,
            "answers": dict(answers),
            "status": "pending",
            "created": now,
        }
        for item in plan_scheduled
    ]


def book(tx: Transaction, backend: str) -> SchedulingTransaction:
    """The transaction as a keeper of scheduled work, or a RunError when its backend keeps none (nothing is then written)."""
    if not isinstance(tx, SchedulingTransaction):
        raise RunError(f"the {backend} storage cannot keep scheduled work, and this flow schedules or cancels some; use sqlite or postgresql")
    return tx


def cancel(tx: SchedulingTransaction, subject: str, flows: tuple[str, ...], reason: str, now: str) -> list[str]:
    """Cancel the pending work of `flows` for `subject`; return the ids cancelled, in due order."""
    cancelled: list[str] = []
    for flow_id in flows:
        for item in tx.scheduled(status="pending", subject=subject, flow=flow_id):
            tx.update_scheduled(item["id"], {"status": "cancelled", "reason": reason, "finished": now, "lease": None})
            cancelled.append(item["id"])
    return cancelled
