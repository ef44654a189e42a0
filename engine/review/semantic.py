"""What an edit means: two loaded projects compared as models, never as text.

The model holds conditions and texts as source with their locations left out of
`==`, so key order, quoting, comments and the layout of a file are no change. On top
of that, conditions are compared token by token (`a=='x'` is `a == "x"`) and texts
word by word in messages. Each `Edit` (edits.py) says what changed, in words, where it
is in each version (`path:line:col`), and the source before and after.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..language.catalogs import catalog_path
from ..language.code import Text
from ..language.model import Effect, Email, Field, Flow, Project
from . import mentions
from .edits import Edit, Edits, FlowDiff, Side, canon, difference, same, shown
from .words import word_diff

PROJECT_FILE = "flows/project.yaml"
FLOW_SETTINGS = ("title", "summary", "subject", "entry", "button")
STEP_PARTS = ("kind", "title", "body", "when", "buttons")
SIMILAR = 0.6  # how alike two labels are (difflib ratio) for a field gone and a field new to be one renamed
FIELD_PARTS = ("type", "label", "help", "default", "max_length", "confirm", "checks")
Keys = tuple[Any, ...]


@dataclass
class Semantic:
    """Every flow's edits, the project's own (reach, context, entities, data schema), and the flows renamed."""

    flows: list[FlowDiff]
    project: list[Edit]
    renamed: dict[str, str]  # base id -> head id

    @property
    def changed(self) -> bool:
        return bool(self.project) or any(f.status != "unchanged" for f in self.flows)

    def pairs(self) -> Iterator[tuple[str | None, str | None]]:
        """(base id, head id) of every flow; None on the side that lacks it."""
        back = {head: base for base, head in self.renamed.items()}
        for diff in self.flows:
            if diff.status == "added":
                yield None, diff.flow
            elif diff.status == "removed":
                yield diff.flow, None
            else:
                yield back.get(diff.flow, diff.flow), diff.flow


# flows ------------------------------------------------------------------
def compare(base: Project, head: Project) -> Semantic:
    """Every flow of both versions, paired by id (or by file, for a renamed flow), and the project's own edits."""
    sides = Side(base), Side(head)
    renamed = _renames(base, head)
    back = {new: old for old, new in renamed.items()}
    diffs: list[FlowDiff] = []
    for flow_id in sorted(set(head.flows) | (set(base.flows) - set(renamed))):
        old_id = back.get(flow_id, flow_id)
        old, new = base.flows.get(old_id), head.flows.get(flow_id)
        if old is None and new is not None:
            edit = Edit("flow-added", flow_id, f"flow {flow_id!r} added: {new.title}", None, str(new.location))
            diffs.append(FlowDiff(flow_id, "added", [edit]))
        elif new is None and old is not None:
            edit = Edit("flow-removed", flow_id, f"flow {flow_id!r} removed", str(old.location), None)
            diffs.append(FlowDiff(flow_id, "removed", [edit]))
        elif old is not None and new is not None:
            edits = _flow(sides, old, new)
            diffs.append(FlowDiff(flow_id, "changed" if edits else "unchanged", edits, old_id if old_id != flow_id else None))
    project_edits = _project(sides)
    by_flow = {d.flow: d for d in diffs if d.status != "removed"}
    for belongs_to, edit in _translations(sides):
        diff = by_flow.get(renamed.get(belongs_to or "", belongs_to or ""))
        if diff is None:
            project_edits.append(edit)
        else:
            diff.changes.append(edit)
            if diff.status == "unchanged":
                diff.status = "changed"
    return Semantic(diffs, project_edits, renamed)


RENAME_PARTS = ("title", "summary", "subject", "started_by", "preconditions", "steps", "outcome")


def _renames(base: Project, head: Project) -> dict[str, str]:
    """Flows whose id changed: base id -> head id.

    A flow's file is named after its id, so a renamed flow is usually a file renamed too:
    a flow gone and a flow new are one renamed when they hold most of the same parts
    (the closest pairs first), or when they are written in the same file.
    """
    gone = [f for f in base.flows.values() if f.id not in head.flows]
    new = [f for f in head.flows.values() if f.id not in base.flows]
    scored = []
    for old in gone:
        for flow in new:
            score = len(RENAME_PARTS) + 1 if old.location.path == flow.location.path else sum(same(getattr(old, p), getattr(flow, p)) for p in RENAME_PARTS)
            if score * 2 > len(RENAME_PARTS):
                scored.append((-score, old.id, flow.id))
    out: dict[str, str] = {}
    for _, old_id, new_id in sorted(scored):
        if old_id not in out and new_id not in out.values():
            out[old_id] = new_id
    return out


