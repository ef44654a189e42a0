"""What an edit does on data: who may start which flow on what, and what each run would show, change and send.

Both versions read the same data file into memory. For every actor × subject × flow,
availability before and after (with the rules that block); for every pair offered in
both versions of a flow whose definition changed, a dry-run in each with the same
answers (each field's default, the first option, the text a confirmation asks for)
and the differences of the two plans.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..api import Engine
from ..errors import ClientflowError, DataError, Problem
from ..language.model import DynamicOptions, Field, Flow, Project
from ..language.yamlfile import load_data_text, read_data_text
from ..plugins import Registry
from ..runtime.context import Clock, flow_scope, resolve
from ..runtime.data import Records, check_data, import_data
from ..runtime.outcome import RenderedEmail
from ..runtime.plan import Plan
from .semantic import Semantic
from .words import word_diff

ROUNDS = 20  # screens answered at most, one per round, when guessing a run's answers
SAMPLE_TEXT = "sample answer"


@dataclass
class PairChange:
    """One actor × subject × flow whose availability, or whose plan, differs between the versions."""

    flow: str
    actor: str
    subject: str
    before: str  # offered | blocked | absent
    after: str
    before_blocked_by: list[str] = field(default_factory=list)
    after_blocked_by: list[str] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)  # the plans' differences, when offered in both
    was: str | None = None  # the flow's id in the base version, when it was renamed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flow": self.flow,
            "actor": self.actor,
            "subject": self.subject,
            "before": self.before,
            "after": self.after,
            "before_blocked_by": list(self.before_blocked_by),
            "after_blocked_by": list(self.after_blocked_by),
            "plan": list(self.plan),
        }
        if self.was is not None:
            out["was"] = self.was
        return out


@dataclass
class Sample:
    """An email both versions send to the same pair: what the template's change reads like on data."""

    actor: str
    subject: str
    before: RenderedEmail
    after: RenderedEmail


@dataclass
class Behaviour:
    """Every pair that changed, the names of the actors and subjects, and one rendered sample per email."""

    data: str
    pairs: list[PairChange]
    actors: dict[str, str]  # id -> label
    subjects: dict[str, str]
    samples: dict[tuple[str, str], Sample]  # (flow, template) -> the first pair whose plans send it in both versions


def _parties(project: Project, doc: Mapping[str, Any], entity_name: str) -> dict[str, str]:
    """Every record of an entity in a data file (top level or nested in its holders): id -> label."""
    entity = project.entities[entity_name]
    found: list[Mapping[str, Any]] = []
    if entity.collection:
        found = list(doc.get(entity.collection) or [])
    else:
        for holder in entity.nested_in:
            for body in doc.get(project.entities[holder].collection or "") or []:
                found.extend(body.get(entity.nested_key or "") or [])
    return {str(r.get("id")): str(r.get(entity.label) or r.get("id")) for r in found if isinstance(r, Mapping)}


def read_data(path: Path, display: str) -> tuple[dict[str, Any], Any]:
    """A data file as a document and its positions (checked against each version when loaded)."""
    doc, positions = load_data_text(read_data_text(path, display), display)
    return doc, positions


def _engine(project: Project, label: str, doc: dict[str, Any], positions: Any, display: str, registry: Registry, now: datetime) -> Engine:
    try:
        check_data(project, doc, positions, display, unique=False)
        storage = registry.storage("memory")
        with storage.transaction(write=True) as tx:
            import_data(project, tx, copy.deepcopy(doc), display, positions)  # each version its own records
    except DataError as exc:
        raise DataError(
            [Problem(p.location, f"{p.message} (in {label}; compare on a data file both versions read with --data FILE)") for p in exc.problems]
        ) from exc
    return Engine(project, storage, clock=Clock(now), notifiers={}, registry=registry)


