"""Runs that wait for a person: an approval step stops the commit until someone else decides.

A run whose walk reaches a visible step of kind `approval` is not applied at its commit:
it is stored in status `awaiting_approval` with its answers, the approvers are emailed and
an expiry is scheduled (scheduled work of kind `approval`, carried out by the worker as any
other due item). An approver sees the same plan, then approves (the run commits, every rule
checked again on what is then stored) or rejects it with a reason; either way the starter is
emailed. Who may decide: the step's `approvers` rules, checked with the approver as `actor`,
within the project's reach, and never the actor who started the run. To someone outside reach
of the run's subject, a run (awaiting approval or not) is answered exactly as a run that does
not exist (`RunNotFound`): the same exception, the same words; the attempt is audited.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ClientflowError, RunError, RunNotFound, UnknownName
from ..language.model import APPROVAL_NAMES, Email, Flow, Project, Step
from ..plain import mutable
from ..storage import SchedulingTransaction, Transaction
from . import schedule
from .context import flow_scope, resolve, resolve_actor
from .data import Records
from .outcome import RenderedEmail, execute
from .plan import Plan
from .runs import RunState, visible

if TYPE_CHECKING:
    from .core import Runner

KIND = "approval"  # the kind of the scheduled item that expires a request
STARTER_RULE = "not-the-starter"  # the rule a starter deciding their own run is refused by
APPROVERS_RULE = "approvers"  # the rule an actor who may not decide is refused by (outside reach: nothing more)


def blank() -> dict[str, Any]:
    """What texts see as `approval` outside an approval: every key, none set."""
    return dict.fromkeys(APPROVAL_NAMES)


def expiry_id(run_id: str) -> str:
    """The id of the scheduled item that expires a run's request: one per run, written once."""
    return f"{run_id}-{KIND}"


def waiting_step(project: Project, flow: Flow, scope: Mapping[str, Any], steps: list[Step] | None = None) -> Step | None:
    """The approval step the run reaches with these answers (its `when` holds), or None (`steps`: `visible` in this scope, when known)."""
    if not flow.approvals:
        return None
    for step in visible(project.program, flow, scope) if steps is None else steps:
        if step.approval is not None:
            return step
    return None


def view(approval: Mapping[str, Any]) -> dict[str, Any]:
    """What texts see as `approval`: status, reason, by, expires, run."""
    return {name: approval.get(name) for name in APPROVAL_NAMES}


def render(project: Project, flow: Flow, email: Email | None, scope: Mapping[str, Any], records: Records) -> list[RenderedEmail]:
    """An approval step's `request` or `decision` email, rendered as an outcome's email is (nothing when it has none)."""
    if email is None:
        return []
    outcome = dataclasses.replace(flow.outcome, effects=(), emails=(email,), banner=None, cancel=())
    return execute(project, dataclasses.replace(flow, outcome=outcome), scope, records, {}, dry_run=True).emails


def request(runner: Runner, flow: Flow, step: Step, scope: dict[str, Any], records: Records, plan: Plan, run_id: str | None, now: datetime) -> None:
    """Make `plan` a run awaiting approval: what it would do stays listed, the request and its emails are added."""
    assert step.approval is not None
    expires = now + timedelta(seconds=step.approval.seconds)
    approval = {**blank(), "status": "pending", "expires": schedule.utc_iso(expires), "run": run_id, "step": step.id, "requested": schedule.utc_iso(now)}
    shown = {**scope, "approval": view(approval)}
    plan.approval_emails = render(runner.project, flow, step.approval.request, shown, records)
    plan.approval = {**approval, "emails": [e.to_json() for e in plan.approval_emails]}
    plan.status = "awaiting_approval"