def _flow(sides: tuple[Side, Side], old: Flow, new: Flow) -> list[Edit]:
    edits = Edits(*sides, old.location.path, new.location.path)
    if old.id != new.id:
        where = "" if old.location.path == new.location.path else f", {old.location.path} → {new.location.path}"
        edits.add("flow-renamed", "id", f"flow {old.id!r} renamed {new.id!r}{where}", ("id",), ("id",), before=old.id, after=new.id)
    for name in FLOW_SETTINGS:
        if not same(getattr(old, name), getattr(new, name)):
            message, extra = difference(name, getattr(old, name), getattr(new, name))
            edits.add("flow-settings", name, message, (name,), (name,), **extra)
    edits.rules("started_by", old.started_by, new.started_by)
    edits.rules("preconditions", old.preconditions, new.preconditions)
    _steps(edits, old, new)
    _fields(edits, old, new)
    renamed = [e for e in edits.found if e.kind == "field-renamed"]
    if renamed:
        paths = mentions.files(sides[1].project, new)
        for edit in renamed:
            edit.extra["still_named_by"] = mentions.still_naming(sides[1].project, paths, edit.extra["renamed_from"])
    _outcome(edits, old, new)
    _templates(edits, sides, old, new)
    return edits.found


def _steps(edits: Edits, old: Flow, new: Flow) -> None:
    before, after = [s.id for s in old.steps], [s.id for s in new.steps]
    for index, step in enumerate(new.steps):
        if step.id not in before:
            place = f"after {after[index - 1]!r}" if index else "first"
            message = f"step {step.id!r} added {place} ({step.kind}: {step.title.source})"
            edits.add("step-added", f"steps.{step.id}", message, head=("steps", index), step=step.id)
    for index, step in enumerate(old.steps):
        if step.id not in after:
            edits.add("step-removed", f"steps.{step.id}", f"step {step.id!r} removed ({step.kind}: {step.title.source})", base=("steps", index), step=step.id)
    edits.order("step-moved", "steps", before, after, ("steps",))
    for index, step in enumerate(old.steps):
        if step.id not in after:
            continue
        other_index = after.index(step.id)
        other = new.steps[other_index]
        for part in STEP_PARTS:
            if not same(getattr(step, part), getattr(other, part)):
                message, extra = difference(f"step {step.id!r}: {part}", getattr(step, part), getattr(other, part))
                edits.add("step-changed", f"steps.{step.id}.{part}", message, ("steps", index, part), ("steps", other_index, part), step=step.id, **extra)


def _field_places(flow: Flow) -> dict[str, tuple[str, Field, Keys]]:
    return {f.name: (s.id, f, ("steps", si, "fields", fi)) for si, s in enumerate(flow.steps) for fi, f in enumerate(s.fields)}


def _similar(a: Text | None, b: Text | None) -> bool:
    if a is None or b is None:
        return a is b
    return difflib.SequenceMatcher(a=a.source.lower(), b=b.source.lower(), autojunk=False).ratio() >= SIMILAR


def _field_renames(before: dict[str, tuple[str, Field, Keys]], after: dict[str, tuple[str, Field, Keys]]) -> dict[str, str]:
    """Fields plainly renamed: old name -> new name.

    A field gone and a field new are one renamed when they are in the same step, of the same
    type with the same options, and their labels are alike or they stand at the same place;
    a field that could be either of two is left as removed and added.
    """
    gone = [n for n in before if n not in after]
    new = [n for n in after if n not in before]
    candidates: dict[str, list[str]] = {}
    for old_name in gone:
        step, item, keys = before[old_name]
        for new_name in new:
            other_step, other, other_keys = after[new_name]
            if step != other_step or item.type != other.type or not same(item.options, other.options):
                continue
            if _similar(item.label, other.label) or keys[-1] == other_keys[-1]:
                candidates.setdefault(old_name, []).append(new_name)
    taken = [n for names in candidates.values() for n in names]
    return {old_name: names[0] for old_name, names in candidates.items() if len(names) == 1 and taken.count(names[0]) == 1}