def compare(
    base: Project,
    head: Project,
    semantic: Semantic,
    data: tuple[dict[str, Any], Any, str],
    labels: tuple[str, str],
    registry: Registry,
    now: datetime,
) -> Behaviour:
    """Availability of every flow for every actor × subject of the data in both versions, and the plans that differ."""
    doc, positions, display = data
    engines = [_engine(p, label, doc, positions, display, registry, now) for p, label in zip((base, head), labels, strict=True)]
    try:
        return _Comparison(base, head, semantic, engines[0], engines[1], doc, display).run()
    finally:
        for engine in engines:
            engine.close()


def _state(entry: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    if entry is None:
        return "absent", []
    if entry["available"]:
        return "offered", []
    return "blocked", [str(r["rule"]) for r in entry["reasons"]]


class _Comparison:
    def __init__(self, base: Project, head: Project, semantic: Semantic, old: Engine, new: Engine, doc: dict[str, Any], display: str) -> None:
        self.base, self.head, self.semantic, self.old, self.new, self.doc, self.display = base, head, semantic, old, new, doc, display
        self.samples: dict[tuple[str, str], Sample] = {}
        changed = {d.flow for d in semantic.flows if d.status == "changed"}
        self.replan = {h for _, h in semantic.pairs() if h is not None and (semantic.project or h in changed)}

    def run(self) -> Behaviour:
        actors = _parties(self.head, self.doc, self.head.actor_entity)
        subjects = _parties(self.head, self.doc, self.head.subject_entity)
        before, after = self.old.checker(self.doc), self.new.checker(self.doc)
        flows = list(self.semantic.pairs())
        pairs: list[PairChange] = []
        for subject in subjects:
            for actor in actors:
                old = {e["flow"]: e for e in before(actor, subject)}
                new = {e["flow"]: e for e in after(actor, subject)}
                for old_id, new_id in flows:
                    found = self._pair(actor, subject, old_id, new_id, old.get(old_id or ""), new.get(new_id or ""))
                    if found is not None:
                        pairs.append(found)
        return Behaviour(self.display, pairs, actors, subjects, self.samples)

    def _pair(
        self, actor: str, subject: str, old_id: str | None, new_id: str | None, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> PairChange | None:
        (was, was_rules), (now, now_rules) = _state(old), _state(new)
        flow = new_id or old_id or ""
        renamed = old_id if old_id is not None and new_id is not None and old_id != new_id else None
        if was != now:
            if "offered" not in (was, now):
                return None  # absent and blocked alike: nobody may start it either way
            return PairChange(flow, actor, subject, was, now, was_rules, now_rules, was=renamed)
        if was == "offered" and old_id is not None and new_id is not None and new_id in self.replan:
            differences = self._plans(actor, subject, self.base.flows[old_id], self.head.flows[new_id])
            if differences:
                return PairChange(flow, actor, subject, was, now, plan=differences, was=renamed)
        return None

    # plans ------------------------------------------------------------------
    def _plans(self, actor: str, subject: str, old: Flow, new: Flow) -> list[dict[str, Any]]:
        answers, before = _guess(self.old, old, actor, subject, {})
        kept = {k: v for k, v in answers.items() if k in new.fields()}
        _, after = _guess(self.new, new, actor, subject, kept)
        for a, b in _emails(before, after):
            self.samples.setdefault((new.id, a.template), Sample(actor, subject, a, b))
        return differences(before, after)


def _guess(engine: Engine, flow: Flow, actor: str, subject: str, answers: dict[str, Any]) -> tuple[dict[str, Any], Plan]:
    """Answers that carry a dry-run as far as they can (each needed field's likely answer), and its plan."""
    answers = dict(answers)
    plan = engine.simulate(flow.id, actor, subject, answers)
    for _ in range(ROUNDS):
        if plan.status != "needs_input":
            break
        screen = {f["name"]: f for s in plan.screens for f in s.fields}
        guessed = {n["field"]: _likely(engine, flow, actor, subject, answers, n["field"], screen.get(n["field"], {})) for n in plan.needs}
        if any(v is None for v in guessed.values()):
            break
        answers.update(guessed)
        plan = engine.simulate(flow.id, actor, subject, answers)
    return answers, plan


def _likely(engine: Engine, flow: Flow, actor: str, subject: str, answers: Mapping[str, Any], name: str, shown: Mapping[str, Any]) -> Any:
    """The answer a person would most likely give: the confirmation asked for, the default, the first option."""
    fields = flow.fields()
    if name not in fields:
        return None
    item: Field = fields[name][1]
    if item.confirm is not None:
        try:
            with engine.storage.transaction() as tx:
                records = Records(engine.project, tx)
                parties = resolve(engine.project, records, actor, subject)
                scope = flow_scope(engine.runner.scope(records, parties), flow, answers)
                return engine.project.program.evaluate(item.confirm, scope)
        except ClientflowError:
            return None
    if item.default is not None:
        return item.default
    if item.options is not None:
        listed = shown.get("options") or ([] if isinstance(item.options, DynamicOptions) else [{"value": o.value} for o in item.options])
        return listed[0]["value"] if listed else None
    return {"boolean": False, "number": 0}.get(item.type, SAMPLE_TEXT)


# the plans' differences -------------------------------------------------------
def _change_line(change: Mapping[str, Any]) -> str:
    target = f"{change['entity']} {change['id']}"
    if change["op"] == "update":
        return f"update {target} {change['field']}: {change['before']!r} → {change['after']!r}"
    return f"{change['op']} {target}"


def _keyed_emails(plan: Plan) -> dict[tuple[str, int], RenderedEmail]:
    seen: dict[str, int] = {}
    out: dict[tuple[str, int], RenderedEmail] = {}
    for email in plan.emails:
        out[(email.template, seen.get(email.template, 0))] = email
        seen[email.template] = seen.get(email.template, 0) + 1
    return out


def _emails(before: Plan, after: Plan) -> Iterator[tuple[RenderedEmail, RenderedEmail]]:
    new = _keyed_emails(after)
    for key, email in _keyed_emails(before).items():
        if key in new:
            yield email, new[key]


def differences(before: Plan, after: Plan) -> list[dict[str, Any]]:
    """What differs between two plans of one pair: status, screens and their texts, changes, emails, banner, undo."""
    out: list[dict[str, Any]] = []

    def differ(what: str, a: Any, b: Any, **extra: Any) -> None:
        if a != b:
            out.append({"what": what, "before": a, "after": b, **extra})

    differ("status", before.status, after.status)
    differ("screens", [s.step for s in before.screens], [s.step for s in after.screens])
    later = {s.step: s for s in after.screens}
    for screen in before.screens:
        other = later.get(screen.step)
        if other is not None:
            a, b = f"{screen.title}\n{screen.body or ''}", f"{other.title}\n{other.body or ''}"
            if a != b:
                out.append({"what": "screen-text", "step": screen.step, "before": screen.title, "after": other.title, "diff": word_diff(a, b) or "(spacing)"})
    differ("changes", [_change_line(c.to_json()) for c in before.changes], [_change_line(c.to_json()) for c in after.changes])
    old, new = _keyed_emails(before), _keyed_emails(after)
    for key in dict.fromkeys([*old, *new]):
        a_mail, b_mail = old.get(key), new.get(key)
        template = key[0]
        if a_mail is None or b_mail is None:
            differ("emails", None if a_mail is None else a_mail.to, None if b_mail is None else b_mail.to, template=template)
            continue
        differ("email-recipients", a_mail.to, b_mail.to, template=template)
        texts = {p: word_diff(getattr(a_mail, p) or "", getattr(b_mail, p) or "") for p in ("subject", "text")}
        if any(texts.values()):
            out.append(
                {"what": "email-text", "template": template, "before": a_mail.subject, "after": b_mail.subject, "diff": {k: v for k, v in texts.items() if v}}
            )
    differ("banner", list(before.banners), list(after.banners))
    differ("undo", [before.reversible, before.undo], [after.reversible, after.undo])
    return out
