"""The engine's Python API: availability, runs step by step, dry-runs and commits.

    engine = Engine.open("path/to/project", data="demo.yaml")
    engine.available("alice@example.com", "Acme Ltd")
    view = engine.start("some-flow", actor, subject)
    view = engine.submit(view.run, {"field": "value"})
    plan = engine.commit(view.run)

Every public method takes names as users give them (an id or another declared
key) and returns plain dataclasses with `to_json()`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pluggy

from . import outbox as outbox_module
from .collector import collector_paused
from .conditions.program import load_project
from .conditions.translations import localized, reader_tag
from .config import Config, load_config, mask_url, open_notifiers, open_storage
from .errors import ClientflowError, NotTheStarter, RunError, RunNotFound, UnknownName
from .language.model import BUILTIN_EFFECTS, Flow, Project
from .language.project import Extensions
from .plugins import Registry
from .runtime import approvals
from .runtime.context import Clock, Parties, find_parties, flow_scope, resolve, resolve_actor
from .runtime.core import FINISHED, VERSION_KEY, Runner, new_id
from .runtime.data import Records, Snapshot
from .runtime.due import LEASE_SECONDS, Carried, carry_out
from .runtime.plan import Plan
from .runtime.rulebook import Checker, Refused
from .runtime.runs import RunState, screen_of, visible, walk
from .runtime.views import Availability, FlowAvailability, RunView
from .storage import Document, IndexKey, ListingTransaction, Notifier, QuestionStorage, SchedulingTransaction, SnapshotMoved, Storage, Transaction

PAGE = 200  # subjects per read transaction in simulate_many


def _fits(flow: Flow, state: RunState) -> bool:
    """Whether a run can go on in `flow`: every screen it showed and every field it answered is still there."""
    steps = {step.id for step in flow.steps}
    return all(step in steps for step in state.shown) and all(name in flow.fields() for name in state.answers)


def _version_entry(flow: str, version: str, current: bool, kept: bool) -> dict[str, Any]:
    return {"flow": flow, "version": version, "current": current, "kept": kept, "runs": 0, "moved": 0}


def own_locale(actor: Mapping[str, Any]) -> str | None:
    """The language an actor's record says they read (its `locale`), or None."""
    locale = actor.get("locale")
    return locale if isinstance(locale, str) and locale else None


