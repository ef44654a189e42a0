"""Carrying out scheduled work when it is due: what `clientflow worker` does besides delivering email.

Due items are claimed with a lease (as outbox rows are: FOR UPDATE SKIP LOCKED on PostgreSQL),
then each occasion (one run's parts due at one time) is carried out in its own transaction: the
items are taken again there, locked, and only while still pending and still this worker's claim,
with the occasion's other pending parts whoever claimed them, so that each is applied exactly once,
together with its occasion, however many workers run and whichever of them dies. The subject is read again and every rule of the flow
is checked again (the project's reach, started_by, preconditions, as the actor who started the
run), then `unless`; if any fails the item is dropped with an audit entry saying why, otherwise
the part is applied (effects through Records, with version checks; emails into the outbox) with an
audit entry. A worker that dies holding a claim leaves the item to be taken again after its lease.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import faults
from ..errors import ClientflowError, UnknownName
from ..language.model import Effect, Email, Flow
from ..plain import mutable
from ..storage import ConflictError, OccasionTransaction, SchedulingTransaction, Storage, Transaction
from . import approvals
from .context import flow_scope, resolve
from .core import new_id
from .data import Records, refusal_message
from .outcome import Result, execute
from .schedule import part, utc_iso

if TYPE_CHECKING:
    from .core import Runner

LEASE_SECONDS = 300.0


@mutable
class Carried:
    """What one pass over the due work did."""

    applied: list[str] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)  # each {"id", "reason"}
    retry: list[str] = field(default_factory=list)  # met a concurrent change: taken again after its lease
    changes: list[dict[str, Any]] = field(default_factory=list)  # what the parts applied changed, as a plan lists changes
    emails: list[dict[str, Any]] = field(default_factory=list)  # what they put in the outbox, as a plan lists emails (with `flow`)

    def to_json(self) -> dict[str, Any]:
        """The ids applied, dropped (with why) and to retry; `changes` and `emails` say what was made."""
        return {"applied": list(self.applied), "dropped": [dict(d) for d in self.dropped], "retry": list(self.retry)}


def claim(storage: Storage, now: datetime, worker: str, *, limit: int = 50, lease_seconds: float = LEASE_SECONDS) -> list[dict[str, Any]]:
    """Take due pending items (and those whose lease ran out) for this worker; each comes back with its `lease`."""
    with storage.transaction(write=True) as tx:
        if not isinstance(tx, SchedulingTransaction):
            return []
        items = tx.scheduled(status="pending", due=utc_iso(now), limit=limit, claim=True)
        lease = utc_iso(now + timedelta(seconds=lease_seconds))
        for item in items:
            tx.update_scheduled(item["id"], {"lease": lease, "worker": worker})
            item.update(lease=lease, worker=worker)
    return items


def carry_out(runner: Runner, *, worker: str | None = None, limit: int | None = None, lease_seconds: float = LEASE_SECONDS) -> Carried:
    """Carry out every item due at the runner's clock: the parts of one run due at one time together, in one transaction."""
    worker = worker or new_id()
    report = Carried()
    while limit is None or len(report.applied) + len(report.dropped) + len(report.retry) < limit:
        items = claim(runner.storage, runner.clock.now(), worker, limit=50 if limit is None else min(50, limit), lease_seconds=lease_seconds)
        if not items:
            break
        for group in occasions(items):
            _occasion(runner, group, report)
        if len(items) < 50:
            break
    return report


