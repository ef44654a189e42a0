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
from typing import Any

from ..conditions.expressions import DataFunction
from ..language.model import Flow, Project
from .data import Records


class Moment(dict):  # type: ignore[type-arg]
    """`now` as data: `now.date`, `now.year`, ...; prints as ISO 8601."""

    def __init__(self, moment: datetime) -> None:
        super().__init__(
            iso=moment.isoformat(),
            date=moment.date().isoformat(),
            time=moment.time().replace(microsecond=0).isoformat(),
            year=moment.year,
            month=moment.month,
            day=moment.day,
            hour=moment.hour,
            minute=moment.minute,
        )

    def __str__(self) -> str:
        return str(self["iso"])


_moments: dict[datetime, Moment] = {}


def _moment(now: datetime) -> Moment:
    """One Moment per instant: scopes built in the same instant (a bulk page, a fixed clock) share it."""
    moment = _moments.get(now)
    if moment is None:
        if len(_moments) > 64:
            _moments.clear()
        moment = _moments[now] = Moment(now)
    return moment


class Clock:
    """The one source of time: fixed with `--now`, the system's otherwise."""

    def __init__(self, fixed: datetime | None = None) -> None:
        if fixed is not None and fixed.tzinfo is None:
            fixed = fixed.replace(tzinfo=UTC)
        self.fixed = fixed

    def now(self) -> datetime:
        return self.fixed or datetime.now(UTC)


@dataclass
class Parties:
    """Who acts on what: the resolved actor and subject records."""

    actor: dict[str, Any]
    subject: dict[str, Any]
    holders: dict[str, dict[str, Any] | None]


def resolve(project: Project, records: Records, actor: str, subject: str, *, by_id: bool = False) -> Parties:
    """Find the actor and subject by any of their match keys, or by id only (UnknownName otherwise)."""
    parties = resolve_actor(project, records, actor, by_id=by_id)
    parties.subject = records.find(project.subject_entity, subject, ("id",) if by_id else project.subject_match)
    return parties


def resolve_actor(project: Project, records: Records, actor: str, *, by_id: bool = False) -> Parties:
    """The actor and the records holding it; the subject is left empty."""
    actor_record = records.find(project.actor_entity, actor, ("id",) if by_id else project.actor_match)
    holders: dict[str, dict[str, Any] | None] = dict.fromkeys(project.actor_within.values())
    held = records.holder(project.actor_entity, str(actor_record.get("id")))
    if held and held[0] in project.actor_within:
        holders[project.actor_within[held[0]]] = held[1]
    return Parties(actor_record, {}, holders)


def base_scope(
    project: Project,
    records: Records,
    parties: Parties,
    now: datetime,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    *,
    context: bool = True,
) -> dict[str, Any]:
    """Everything but `answers` and `flow`, with (unless `context` is false) the project's context names computed."""
    scope: dict[str, Any] = {
        "actor": parties.actor,
        project.subject_entity: parties.subject,
        "product": project.product,
        "now": _moment(now),
        "answers": {},
        "flow": {},
        "lookup": DataFunction("lookup", records.get),
    }
    scope.update(parties.holders)
    for name, fn in (functions or {}).items():
        scope[name] = fn if isinstance(fn, DataFunction) else DataFunction(name, fn)
    if context:
        for name, expression in project.context.items():
            scope[name] = expression(scope)
    return scope


def with_subject(static: Mapping[str, Any], project: Project, records: Records, subject: dict[str, Any]) -> dict[str, Any]:
    """A scope from one built for the actor alone (`base_scope` with an empty subject): the
    subject, its own `lookup` and the context names computed for it. Bulk runs build the
    actor's part once per page."""
    scope = dict(static)
    scope[project.subject_entity] = subject
    scope["lookup"] = DataFunction("lookup", records.get)
    for name, expression in project.context.items():
        scope[name] = expression(scope)
    return scope


OUTSIDER_NAMES = ("actor", "product", "now", "flow", "answers")  # with the actor's holders: what a refusal may show


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


def subject_words(match: Iterable[str], label: str) -> tuple[str, ...]:
    """The subject's keys a refusal may show: those it may be named by, and its label."""
    return tuple(dict.fromkeys((*match, label)))


def flow_scope(base: Mapping[str, Any], flow: Flow, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The scope of one flow: every field present in `answers` (None until answered)."""
    scope = dict(base)
    scope["flow"] = flow.reference
    full = dict(flow.defaults)
    full.update(answers)
    scope["answers"] = full
    return scope