def _fields(edits: Edits, old: Flow, new: Flow) -> None:
    before, after = _field_places(old), _field_places(new)
    renamed = _field_renames(before, after)
    for old_name, new_name in renamed.items():
        step, _, keys = before[old_name]
        new_step, item, new_keys = after[new_name]
        edit = edits.add(
            "field-renamed",
            f"steps.{step}.fields.{new_name}",
            f"field {old_name!r} renamed {new_name!r} in step {step!r}",
            keys,
            after[new_name][2],
            field=new_name,
            renamed_from=old_name,
            step=step,
            before=old_name,
            after=new_name,
        )
        what = f"{item.type}{', required' if item.required else ''}"  # the pair JSON listed before renames were told apart
        edit.also = [
            edits.make("field-added", f"steps.{new_step}.fields.{new_name}", f"field {new_name!r} added to step {new_step!r} ({what})",
                       head=new_keys, field=new_name, renamed_from=old_name),
            edits.make("field-removed", f"steps.{step}.fields.{old_name}", f"field {old_name!r} removed from step {step!r}",
                       base=keys, field=old_name, renamed_to=new_name),
        ]  # fmt: skip
    # a renamed field is compared with its new self from here on, as one kept field
    before = {renamed.get(name, name): place for name, place in before.items()}
    for name, (step, item, keys) in after.items():
        if name not in before:
            what = f"{item.type}{', required' if item.required else ''}"
            edits.add("field-added", f"steps.{step}.fields.{name}", f"field {name!r} added to step {step!r} ({what})", head=keys, field=name)
    for name, (step, _, keys) in before.items():
        if name not in after:
            edits.add("field-removed", f"steps.{step}.fields.{name}", f"field {name!r} removed from step {step!r}", base=keys, field=name)
    for name, (step, item, keys) in before.items():
        if name not in after:
            continue
        new_step, other, other_keys = after[name]
        path = f"steps.{new_step}.fields.{name}"
        if step != new_step:
            edits.add("field-moved", path, f"field {name!r} moved from step {step!r} to step {new_step!r}", keys, other_keys, field=name)
        if item.required != other.required:
            said = "now required" if other.required else "no longer required"
            edits.add("field-required", f"{path}.required", f"field {name!r} is {said}", (*keys, "required"), (*other_keys, "required"), field=name)
        if not same(item.options, other.options):
            edits.add("field-options", f"{path}.options", _options(name, item, other), (*keys, "options"), (*other_keys, "options"), field=name)
        for part in FIELD_PARTS:
            if not same(getattr(item, part), getattr(other, part)):
                message, extra = difference(f"field {name!r}: {part}", getattr(item, part), getattr(other, part))
                edits.add("field-changed", f"{path}.{part}", message, (*keys, part), (*other_keys, part), field=name, **extra)


def _options(name: str, old: Field, new: Field) -> str:
    if isinstance(old.options, tuple) and isinstance(new.options, tuple):
        before = {canon(o.value): o for o in old.options}
        after = {canon(o.value): o for o in new.options}
        said = [f"added {shown(o.value)}" for k, o in after.items() if k not in before]
        said += [f"removed {shown(o.value)}" for k, o in before.items() if k not in after]
        said += [f"{shown(o.value)} relabelled: {shown(o.label)} → {shown(after[k].label)}" for k, o in before.items() if k in after and not same(o, after[k])]
        kept = [k for k in before if k in after]
        if not said and kept != [k for k in after if k in before]:
            said.append("reordered")
        return f"options of {name!r}: " + "; ".join(said or ["changed"])
    return f"options of {name!r}: {shown(old.options)} → {shown(new.options)}"


def _effect(effect: Effect) -> str:
    target = f"{effect.entity}.{effect.field}" if effect.field else effect.entity
    words = [effect.op, target]
    if effect.to is not None:
        words.append(f"to {effect.to.source}")
    if effect.values or effect.args:
        words.append(shown({**effect.values, **effect.args}))
    if effect.when is not None:
        words.append(f"when {effect.when.source}")
    return " ".join(words)