def occasions(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The items grouped by run and due time, in (due, id) order: what one commit scheduled for one moment."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for item in items:
        alone = item["id"] if item.get("kind") == approvals.KIND else ""
        groups.setdefault((str(item["due"]), str(item["run"]), alone), []).append(item)
    return list(groups.values())


def _occasion(runner: Runner, claimed: list[dict[str, Any]], report: Carried) -> None:
    """Carry out one occasion (its effects, then its emails, all in one transaction), or none of it."""
    try:
        with runner.storage.transaction(write=True) as tx:
            assert isinstance(tx, SchedulingTransaction)
            items = _take(tx, claimed)
            if not items:  # done, cancelled, or taken by another worker (with its occasion, or after this claim ran out)
                return
            faults.point("scheduled-claimed")
            if items[0].get("kind") == approvals.KIND:  # an approval request running out: alone in its occasion
                reason, told = approvals.expire(runner, tx, items[0])
                reasons, made = {items[0]["id"]: reason}, [Result(emails=told)]
            else:
                reasons, made = _apply(runner, tx, items)
            now = utc_iso(runner.clock.now())
            for item in items:
                reason = reasons[item["id"]]
                status = "done" if reason is None else "dropped"
                tx.update_scheduled(item["id"], {"status": status, "finished": now, "lease": None, **({"reason": reason} if reason else {})})
            faults.point("scheduled-before-commit")
    except ConflictError:  # someone changed the record first: nothing was written; taken again when the lease runs out
        report.retry.extend(c["id"] for c in claimed)
        return
    except ClientflowError as exc:  # a definition or data problem: this occasion can never be carried out as written
        for c in claimed:
            _drop(runner, c, f"could not be carried out: {exc}")
            report.dropped.append({"id": c["id"], "reason": f"could not be carried out: {exc}"})
        return
    for item in items:
        reason = reasons[item["id"]]
        if reason is None:
            report.applied.append(item["id"])
        else:
            report.dropped.append({"id": item["id"], "reason": reason})
    for result in made:
        report.changes.extend(c.to_json() for c in result.changes)
        report.emails.extend({**e.to_json(), "flow": items[0]["flow"]} for e in result.emails)


def _still_ours(tx: SchedulingTransaction, claimed: dict[str, Any]) -> dict[str, Any] | None:
    """The item, locked, while it is pending and still this claim; None otherwise."""

    def ours(item: dict[str, Any]) -> bool:
        return item.get("lease") == claimed["lease"] and item.get("worker") == claimed["worker"]

    for item in tx.scheduled(id=claimed["id"], status="pending", claim=True):
        return item if ours(item) else None
    # Not taken: done, cancelled or another worker's since; or held for a moment by another worker's
    # claim (PostgreSQL keeps the lock of a row a claim looked at and skipped until that claim commits).
    for item in tx.scheduled(id=claimed["id"], status="pending"):
        if not ours(item):
            return None
        tx.update_scheduled(claimed["id"], {"worker": claimed["worker"]})  # waits for that lock, then holds the row
        for again in tx.scheduled(id=claimed["id"], status="pending"):
            return again if ours(again) else None
    return None


def _take(tx: SchedulingTransaction, claimed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The occasion's items, locked, in id order: those of this claim still ours, and the run's other pending parts due at that time, whoever claimed them; none when no claimed one is still ours.

    A claim's batch may end between one run's parts, and two claims at once (PostgreSQL's SKIP
    LOCKED takes rows as it meets them) may each take some of them: the first worker to reach the
    occasion carries out all of it, the others then find its parts done. Every worker locks an
    occasion's parts in the same order (by id), so two that reach it at once wait for each other
    rather than deadlock.
    """
    first = claimed[0]
    if first.get("kind") == approvals.KIND:  # an approval request running out: alone in its occasion
        item = _still_ours(tx, first)
        return [] if item is None else [item]
    mine = {c["id"]: c for c in claimed}
    if isinstance(tx, OccasionTransaction):  # the same, in one statement: every pending part locked in id order, waiting for whoever holds one
        taken, ours = [], False
        for item in tx.lock_occasion(first["subject"], first["flow"], first["run"], first["due"]):
            mine_too = mine.get(item["id"])
            if mine_too is None and item.get("kind") != approvals.KIND:
                taken.append(item)
            elif mine_too is not None and item.get("lease") == mine_too["lease"] and item.get("worker") == mine_too["worker"]:
                taken.append(item)
                ours = True
        return taken if ours else []
    others = [
        item["id"]
        for item in tx.scheduled(status="pending", subject=first["subject"], flow=first["flow"])
        if item["run"] == first["run"] and item["due"] == first["due"] and item["id"] not in mine and item.get("kind") != approvals.KIND
    ]
    taken, ours = [], False
    for id in sorted([*mine, *others]):
        item = _still_ours(tx, mine[id]) if id in mine else _pending(tx, id)
        if item is not None:
            taken.append(item)
            ours = ours or id in mine
    return taken if ours else []


def _pending(tx: SchedulingTransaction, id: str) -> dict[str, Any] | None:
    """The item, locked (waiting for whoever holds it), while it is pending; None otherwise."""
    for item in tx.scheduled(id=id, status="pending", claim=True):
        return item
    for _ in tx.scheduled(id=id, status="pending"):  # held by another transaction (a claim, or an occasion that may finish it)
        tx.update_scheduled(id, {})  # waits for that lock, then holds the row
        for again in tx.scheduled(id=id, status="pending"):
            return again
    return None


def _flow(runner: Runner, tx: Transaction, item: dict[str, Any]) -> tuple[Runner, Flow] | str:
    """The flow as it was when the work was scheduled (a kept earlier version if it changed since), or why there is none."""
    flow = runner.project.flows.get(item["flow"])
    if flow is not None and flow.version == item["version"]:
        return runner, flow
    earlier = runner.version(tx, item["version"])
    if earlier is not None and item["flow"] in earlier.project.flows:
        return earlier, earlier.project.flows[item["flow"]]
    return f"the flow {item['flow']} changed since this work was scheduled and its version {item['version']} is not kept"


def _apply(runner: Runner, tx: Transaction, items: list[dict[str, Any]]) -> tuple[dict[str, str | None], list[Result]]:
    """Check everything again and apply the parts; for each item None when applied, else why it was dropped (audited either way).

    The items are one run's parts due at one time: the rules are checked once, on what is stored
    before any of them; each part's `unless` on the same; the changes are made in order and the
    emails rendered from that same reading, so an email due with a deletion still names what it deleted.
    """
    first = items[0]
    reasons: dict[str, str | None] = {}

    def drop_all(flow: Flow | None, reason: str, **extra: Any) -> tuple[dict[str, str | None], list[Result]]:
        for item in items:
            _audit(runner, tx, item, flow, "dropped", [], reason, **extra)
        return {item["id"]: reason for item in items}, []

    found = _flow(runner, tx, first)
    if isinstance(found, str):
        return drop_all(None, found)
    at, flow = found
    project = at.project
    records = Records(project, tx)
    try:
        collection = project.entities[project.subject_entity].collection
        if collection:
            records.body((collection, first["subject"]), lock=True)  # hold the subject first, as a commit does
        parties = resolve(project, records, first["actor"], first["subject"], by_id=True)
    except UnknownName as exc:
        return drop_all(flow, f"{exc.what} {exc.given} no longer exists")
    scope = flow_scope(at.scope(records, parties, runner.clock.now()), flow, first.get("answers", {}), due=first["due"])
    failed, _ = at.failed(flow, scope, first["subject"])
    if failed:
        return drop_all(flow, "; ".join(f"{f['rule']}: {f['message']}" for f in failed), blocked_by=list(failed))
    done: list[tuple[dict[str, Any], Result]] = []
    for item in items:
        try:
            thing = part(flow, item["kind"], int(item["index"]))
        except KeyError:
            reasons[item["id"]] = f"the flow {flow.id} has no delayed {item['kind']} {item['index']}"
            continue
        assert thing.after is not None
        if thing.after.unless is not None and project.program.evaluate(thing.after.unless, scope):
            reasons[item["id"]] = f"unless {thing.after.unless.source} held"
            continue
        now_part: Effect | Email = dataclasses.replace(thing, after=None, when=None)  # `when` held when it was scheduled
        outcome = dataclasses.replace(
            flow.outcome,
            effects=(now_part,) if isinstance(now_part, Effect) else (),
            emails=(now_part,) if isinstance(now_part, Email) else (),
            banner=None,
            cancel=(),
        )
        result = execute(project, dataclasses.replace(flow, outcome=outcome), scope, records, at.registry.effects, dry_run=False)
        if result.blocked:
            reasons[item["id"]] = "; ".join(b["message"] for b in result.blocked)
            continue
        done.append((item, result))
    disallowed = records.refused()
    if disallowed:
        return drop_all(flow, refusal_message(disallowed))
    records.flush(checked=True)
    now = utc_iso(runner.clock.now())
    for item, result in done:
        at.queue(tx, item["id"], item["run"], flow, result.emails, now)
        _audit(runner, tx, item, flow, "applied", [c.to_json() for c in result.changes], result.summary)
        reasons[item["id"]] = None
    for item in items:
        reason = reasons[item["id"]]
        if reason is not None:
            _audit(runner, tx, item, flow, "dropped", [], reason)
    return reasons, [result for _, result in done]


def _audit(
    runner: Runner,
    tx: Transaction,
    item: dict[str, Any],
    flow: Flow | None,
    status: str,
    changes: list[dict[str, Any]],
    summary: str,
    blocked_by: list[dict[str, str]] | None = None,
) -> None:
    entry: dict[str, Any] = {
        "id": new_id(),
        "time": utc_iso(runner.clock.now()),
        "run": item["run"],
        "flow": item["flow"],
        "version": flow.version if flow is not None else item["version"],
        "actor": item["actor"],
        "subject": item["subject"],
        "answers": dict(item.get("answers", {})),
        "status": status,  # applied | dropped: scheduled work, not a run
        "changes": changes,
        "summary": summary,
        "scheduled": item["id"],
        "kind": item["kind"],
    }
    if status == "dropped":
        entry["reason"] = summary
    if blocked_by:
        entry["blocked_by"] = blocked_by
    tx.add_audit(entry)


def _drop(runner: Runner, claimed: dict[str, Any], reason: str) -> None:
    """Mark an item that cannot be applied as dropped, with its audit entry, in a transaction of its own."""
    with runner.storage.transaction(write=True) as tx:
        assert isinstance(tx, SchedulingTransaction)
        item = _still_ours(tx, claimed)
        if item is None:
            return
        tx.update_scheduled(item["id"], {"status": "dropped", "reason": reason, "finished": utc_iso(runner.clock.now()), "lease": None})
        _audit(runner, tx, item, None, "dropped", [], reason)