def wait(runner: Runner, tx: Transaction, flow: Flow, plan: Plan, state: RunState, now: str) -> None:
    """Store a run awaiting approval: its state, the expiry (scheduled work), the audit entry, the emails to approvers."""
    assert plan.approval is not None and plan.run is not None
    book = schedule.book(tx, runner.storage.name)
    approval = {k: v for k, v in plan.approval.items() if k != "emails"} | {"run": plan.run}
    plan.approval["run"] = plan.run
    state.status, state.approval = "awaiting_approval", approval
    state.answers = dict(plan.audit["answers"])
    tx.save_run(state.to_json())
    runner.keep_version(tx, flow)  # decided later, it finishes on this version whatever is edited meanwhile
    book.add_scheduled([
        {
            "id": expiry_id(state.id), "due": approval["expires"], "flow": flow.id, "version": flow.version,
            "subject": state.subject, "actor": state.actor, "run": state.id, "kind": KIND, "index": 0,
            "what": {"step": approval["step"]}, "unless": None, "answers": dict(state.answers),
            "status": "pending", "created": now,
        }
    ])  # fmt: skip
    summary = f"waits for approval until {approval['expires']}: {plan.audit.get('summary', '')}".rstrip(": ")
    runner.audit(tx, flow, state, "awaiting_approval", [], summary, scheduled=[expiry_id(state.id)])
    runner.queue(tx, f"{state.id}-request", state.id, flow, plan.approval_emails, now)


def reaches(runner: Runner, records: Records, flow: Flow, state: RunState, actor: dict[str, Any]) -> bool:
    """Whether `actor` (a resolved actor record) is within the project's reach of the run's subject (a subject gone: not)."""
    parties = resolve_actor(runner.project, records, str(actor.get("id")), by_id=True)
    try:
        parties.subject = records.find(runner.project.subject_entity, state.subject, ("id",))
    except UnknownName:
        return False
    scope = flow_scope(runner.scope(records, parties), flow, state.answers)
    scope["approval"] = view(state.approval or {})
    return runner.refusal(scope, state.subject) is None


@mutable
class Visit:
    """A run as someone asking to decide it may know of it: loaded, or hidden (`RunNotFound` once the attempt is audited)."""

    state: RunState
    flow: Flow | None
    runner: Runner
    actor: dict[str, Any]
    hidden: bool


def visit(runner: Runner, tx: Transaction, run_id: str, who: str) -> Visit:
    """Load a run for `who`: an unknown actor is an error whatever the run; a run outside their reach is hidden.

    Every run (awaiting approval, finished, of a flow since removed) is hidden from an actor
    outside the reach of its subject, so that what they are told cannot tell it from a run that
    does not exist.
    """
    actor = resolve_actor(runner.project, Records(runner.project, tx), who).actor  # first: its error never depends on the run
    data = tx.load_run(run_id)
    if data is None:
        raise RunNotFound(run_id)
    state = RunState.from_json(data)
    try:
        state, flow, at = runner.load_run(tx, run_id)
    except RunError:  # its flow (or that version) is gone: check reach with today's flow, if any
        current = runner.project.flows.get(state.flow)
        if current is None or not reaches(runner, Records(runner.project, tx), current, state, actor):
            if str(actor.get("id")) == state.actor:  # its starter knows of it anyway
                raise
            return Visit(state, current, runner, actor, hidden=True)
        raise
    return Visit(state, flow, at, actor, hidden=not reaches(at, Records(at.project, tx), flow, state, actor))


def hide(tx: Transaction, seen: Visit, attempt: str) -> RunNotFound:
    """Audit an outsider's attempt on a run (when its flow is known) and return the error a missing run raises."""
    if seen.flow is not None:
        asker = dataclasses.replace(seen.state, actor=str(seen.actor.get("id")))
        refused = [{"rule": APPROVERS_RULE, "message": f"run {seen.state.id} does not await your approval"}]
        seen.runner.audit(tx, seen.flow, asker, "refused", [], attempt, blocked_by=refused)
    return RunNotFound(seen.state.id)


@mutable
class Decider:
    """Who asks to decide a run, resolved in its transaction, and the refusal when they may not."""

    actor: str  # their id ("" when they could not be found)
    refused: list[dict[str, str]]
    outside_reach: bool = False


