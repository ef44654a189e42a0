"""The core a run goes through, shared by every Engine method: scope, rules, plan, commit, audit.

`Engine` (engine/api.py) is the public face and holds a Runner; this is what it does inside one
storage transaction: resolve who acts on what, build the scope, check the
rules, walk the screens, execute the outcome, and, when committing, write
the changes, the run, the audit entry and the outbox rows.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import faults
from ..config import Config, plugin_settings
from ..errors import RunError, RunNotFound, UnknownName
from ..language.model import Flow, Project
from ..mailaddress import DEFAULT_SENDER
from ..outbox import Outbox
from ..plugins import Registry, event
from ..storage import ConflictError, Document, IndexKey, Notifier, Storage, Transaction
from . import approvals, schedule
from .context import Clock, Parties, Scopes, flow_scope, iso_time, put_flow, resolve
from .data import Records, refusal_message
from .outcome import RenderedEmail, Result, execute, said
from .plan import Plan, Verdict
from .rulebook import Refused, Rulebook
from .runs import RunState, Walk, walk
from .schedule import immediate, scheduled
from .views import FlowAvailability, RunView

CHANGED_RULE = "unchanged-since-start"
VERSION_KEY = "clientflow.version."  # + a flow version: the project files that version was read from (storage meta)
FINISHED = ("completed", "cancelled", "blocked", "rejected", "expired")
SHARED_MAX = 256  # context names kept computed between scopes (`Runner.scope`)


def new_id() -> str:
    """A new random id, as `uuid.uuid4().hex` writes it (version 4, the RFC 4122 variant), without a UUID object made
    and checked for it: a commit makes two, its run's and its audit entry's."""
    number = int.from_bytes(os.urandom(16), "big") & ~(0xC000 << 48 | 0xF000 << 64) | 0x8000 << 48 | 4 << 76
    return f"{number:032x}"


class Runner:
    """The inside of a run, shared by every `Engine` method; the engine holds one."""

    def __init__(self, project: Project, storage: Storage, clock: Clock, notifiers: dict[str, Notifier], registry: Registry, config: Config) -> None:
        self.project = project
        self.storage = storage
        self.clock = clock
        self.notifiers = notifiers  # the engine's own dict: a notifier added to the engine is the runner's too
        self.registry = registry
        self.config = config
        self._scopes: Scopes | None = None
        self.versions: dict[str, Runner] = {}  # kept earlier project versions, by flow version, loaded when a run needs one
        self._folders: list[str] = []  # where kept versions were rebuilt: removed by close()
        self.rulebooks: dict[tuple[str | None, bool, Callable[..., Any] | None], Rulebook] = {}
        self._asking: tuple[Scopes, Rulebook] | None = None  # see `asking`
        self._undo: dict[int, tuple[Flow, str | None]] = {}  # `undo` of each flow, by its id
        # context names computed for the very values they read (Scopes.build's `shared`): a bulk run's commits share
        # the names computed from their actor's holder alone while storage hands out the same unchanged record (SharedReadTransaction)
        self._shared: dict[Any, Any] = {}

    def outbox(self) -> Outbox:
        """The outbox of this storage, with these notifiers, clock and delivery settings."""
        return Outbox(self.storage, self.notifiers, self.clock, self.config, self.registry)

    @property
    def scopes(self) -> Scopes:
        """The engine's scope builder, made when first asked (plugins have registered their functions by then)."""
        if self._scopes is None:
            self._scopes = Scopes(self.project, self.registry.functions)
            self._scopes.reach = lambda scope, named: self.rulebook().refused(scope, named) is None
        return self._scopes

    def scope(self, records: Records, parties: Parties, now: datetime | None = None) -> dict[str, Any]:
        shared = self._shared
        if len(shared) > SHARED_MAX:  # each entry holds the values it was computed from: a bounded few
            shared.clear()
        return self.scopes.build(parties, now or self.clock.now(), records, shared)

    def rulebook(self, flow: Flow | None = None, *, verdicts: bool = False, entry: Callable[..., Any] | None = None) -> Rulebook:
        """The project's one availability evaluator, for every flow (`flow` None) or one, generated once each (see `Rulebook` for `entry`)."""
        key = (flow.id if flow is not None else None, verdicts, entry)
        book = self.rulebooks.get(key)
        if book is None:
            book = self.rulebooks[key] = Rulebook(self.project, None if flow is None else [flow], verdicts=verdicts, entry=entry)
        return book

    def asking(self) -> tuple[Scopes, Rulebook]:
        """What `Engine.available` asks with: the scope builder, and the rulebook making its `FlowAvailability` entries.

        The very ones `scopes` and `rulebook(verdicts=True, entry=FlowAvailability)` give, found once (not per question).
        """
        asking = self._asking
        if asking is None:
            asking = self._asking = (self.scopes, self.rulebook(verdicts=True, entry=FlowAvailability))
        return asking

    def verdicts(self, flow: Flow, scope: dict[str, Any], named: str) -> list[Verdict]:
        """Every rule's verdict, the reach rules first; outside reach, the reach refusal alone (no other rule is checked)."""
        verdicts: list[Verdict] = self.rulebook(flow, verdicts=True).evaluate(scope, named)[0]["verdicts"]
        return verdicts

    def refusal(self, scope: dict[str, Any], named: str) -> Verdict | None:
        """The first reach rule that does not hold, its message written for an outsider (`named`: the subject as given)."""
        return self.rulebook().refused(scope, named)

    def failed(self, flow: Flow, scope: dict[str, Any], named: str) -> tuple[list[dict[str, str]], bool]:
        """(the reach refusal, True), or else (only the rules that do not hold, with their messages, False)."""
        reasons = self.rulebook(flow).evaluate(scope, named)[0]["reasons"]
        return reasons, isinstance(reasons, Refused)

    def outside(self, flow: Flow, scope: Mapping[str, Any], state: RunState) -> RunView | None:
        """A run whose actor may no longer reach its subject: blocked by the refusal alone, no screen (changes nothing)."""
        refused = self.refusal(flow_scope(scope, flow, {}), state.subject)
        if refused is None:
            return None
        blocked = [{"rule": refused.rule, "message": refused.message or ""}]
        return RunView(state.id, flow.id, "blocked", None, blocked_by=blocked, version=flow.version, outside_reach=True)

    def undo(self, flow: Flow) -> str | None:
        """The outcome's `undo` before the outcome is reached: its text when it reads nothing (in the reader's language), else None.

        A text that reads the run (an answer, a date) is rendered with the outcome, in its scope, as the banner is.
        """
        held = self._undo.get(id(flow))  # the same text for every plan of the flow (a bulk run's every blocked subject)
        if held is not None and held[0] is flow:
            return held[1]
        undo = flow.outcome.undo
        # no tag, no placeholder: a translation of it reads nothing either
        text = None if undo is None or "{" in undo.source else said(self.project, undo, {})
        self._undo[id(flow)] = (flow, text)  # the flow held, so that its id is not another's while kept
        return text

    def vanished(self, flow: Flow, state: RunState, exc: UnknownName) -> Plan:
        message = f"{exc.what} {exc.given} no longer exists: it was deleted after this run started, so nothing was changed"
        plan = Plan(flow=flow.id, status="blocked", dry_run=False, reversible=flow.outcome.reversible is True, undo=self.undo(flow))
        plan.blocked_by = [{"rule": CHANGED_RULE, "message": message}]
        plan.audit = {"flow": flow.id, "actor": state.actor, "subject": state.subject, "answers": dict(state.answers)}
        return plan

    # shared core --------------------------------------------------------
    def load_run(self, tx: Transaction, run_id: str, open_only: bool = False) -> tuple[RunState, Flow, Runner]:
        """The run, its flow, and the runner of the project version it started under (this one, or a kept earlier one)."""
        data = tx.load_run(run_id)
        if data is None:
            raise RunNotFound(run_id)
        state = RunState.from_json(data)
        if open_only and state.status in FINISHED:
            raise RunError(f"run {run_id} is {state.status} and cannot change any more")
        if open_only and state.status == "awaiting_approval":
            raise RunError(f"run {run_id} awaits approval by someone else and cannot change; it is approved, rejected or expires")
        flow = self.project.flows.get(state.flow)
        if flow is not None and (state.version == flow.version or state.status in FINISHED):
            return state, flow, self
        earlier = self.version(tx, state.version)
        if earlier is not None and state.flow in earlier.project.flows:  # a run finishes on the version it started under
            return state, earlier.project.flows[state.flow], earlier
        if flow is None:
            raise RunError(
                f"the flow {state.flow} of run {run_id} is no longer in the project, and its version {state.version} is not kept; nothing can resume it"
            )
        raise RunError(
            f"the flow {flow.id} changed since run {run_id} started (version {state.version}, now {flow.version}), and that version is not kept; "
            "start it again to see the current screens"
        )

    def close(self) -> None:
        """Remove the folders earlier project versions were rebuilt in."""
        for folder in self._folders:  # by absolute paths, bottom up: nothing is ever named relative to the working folder
            for top, folders, files in os.walk(folder, topdown=False):
                for name in files:
                    os.unlink(os.path.join(top, name))
                for name in folders:
                    os.rmdir(os.path.join(top, name))
            os.rmdir(folder)
        self._folders.clear()
        self.versions.clear()

    def keep_version(self, tx: Transaction, flow: Flow) -> None:
        """Keep the files of this project version in storage, once per version: a run started now can finish on it after an edit."""
        key = VERSION_KEY + flow.version
        if self.project.sources and tx.get_meta(key) is None:
            tx.set_meta(key, json.dumps({"flow": flow.id, "files": self.project.sources}, sort_keys=True))

    def version(self, tx: Transaction, version: str) -> Runner | None:
        """The runner of a kept project version (None when it is not kept), built once per process."""
        if version in self.versions:
            return self.versions[version]
        kept = tx.get_meta(VERSION_KEY + version)
        if kept is None:
            return None
        from ..conditions.program import load_project  # only a run that outlived an edit needs its old version compiled
        from ..language.project import Extensions

        folder = tempfile.mkdtemp(prefix="clientflow-version-")
        self._folders.append(folder)
        root = Path(folder)
        for name, text in json.loads(kept)["files"].items():
            target = (root / name).resolve()
            if not target.is_relative_to(root.resolve()):  # only paths inside the folder: the stored names are data
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        project = load_project(root, Extensions(self.registry.functions, self.registry.filters, self.registry.effects))
        runner = self.versions[version] = Runner(project, self.storage, self.clock, self.notifiers, self.registry, self.config)
        return runner

    def parties(self, records: Records, state: RunState) -> Parties:
        try:
            return resolve(self.project, records, state.actor, state.subject, by_id=True)
        except UnknownName as exc:  # deleted since the run started: say so, never "unknown ..." with a look-alike suggestion
            raise RunError(f"{exc.what} {exc.given} no longer exists: it was deleted after run {state.id} started; nothing was changed") from exc

    def subject_ref(self, records: Records, parties: Parties) -> tuple[str, str]:
        entity = self.project.entities[self.project.subject_entity]
        found = records.locate(entity.name, "id", parties.subject.get("id"))
        assert found is not None
        return found[0]

    def evaluate(
        self,
        tx: Transaction,
        flow: Flow,
        actor: str,
        subject: str,
        answers: dict[str, Any],
        *,
        dry_run: bool,
        lock: bool = False,
        expect_version: int | None = None,
        by_id: bool = False,
        approved: bool = False,
        run_id: str | None = None,
        show: bool = True,
        verdicts: bool = True,
        held: tuple[Document | None] | None = None,
        looked: tuple[IndexKey, list[Document]] | None = None,
        now: datetime | None = None,
    ) -> tuple[Plan, Records, Result | None]:
        """`now`: the instant the run is evaluated at (the clock's, read now, by default). `held`: the document of the subject's collection whose id is `subject` (or None: there is none), read locked
        already in `tx` (with `lock`; `Engine.apply` reads it with its resume key in one question). `looked`: a look-up and
        what `lookup_documents` gave for it in `tx` after that lock was held (the actor's, asked in the same question);
        kept as `Records` keeps a look-up it asks, when the subject is that document (otherwise its lock came later)."""
        records = Records(self.project, tx)
        if lock:  # hold the subject first, so that every later read of it is the locked version
            collection = self.project.entities[self.project.subject_entity].collection
            named = ("id",) if by_id else self.project.subject_match
            present = False  # whether the subject is the document of that id
            if collection and "id" in named:
                if held is not None:
                    records.read[(collection, subject)] = held[0]  # as `body(..., lock=True)` keeps what it read
                    present = held[0] is not None
                    if present and looked is not None:
                        records.keep(*looked)
                else:
                    present = records.body((collection, subject), lock=True) is not None
            if not present:
                found = records.find(self.project.subject_entity, subject, named)  # named by another key
                located = records.locate(self.project.subject_entity, "id", found.get("id"))
                if located is not None:
                    records.body(located[0], lock=True)
        parties = resolve(self.project, records, actor, subject, by_id=by_id)
        ref = self.subject_ref(records, parties)
        return self.make_plan(
            flow,
            records,
            parties,
            ref,
            answers,
            dry_run=dry_run,
            expect_version=expect_version,
            named=subject,
            approved=approved,
            run_id=run_id,
            show=show,
            verdicts=verdicts,
            now=now,
        )

    def make_plan(
        self,
        flow: Flow,
        records: Records,
        parties: Parties,
        ref: tuple[str, str],
        answers: dict[str, Any],
        *,
        dry_run: bool,
        expect_version: int | None = None,
        show: bool = True,
        now: datetime | None = None,
        verdicts: bool = True,
        scope: dict[str, Any] | None = None,
        named: str | None = None,
        approved: bool = False,
        run_id: str | None = None,
    ) -> tuple[Plan, Records, Result | None]:
        """Rules, screens and outcome of one run on resolved parties.

        `show` renders the screens; `verdicts` lists every rule's verdict in the
        plan (a bulk dry-run needs only the failed ones). `named` is the subject
        as the caller named it (its id by default): outside reach, the plan
        holds the refusal alone and names the subject only so. A run that reaches
        an approval step (and is not `approved` yet) comes back `awaiting_approval`,
        what it would do listed, nothing of it done. `scope`, when given, is made for
        this plan alone (as `Scopes.with_subject` makes one): the flow's names are put into it.
        """
        if scope is None:
            scope = self.scope(records, parties, now)
        subject = str(parties.subject.get("id"))
        plan = Plan(flow=flow.id, status="completed", dry_run=dry_run, reversible=flow.outcome.reversible is True)  # `undo`: below
        plan.audit = {"flow": flow.id, "actor": str(parties.actor.get("id")), "subject": subject, "answers": {}}
        plan.subject_id = subject
        # the scope is this plan's alone (made above, or by the caller for it: `simulate_many`): the flow's names go into it,
        # not into a copy (a bulk dry-run's every subject: one copy of some 25 names fewer)
        fscope = put_flow(scope, flow, {})
        named = subject if named is None else str(named)
        if verdicts:
            plan.rules = self.verdicts(flow, fscope, named)
            failed = [{"rule": v.rule, "message": v.message or ""} for v in plan.rules if not v.passed]
            refused = bool(self.project.reach) and not plan.rules[0].passed  # within reach, the reach verdicts come first, passed
        else:
            failed, refused = self.failed(flow, fscope, named)
        if refused:
            plan.outside_reach, plan.audit["subject"] = True, named
        if not failed and expect_version is not None and records.version(ref) != expect_version:
            failed = [{
                "rule": CHANGED_RULE,
                "message": f"{parties.subject.get('id')} was changed by someone else after this run started; start again to see what is true now",
            }]  # fmt: skip
        if failed:
            plan.status, plan.blocked_by, plan.undo = "blocked", failed, self.undo(flow)
            return plan, records, None
        state = RunState(id="", flow=flow.id, version=flow.version, actor=plan.audit["actor"], subject=plan.audit["subject"], subject_version=None)
        result_walk: Walk = walk(self.project.program, flow, lambda a: fscope, state, answers, ahead=True, show=show)
        plan.screens = result_walk.screens
        plan.audit["answers"] = dict(state.answers)
        if result_walk.status != "ready":
            plan.status, plan.errors, plan.needs = result_walk.status, result_walk.errors, result_walk.needs
            plan.undo = self.undo(flow)  # stopped before the outcome, which renders it in its scope
            return plan, records, None
        final = fscope  # walk kept its answers up to date
        waiting = None if approved else approvals.waiting_step(self.project, flow, final, result_walk.steps)
        result = execute(self.project, immediate(flow), final, records, self.registry.effects, dry_run=dry_run or waiting is not None)
        if flow.outcome.delayed:
            plan.scheduled = scheduled(self.project, flow, final, now or self.clock.now())
            if plan.scheduled:
                plan.scheduled = schedule.preview(self.project, flow, plan.scheduled, final, records, self.registry.effects)
        disallowed = records.refused()  # shown by the dry-run already; a commit's `finish` writes what was checked here
        if disallowed:
            raise RunError(refusal_message(disallowed))
        plan.changes, plan.emails, plan.banners, plan.warnings = result.changes, result.emails, result.banners, result.warnings
        plan.undo, plan.reversible = result.undo, result.reversible
        plan.audit["summary"] = result.summary
        if result.blocked:  # an email that must reach someone reaches nobody: nothing is done, nothing is shown as done
            plan.status, plan.blocked_by = "blocked", result.blocked
            plan.changes, plan.emails, plan.banners, plan.scheduled = [], [], [], []
            return plan, records, None
        if waiting is not None:
            approvals.request(self, flow, waiting, final, records, plan, run_id, now or self.clock.now())
        return plan, records, result

    def finish(
        self, tx: Transaction, flow: Flow, plan: Plan, records: Records, result: Result | None, run_id: str, state: RunState | None, at: datetime | None = None
    ) -> None:
        """Write what `plan` did in `tx`. `at`: the instant it was evaluated at (its run and audit entry say that time), else now."""
        now = self.clock.now().isoformat() if at is None else iso_time(at)
        if state is None:
            state = RunState(
                id=run_id, flow=flow.id, version=flow.version, actor=plan.audit["actor"], subject=plan.subject_id or plan.audit["subject"],
                subject_version=None, answers=dict(plan.audit.get("answers", {})), created=now,
            )  # fmt: skip
        state.updated = now
        if plan.status == "awaiting_approval":
            approvals.wait(self, tx, flow, plan, state, now)
            return
        if plan.status == "blocked":
            state.status = "blocked"
            tx.save_run(state.to_json())
            self.audit(tx, flow, state, "blocked", [], "", blocked_by=plan.blocked_by, at=now)
            return
        if plan.status != "completed" or result is None:
            return
        faults.point("after-recheck")
        try:
            records.flush(checked=True)  # `result` is make_plan's, whose last step asked `refused()` of these changes
        except ConflictError as exc:  # another writer got in first; the transaction rolls back
            raise RunError(f"{exc} while this run was being committed; nothing was applied. Start again to see what is true now") from exc
        state.status = "completed"
        state.answers = dict(plan.audit["answers"])
        tx.save_run(state.to_json())
        extra: dict[str, Any] = {}
        if plan.scheduled or flow.outcome.cancel:  # written with the commit, or not at all
            book = schedule.book(tx, self.storage.name)
            cancelled = schedule.cancel(book, state.subject, flow.outcome.cancel, f"cancelled by {flow.id} (run {run_id})", now)
            added = schedule.rows(plan.scheduled, flow, run_id, state.actor, state.subject, state.answers, now)
            book.add_scheduled(added)
            extra = {"scheduled": [item["id"] for item in added]} if added else {}
            if cancelled:
                extra["cancelled"] = cancelled
        if state.approval is not None:
            extra["approval"] = dict(state.approval)
        self.audit(tx, flow, state, "completed", [c.to_json() for c in result.changes], result.summary, at=now, **extra)
        self.queue(tx, run_id, run_id, flow, result.emails, now)
        faults.point("before-commit")

    def queue(self, tx: Transaction, prefix: str, run_id: str, flow: Flow, emails: list[RenderedEmail], now: str) -> None:
        """One outbox row per email and notifier, each email's id `prefix-N` (so its Message-ID is written once)."""
        sender = str(self.project.product.get("sender", DEFAULT_SENDER))
        domain = sender.rsplit("@", 1)[-1]
        rows = []
        for index, email in enumerate(emails):
            email_id = f"{prefix}-{index}"
            for notifier in self.notifiers:
                rows.append({
                    "id": f"{email_id}-{notifier}", "email_id": email_id, "message_id": f"<{email_id}@{domain}>",
                    "notifier": notifier, "status": "pending", "attempts": 0, "next_attempt": None, "error": None,
                    "run": run_id, "flow": flow.id, "created": now,
                    "email": {"from": sender, **email.to_json()},
                })  # fmt: skip
        if rows:
            tx.add_outbox(rows)

    def audit(
        self,
        tx: Transaction,
        flow: Flow,
        state: RunState,
        status: str,
        changes: list[dict[str, Any]],
        summary: str,
        blocked_by: list[dict[str, str]] | None = None,
        at: str | None = None,
        **extra: Any,
    ) -> None:
        """Append the audit entry of `state`; `at`: its time (ISO 8601), the clock's now by default."""
        entry = {
            "id": new_id(),
            "time": self.clock.now().isoformat() if at is None else at,
            "run": state.id,
            "flow": flow.id,
            "version": flow.version,
            "actor": state.actor,
            "subject": state.subject,
            "answers": dict(state.answers),
            "status": status,
            "changes": changes,
            "summary": summary,
        }
        if blocked_by:
            entry["blocked_by"] = blocked_by
        entry.update(extra)  # scheduled work: the ids scheduled or cancelled, or the item carried out and why
        tx.add_audit(entry)

    def event(self, kind: str, run: str | None, flow: str | None, actor: str | None, subject: str | None, **extra: Any) -> None:
        """Tell the observers what happened: every event has the same first fields, then its own."""
        self.registry.emit(event(kind, self.clock.now().isoformat(), run, flow, actor, subject, **extra), lambda plugin: plugin_settings(self.config, plugin))

    def after(self, plan: Plan, deliver: bool, *, one_shot: bool = False) -> None:
        if not self.registry.observed():  # no event is heard: only what follows a commit (a bulk run's subjects pay for no event)
            if plan.status == "completed":
                faults.point("after-commit")
            if deliver and plan.status in ("completed", "awaiting_approval", "rejected"):
                self.outbox().deliver()
            return
        actor, subject = plan.audit.get("actor"), plan.audit.get("subject")
        if one_shot and plan.status != "blocked":  # `apply` (the CLI's run, bulk): a run its rules let start starts and ends in one call
            self.event("started", plan.run, plan.flow, actor, subject)
        if plan.status == "completed":
            faults.point("after-commit")
            emails = [{"template": e.template, "to": list(e.to), "subject": e.subject} for e in plan.emails]
            self.event("committed", plan.run, plan.flow, actor, subject, changes=[c.to_json() for c in plan.changes], audit=dict(plan.audit), emails=emails)
            if deliver:
                self.outbox().deliver()
        elif plan.status in ("awaiting_approval", "rejected"):
            approval = {k: v for k, v in (plan.approval or {}).items() if k != "emails"}
            self.event(plan.status, plan.run, plan.flow, actor, subject, approval=approval)
            if deliver:  # the approvers' request, or the starter's answer
                self.outbox().deliver()
        elif plan.status == "blocked":
            self.event("blocked", plan.run, plan.flow, actor, subject, rules=[b["rule"] for b in plan.blocked_by])
        elif plan.status == "invalid":
            self.event("invalid", plan.run, plan.flow, actor, subject, fields=[e["field"] for e in plan.errors])
