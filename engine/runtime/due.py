"""Carrying out scheduled work when it is due: what `clientflow worker` does besides delivering email.

Due items are claimed with a lease (as outbox rows are: FOR UPDATE SKIP LOCKED on PostgreSQL),
then each is carried out in its own transaction: the item is taken again there, locked, and only
while it is still pending and still this worker's claim, so that it is applied exactly once however
many workers run and whichever of them dies. The subject is read again and every rule of the flow
is checked again (the project's reach, started_by, preconditions, as the actor who started the
run), then `unless`; if any fails the item is dropped with an audit entry saying why, otherwise
the part is applied (effects through Records, with version checks; emails into the outbox) with an
audit entry. A worker that dies holding a claim leaves the item to be taken again after its lease.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import faults
from ..errors import ClientflowError, UnknownName
from ..language.model import Effect, Email, Flow
from ..storage import ConflictError, SchedulingTransaction, Storage, Transaction
from . import approvals
from .context import flow_scope, resolve
from .data import Records, refusal_message
from .outcome import execute
from .schedule import part

if TYPE_CHECKING:
    from .core import Runner

LEASE_SECONDS = 300.0


@dataclass
class Carried:
    """What one pass over the due work did."""

    applied: list[str] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)  # each {"id", "reason"}
    retry: list[str] = field(default_factory=list)  # met a concurrent change: taken again after its lease

    def to_json(self) -> dict[str, Any]:
        return {"applied": list(self.applied), "dropped": [dict(d) for d in self.dropped], "retry": list(self.retry)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def claim(storage: Storage, now: datetime, worker: str, *, limit: int = 50, lease_seconds: float = LEASE_SECONDS) -> list[dict[str, Any]]:
    """Take due pending items (and those whose lease ran out) for this worker; each comes back with its `lease`."""
    with storage.transaction(write=True) as tx:
        if not isinstance(tx, SchedulingTransaction):
            return []
        items = tx.scheduled(status="pending", due=_iso(now), limit=limit, claim=True)
        lease = _iso(now + timedelta(seconds=lease_seconds))
        for item in items:
            tx.update_scheduled(item["id"], {"lease": lease, "worker": worker})
            item.update(lease=lease, worker=worker)
    return items


def carry_out(runner: Runner, *, worker: str | None = None, limit: int | None = None, lease_seconds: float = LEASE_SECONDS) -> Carried:
    """Carry out every item due at the runner's clock, each in its own transaction."""
    worker = worker or uuid.uuid4().hex
    report = Carried()
    while limit is None or len(report.applied) + len(report.dropped) + len(report.retry) < limit:
        items = claim(runner.storage, runner.clock.now(), worker, limit=50 if limit is None else min(50, limit), lease_seconds=lease_seconds)
        if not items:
            break
        for item in items:
            _one(runner, item, report)
        if len(items) < 50:
            break
    return report


def _one(runner: Runner, claimed: dict[str, Any], report: Carried) -> None:
    try:
        with runner.storage.transaction(write=True) as tx:
            assert isinstance(tx, SchedulingTransaction)
            item = _still_ours(tx, claimed)
            if item is None:  # done, cancelled, or taken by another worker after this claim ran out
                return
            faults.point("scheduled-claimed")
            reason = approvals.expire(runner, tx, item) if item.get("kind") == approvals.KIND else _apply(runner, tx, item)
            now = _iso(runner.clock.now())
            status = "done" if reason is None else "dropped"
            tx.update_scheduled(item["id"], {"status": status, "finished": now, "lease": None, **({"reason": reason} if reason else {})})
            faults.point("scheduled-before-commit")
    except ConflictError:  # someone changed the record first: nothing was written; taken again when the lease runs out
        report.retry.append(claimed["id"])
        return
    except ClientflowError as exc:  # a definition or data problem: this item can never be applied as written
        _drop(runner, claimed, f"could not be carried out: {exc}")
        report.dropped.append({"id": claimed["id"], "reason": f"could not be carried out: {exc}"})
        return
    if reason is None:
        report.applied.append(item["id"])
    else:
        report.dropped.append({"id": item["id"], "reason": reason})


def _still_ours(tx: SchedulingTransaction, claimed: dict[str, Any]) -> dict[str, Any] | None:
    """The item, locked, while it is pending and still this claim; None otherwise."""
    for item in tx.scheduled(id=claimed["id"], status="pending", claim=True):
        return item if item.get("lease") == claimed["lease"] and item.get("worker") == claimed["worker"] else None
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


def _apply(runner: Runner, tx: Transaction, item: dict[str, Any]) -> str | None:
    """Check everything again and apply the part; return None when applied, else why it was dropped (audited either way)."""
    found = _flow(runner, tx, item)
    if isinstance(found, str):
        _audit(runner, tx, item, None, "dropped", [], found)
        return found
    at, flow = found
    try:
        thing = part(flow, item["kind"], int(item["index"]))
    except KeyError:
        reason = f"the flow {flow.id} has no delayed {item['kind']} {item['index']}"
        _audit(runner, tx, item, flow, "dropped", [], reason)
        return reason
    project = at.project
    records = Records(project, tx)
    try:
        collection = project.entities[project.subject_entity].collection
        if collection:
            records.body((collection, item["subject"]), lock=True)  # hold the subject first, as a commit does
        parties = resolve(project, records, item["actor"], item["subject"], by_id=True)
    except UnknownName as exc:
        reason = f"{exc.what} {exc.given} no longer exists"
        _audit(runner, tx, item, flow, "dropped", [], reason)
        return reason
    scope = flow_scope(at.scope(records, parties, runner.clock.now()), flow, item.get("answers", {}))
    failed, _ = at.failed(flow, scope, item["subject"])
    if failed:
        reason = "; ".join(f"{f['rule']}: {f['message']}" for f in failed)
        _audit(runner, tx, item, flow, "dropped", [], reason, blocked_by=list(failed))
        return reason
    assert thing.after is not None
    if thing.after.unless is not None and project.program.evaluate(thing.after.unless, scope):
        reason = f"unless {thing.after.unless.source} held"
        _audit(runner, tx, item, flow, "dropped", [], reason)
        return reason
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
        reason = "; ".join(b["message"] for b in result.blocked)
        _audit(runner, tx, item, flow, "dropped", [], reason)
        return reason
    disallowed = records.refused()
    if disallowed:
        reason = refusal_message(disallowed)
        _audit(runner, tx, item, flow, "dropped", [], reason)
        return reason
    records.flush()
    now = _iso(runner.clock.now())
    at.queue(tx, item["id"], item["run"], flow, result.emails, now)
    _audit(runner, tx, item, flow, "applied", [c.to_json() for c in result.changes], result.summary)
    return None


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
        "id": uuid.uuid4().hex,
        "time": _iso(runner.clock.now()),
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
        tx.update_scheduled(item["id"], {"status": "dropped", "reason": reason, "finished": _iso(runner.clock.now()), "lease": None})
        _audit(runner, tx, item, None, "dropped", [], reason)