def decider(runner: Runner, records: Records, flow: Flow, step: Step, state: RunState, who: str) -> Decider:
    """Check that `who` may decide `state`'s request: within reach, named by the approvers rules, not its starter."""
    assert step.approval is not None
    nothing = [{"rule": APPROVERS_RULE, "message": f"run {state.id} does not await your approval"}]
    parties = resolve_actor(runner.project, records, who)  # an unknown actor: UnknownName, with a did-you-mean
    try:
        parties.subject = records.find(runner.project.subject_entity, state.subject, ("id",))
    except UnknownName:  # the subject is gone: there is nothing to decide, and nothing of it to tell
        return Decider(str(parties.actor.get("id")), nothing, outside_reach=True)
    actor_id = str(parties.actor.get("id"))
    scope = flow_scope(runner.scope(records, parties), flow, state.answers)
    scope["approval"] = view(state.approval or {})
    if runner.refusal(scope, state.subject) is not None:  # outside reach: nothing of the subject, nor of the run, is told
        return Decider(actor_id, nothing, outside_reach=True)
    if actor_id == state.actor:
        message = f"you started run {state.id}, so someone else must approve or reject it"
        return Decider(actor_id, [{"rule": STARTER_RULE, "message": message}])
    program = runner.project.program
    failed = [
        {"rule": rule.name, "message": " ".join(program.render(rule.message, scope).split())}
        for rule in step.approval.approvers
        if not program.evaluate(rule.condition, scope)
    ]
    return Decider(actor_id, failed)


def step_of(flow: Flow, state: RunState) -> Step:
    """The approval step a waiting run stopped at."""
    name = (state.approval or {}).get("step")
    for step in flow.approvals:
        if step.id == name:
            return step
    raise RunError(f"run {state.id} waits at step {name!r}, which its flow {flow.id} no longer has")


def lock_subject(runner: Runner, records: Records, subject: str) -> None:
    """Hold the subject first, as a commit does: whoever decides a run, or expires it, does so one at a time."""
    collection = runner.project.entities[runner.project.subject_entity].collection
    if collection:
        records.body((collection, subject), lock=True)


def take_expiry(tx: Transaction, run_id: str) -> dict[str, Any] | None:
    """The pending expiry of a run, locked before the subject (the worker's order: no deadlock); None when there is none now.

    The lock waits for whoever holds the item (a worker expiring the run, another approver), so that
    whoever decides second finds it no longer pending, and the run decided, once the first is done.
    """
    if not isinstance(tx, SchedulingTransaction):
        return None
    try:
        tx.update_scheduled(expiry_id(run_id), {})  # a write: locked until this transaction ends
    except KeyError:
        return None
    for item in tx.scheduled(id=expiry_id(run_id), status="pending"):
        return item
    return None


def close_expiry(tx: Transaction, item: dict[str, Any] | None, reason: str, now: str) -> None:
    if item is not None and isinstance(tx, SchedulingTransaction):
        tx.update_scheduled(item["id"], {"status": "cancelled", "reason": reason, "finished": now, "lease": None})


def decision_scope(runner: Runner, records: Records, flow: Flow, state: RunState) -> dict[str, Any] | None:
    """The starter's scope for the decision email (None when the starter or the subject is gone)."""
    try:
        parties = resolve(runner.project, records, state.actor, state.subject, by_id=True)
    except UnknownName:
        return None
    return flow_scope(runner.scope(records, parties), flow, state.answers)


def tell(
    runner: Runner, tx: Transaction, flow: Flow, step: Step, state: RunState, scope: dict[str, Any] | None, records: Records, now: str
) -> list[RenderedEmail]:
    """Queue the decision email to the starter (its `approval` as decided); return what was queued."""
    assert step.approval is not None
    if scope is None or step.approval.decision is None:
        return []
    shown = {**scope, "approval": view(state.approval or {})}
    try:
        emails = render(runner.project, flow, step.approval.decision, shown, records)
    except ClientflowError:  # an address gone bad since: the decision stands, unannounced
        return []
    runner.queue(tx, f"{state.id}-decision", state.id, flow, emails, now)
    return emails


