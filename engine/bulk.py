"""Bulk runs: one flow for many subjects, each on its own, memory flat.

Subjects come from a list of names or from a condition over every subject,
read page by page in short transactions. A dry-run evaluates each against
storage and keeps only counts; a real run commits each subject in its own
transaction, recording a resume key with the commit so that running the same
bulk again skips what already committed. A stop request (Ctrl-C) is honoured
between two subjects.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .api import Engine
from .conditions.expressions import CompileError, Compiler, DataFunction
from .conditions.program import program_of
from .errors import ClientflowError, ExitCode, ExpressionError
from .language.words import Moment
from .plain import mutable
from .runtime.data import Records
from .runtime.plan import Plan
from .storage import IdScanningTransaction

PAGE = 500
NAMED = 5  # the subjects the text summary names under each rule that blocked them (the report lists every one)


@dataclass
class Item:
    """The outcome for one subject, as the report writes it."""

    subject: str
    status: str  # completed | blocked | invalid | needs_input | awaiting_approval | skipped | error
    rules: list[str] = field(default_factory=list)
    message: str = ""
    run: str | None = None
    changes: int = 0
    emails: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject, "status": self.status, "rules": self.rules, "message": self.message,
            "run": self.run, "changes": self.changes, "emails": self.emails,
        }  # fmt: skip


@mutable
class Summary:
    flow: str
    dry_run: bool
    total: int = 0
    completed: int = 0
    blocked: int = 0
    invalid: int = 0
    needs_input: int = 0
    awaiting_approval: int = 0  # stored, waiting for someone else to approve each
    skipped: int = 0
    errors: int = 0
    blocked_by: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    blocked_subjects: dict[str, list[str]] = field(default_factory=dict)  # the first NAMED subjects each rule blocked
    errored: list[tuple[str, str]] = field(default_factory=list)  # the first NAMED subjects that met an error, with it
    emails_waiting: int = 0  # told after a stop: emails left in the outbox for `clientflow worker` or the next run

    def add(self, item: Item) -> None:
        self.total += 1
        if item.status == "blocked":
            for rule in item.rules:
                self.blocked_by[rule] += 1  # as Counter.update counts a list (without its check that the list is no mapping)
                named = self.blocked_subjects.setdefault(rule, [])
                if len(named) < NAMED:
                    named.append(item.subject)
        if item.status == "error":
            self.errors += 1
            if len(self.errored) < NAMED:
                self.errored.append((item.subject, item.message))
        else:
            setattr(self, item.status, getattr(self, item.status) + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow, "dry_run": self.dry_run, "total": self.total, "completed": self.completed,
            "blocked": self.blocked, "invalid": self.invalid, "needs_input": self.needs_input,
            "skipped": self.skipped, "errors": self.errors, "blocked_by": dict(sorted(self.blocked_by.items())),
            "interrupted": self.interrupted,
        } | ({"awaiting_approval": self.awaiting_approval} if self.awaiting_approval else {}) | (
            {"emails_waiting": self.emails_waiting} if self.emails_waiting else {}
        )  # fmt: skip

    @property
    def exit_code(self) -> int:
        """0 when every subject completed (or had already), else 4 invalid, 5 needs input, 3 blocked, 1 error."""
        worst = ((self.errors, ExitCode.ERROR), (self.invalid, ExitCode.INVALID), (self.needs_input, ExitCode.NEEDS_INPUT), (self.blocked, ExitCode.BLOCKED))
        for count, code in worst:
            if count:
                return int(code)
        return int(ExitCode.INTERRUPTED if self.interrupted else ExitCode.OK)


def job_key(flow: str, actor: str, selection: str, answers: Mapping[str, Any]) -> str:
    """What identifies "the same bulk run" for resuming it."""
    text = json.dumps([flow, actor, selection, dict(answers)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def where_subjects(engine: Engine, condition: str) -> Iterator[str]:
    """Ids of every subject for which `condition` holds, read page by page."""
    project = engine.project
    entity = project.entities[project.subject_entity]
    if not entity.collection:
        raise ClientflowError(f"{entity.name} records live inside others and cannot be listed")
    try:
        expression = _compile_where(engine, condition)
    except CompileError as exc:
        raise ClientflowError(f"--where: {exc}") from exc
    base: dict[str, Any] = {"product": project.product, "now": Moment(engine.clock.now())}
    base.update({name: DataFunction(name, fn) for name, fn in engine.registry.functions.items()})
    blind = project.subject_entity not in expression.names  # a condition such as `true`: the ids alone, no document read for it
    after: str | None = None
    while True:
        with engine.storage.transaction() as tx:
            page: list[tuple[str, dict[str, Any] | None]]
            if blind and isinstance(tx, IdScanningTransaction):
                page = [(id, None) for id in tx.scan_ids(entity.collection, after=after, limit=PAGE)]
            else:
                page = [(doc.id, doc.body) for doc in tx.scan(entity.collection, after=after, limit=PAGE)]
            scope = {**base, "lookup": DataFunction("lookup", Records(project, tx).get)}
            matched = []
            for id, body in page:
                scope[project.subject_entity] = body
                try:
                    if expression(scope):
                        matched.append(id)
                except ExpressionError as exc:
                    raise ClientflowError(f"--where failed on {id}: {exc}") from exc
        yield from matched
        if len(page) < PAGE:
            return
        after = page[-1][0]


def _compile_where(engine: Engine, condition: str) -> Any:

    names = {engine.project.subject_entity, "product", "now", "lookup", *engine.registry.functions}
    compiler = Compiler(["lookup", *engine.registry.functions], engine.registry.filters)  # all() is for pick-lists, not for --where
    compiled = compiler.compile(condition, names)
    for _, _, message in program_of(engine.project).field_problems(condition)[:1]:  # a misspelled field, before any record is read
        raise CompileError(message)
    return compiled


def item_of(subject: str, plan: Plan | None) -> Item:
    if plan is None:
        return Item(subject, "skipped", message="already committed by an earlier run of this bulk")
    item = Item(subject, plan.status, run=plan.run, changes=len(plan.changes), emails=len(plan.emails))
    if plan.status == "blocked":
        item.rules = [b["rule"] for b in plan.blocked_by]
        item.message = "; ".join(b["message"] for b in plan.blocked_by)
    elif plan.status == "invalid":
        item.rules = [e["field"] for e in plan.errors]
        item.message = "; ".join(e["message"] for e in plan.errors)
    elif plan.status == "needs_input":
        item.rules = [n["field"] for n in plan.needs]
        item.message = "needs " + ", ".join(n["field"] for n in plan.needs)
    return item


def run_one(engine: Engine, flow: str, actor: str, subject: str, answers: Mapping[str, Any], *, dry_run: bool, key: str) -> Item:
    """One subject of a bulk run; an engine error becomes an item, never an exception."""
    try:
        if dry_run:
            plan: Plan | None = engine.simulate(flow, actor, subject, answers)
        else:
            plan = engine.apply(flow, actor, subject, answers, deliver=False, once=f"bulk:{key}:{subject}", brief=True)  # as the dry-run plans it
        return item_of(subject, plan)
    except ClientflowError as exc:
        return Item(subject, "error", message=str(exc))


class Spread(Protocol):
    """Runs subjects in other processes and yields their items (parallel.spreader makes one)."""

    def __call__(
        self, flow: str, actor: str, subjects: Iterable[str], answers: Mapping[str, Any], *, dry_run: bool, key: str, should_stop: Callable[[], bool] | None
    ) -> Iterator[Item]: ...


def run_bulk(
    engine: Engine,
    flow: str,
    actor: str,
    subjects: Iterable[str],
    answers: Mapping[str, Any],
    *,
    dry_run: bool,
    selection: str,
    on_item: Callable[[Item], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    spread: Spread | None = None,
) -> Summary:
    """Run `flow` for every subject; never lets one subject's failure stop another.

    `spread` (e.g. `parallel.spreader(opener, workers)`) hands the subjects to
    other processes sharing the database; the result equals a one-process run.
    """
    engine.project.flow(flow)  # an unknown flow fails before anything runs
    summary = Summary(flow, dry_run)
    key = job_key(flow, actor, selection, answers)
    if spread is not None:
        items: Iterable[Item] = spread(flow, actor, subjects, answers, dry_run=dry_run, key=key, should_stop=should_stop)
    else:
        items = _one_by_one(engine, flow, actor, subjects, answers, dry_run, key, should_stop, summary)
    for item in items:
        summary.add(item)
        if on_item is not None:
            on_item(item)
    if should_stop is not None and should_stop():
        summary.interrupted = True
    if not dry_run and (summary.completed or summary.skipped):
        # skipped: an earlier run of this bulk committed them, and may have been stopped before their emails went out
        engine.deliver(stop=should_stop)  # a stop request ends delivery too: what is left stays queued, never half-sent
        if should_stop is not None and should_stop():
            summary.interrupted = True
            summary.emails_waiting = _waiting(engine)
    return summary


def _waiting(engine: Engine) -> int:
    """Emails still queued (pending, or claimed by a sender), as the operator is told after a stop."""
    with engine.storage.transaction() as tx:
        return len(tx.outbox(status="pending")) + len(tx.outbox(status="sending"))


def _one_by_one(
    engine: Engine, flow: str, actor: str, subjects: Iterable[str], answers: Mapping[str, Any],
    dry_run: bool, key: str, should_stop: Callable[[], bool] | None, summary: Summary,
) -> Iterator[Item]:  # fmt: skip
    def wanted() -> Iterator[str]:
        for subject in subjects:
            if should_stop is not None and should_stop():
                summary.interrupted = True
                return
            yield subject

    if dry_run:  # read page by page, screens not drawn
        for subject, outcome in engine.simulate_many(flow, actor, wanted(), answers):
            yield Item(subject, "error", message=str(outcome)) if isinstance(outcome, ClientflowError) else item_of(subject, outcome)
        return
    for subject in wanted():
        yield run_one(engine, flow, actor, subject, answers, dry_run=False, key=key)
