"""The names conditions and templates see, built once per actor and subject.

A scope holds the actor, the actor's own holding records (under the names the
project chose), the subject under its entity's name, the project's context
names, `answers`, `now`, `product`, `flow` and the data functions such as
`lookup(entity, id)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ..conditions.expressions import FAILURES, DataFunction, Expression, built_in_only, failure
from ..conditions.lazy import LazyScope
from ..conditions.program import program_of
from ..errors import ExpressionError, did_you_mean
from ..language.code import Expr
from ..language.model import APPROVAL_NAMES, Flow, Project, codes
from ..language.words import MAX_ALL, OUTSIDER_NAMES, Moment, subject_words

_moments: dict[datetime, Moment] = {}
_ABSENT = object()  # a name a scope does not hold (with_subject)


def _moment(now: datetime) -> Moment:
    """One Moment per instant: scopes built in the same instant (a bulk page, a fixed clock) share it."""
    moment = _moments.get(now)
    if moment is None:
        if len(_moments) > 64:
            _moments.clear()
        moment = _moments[now] = Moment(now)
    return moment


def iso_time(now: datetime) -> str:
    """`now.isoformat()`, as the scope's `now` of that instant says it (`now.iso`): written once for a commit's scope, run and audit entry."""
    return str(_moment(now)["iso"])


class Clock:
    """The one source of time: fixed with `--now`, the system's otherwise."""

    def __init__(self, fixed: datetime | None = None) -> None:
        if fixed is not None and fixed.tzinfo is None:
            fixed = fixed.replace(tzinfo=UTC)
        self.fixed = fixed

    def now(self) -> datetime:
        return self.fixed or datetime.now(UTC)


@dataclass(slots=True)
class Parties:
    """Who acts on what: the resolved actor and subject records."""

    actor: dict[str, Any]
    subject: dict[str, Any]
    holders: dict[str, dict[str, Any] | None]


def resolve(project: Project, records: Reader, actor: str, subject: str, *, by_id: bool = False) -> Parties:
    """Find the actor and subject by any of their match keys, or by id only (UnknownName otherwise)."""
    parties = resolve_actor(project, records, actor, by_id=by_id)
    parties.subject = records.find(project.subject_entity, subject, ("id",) if by_id else project.subject_match)
    return parties


def find_parties(project: Project, records: Reader, actor: str, subject: str) -> tuple[dict[str, Any], tuple[str, dict[str, Any]] | None, dict[str, Any]]:
    """What `resolve` finds, as it finds it: the actor, the entity and record holding it (`find_held`'s, or None), the subject.

    A question's (Engine.available): `Scopes.asked_held` takes them as they are, so no `Parties`
    and no holders dict are made for it; the same look-ups, in the same order, the same UnknownName.
    """
    found, held = records.find_held(project.actor_entity, actor, project.actor_match)
    return found, held, records.find(project.subject_entity, subject, project.subject_match)


def resolve_actor(project: Project, records: Reader, actor: str, *, by_id: bool = False) -> Parties:
    """The actor and the records holding it; the subject is left empty."""
    actor_record, held = records.find_held(project.actor_entity, actor, ("id",) if by_id else project.actor_match)
    holders: dict[str, dict[str, Any] | None] = dict.fromkeys(project.actor_within.values())
    if held and held[0] in project.actor_within:
        holders[project.actor_within[held[0]]] = held[1]
    return Parties(actor_record, {}, holders)


class Reader(Protocol):
    """What parties and scopes read records through: `Records` (a storage transaction) or `Snapshot` (in memory)."""

    def get(self, entity: str, id: Any) -> dict[str, Any] | None: ...

    def find(self, entity: str, given: str, keys: Iterable[str]) -> dict[str, Any]: ...

    def holder(self, entity_name: str, id: str) -> tuple[str, dict[str, Any]] | None: ...

    def find_held(self, entity: str, given: str, keys: Iterable[str]) -> tuple[dict[str, Any], tuple[str, dict[str, Any]] | None]: ...

    def all(self, entity: str, limit: int) -> list[dict[str, Any]]: ...