def expire(runner: Runner, tx: Transaction, item: dict[str, Any]) -> tuple[str | None, list[RenderedEmail]]:
    """Expire a request that is still waiting (None, and the emails queued), or say why there was nothing to expire."""
    try:
        state, flow, at = runner.load_run(tx, item["run"])
    except RunError as exc:
        return str(exc), []
    records = Records(at.project, tx)
    lock_subject(at, records, state.subject)
    state, flow, at = runner.load_run(tx, item["run"])  # read again under the subject's lock
    if state.status != "awaiting_approval":
        return f"run {state.id} was {state.status} before its request expired", []
    now = schedule.utc_iso(runner.clock.now())
    step = step_of(flow, state)
    scope = decision_scope(at, records, flow, state)
    state.status, state.updated = "expired", now
    state.approval = {**(state.approval or {}), "status": "expired", "decided": now}
    tx.save_run(state.to_json())
    at.audit(tx, flow, state, "expired", [], f"the request for approval expired at {(state.approval or {}).get('expires')}", scheduled=item["id"])
    return None, tell(at, tx, flow, step, state, scope, records, now)


def awaiting(runner: Runner, tx: Transaction) -> list[tuple[RunState, Flow, Runner, dict[str, Any]]]:
    """Every run awaiting approval (found through its pending expiry), with its flow, runner and expiry item."""
    if not isinstance(tx, SchedulingTransaction):
        return []
    found = []
    for item in tx.scheduled(status="pending"):
        if item.get("kind") != KIND:
            continue
        try:
            state, flow, at = runner.load_run(tx, item["run"])
        except RunError:
            continue
        if state.status == "awaiting_approval":
            found.append((state, flow, at, item))
    return found


def decide(runner: Runner, run_id: str, who: str, *, reject: bool, reason: str | None) -> tuple[Plan, Runner]:
    """Approve (the run commits, every rule checked again) or reject a waiting run, as `who`; one transaction.

    Refused within reach (not an approver, the starter): a blocked plan, the attempt audited, nothing
    else written. Outside reach of the run's subject (whatever the run's status): the attempt audited,
    then `RunNotFound`, as for a run that does not exist.
    """
    reason = " ".join((reason or "").split()) or None
    if reject and reason is None:
        raise RunError("a rejection needs a reason the starter will read; give it with --reason")
    hidden: RunNotFound | None = None
    with runner.storage.transaction(write=True) as tx:
        seen = visit(runner, tx, run_id, who)
        if seen.hidden:
            hidden = hide(tx, seen, "may not decide this request")
        else:
            decision = _decide(runner, tx, run_id, who, reject=reject, reason=reason)
            if isinstance(decision, RunNotFound):
                hidden = decision
    if hidden is not None:  # raised once the attempt's audit entry is stored
        raise hidden
    return decision  # type: ignore[return-value]