def _outcome(edits: Edits, old: Flow, new: Flow) -> None:
    before, after = [canon(e) for e in old.outcome.effects], [canon(e) for e in new.outcome.effects]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                a, b = old.outcome.effects[i], new.outcome.effects[j]
                keys = ("outcome", "effects")
                edits.add(
                    "effect-changed",
                    f"outcome.effects[{j}]",
                    f"effect: {_effect(a)} → {_effect(b)}",
                    (*keys, i),
                    (*keys, j),
                    before=_effect(a),
                    after=_effect(b),
                )
            continue
        for i in range(i1, i2):
            text = _effect(old.outcome.effects[i])
            edits.add("effect-removed", f"outcome.effects[{i}]", f"effect removed: {text}", base=("outcome", "effects", i), before=text)
        for j in range(j1, j2):
            text = _effect(new.outcome.effects[j])
            edits.add("effect-added", f"outcome.effects[{j}]", f"effect added: {text}", head=("outcome", "effects", j), after=text)
    _emails(edits, old.outcome.emails, new.outcome.emails)
    for part, kind in (("banner", "banner"), ("reversible", "undo"), ("undo", "undo"), ("audit", "audit")):
        a, b = getattr(old.outcome, part), getattr(new.outcome, part)
        if not same(a, b):
            message, extra = difference(part, a, b)
            edits.add(kind, f"outcome.{part}", message, ("outcome", part), ("outcome", part), **extra)


def _keyed(emails: Sequence[Email]) -> dict[tuple[str, int], int]:
    seen: dict[str, int] = {}
    out: dict[tuple[str, int], int] = {}
    for index, email in enumerate(emails):
        out[(email.template, seen.get(email.template, 0))] = index
        seen[email.template] = seen.get(email.template, 0) + 1
    return out


def _emails(edits: Edits, old: Sequence[Email], new: Sequence[Email]) -> None:
    before, after = _keyed(old), _keyed(new)
    for key, index in after.items():
        if key not in before:
            email = new[index]
            edits.add(
                "email-added", f"outcome.emails.{key[0]}", f"email {key[0]!r} added, to {email.to.source}", head=("outcome", "emails", index), template=key[0]
            )
    for key, index in before.items():
        if key not in after:
            edits.add("email-removed", f"outcome.emails.{key[0]}", f"email {key[0]!r} removed", base=("outcome", "emails", index), template=key[0])
    for key, index in before.items():
        if key not in after:
            continue
        a, b = old[index], new[after[key]]
        keys_a, keys_b = ("outcome", "emails", index), ("outcome", "emails", after[key])
        if not same(a.to, b.to):
            message, extra = difference(f"email {key[0]!r}: recipients", a.to, b.to)
            edits.add("email-recipients", f"outcome.emails.{key[0]}.to", message, (*keys_a, "to"), (*keys_b, "to"), template=key[0], **extra)
        for part in ("when", "when_empty"):
            if not same(getattr(a, part), getattr(b, part)):
                message, extra = difference(f"email {key[0]!r}: {part}", getattr(a, part), getattr(b, part))
                edits.add("email-changed", f"outcome.emails.{key[0]}.{part}", message, (*keys_a, part), (*keys_b, part), template=key[0], **extra)


def _templates(edits: Edits, sides: tuple[Side, Side], old: Flow, new: Flow) -> None:
    """An email both versions of the flow send whose template (subject, text or HTML) changed."""
    kept = dict.fromkeys(e.template for e in new.outcome.emails if any(o.template == e.template for o in old.outcome.emails))
    for name in kept:
        a, b = sides[0].project.emails.get(name), sides[1].project.emails.get(name)
        if a is None or b is None or same(a, b):
            continue
        parts = [p for p in ("subject", "text", "html") if not same(getattr(a, p), getattr(b, p))]
        diffs = {p: word_diff(shown(getattr(a, p)), shown(getattr(b, p))) for p in parts}
        said = "; ".join(f"{p}: {d}" for p, d in diffs.items() if d) or "line breaks only"
        edits.add(
            "email-text",
            f"outcome.emails.{name}",
            f"email {name!r}: template {', '.join(parts)} changed: {said}",
            a.location,
            b.location,
            template=name,
            parts=parts,
            diff=diffs,
            rendered=False,
        )