class Scopes:
    """The one scope builder: what conditions and texts see for an actor and a subject.

    Built once per engine (the data functions wrapped once); `build` gives a
    whole scope, `for_actor` and `with_subject` the same in two halves, for bulk
    runs that share the actor's part across a page of subjects.
    """

    def __init__(self, project: Project, functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.project = project
        self.base: dict[str, Any] = {"product": project.product, "answers": {}, "flow": {}, "approval": dict.fromkeys(APPROVAL_NAMES)}
        for name, fn in (functions or {}).items():
            self.base[name] = fn if isinstance(fn, DataFunction) else DataFunction(name, fn)
        program = program_of(project)
        self.context = tuple((name, program.expression(code)) for name, code in project.context.items())
        self.subject = project.subject_entity
        # context names whose value depends only on the scope values they name, none of them the subject or a function
        # (such as a value read from a record the subject names): a page of subjects may share each value (`with_subject`)
        calls = {"lookup", "all", *(name for name, value in self.base.items() if isinstance(value, DataFunction))}
        self.shared = {
            name: tuple(sorted(expression.names))
            for name, expression in self.context
            if self.subject not in expression.names and not expression.names & calls and built_in_only(expression)
        }
        self.steps = tuple((name, expression, self.shared.get(name)) for name, expression in self.context)  # with_subject's, in order
        self.lists = any(isinstance(code, Expr) and "all" in program.uses(code).names for code in codes(project))  # all(entity) is called
        self.within = dict(project.actor_within)  # the actor's holders: the scope name of each entity that may hold it
        self.no_holders = dict.fromkeys(self.within.values())  # each of them None, as resolve_actor starts its holders (asked_held)
        self.reach: Callable[[dict[str, Any], str], bool] | None = None  # whether the actor may reach a subject (set by the Runner)
        # what a question's scope computes when first read: `now` and `lookup` from its source (reader, clock), then the context names
        self.later: dict[str, Callable[[LazyScope], Any]] = {"now": _now, "lookup": _lookup}
        self.later.update(self.context)
        # over a reader that is only a function (a checker's snapshot), no `all`, as `_readers` gives none
        self.later_listing = {"all": self._lister, **self.later} if self.lists else self.later

    def for_actor(self, parties: Parties, now: datetime | None, lookup: Reader | DataFunction) -> dict[str, Any]:
        """Everything but the subject and the context names (`now` left out when None: nothing reads it)."""
        scope = dict(self.base)
        scope["actor"] = parties.actor
        scope.update(parties.holders)
        if now is not None:
            scope["now"] = _moment(now)
        self._readers(scope, lookup)
        return scope

    def _readers(self, scope: dict[str, Any], reader: Reader | DataFunction, *, apart: bool = False) -> dict[str, Any]:
        """`lookup(entity, id)`, and (when a flow lists records) `all(entity)`, reading through `reader`; returns `scope`.

        `apart` (the scopes of `with_subject` and `build`, which nobody changes after it, but for the subject and the
        context names that `_all` computes afresh): `all` reads a copy of the scope's names as they are now, itself put
        back in when it is called, instead of the scope itself, so the scope and its `all` make no reference cycle. Each
        bulk subject's scope, and what it read, is then freed when done with, not left to the collector (2,000 subjects:
        about 30 ms of its time in a dry-run; a commit's scope, its Records, transaction and documents, about 30
        objects a subject, were kept in such a cycle until a collection).
        """
        scope["lookup"] = reader if isinstance(reader, DataFunction) else DataFunction("lookup", reader.get)
        if self.lists and not isinstance(reader, DataFunction):
            if apart:
                names = dict(scope)
                scope["all"] = DataFunction("all", lambda entity: self._all(reader, self._readers(dict(names), reader, apart=True), entity))
            else:
                scope["all"] = DataFunction("all", lambda entity: self._all(reader, scope, entity))
        return scope

    def _all(self, reader: Reader, scope: Mapping[str, Any], entity: Any) -> list[dict[str, Any]]:
        """Every record of `entity`, up to MAX_ALL; of the subject's entity, only those the actor may reach."""
        if not isinstance(entity, str) or entity not in self.project.entities:
            raise ExpressionError(f"all: unknown entity {entity!r}{did_you_mean(str(entity), self.project.entities)}")
        records = reader.all(entity, MAX_ALL + 1)
        if len(records) > MAX_ALL:
            raise ExpressionError(
                f"all({entity!r}) holds more than {MAX_ALL:,} records: too many to choose from; list a narrower set, such as a record's own list"
            )
        if entity == self.subject and self.reach is not None:
            reach = self.reach
            if isinstance(scope, LazyScope):  # each record's scope is built from the actor's names, every one computed
                scope = scope.complete()
            kept = []
            for record in records:
                try:
                    if reach(self.with_subject(scope, record), str(record.get("id"))):
                        kept.append(record)
                except ExpressionError:  # a record whose reach cannot be checked is not offered
                    continue
            records = kept
        return records

    def with_subject(
        self, actor_scope: Mapping[str, Any], subject: dict[str, Any], lookup: Reader | DataFunction | None = None, shared: dict[Any, Any] | None = None
    ) -> dict[str, Any]:
        """`actor_scope` with the subject and the context names computed for it (`lookup` replaces the actor's).

        `shared`: what the scopes of one read-only page of subjects computed (the caller keeps it for the page only,
        where nothing changes what was read, and nothing changes a value of a scope): a context name in
        `self.shared` reading the very same values again has the same value, computed once.
        """
        scope = dict(actor_scope)
        scope[self.subject] = subject
        if lookup is not None:
            self._readers(scope, lookup, apart=True)
        if shared is None:
            for name, compiled in self.context:
                scope[name] = compiled(scope)
            return scope
        return self._named(scope, shared)

    def _named(self, scope: dict[str, Any], shared: dict[Any, Any]) -> dict[str, Any]:
        """`scope` with the context names, each in `self.shared` computed once for the very values it reads (kept in `shared`)."""
        absent = _ABSENT
        # each name's generated function called directly, its failure told as `Expression.__call__` tells it (a frame
        # fewer for each name of each subject of a bulk run)
        expression: Expression | None = None
        try:
            for name, expression, reads in self.steps:
                if reads is None:
                    scope[name] = expression.function(scope)
                elif len(reads) == 1:  # most shared names read one value (a record the subject names): no tuple to build
                    value = scope.get(reads[0], absent)
                    if value is absent:
                        scope[name] = expression.function(scope)
                        continue
                    key = (name, id(value))
                    held = shared.get(key)  # the value is kept with it: an id is not reused while it is held
                    if held is None or held[0] is not value:
                        held = shared[key] = (value, expression.function(scope))
                    scope[name] = held[1]
                else:
                    values = tuple(scope.get(read, absent) for read in reads)
                    if any(v is absent for v in values):
                        scope[name] = expression.function(scope)
                        continue
                    keyed = (name, *map(id, values))
                    held = shared.get(keyed)
                    if held is None or any(a is not b for a, b in zip(held[0], values, strict=True)):
                        held = shared[keyed] = (values, expression.function(scope))
                    scope[name] = held[1]
        except FAILURES as exc:
            assert expression is not None
            raise ExpressionError(failure(expression.source, exc)) from exc
        return scope

    def question(self, parties: Parties, now: Callable[[], datetime], reader: Reader | DataFunction) -> LazyScope:
        """The scope of one availability question: what `build` gives, but `now`, `all` and the context names computed when first read.

        Only what the rules and the failed rules' messages read is computed, once each:
        a context name no rule reads costs nothing, and one that cannot be computed
        makes the rules that read it "could not be checked" (the flows they guard are not offered).
        """
        return self.asked(parties.actor, parties.holders, parties.subject, now, reader)

    def asked(
        self, actor: dict[str, Any], holders: Mapping[str, Any], subject: dict[str, Any], now: Callable[[], datetime], reader: Reader | DataFunction
    ) -> LazyScope:
        """`question`'s scope from its parts: the actor, the records holding it (by the names the project gave them), the subject."""
        scope = _new(LazyScope)  # LazyScope(self.base, later, (reader, now)), without the call of its __init__ (a question's every time)
        scope.update(self.base)
        if isinstance(reader, DataFunction):
            scope.later = self.later
            scope["lookup"] = reader
        else:
            scope.later = self.later_listing
            scope["lookup"] = DataFunction("lookup", reader.get)  # cheaper made than computed later
        scope.source = (reader, now)
        scope["actor"] = actor
        scope.update(holders)
        scope[self.subject] = subject
        return scope

    def actor_part(self, actor: dict[str, Any], holders: Mapping[str, Any], lookup: DataFunction) -> dict[str, Any]:
        """What `asked` puts in a question's scope before the subject, as a plain dict: made once for an actor asked
        again and again (`Engine.checker`), then given to `asked_part` with each subject."""
        part = dict(self.base)
        part["lookup"] = lookup
        part["actor"] = actor
        part.update(holders)
        return part

    def asked_part(self, part: dict[str, Any], subject: dict[str, Any], source: tuple[DataFunction, Callable[[], datetime]]) -> LazyScope:
        """`asked(actor, holders, subject, now, lookup)`'s scope from `actor_part(actor, holders, lookup)` and `source`,
        `(lookup, now)`: the same names in the same order, the actor's copied at once rather than one by one."""
        scope = _new(LazyScope)
        scope.update(part)
        scope.later = self.later
        scope.source = source
        scope[self.subject] = subject
        return scope

    def asked_held(
        self, actor: dict[str, Any], held: tuple[str, dict[str, Any]] | None, subject: dict[str, Any], now: Callable[[], datetime], reader: Reader
    ) -> LazyScope:
        """`asked`'s scope, the actor's holders given as `find_held` finds them (see `find_parties`): the same names, in the
        same order, as `asked(actor, resolve_actor(...).holders, ...)` gives, without making the holders dict first."""
        scope = _new(LazyScope)
        scope.update(self.base)
        scope.later = self.later_listing
        scope["lookup"] = DataFunction("lookup", reader.get)
        scope.source = (reader, now)
        scope["actor"] = actor
        scope.update(self.no_holders)  # as resolve_actor's holders: each holder's name, None unless it holds the actor
        if held is not None:
            name = self.within.get(held[0])
            if name is not None:
                scope[name] = held[1]
        scope[self.subject] = subject
        return scope

    def _lister(self, scope: LazyScope) -> DataFunction:
        """A question's `all(entity)`, as `_readers` makes it."""
        reader = scope.source[0]
        return DataFunction("all", lambda entity: self._all(reader, scope, entity))

    def build(self, parties: Parties, now: datetime | None, lookup: Reader | DataFunction, shared: dict[Any, Any] | None = None) -> dict[str, Any]:
        """Everything but `answers` and `flow`: the actor, its holders, the subject, `now`, `lookup`, the context names.

        `shared`: as `with_subject`'s, kept by the caller for as long as the values it holds are not changed (the
        runner's, for every scope it builds: read records are never changed, and a record read again while the store
        holds it unchanged is the very same value only where the storage shares it, SharedReadTransaction).
        """
        scope = dict(self.base)  # for_actor and with_subject in one copy: the availability hot path
        scope["actor"] = parties.actor
        scope.update(parties.holders)
        if now is not None:
            scope["now"] = _moment(now)
        scope["lookup"] = lookup if isinstance(lookup, DataFunction) else DataFunction("lookup", lookup.get)
        if self.lists and not isinstance(lookup, DataFunction):
            self._readers(scope, lookup, apart=True)  # no cycle: a commit's scope, records and documents freed when done with
        scope[self.subject] = parties.subject
        if shared is not None:
            return self._named(scope, shared)
        for name, expression in self.context:
            scope[name] = expression(scope)
        return scope


_new = LazyScope.__new__


def _now(scope: LazyScope) -> Moment:
    return _moment(scope.source[1]())


def _lookup(scope: LazyScope) -> DataFunction:
    reader = scope.source[0]
    return reader if isinstance(reader, DataFunction) else DataFunction("lookup", reader.get)


def outsider_scope(project: Project, scope: Mapping[str, Any], named: str) -> dict[str, Any]:
    """What the message of a reach refusal is rendered with: the actor's side, and the subject only as named.

    Whoever reach refuses learns nothing of the subject: its record, the context
    names computed from it and the data functions (a look-up could fetch the
    record back) are left out, and the keys it may be named by, and its label,
    all read as the words the caller gave (an id stays an id, a name a name).
    """
    out = {name: scope[name] for name in (*OUTSIDER_NAMES, *project.actor_within.values()) if name in scope}
    out[project.subject_entity] = dict.fromkeys(subject_words(project.subject_match, project.entities[project.subject_entity].label), named)
    return out


def flow_scope(base: Mapping[str, Any], flow: Flow, answers: Mapping[str, Any], due: str | None = None) -> dict[str, Any]:
    """The scope of one flow: every field present in `answers` (None until answered).

    `due`: the time a scheduled part of the flow was due, when the worker checks it (`flow.due`).
    """
    return put_flow(dict(base), flow, answers, due)


def put_flow(scope: dict[str, Any], flow: Flow, answers: Mapping[str, Any], due: str | None = None) -> dict[str, Any]:
    """`flow_scope`'s names put into `scope` itself, for a scope made for this flow alone (a plan's): no copy."""
    scope["flow"] = flow.reference if due is None else {**flow.reference, "due": due}
    full = dict(flow.defaults)
    full.update(answers)
    scope["answers"] = full
    return scope