def _decide(runner: Runner, tx: Transaction, run_id: str, who: str, *, reject: bool, reason: str | None) -> tuple[Plan, Runner] | RunNotFound:
    state, flow, at = runner.load_run(tx, run_id)
    if state.status != "awaiting_approval":
        raise RunError(f"run {run_id} is {state.status}, not awaiting approval; there is nothing to decide")
    expiry = take_expiry(tx, run_id)
    records = Records(at.project, tx)
    lock_subject(at, records, state.subject)
    state, flow, at = runner.load_run(tx, run_id)  # read again under the subject's lock: someone may have decided meanwhile
    if state.status != "awaiting_approval":
        raise RunError(f"run {run_id} was {state.status} meanwhile; there is nothing left to decide")
    step = step_of(flow, state)
    person = decider(at, records, flow, step, state, who)
    now = schedule.utc_iso(runner.clock.now())
    expires = str((state.approval or {}).get("expires") or "")
    if not person.refused and expires and datetime.fromisoformat(expires) <= runner.clock.now():
        raise RunError(f"the request of run {run_id} expired at {expires}; nothing was decided, and the worker marks it expired")
    if person.refused:
        asker = dataclasses.replace(state, actor=person.actor or who)
        at.audit(tx, flow, asker, "refused", [], "may not decide this request", blocked_by=person.refused)
        if person.outside_reach:  # out of reach since it was first read: as a run that is not there
            return RunNotFound(run_id)
        plan = Plan(flow=flow.id, status="blocked", dry_run=False, run=run_id, blocked_by=person.refused)
        plan.audit = {"flow": flow.id, "actor": person.actor, "subject": state.subject, "answers": dict(state.answers)}
        return plan, at
    scope = decision_scope(at, records, flow, state)  # before the outcome changes what it reads
    state.approval = {**(state.approval or {}), "status": "rejected" if reject else "approved", "by": person.actor, "reason": reason, "decided": now}
    if reject:
        state.status, state.updated = "rejected", now
        tx.save_run(state.to_json())
        at.audit(tx, flow, state, "rejected", [], f"rejected by {person.actor}: {reason}", approval=dict(state.approval))
        plan = Plan(flow=flow.id, status="rejected", dry_run=False, run=run_id)
        plan.audit = {"flow": flow.id, "actor": state.actor, "subject": state.subject, "answers": dict(state.answers)}
    else:
        try:
            plan, fresh, result = at.evaluate(tx, flow, state.actor, state.subject, dict(state.answers), dry_run=False, lock=True, by_id=True, approved=True)
        except UnknownName as exc:  # the starter (or the subject) was deleted meanwhile
            plan, fresh, result = at.vanished(flow, state, exc), Records(at.project, tx), None
        plan.run = run_id
        if plan.status not in ("completed", "blocked"):  # its answers no longer fit the flow as it reads the data now
            message = f"the answers of run {run_id} no longer fit its screens ({plan.status}); start it again"
            plan.status, plan.blocked_by, result = "blocked", [{"rule": "unchanged-since-start", "message": message}], None
        if plan.status == "blocked":
            state.approval["status"] = "blocked"
        at.finish(tx, flow, plan, fresh, result, run_id, state)
    close_expiry(tx, expiry, f"{state.approval['status']} by {person.actor}", now)
    told = tell(at, tx, flow, step, state, scope, records, now)
    plan.approval = {**view(state.approval), "step": step.id, "decided": now, "emails": [e.to_json() for e in told]}
    return plan, at


def offered(runner: Runner, who: str) -> list[dict[str, Any]]:
    """The runs awaiting a decision `who` may make (never their own), the soonest to expire first."""
    out: list[dict[str, Any]] = []
    with runner.storage.transaction() as tx:
        resolve_actor(runner.project, Records(runner.project, tx), who)  # an unknown actor: an error whether or not anything waits
        for state, flow, at, item in awaiting(runner, tx):
            records = Records(at.project, tx)
            if decider(at, records, flow, step_of(flow, state), state, who).refused:
                continue
            approval = state.approval or {}
            out.append({
                "run": state.id, "flow": flow.id, "title": flow.title, "subject": state.subject, "actor": state.actor,
                "answers": dict(state.answers), "step": approval.get("step"), "requested": approval.get("requested"),
                "expires": item["due"],
            })  # fmt: skip
    return out


def shown(runner: Runner, run_id: str, who: str) -> Plan:
    """What an approver sees before deciding: the run's plan as it would commit now (awaiting approval), or the refusal.

    Outside reach of the run's subject: `RunNotFound`, as for a run that does not exist.
    """
    with runner.storage.transaction() as tx:
        if visit(runner, tx, run_id, who).hidden:  # outside reach: as a run that is not there
            raise RunNotFound(run_id)
        state, flow, at = runner.load_run(tx, run_id)
        if state.status != "awaiting_approval":
            raise RunError(f"run {run_id} is {state.status}, not awaiting approval; there is nothing to decide")
        records = Records(at.project, tx)
        step = step_of(flow, state)
        person = decider(at, records, flow, step, state, who)
        if person.outside_reach:
            raise RunNotFound(run_id)
        if person.refused:
            return Plan(flow=flow.id, status="blocked", dry_run=True, run=run_id, blocked_by=person.refused)
        try:
            plan, _, _ = at.evaluate(tx, flow, state.actor, state.subject, dict(state.answers), dry_run=True, by_id=True)
        except UnknownName as exc:
            plan = at.vanished(flow, state, exc)
    plan.run = run_id
    if plan.status == "awaiting_approval":
        plan.approval = {**view(state.approval or {}), "step": step.id, "requested": (state.approval or {}).get("requested")}
        plan.approval["emails"] = []  # the request went out when the run started to wait
    return plan