class Engine:
    """One project, one storage backend, the configured notifiers and one clock."""

    def __init__(
        self,
        project: Project,
        storage: Storage,
        *,
        clock: Clock | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        registry: Registry | None = None,
        config: Config | None = None,
    ) -> None:
        self.project = project
        self.storage = storage
        self.clock = clock or Clock()
        self.notifiers = dict(notifiers or {})
        self.registry = registry or Registry()
        self.config = config or Config(root=Path(project.root))
        self.runner = Runner(self.project, self.storage, self.clock, self.notifiers, self.registry, self.config)
        self._locales: dict[str, Engine] = {}  # this engine in another language, made once (in_locale)
        self._questions = isinstance(storage, QuestionStorage)  # a read-only question may be asked in fewer round trips

    # construction -------------------------------------------------------
    @classmethod
    def open(
        cls,
        root: str | Path = ".",
        *,
        data: str | Path | None = None,
        db: str | Path | None = None,
        storage: Storage | None = None,
        now: datetime | None = None,
        outbox: str | Path | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        env: Mapping[str, str] | None = None,
        plugins: pluggy.PluginManager | None = None,
        config: Config | None = None,
    ) -> Engine:
        """Load the project under `root` and open its storage.

        `data` loads a data file into memory (nothing persisted); `db` names a
        database (a SQLite file or a postgresql:// URL); otherwise the project's
        configuration chooses. `now` fixes the clock; `plugins` replaces the
        process's plugin manager (tests). `config`: what `load_config(root, env, db=db)`
        gave the caller already (a command that read it first), used instead of reading it again.
        """
        root = Path(root)
        # the collector paused while the project (and data file) is loaded: what is built lives as long as the engine and
        # makes few cycles, and a collection in the middle walks it, and the rest of the process's heap, again and again
        # (in process after an earlier run: about 107 -> 67 ms CPU for 2,000 records)
        with collector_paused():
            registry = Registry.collect(plugins)
            project = load_project(root, Extensions(registry.functions, registry.filters, registry.effects))
            config = load_config(root, env, db=db) if config is None else config
            if outbox is not None:
                config.notifier_settings.setdefault("outbox", {})["dir"] = str(outbox)
            if storage is None:
                storage = registry.storage("memory") if data is not None else open_storage(config, registry)
            if notifiers is None:
                notifiers = open_notifiers(config, registry)
            engine = cls(project, storage, clock=Clock(now), notifiers=notifiers, registry=registry, config=config)
            if data is not None:
                engine.load_data(data)
        return engine

    def load_data(self, path: str | Path) -> int:
        """Validate a data file (YAML, JSON or JSON Lines, the last two streamed) and write its records into storage."""
        from .runtime.loading import load_into  # the data-file loader (~1.5 ms) not for `validate`, nor `bulk` on a database

        return load_into(self.project, self.storage, Path(path))

    def outbox(self) -> outbox_module.Outbox:
        """This engine's outbox: its storage, notifiers, clock and delivery settings."""
        return self.runner.outbox()

    def in_locale(self, locale: str) -> Engine:
        """This engine (same storage, notifiers, clock), its screens shown in `locale`.

        `fr-CA` falls back to `fr`, then to the project's first locale; a locale the project
        does not declare is an UnknownName. Emails and audit lines are not affected.
        """
        known = self._locales.get(locale)
        if known is None:
            project = localized(self.project, locale)
            known = self._locales[locale] = (
                self
                if project is self.project
                else Engine(project, self.storage, clock=self.clock, notifiers=self.notifiers, registry=self.registry, config=self.config)
            )
        return known

    def actor_locale(self, actor: str) -> str | None:
        """The language the actor's record says they read (`locale`), when the project declares locales; else None."""
        if len(self.project.locales) < 2:
            return None
        with self.storage.transaction() as tx:
            try:
                record = Records(self.project, tx).find(self.project.actor_entity, actor, self.project.actor_match)
            except ClientflowError:
                return None
        return own_locale(record)

    def for_actor(self, actor: str) -> Engine:
        """This engine, its screens in the actor's own language (their record's `locale`), when the project declares locales.

        An actor who is not found is left to the run itself to report.
        """
        if len(self.project.locales) < 2:
            return self

        return self.in_locale(reader_tag(self.project, self.actor_locale(actor)))

    def close(self) -> None:
        """Release the notifiers' connections and the storage backend's connections and files."""
        self.runner.close()
        self.outbox().close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # availability -------------------------------------------------------
    def available(self, actor: str, subject: str, *, locale: Callable[[dict[str, Any]], str | None] | None = None) -> Availability:
        """Every flow, offered or not, with every failed rule's message.

        A flow that reach refuses holds that refusal alone, and the answer then
        names the subject as `subject` did; `outside_reach` is true when reach
        refuses every flow. `locale`, when given, is asked with the actor's
        record (read in the same transaction) which locale to answer in, as
        `in_locale` takes it (None: this engine's): the web API answers in the
        actor's own language without a second transaction to read it.
        """
        if self._questions:  # QuestionStorage: on PostgreSQL one round trip when one statement answers it
            try:
                return self._available(cast(QuestionStorage, self.storage).question(), actor, subject, locale)
            except SnapshotMoved:  # what it read changed before it was done: asked again, in a transaction
                pass
        return self._available(self.storage.transaction(), actor, subject, locale)

    def _available(
        self, transaction: AbstractContextManager[Transaction], actor: str, subject: str, locale: Callable[[dict[str, Any]], str | None] | None
    ) -> Availability:
        project = self.project
        with transaction as tx:
            records = Records(project, tx)
            if records.prefetches and project.actor_match and project.subject_match:  # the actor and the subject by their first keys: one question to a server
                records.prefetch([(project.actor_entity, project.actor_match[0], actor), (project.subject_entity, project.subject_match[0], subject)])
            found, held, record = find_parties(project, records, actor, subject)  # what `resolve` finds, no Parties made
            chosen = locale(found) if locale is not None else None
            runner = self.in_locale(chosen).runner if chosen else self.runner  # the same records: a localized project shares the model
            scopes, book = runner.asking()
            scope = scopes.asked_held(found, held, record, self.clock.now, records)  # as `question(resolve(...))` makes it
            flows: list[FlowAvailability] = book.evaluate(scope, subject)  # type: ignore[assignment]  # what `entry` makes
            refused = 0
            if book.each_flow_refused or (flows and type(flows[0].reasons) is Refused):  # else no flow is refused
                for flow in flows:
                    if type(flow.reasons) is Refused:
                        refused += 1
                        flow.reasons = list(flow.reasons)
            outside = refused == len(flows) if flows else runner.refusal(scope, subject) is not None
        named = subject if refused or outside else str(record.get("id"))
        return Availability(str(found.get("id")), named, flows, outside)

    # dry-run ------------------------------------------------------------
    def simulate(self, flow_id: str, actor: str, subject: str, answers: Mapping[str, Any] | None = None) -> Plan:
        """What the flow would show and do with these answers; writes nothing."""
        flow = self.project.flow(flow_id)
        with self.storage.transaction() as tx:
            plan, _, _ = self.runner.evaluate(tx, flow, actor, subject, dict(answers or {}), dry_run=True)
        return plan

    def simulate_many(
        self, flow_id: str, actor: str, subjects: Iterable[str], answers: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[str, Plan | ClientflowError]]:
        """Dry-runs of one flow for many subjects, page by page, screens not rendered (bulk).

        Yields (subject as given, plan or the error that stopped it); memory
        stays flat however many subjects there are.
        """
        flow = self.project.flow(flow_id)
        given = dict(answers or {})
        names = iter(subjects)
        while page := list(itertools.islice(names, PAGE)):
            with self.storage.transaction() as tx:
                try:
                    shared = resolve_actor(self.project, Records(self.project, tx), actor)
                except ClientflowError as exc:
                    yield from ((name, exc) for name in page)
                    continue
                now = self.clock.now()
                read: dict[tuple[str, str], Any] = {}  # what this page read and looked up, shared: nothing here writes
                looked_up: dict[tuple[str, str, str], Any] = {}
                # context values shared by the page's scopes, unless a plugin's effect is given the scope (it might change a value)
                common: dict[Any, Any] | None = {} if all(e.op in BUILTIN_EFFECTS for e in flow.outcome.effects) else None
                static: dict[str, Any] | None = None  # the actor's part of every scope of this page
                entity = self.project.subject_entity
                for name in page:
                    try:
                        records = Records(self.project, tx, read, looked_up)
                        located = records.locate(entity, "id", name)
                        if located is None:
                            subject = records.find(entity, name, self.project.subject_match)
                            located = records.locate(entity, "id", subject.get("id"))
                            assert located is not None
                        ref, subject = located
                        parties = Parties(shared.actor, subject, shared.holders)
                        if static is None:
                            static = self.runner.scopes.for_actor(shared, now, records)
                        scope = self.runner.scopes.with_subject(static, subject, records, common)
                        plan, _, _ = self.runner.make_plan(
                            flow, records, parties, ref, dict(given), dry_run=True, show=False, scope=scope, verdicts=False, named=name
                        )
                        yield name, plan
                    except ClientflowError as exc:
                        yield name, exc

    # one-shot commit ----------------------------------------------------
    def apply(
        self,
        flow_id: str,
        actor: str,
        subject: str,
        answers: Mapping[str, Any] | None = None,
        *,
        deliver: bool = True,
        once: str | None = None,
        brief: bool = False,
    ) -> Plan | None:
        """Run the flow with all answers given and commit it in one transaction.

        With `once`, a key recorded in the same transaction as the commit: when
        it is already recorded, nothing runs and None is returned (bulk resume).
        A `brief` plan, as `simulate_many` gives, has no screens drawn and lists
        only the rules that do not hold (what a bulk run reads); what is committed is the same.
        """
        flow = self.project.flow(flow_id)
        run_id = new_id()
        with self.storage.transaction(write=True) as tx:
            now = self.clock.now()  # one instant for the commit, read once it may write: its scope's `now`, its run's and its audit entry's time
            held: tuple[Document | None] | None = None
            looked: tuple[IndexKey, list[Document]] | None = None
            again = False  # whether the key is read again once the subject is locked
            if once is not None:
                ask = getattr(tx, "get_locked_with_meta", None)  # OnceTransaction: the subject (by id) and the key in one question
                collection = self.project.entities[self.project.subject_entity].collection
                # OnceLookupTransaction: and, just after it in the same round trip, the actor's first look-up (a nested record's)
                also = getattr(tx, "get_locked_with_meta_then_lookup", None)
                first: IndexKey | None = None
                if also is not None and self.project.actor_match and not self.project.entities[self.project.actor_entity].collection:
                    first = (self.project.actor_entity, self.project.actor_match[0], actor)
                if ask is not None and collection and "id" in self.project.subject_match:
                    if first is not None and also is not None:
                        document, done, documents = also(collection, subject, once, first)
                        looked = (first, documents)
                    else:
                        document, done = ask(collection, subject, once)
                    held = (document,)
                else:
                    done = tx.get_meta(once)
                    # read before the subject's lock (a cheap skip on a re-run): read again once it is held, where a
                    # writer who held it first may have recorded it (a backend whose writers overlap, docs/plugins.md)
                    again = True
                if done is not None:
                    return None
            plan, records, result = self.runner.evaluate(
                tx,
                flow,
                actor,
                subject,
                dict(answers or {}),
                dry_run=False,
                lock=True,
                run_id=run_id,
                show=not brief,
                verdicts=not brief,
                held=held,
                looked=looked,
                now=now,
            )
            if again and tx.get_meta(cast(str, once)) is not None:  # recorded by the writer it waited for: it ran, nothing runs here
                return None
            plan.run = run_id
            self.runner.finish(tx, flow, plan, records, result, run_id, None, now)
            if once is not None and plan.status in ("completed", "awaiting_approval"):
                tx.set_meta(once, run_id)
        self.runner.after(plan, deliver, one_shot=True)
        return plan

    # stepping -----------------------------------------------------------
    def start(self, flow_id: str, actor: str, subject: str, answers: Mapping[str, Any] | None = None) -> RunView:
        """Start a run: blocked with reasons, or at its first screen.

        With `answers` (even empty), the run goes as far as they allow: to the
        first screen that needs more (`needs_input`), or to `ready`.
        """
        flow = self.project.flow(flow_id)
        now = self.clock.now().isoformat()
        with self.storage.transaction(write=True) as tx:
            records = Records(self.project, tx)
            parties = resolve(self.project, records, actor, subject)
            scope = self.runner.scope(records, parties)
            state = RunState(
                id=new_id(),
                flow=flow.id,
                version=flow.version,
                actor=str(parties.actor.get("id")),
                subject=str(parties.subject.get("id")),
                subject_version=records.version(self.runner.subject_ref(records, parties)),
                created=now,
                updated=now,
            )
            failed, outside = self.runner.failed(flow, flow_scope(scope, flow, {}), subject)
            if failed:
                state.status = "blocked"
                self.runner.audit(tx, flow, state, "blocked", [], "", blocked_by=failed)
                view = RunView(state.id, flow.id, "blocked", None, blocked_by=failed, version=flow.version, outside_reach=outside)
            else:
                view = self._advance(flow, scope, state, dict(answers or {}), "view" if answers is None else "ahead")
                self.runner.keep_version(tx, flow)  # so that it finishes on this version, whatever is edited meanwhile
            tx.save_run(state.to_json())
        if failed:
            named = subject if view.outside_reach else state.subject  # out of reach: the subject as the caller named it, nothing more
            self.runner.event("blocked", state.id, flow.id, state.actor, named, rules=[f["rule"] for f in failed])
        else:
            self.runner.event("started", state.id, flow.id, state.actor, state.subject)
        return view

    def _advance(self, flow: Flow, scope: Mapping[str, Any], state: RunState, given: dict[str, Any], mode: str, runner: Runner | None = None) -> RunView:
        """`view` the current screen, submit it (`step`), or go as far as `given` allows (`ahead`), on `runner`'s project version."""
        program = (runner or self.runner).project.program
        if mode == "view":
            steps = visible(program, flow, flow_scope(scope, flow, state.answers))
            if state.cursor >= len(steps):
                state.status = "ready"
                return RunView(state.id, flow.id, "ready", None, answers=dict(state.answers), version=flow.version)
            screen = screen_of(program, steps[state.cursor], flow_scope(scope, flow, state.answers), state.answers)
            return RunView(state.id, flow.id, "open", screen, answers=dict(state.answers), version=flow.version)
        result = walk(program, flow, lambda a: flow_scope(scope, flow, a), state, given, ahead=mode == "ahead")
        state.status = "ready" if result.status == "ready" else "open"
        return RunView(
            state.id, flow.id, result.status, result.current, errors=result.errors, needs=result.needs, answers=dict(state.answers), version=flow.version
        )

    def view(self, run_id: str) -> RunView:
        """The run's current screen, without changing anything (blocked by the refusal alone once its actor is out of reach)."""
        with self.storage.transaction() as tx:
            state, flow, runner = self.runner.load_run(tx, run_id)
            if state.status in FINISHED or state.status == "awaiting_approval":  # nothing left to answer
                return RunView(state.id, state.flow, state.status, None, answers=dict(state.answers), version=state.version)
            records = Records(runner.project, tx)
            scope = runner.scope(records, runner.parties(records, state))
            return runner.outside(flow, scope, state) or self._advance(flow, scope, state, {}, "view", runner)

    def submit(self, run_id: str, answers: Mapping[str, Any], *, ahead: bool = False) -> RunView:
        """Answer the current screen and move to the next; with `ahead`, answer several and go as far as they allow.

        An invalid answer changes nothing: the run stays on the screen at fault;
        nor does an actor out of reach, who is answered with the refusal alone.
        """
        with self.storage.transaction(write=True) as tx:
            state, flow, runner = self.runner.load_run(tx, run_id, open_only=True)
            if state.status == "ready":
                raise RunError(f"run {run_id} has answered every screen; commit it, go back, or cancel it")
            records = Records(runner.project, tx)
            scope = runner.scope(records, runner.parties(records, state))
            outside = runner.outside(flow, scope, state)
            if outside is not None:
                return outside
            view = self._advance(flow, scope, state, dict(answers), "ahead" if ahead else "step", runner)
            if view.status == "invalid":
                return view
            state.updated = self.clock.now().isoformat()
            tx.save_run(state.to_json())
        runner.event("answered", run_id, flow.id, state.actor, state.subject, fields=sorted(answers))
        return view

    def back(self, run_id: str) -> RunView:
        """Return to the previous screen; the answers given so far are kept (out of reach: the refusal, nothing changed)."""
        with self.storage.transaction(write=True) as tx:
            state, flow, runner = self.runner.load_run(tx, run_id, open_only=True)
            records = Records(runner.project, tx)
            scope = runner.scope(records, runner.parties(records, state))
            outside = runner.outside(flow, scope, state)
            if outside is not None:
                return outside
            state.cursor = max(0, state.cursor - 1)
            view = self._advance(flow, scope, state, {}, "view", runner)
            state.status = "open" if view.screen else "ready"
            state.updated = self.clock.now().isoformat()
            tx.save_run(state.to_json())
        return view

    def cancel(self, run_id: str) -> RunView:
        """Abandon the run; the attempt is recorded in the audit log."""
        with self.storage.transaction(write=True) as tx:
            state, flow, runner = self.runner.load_run(tx, run_id, open_only=True)
            state.status = "cancelled"
            state.updated = self.clock.now().isoformat()
            tx.save_run(state.to_json())
            runner.audit(tx, flow, state, "cancelled", [], "")
        runner.event("cancelled", run_id, flow.id, state.actor, state.subject)
        return RunView(run_id, flow.id, "cancelled", None, answers=dict(state.answers), version=state.version)

    def run_for(self, run_id: str, actor: str) -> dict[str, Any]:
        """The stored run `run_id` (its JSON document) as `actor`, an actor's id, may be told of it: the run they started.

        A run started by another is `NotTheStarter` when its subject is within `actor`'s reach; outside
        that reach (or its subject gone), whatever the run's status, it is `RunNotFound`, word for word
        as for a run that does not exist, so that nothing tells the outsider it is there.
        """
        with self.storage.transaction() as tx:
            data = tx.load_run(run_id)
            if data is None:
                raise RunNotFound(run_id)
            if str(data.get("actor")) == actor:
                return data
            try:
                hidden = approvals.visit(self.runner, tx, run_id, actor).hidden
            except RunError:  # its flow changed and that version is not kept; reach, checked with today's flow, holds
                hidden = False
        if hidden:
            raise RunNotFound(run_id)
        raise NotTheStarter(run_id)

    def plan(self, run_id: str) -> Plan:
        """A dry-run of the run with the answers it has so far; writes nothing.

        A cancelled run's plan says so, as the command line's does: status `cancelled`, nothing it would change or send.
        """
        with self.storage.transaction() as tx:
            state, flow, runner = self.runner.load_run(tx, run_id)
            try:
                plan, _, _ = runner.evaluate(tx, flow, state.actor, state.subject, dict(state.answers), dry_run=True, by_id=True)
            except UnknownName as exc:  # the subject (or the actor) was deleted meanwhile
                plan = runner.vanished(flow, state, exc)
        plan.run = run_id
        if state.status == "cancelled":
            plan.status, plan.approval = "cancelled", None
            plan.changes, plan.emails, plan.banners, plan.scheduled, plan.needs, plan.errors, plan.blocked_by = [], [], [], [], [], [], []
        return plan

    def commit(self, run_id: str, *, deliver: bool = True) -> Plan:
        """Commit a run whose screens are all answered, re-checking every rule on fresh data.

        A run whose records changed or vanished since it started comes back
        blocked (the rule at fault, or `unchanged-since-start`), having
        changed nothing but the run's status and the audit log.
        """
        with self.storage.transaction(write=True) as tx:
            state, flow, runner = self.runner.load_run(tx, run_id, open_only=True)
            if state.status != "ready":
                raise RunError(f"run {run_id} is still on a screen; submit every screen before committing")
            try:
                plan, records, result = runner.evaluate(
                    tx,
                    flow,
                    state.actor,
                    state.subject,
                    dict(state.answers),
                    dry_run=False,
                    lock=True,
                    expect_version=state.subject_version,
                    by_id=True,
                    run_id=run_id,
                )
            except UnknownName as exc:  # the subject (or the actor) was deleted meanwhile
                plan, records, result = runner.vanished(flow, state, exc), Records(runner.project, tx), None
            runner.load_run(tx, run_id, open_only=True)  # read again under the subject's lock: another process may have committed this run meanwhile
            plan.run = run_id
            if plan.status == "needs_input":
                raise RunError(f"run {run_id} still waits for {', '.join(n['field'] for n in plan.needs)}; answer every screen before committing")
            runner.finish(tx, flow, plan, records, result, run_id, state)
        runner.after(plan, deliver)
        return plan

    # approvals ----------------------------------------------------------
    def approve(self, run_id: str, actor: str, *, reason: str | None = None, deliver: bool = True) -> Plan:
        """Approve a run awaiting approval, as `actor`: it commits, every rule checked again on what is then stored.

        `actor` must be named by the approval step's `approvers` rules and not the actor who
        started the run; otherwise the plan comes back blocked and nothing is decided. Outside
        reach of the run's subject, whatever the run's status, `RunNotFound` is raised, word for
        word as for a run that does not exist.
        """
        plan, runner = approvals.decide(self.runner, run_id, actor, reject=False, reason=reason)
        runner.after(plan, deliver)
        return plan

    def reject(self, run_id: str, actor: str, reason: str, *, deliver: bool = True) -> Plan:
        """Reject a run awaiting approval, as `actor`, saying why (the starter is told); nothing of it is applied.

        Refused as `approve` is: outside reach of the run's subject, `RunNotFound`, as for a run that does not exist.
        """
        plan, runner = approvals.decide(self.runner, run_id, actor, reject=True, reason=reason)
        runner.after(plan, deliver)
        return plan

    def approvals(self, actor: str) -> list[dict[str, Any]]:
        """The runs awaiting a decision `actor` may make (never the runs they started), the soonest to expire first."""
        return approvals.offered(self.runner, actor)

    def approval(self, run_id: str, actor: str) -> Plan:
        """What `actor` sees before deciding a run awaiting approval: its plan as it would commit now, or the refusal.

        Outside reach of the run's subject: `RunNotFound`, as for a run that does not exist.
        """
        return approvals.shown(self.runner, run_id, actor)

    # versions -----------------------------------------------------------
    def versions(self, *, migrate: bool = False) -> list[dict[str, Any]]:
        """The flow versions runs in flight are on: each with its count, whether it is current, whether it is kept.

        With `migrate`, each run on an earlier version whose flow still has every screen it
        showed and every field it answered moves to the current version (the others stay,
        and finish on their own); `moved` counts them. Needs a backend that lists its runs.
        """
        found: dict[tuple[str, str], dict[str, Any]] = {}
        after: str | None = None
        while True:
            with self.storage.transaction(write=migrate) as tx:
                if not isinstance(tx, ListingTransaction):
                    raise ClientflowError("this storage backend cannot list its runs, so the versions they are on cannot be told")
                page = list(tx.runs(after=after, limit=500))
                for data in page:
                    state = RunState.from_json(data)
                    if state.status in FINISHED:
                        continue
                    flow = self.project.flows.get(state.flow)
                    current = flow is not None and flow.version == state.version
                    if migrate and not current and flow is not None and _fits(flow, state):
                        state.version, state.updated = flow.version, self.clock.now().isoformat()
                        tx.save_run(state.to_json())
                        entry = found.setdefault((state.flow, flow.version), _version_entry(state.flow, flow.version, True, True))
                        entry["runs"] += 1
                        entry["moved"] += 1
                        continue
                    kept = current or tx.get_meta(VERSION_KEY + state.version) is not None
                    entry = found.setdefault((state.flow, state.version), _version_entry(state.flow, state.version, current, kept))
                    entry["runs"] += 1
            if len(page) < 500:
                break
            after = page[-1]["id"]
        return sorted(found.values(), key=lambda e: (e["flow"], not e["current"], e["version"]))

    # scheduled work -----------------------------------------------------
    def scheduled(self, *, subject: str | None = None, flow: str | None = None, at: datetime | None = None) -> list[dict[str, Any]]:
        """The pending scheduled work, soonest first, as `clientflow scheduled --format json` lists it.

        Each item: {"id", "at", "flow", "subject", "kind", "what", "unless", "run", "actor",
        "created", "due" (due at `at`, default the clock), "claimed"}. `subject` is its id;
        an unknown `flow` is an UnknownName. RunError when the storage keeps no scheduled work.
        """
        if flow is not None:
            self.project.flow(flow)  # an unknown flow is an error with a did-you-mean, not an empty list
        with self.storage.transaction() as tx:
            if not isinstance(tx, SchedulingTransaction):
                raise RunError(f"the {self.storage.name} storage keeps no scheduled work; use sqlite or postgresql")
            items = tx.scheduled(status="pending", subject=subject, flow=flow)
        moment = (at or self.clock.now()).astimezone(UTC).isoformat()
        return [
            {
                "id": item["id"],
                "at": item["due"],
                "flow": item["flow"],
                "subject": item["subject"],
                "kind": item["kind"],
                "what": item["what"],
                "unless": item.get("unless"),
                "run": item["run"],
                "actor": item["actor"],
                "created": item.get("created"),
                "due": item["due"] <= moment,  # due at `at`: the next `clientflow worker --once` carries it out
                "claimed": bool(item.get("lease")) and item["lease"] > moment,
            }
            for item in items
        ]

    def carry_out(self, at: datetime | None = None, *, limit: int | None = None, lease_seconds: float = LEASE_SECONDS) -> Carried:
        """Carry out the scheduled work due at `at` (default: the clock), as `clientflow worker --once` does; emails go to the outbox.

        The parts of one run due at one time are carried out together, in one transaction, after
        every rule of their flow and each part's `unless` are checked again on what is then stored.
        """
        if at is None:
            return carry_out(self.runner, limit=limit, lease_seconds=lease_seconds)
        held, self.clock.fixed = self.clock.fixed, at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        try:
            return carry_out(self.runner, limit=limit, lease_seconds=lease_seconds)
        finally:
            self.clock.fixed = held

    # delivery -----------------------------------------------------------
    def deliver(self, limit: int | None = None, *, stop: Callable[[], bool] | None = None) -> outbox_module.Delivery:
        """Hand due outbox messages to the notifiers; `stop`, asked before each, ends the pass (the rest stay queued)."""
        return self.outbox().deliver(limit=limit, stop=stop)

    def checker(self, data: Mapping[str, Any] | None = None) -> Checker:
        """The availability hot path: `checker(actor, subject)` over an in-memory snapshot.

        `data` is in the data-file format; without it, the storage is read once.
        The answer equals `available(...).to_json()["flows"]` for the same data.
        """
        snapshot = Snapshot(self.project, data if data is not None else self.export())
        return Checker(self.project, self.runner.rulebook(), snapshot, self.runner.scopes, self.clock.now)

    def export(self) -> dict[str, list[dict[str, Any]]]:
        """Every top-level record, by collection, in the data-file format."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.storage.transaction() as tx:
            for entity in self.project.entities.values():
                if entity.collection:
                    out[entity.collection] = [doc.body for doc in tx.scan(entity.collection)]
        return out

    def is_empty(self) -> bool:
        """Whether storage holds no record of the project's collections, no audit entry and no queued email."""
        with self.storage.transaction() as tx:
            for entity in self.project.entities.values():
                if entity.collection and next(iter(tx.scan(entity.collection, limit=1)), None) is not None:
                    return False
            return not tx.audit(limit=1) and not tx.outbox(limit=1)

    def replace_data(self, path: str | Path, *, force: bool = False) -> int:
        """Load a data file into storage that must be empty, or (with `force`) is emptied first; all or nothing.

        A backend that keeps nothing, or cannot be emptied, is refused rather than half-replaced
        (the one loader: engine/runtime/loading.py, what `clientflow init` runs).
        """
        from .runtime.loading import replace_data  # the data-file loader (~1.5 ms) not for `validate`, nor `bulk` on a database

        return replace_data(self.project, self.storage, Path(path), force=force, where=self.storage_description())

    def storage_description(self) -> str:
        """Where the records live, for messages: the backend and its file or URL (passwords masked)."""
        settings = self.config.storage_settings if self.storage.name == self.config.storage else {}
        place = settings.get("path") or settings.get("url") or settings.get("dsn")
        within = f", schema {settings['schema']}" if place and settings.get("schema") else ""  # one database holds many
        return f"the {self.storage.name} database at {mask_url(str(place))}{within}" if place else f"the {self.storage.name} storage"

    def audit_log(self) -> list[dict[str, Any]]:
        with self.storage.transaction() as tx:
            return tx.audit()


__all__ = ["Engine", "Availability", "FlowAvailability", "RunView", "ClientflowError"]
