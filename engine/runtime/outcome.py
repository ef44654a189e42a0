"""What a completed run does: effects on records, emails, banner, audit summary.

The same code serves the dry-run and the commit; only the `Records` it works
on differ (never flushed, or flushed in the commit's transaction). Plugin
effects run their `simulate` in a dry-run and their `apply` in a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conditions.program import program_of
from ..conditions.translations import localized, reader_locale, reader_tag
from ..errors import ClientflowError, ExpressionError
from ..language.code import Text
from ..language.model import Email, Flow, Project
from ..mailaddress import valid_address
from .data import Change, Records

MAX_RECIPIENTS = 100
PREFETCH = 16  # recipients of one outcome whose records are asked for together (more are read one by one, as they come)


@dataclass(frozen=True)
class EffectSpec:
    """An effect a plugin adds. `apply` commits; `simulate` previews (None: same as apply).

    Both receive an `EffectContext` and return the changes they make. Set
    `predicted` when `simulate` can only guess (the plan marks its changes).
    """

    name: str
    apply: Callable[[EffectContext], list[Change]]
    simulate: Callable[[EffectContext], list[Change]] | None = None
    predicted: bool = False


@dataclass
class EffectContext:
    """What an effect is applied with: the records, the scope, its arguments and the record it names."""

    records: Records
    scope: Mapping[str, Any]
    args: dict[str, Any]
    entity: str
    id: Any
    dry_run: bool


@dataclass(slots=True)
class RenderedEmail:
    """One email of an outcome, its texts rendered for its recipients."""

    template: str
    to: list[str]
    subject: str
    text: str
    html: str | None
    locale: str | None = None  # the recipients' language, when the project declares locales

    def to_json(self) -> dict[str, Any]:
        rendered = {"template": self.template, "to": list(self.to), "subject": self.subject, "text": self.text, "html": self.html}
        return rendered if self.locale is None else {**rendered, "locale": self.locale}


@dataclass(slots=True)
class Result:
    """What an outcome gives: its changes, emails, banners, summary, warnings and what blocks it."""

    changes: list[Change] = field(default_factory=list)
    emails: list[RenderedEmail] = field(default_factory=list)
    banners: list[str] = field(default_factory=list)
    undo: str | None = None
    reversible: bool = False  # the outcome's `reversible`: its condition's value in the outcome's scope
    summary: str = ""
    warnings: list[dict[str, str]] = field(default_factory=list)  # what the plan says without stopping: an email to nobody
    blocked: list[dict[str, str]] = field(default_factory=list)  # what stops the commit: an email that must reach someone


def addresses(value: Any, where: str | Email | Callable[[], str]) -> list[str]:
    """Recipients from an address, a record with an email, or a list of either.

    `where` names the place for error messages (an email of the outcome, or a callable, is asked only on error).
    """
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if item is None:
            continue
        if item.__class__ is not str and isinstance(item, Mapping):  # a text is no mapping: no ABC check for each address
            item = item.get("email")
            if item is None:
                continue
        if not isinstance(item, str) or not valid_address(item):
            raise ClientflowError(f"{_place(where)}: {item!r} is not a valid email address; fix it in the data before running this flow")
        if item not in out:
            out.append(item)
    if len(out) > MAX_RECIPIENTS:
        raise ClientflowError(f"{_place(where)}: {len(out)} recipients is over the limit of {MAX_RECIPIENTS}")
    return out


def _place(where: str | Email | Callable[[], str]) -> str:
    if isinstance(where, Email):
        return _where(where)
    return where() if callable(where) else where


def one_line(text: str) -> str:
    """Header-safe text: line breaks and other control characters become spaces."""
    if text.isprintable():
        return text if _single_spaced(text) else " ".join(text.split())
    text = "".join(ch if ch.isprintable() else " " for ch in text)  # rare: only then look at each character
    return " ".join(text.split())


def spaced(text: str) -> str:
    """`" ".join(text.split())`: each run of white space one space, none at either end."""
    return text if text.isprintable() and _single_spaced(text) else " ".join(text.split())


def _single_spaced(text: str) -> bool:
    """Whether a printable text is its own words joined by one space: `" ".join(text.split()) == text`.

    A printable text holds no white space but the space itself (every other kind is a control character or a
    separator, which `isprintable` refuses; tests/test_outcome_parts.py checks every character), so one with no
    space doubled or at an end is already what splitting it into words and joining them again gives (the
    subject, banner, undo and audit line of every plan: no list of words made and joined).
    """
    return "  " not in text and text[:1] != " " and text[-1:] != " "


def execute(project: Project, flow: Flow, scope: Mapping[str, Any], records: Records, effects: Mapping[str, EffectSpec], *, dry_run: bool) -> Result:
    """Apply the flow's outcome to `records` and render what it says."""
    result = Result()
    evaluate, render = project.program.evaluate, project.program.render
    subject_id = scope[project.subject_entity]["id"]
    for effect in flow.outcome.effects:
        if effect.when is not None and not evaluate(effect.when, scope):
            continue
        target = evaluate(effect.id, scope) if effect.id is not None else (subject_id if effect.entity == project.subject_entity else None)
        if effect.op == "update":
            assert effect.field is not None and effect.to is not None
            result.changes.append(records.set(effect.entity, target, effect.field, _plain(evaluate(effect.to, scope))))
        elif effect.op == "delete":
            result.changes.append(records.delete(effect.entity, target))
        elif effect.op == "create":
            result.changes.append(records.create(effect.entity, {k: _plain(evaluate(e, scope)) for k, e in effect.values.items()}))
        else:
            spec = effects[effect.op]
            context = EffectContext(records, scope, {k: evaluate(e, scope) for k, e in effect.args.items()}, effect.entity, target, dry_run)
            runner = spec.simulate if dry_run and spec.simulate is not None else spec.apply
            made = runner(context)
            if dry_run and spec.predicted:
                made = [Change(c.op, c.entity, c.id, c.field, c.before, c.after, predicted=True) for c in made]
            result.changes.extend(made)
    emails = _recipients(project, flow, scope, records)
    as_written: tuple[Callable[..., str], Mapping[str, Any]] | None = None
    for email, sent, value in emails:
        if isinstance(value, Exception):
            raise value  # where evaluating it one email at a time would have raised it
        if not sent:
            continue
        to = addresses(value, email)
        if not to:
            _nobody(email, result)
            continue
        template = project.emails[email.template]
        for locale, readers in _by_locale(project, records, to):
            if locale is None or locale == project.locales[0]:  # as written, whoever the actor reads (their screens may be in another language)
                if as_written is None:  # the same for every email of this outcome: rendering changes nothing it reads
                    program = program_of(project)
                    as_written = program.render, _titled(scope, flow, program.written.titles)
                say, seen = as_written
                written = True
            else:
                program = program_of(localized(project, locale, "emails"))
                say, written = program.render, False
                seen = _titled(scope, flow, program.reader.titles)
            result.emails.append(
                RenderedEmail(
                    template=email.template,
                    to=readers,
                    subject=one_line(say(template.subject, seen, as_written=written)),
                    text=say(template.text, seen, as_written=written),
                    html=say(template.html, seen, as_written=written) if template.html else None,
                    locale=None if locale is None else reader_locale(project, locale),  # the catalog's: fr for fr-CA
                )
            )
    if flow.outcome.banner is not None:
        result.banners.append(spaced(render(flow.outcome.banner, scope)))
    if flow.outcome.undo is not None:  # a template like the banner, in the same scope and the reader's language
        result.undo = said(project, flow.outcome.undo, scope)
    result.reversible = _reversible(project, flow, scope, result)
    result.summary = one_line(project.program.render(flow.outcome.audit, scope, as_written=True))  # in the first locale
    return result