# the project file ---------------------------------------------------------
def _project(sides: tuple[Side, Side]) -> list[Edit]:
    base, head = sides[0].project, sides[1].project
    edits = Edits(*sides, PROJECT_FILE, PROJECT_FILE)
    edits.rules("reach", base.reach, head.reach)
    for name in dict.fromkeys([*base.context, *head.context]):
        a, b = base.context.get(name), head.context.get(name)
        if not same(a, b):
            message, extra = difference(f"context name {name!r}", a, b)
            edits.add("context", f"context.{name}", message, ("context", name) if a else None, ("context", name) if b else None, **extra)
    for name in dict.fromkeys([*base.entities, *head.entities]):
        a2, b2 = base.entities.get(name), head.entities.get(name)
        if not same(a2, b2):
            message, extra = difference(f"entity {name!r}", a2, b2)
            edits.add("entities", f"entities.{name}", message, ("entities", name) if a2 else None, ("entities", name) if b2 else None, **extra)
    settings = {
        "subject.entity": ("subject_entity", ("subject", "entity")),
        "subject.match": ("subject_match", ("subject", "match")),
        "actor.entity": ("actor_entity", ("actor", "entity")),
        "actor.match": ("actor_match", ("actor", "match")),
        "actor.within": ("actor_within", ("actor", "within")),
        "product": ("product", ("product",)),
    }
    for path, (attribute, keys) in settings.items():
        if not same(getattr(base, attribute), getattr(head, attribute)):
            message, extra = difference(path, getattr(base, attribute), getattr(head, attribute))
            edits.add("project-settings", path, message, keys, keys, **extra)
    for name in ("next", "back", "cancel"):  # the labels of the buttons a step leaves out, on every screen
        a3, b3 = base.buttons.get(name), head.buttons.get(name)
        if not same(a3, b3):
            message, extra = difference(f"buttons.{name}", a3, b3)
            edits.add("project-settings", f"buttons.{name}", message, ("buttons", name) if a3 else None, ("buttons", name) if b3 else None, **extra)
    old, new = _schema(base), _schema(head)
    if old != new:
        said = "the data schema changed" if base.data_schema == head.data_schema else f"data_schema: {base.data_schema} → {head.data_schema}"
        edits.add("data-schema", "data_schema", said, base.data_schema, head.data_schema)
    return edits.found


def _schema(project: Project) -> Any:
    if not project.data_schema:
        return None
    try:
        return json.loads((Path(project.root) / project.data_schema).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ("unreadable", project.data_schema)


# translations -----------------------------------------------------------------
def _catalog(project: Project, locale: str) -> dict[str, tuple[str, int]]:
    """A locale's catalog: context -> (translation, line); empty when there is none (or Babel is not installed)."""
    path = Path(project.root) / catalog_path(locale)
    if not path.is_file():
        return {}
    try:
        from babel.messages.pofile import read_po  # Babel's catalog machinery (~10 ms) only for a project with translations

        with path.open("rb") as handle:
            catalog = read_po(handle, locale=None)
    except Exception:  # noqa: BLE001 - Babel missing, or a catalog it cannot read: `clientflow i18n check` says why
        return {}
    out: dict[str, tuple[str, int]] = {}
    for message in catalog:
        if message.id and message.context:
            string = message.string if isinstance(message.string, str) else " | ".join(message.string or ())
            out[str(message.context)] = (string if string and not message.fuzzy else "", int(message.lineno or 0))
    return out


def _translations(sides: tuple[Side, Side]) -> Iterator[tuple[str | None, Edit]]:
    """Each translation that differs, by locale and context, with the flow it belongs to (None: the project's)."""
    base, head = sides[0].project, sides[1].project
    flows = set(base.flows) | set(head.flows)
    locales = dict.fromkeys([*getattr(base, "locales", ())[1:], *getattr(head, "locales", ())[1:]])
    for locale in locales:
        before, after = _catalog(base, locale), _catalog(head, locale)
        file = catalog_path(locale)
        for context in dict.fromkeys([*after, *before]):
            old, new = before.get(context, ("", 0)), after.get(context, ("", 0))
            if old[0] == new[0]:
                continue
            said = f"translated: {new[0]}" if not old[0] else "no longer translated" if not new[0] else f"translation: {word_diff(old[0], new[0])}"
            edit = Edit(
                "translation",
                f"locales.{locale}.{context}",
                f"{locale} {context}: {said}",
                f"{file}:{old[1]}:1" if old[1] else None,
                f"{file}:{new[1]}:1" if new[1] else None,
                {"locale": locale, "before": old[0] or None, "after": new[0] or None},
            )
            belongs_to = context.split("/", 1)[0]
            yield (belongs_to if belongs_to in flows else None), edit
