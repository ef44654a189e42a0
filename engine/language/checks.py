"""Semantic checks of one compiled flow: what the schema alone cannot see.

Unique step ids and field names, fields that fit their step, answers used
only after they are asked, comparisons with values a choice can never take,
steps that can never be shown, and references to templates, effects and
entities that exist. Every problem is reported through `report(keypath,
message)`, so it is located at the key it is about. What a condition or a
text uses is asked of the compilers that compiled it (`Compiled.uses`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from typing import Any

from ..errors import did_you_mean
from .code import Compiled, Expr, Text
from .model import BUILTIN_EFFECTS, DynamicOptions, Entity, Field, Flow, Step

KINDS_WITH_FIELDS = ("survey", "choice", "form", "confirm")
_YAML11_BOOLEANS = {"yes": "true", "y": "true", "on": "true", "no": "false", "n": "false", "off": "false"}

Path = tuple[Hashable, ...]
Report = Callable[[Path, str], None]
# a problem of an email template's text, found while checking the flow that sends it: reported in the template file
# (path of the email in the flow, the template's text, the name used, message)
ReportIn = Callable[[Path, Text, str, str], None]


def check_flow(
    flow: Flow,
    program: Compiled,
    report: Report,
    templates: Collection[str],
    effects: Mapping[str, Any],
    entities: Mapping[str, Entity],
    compiled: Mapping[str, Any] | None = None,
    template_files: Collection[str] = (),
    report_in: ReportIn | None = None,
) -> None:
    """Report every semantic problem of `flow`.

    Args:
        flow: the compiled flow; its steps, fields, effects and emails are in file order.
        program: what its conditions and texts were compiled into.
        report: called with the key path (e.g. ("steps", 2, "when")) and the message.
        templates: the names of the email templates that exist (compiled or not).
        effects: the effects plugins add, by name.
        entities: the project's entities, by name.
        compiled: the email templates that compiled (EmailTemplate), by name: the
            answers their texts use must be fields of this flow.
        template_files: the names of every file in templates/emails/, to point at a misnamed one.
        report_in: called for a problem of an email template's text (an answer it uses that this flow
            lacks), to report it where the template writes it; without it, at the email in the flow.
    """
    asked = _check_steps(flow, report)
    options = {f.name: [o.value for o in f.options] for s in flow.steps for f in s.fields if isinstance(f.options, tuple)}
    answers = _Answers(asked, options, report, program, report_in)
    for index, step in enumerate(flow.steps):
        path: Path = ("steps", index)
        if step.when is not None:
            answers.check(step.when, (*path, "when"), index)
            if not program.uses(step.when).names and not _constant_holds(program, step.when):
                report((*path, "when"), f"is always false, so step {step.id!r} can never be shown; remove the condition, or the step")
        answers.check(step.title, (*path, "title"), index)
        answers.check(step.body, (*path, "body"), index)
        for name, button in step.buttons.items():
            answers.check(button, (*path, "buttons", name), index)
        for number, field in enumerate(step.fields):
            where: Path = (*path, "fields", number)
            for k, check in enumerate(field.checks):
                answers.check(check.condition, (*where, "validate", k, "if"), index + 1)
                answers.check(check.message, (*where, "validate", k, "message"), index + 1)
            answers.check(field.confirm, (*where, "confirm"), index)
            if isinstance(field.options, DynamicOptions):
                answers.check(field.options.source, (*where, "options", "from"), index)
    _check_outcome(flow, report, templates, effects, entities, answers, compiled or {}, template_files)


def _check_steps(flow: Flow, report: Report) -> dict[str, tuple[int, str]]:
    """Ids, kinds and fields of every step; returns field name -> (index of its step, step id)."""
    seen_steps: dict[str, int] = {}
    asked: dict[str, tuple[int, str]] = {}
    field_lines: dict[str, int] = {}
    approval: Step | None = None
    for index, step in enumerate(flow.steps):
        path: Path = ("steps", index)
        if step.kind == "approval":
            if approval is not None:
                report((*path, "kind"), f"a flow waits for one approval, and {approval.id!r} (line {approval.location.line}) asks for it already; keep one")
            approval = approval or step
        if step.id in seen_steps:
            first = flow.steps[seen_steps[step.id]].location.line
            report((*path, "id"), f"duplicate step id {step.id!r} (first at line {first}); give each step its own id")
        seen_steps.setdefault(step.id, index)
        _check_kind(step, path, report)
        for number, field in enumerate(step.fields):
            where: Path = (*path, "fields", number)
            if field.name in asked:
                report(
                    (*where, "name"),
                    f"duplicate field name {field.name!r} (first at line {field_lines[field.name]}); answers are keyed by field name, so rename one",
                )
                continue
            asked[field.name] = (index, step.id)
            field_lines[field.name] = field.location.line
            _check_field(step, field, where, report)
    return asked


def _check_kind(step: Step, path: Path, report: Report) -> None:
    if step.kind == "approval" and step.fields:
        report((*path, "fields"), "an approval step asks the approver nothing but yes or no (and a reason); move the fields to another step")
    if step.kind == "info" and step.fields:
        report((*path, "fields"), "an info step only explains and cannot ask anything; make the step kind: form, or move the fields to another step")
    if step.kind in KINDS_WITH_FIELDS and not step.fields:
        report((*path, "kind"), f"a {step.kind} step asks something, but this one has no fields; add fields, or make it kind: info")
    elif step.kind == "choice" and not any(f.type == "choice" for f in step.fields):
        report((*path, "kind"), "a choice step needs a field of type: choice; change a field's type, or make the step kind: form")


def _check_field(step: Step, field: Field, where: Path, report: Report) -> None:
    if step.kind == "survey" and field.required:
        report((*where, "required"), "a survey is optional, so its fields cannot be required; write required: false, or make the step kind: form")
    if field.type == "choice" and field.options is None:
        report((*where, "type"), "a choice field needs options; add options: a list of {value, label}, or from: a list of records")
    if field.type != "choice" and field.options is not None:
        report((*where, "options"), f"only a choice field has options, and this one is of type {field.type}; make it type: choice, or remove the options")
    if field.confirm is not None and field.type != "text":
        report((*where, "confirm"), f"a typed confirmation needs a text field, and this one is of type {field.type}; make it type: text")
    if field.default is not None and not _fits(field.type, field.default):
        report((*where, "default"), _default_message(field))
    elif isinstance(field.options, tuple):
        values = [o.value for o in field.options]
        if field.default is not None and field.default not in values:
            report((*where, "default"), f"the default {field.default!r} is not one of the options {_listing(values)}; use one of them")
        for number, value in enumerate(values):
            if value in values[:number]:
                report((*where, "options", number, "value"), f"the option {value!r} is listed twice; keep one")


def _default_message(field: Field) -> str:
    value = field.default
    if field.type == "boolean":
        if isinstance(value, str) and value.lower() in _YAML11_BOOLEANS:
            return f"the default {value!r} is text, not true or false; write {_YAML11_BOOLEANS[value.lower()]} (YAML 1.2 reads {value} as text)"
        return f"the default {value!r} is not true or false; write true or false, or remove the default"
    if field.type == "number":
        return f"the default {value!r} is not a number; write a number, or remove the default"
    return f"the default {value!r} is not text; put it in quotes, or remove the default"


def _check_outcome(
    flow: Flow,
    report: Report,
    templates: Collection[str],
    effects: Mapping[str, Any],
    entities: Mapping[str, Entity],
    answers: _Answers,
    compiled: Mapping[str, Any],
    template_files: Collection[str] = (),
) -> None:
    end = len(flow.steps)
    outcome = flow.outcome
    known_effects = [*BUILTIN_EFFECTS, *effects]
    for index, effect in enumerate(outcome.effects):
        path: Path = ("outcome", "effects", index)
        if effect.op not in known_effects:
            report((*path, "op"), f"unknown effect {effect.op!r}{did_you_mean(effect.op, known_effects)} (plugins can add more)")
        if effect.entity not in entities:
            report((*path, "entity"), f"unknown entity {effect.entity!r}{did_you_mean(effect.entity, entities)} (entities are declared in flows/project.yaml)")
        for key, expression in _effect_expressions(effect):
            answers.check(expression, (*path, *key), end)
    for index, email in enumerate(outcome.emails):
        path = ("outcome", "emails", index)
        answers.check(email.to, (*path, "to"), end)
        answers.check(email.when, (*path, "when"), end)
        template = compiled.get(email.template)
        for part in (template.subject, template.text, template.html) if template is not None else ():
            answers.check(part, (*path, "template"), end, in_template=True)
    answers.check(outcome.banner, ("outcome", "banner"), end)
    answers.check(outcome.undo, ("outcome", "undo"), end)
    if not isinstance(outcome.reversible, bool):
        answers.check(outcome.reversible, ("outcome", "reversible"), end)
    answers.check(outcome.audit, ("outcome", "audit"), end)


def _effect_expressions(effect: Any) -> Iterator[tuple[Path, Expr]]:
    for key in ("id", "to", "when"):
        expression = getattr(effect, key)
        if expression is not None:
            yield (key,), expression
    for name, expression in effect.values.items():
        yield ("values", name), expression
    for name, expression in effect.args.items():
        yield ("with", name), expression


class _Answers:
    """Checks each use of `answers.NAME`: the field exists, is asked in time, and can take the value compared."""

    def __init__(
        self, asked: Mapping[str, tuple[int, str]], options: Mapping[str, list[Any]], report: Report, program: Compiled, report_in: ReportIn | None = None
    ) -> None:
        self.asked, self.options, self.report, self.program, self.report_in = asked, options, report, program, report_in

    def check(self, code: Expr | Text | None, path: Path, before: int, *, in_template: bool = False) -> None:
        """`before`: the index of the first step whose answers are not known yet where `code` is evaluated.

        `in_template`: `code` is an email template's text, its problems reported there (`report_in`) when it can be.
        """
        if code is None:
            return

        def say(key: str, message: str) -> None:
            if in_template and self.report_in is not None and isinstance(code, Text):
                self.report_in(path, code, key, message)
            else:
                self.report(path, message)

        used = self.program.uses(code)
        for name, key in sorted(used.attributes):
            if name != "answers":
                continue
            if key not in self.asked:
                say(key, f"uses answers.{key}, but no field is named {key!r}{did_you_mean(key, self.asked)}")
            elif self.asked[key][0] >= before:
                say(key, f"uses answers.{key} before it is asked (step {self.asked[key][1]!r} asks it); move this to a later step")
        for (name, key), value in used.literals:
            if name == "answers" and key in self.options and value not in self.options[key]:
                say(key, f"compares answers.{key} with {value!r}, which is not one of its options {_listing(self.options[key])}; use one of them")


def missing_template(name: str, templates: Collection[str], files: Collection[str]) -> str:
    """What to do about an email template that does not exist: create it, rename the file that was meant, or use the one meant."""
    create = f"create templates/emails/{name}.txt (and {name}.html)"
    misnamed = sorted(f for f in files if f.lower().rsplit(".", 1)[0] == name.lower() and f not in (f"{name}.txt", f"{name}.html"))
    if misnamed:
        fixes = "; ".join(f"found templates/emails/{f} — rename it to {_proper(name, f)}" for f in misnamed)
        return f"unknown email template {name!r}: {create}; {fixes}"
    hint = did_you_mean(name, templates)
    if hint.startswith("; did you mean"):
        return f"unknown email template {name!r}{hint} Or {create}"
    return f"unknown email template {name!r}: {create}"


def _proper(name: str, found: str) -> str:
    """The name a misnamed template file should have: NAME.html for an HTML file, NAME.txt for anything else."""
    suffix = found.rsplit(".", 1)[-1].lower() if "." in found else ""
    return f"{name}.html" if suffix in ("html", "htm") else f"{name}.txt"


def _fits(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "text":
        return isinstance(value, str)
    return True


def _constant_holds(program: Compiled, expression: Expr) -> bool:
    """Whether a condition that names nothing holds (one that fails is reported when it runs)."""
    try:
        return bool(program.evaluate(expression, {}))
    except Exception:  # noqa: BLE001 - a constant that fails is reported at run time
        return True


def _listing(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values)