def said(project: Project, text: Text, scope: Mapping[str, Any]) -> str:
    """`text` rendered in `scope` on one line, for the project's reader (a text that reads nothing is its constant: see
    `Template.render`)."""
    return spaced(project.program.render(text, scope))


REVERSIBLE_FAILED = "reversible-failed"  # the code of the warning when the outcome's `reversible` condition cannot be worked out


def _reversible(project: Project, flow: Flow, scope: Mapping[str, Any], result: Result) -> bool:
    """Whether the action can be undone: true, false, or its condition's value; one that fails says why, and is false."""
    reversible = flow.outcome.reversible
    if isinstance(reversible, bool):
        return reversible
    try:
        value = project.program.evaluate(reversible, scope)
    except ExpressionError as exc:
        why = str(exc)
    else:
        if isinstance(value, bool):
            return value
        why = f"it gave {type(value).__name__} {value!r:.60}, not true or false"
    message = f"outcome.reversible ({reversible.source}) could not be worked out, so the action is shown as one that cannot be undone: {why}"
    result.warnings.append({"code": REVERSIBLE_FAILED, "message": message})
    return False


def _recipients(project: Project, flow: Flow, scope: Mapping[str, Any], records: Records) -> list[tuple[Email, bool, Any]]:
    """Each email of the outcome: whether it is sent (`when`), and what `to` gives (or what evaluating either raised).

    Nothing between two emails changes the scope or the records (rendering only reads), so every `when` and `to` is
    evaluated first: where storage answers several look-ups in one question (a server), the recipients' records, read
    for the language of each, are asked for together (`Records.prefetch`); every other read is as before.
    """
    evaluate = project.program.evaluate
    out: list[tuple[Email, bool, Any]] = []
    wanted: list[str] = []
    # only where the transaction answers several look-ups in one question does prefetch read anything (Records.prefetch)
    fetching = records.prefetches and len(project.locales) > 1 and "email" in project.entities[project.actor_entity].keys
    for email in flow.outcome.emails:
        try:
            if email.when is not None and not evaluate(email.when, scope):
                out.append((email, False, None))
                continue
            value = evaluate(email.to, scope)
        except Exception as exc:  # noqa: BLE001 - raised again where the email's turn comes
            out.append((email, True, exc))
            break  # nothing after it is evaluated, as before
        out.append((email, True, value))
        if fetching:
            wanted.extend(_addressed(value))
    if fetching:
        distinct = list(dict.fromkeys(wanted))
        if 1 < len(distinct) <= PREFETCH:
            records.prefetch([(project.actor_entity, "email", address) for address in distinct])
    return out


def _addressed(value: Any) -> list[str]:
    """The addresses `addresses` would find in `value`, taken as they come (the prefetch reads them only; `addresses` checks)."""
    found = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            item = item.get("email")
        if isinstance(item, str):
            found.append(item)
    return found


def _titled(scope: Mapping[str, Any], flow: Flow, titles: Mapping[str, str]) -> Mapping[str, Any]:
    """The scope with `flow.title` as the email's reader reads it (the actor's screens may name it in another language)."""
    shown = scope.get("flow")
    title = titles.get(flow.id)
    if title is None or not (shown.__class__ is dict or isinstance(shown, Mapping)) or shown.get("title") == title:
        return scope
    return {**scope, "flow": {**shown, "title": title}}


def _by_locale(project: Project, records: Records, to: list[str]) -> list[tuple[str | None, list[str]]]:
    """The recipients by the locale each reads (their record's `locale`, as `reader_tag` serves it), in the order they are named.

    A project without locales has one group (None); an address no record of the actor
    entity holds, or a record without a locale, reads the project's first locale.
    """
    if len(project.locales) < 2:
        return [(project.locales[0] if project.locales else None, to)]
    people = project.actor_entity
    keyed = "email" in project.entities[people].keys
    groups: dict[str, list[str]] = {}
    for address in to:
        found = records.locate(people, "email", address) if keyed else None
        groups.setdefault(reader_tag(project, found[1].get("locale") if found else None), []).append(address)  # fr-CA writes its own dates
    return list(groups.items())


NOBODY = "no-recipients"  # the code of the warning, and the rule of the block, when an email goes to nobody


def _nobody(email: Email, result: Result) -> None:
    """An email whose recipients name nobody: said in the plan (warn), blocking (block), or deliberately not (skip)."""
    if email.when_empty == "skip":
        return
    who = f"its recipients ({' '.join(email.to.source.split())}) name nobody here"
    if email.when_empty == "block":
        result.blocked.append({"rule": NOBODY, "message": f"the email {email.template!r} must reach someone, and {who}; nothing was done"})
    else:
        result.warnings.append({"code": NOBODY, "message": f"the email {email.template!r} is not sent: {who}", "email": email.template})


def _where(email: Email) -> str:
    return f"email {email.template!r} to ({email.to.source})"


def _plain(value: Any) -> Any:
    """Only data may be stored: text, numbers, booleans, None, lists and mappings of them."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    raise ExpressionError(f"cannot store a {type(value).__name__}")
