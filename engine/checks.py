"""Semantic checks of one compiled flow: what the schema alone cannot see.

Unique step ids and field names, fields that fit their step, answers used
only after they are asked, comparisons with values a choice can never take,
steps that can never be shown, and references to templates, effects and
entities that exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Location, Problem, did_you_mean
from .expressions import Expression
from .model import DynamicOptions, EmailTemplate, Entity, Flow, Step

BUILTIN_EFFECTS = ("set", "delete", "create")


def check_flow(
    flow: Flow,
    problems: list[Problem],
    emails: Mapping[str, EmailTemplate],
    effects: Mapping[str, Any],
    entities: Mapping[str, Entity],
) -> None:
    """Append every semantic problem of `flow` to `problems`."""

    def error(location: Location, message: str) -> None:
        problems.append(Problem(location, message))

    seen_steps: dict[str, Step] = {}
    seen_fields: dict[str, Location] = {}
    asked: dict[str, int] = {}
    for index, step in enumerate(flow.steps):
        if step.id in seen_steps:
            error(step.location, f"duplicate step id {step.id!r} (first at line {seen_steps[step.id].location.line}); give each step its own id")
        seen_steps.setdefault(step.id, step)
        _check_step(step, error)
        for field in step.fields:
            if field.name in seen_fields:
                error(field.location, f"duplicate field name {field.name!r} (first at line {seen_fields[field.name].line}); answers are keyed by field name")
            seen_fields.setdefault(field.name, field.location)
            asked.setdefault(field.name, index)

    options = {f.name: f.options for s in flow.steps for f in s.fields if isinstance(f.options, tuple)}
    for index, step in enumerate(flow.steps):
        if step.when is not None:
            _check_answers(step.when, asked, options, index, f"step {step.id!r}: when", step.location, error)
            if not step.when.names and not step.when.attributes and not _safe_constant(step.when):
                error(step.location, f"step {step.id!r} can never be shown: its when ({step.when.source}) is always false; remove the step or the condition")
        for field in step.fields:
            for check in field.checks:
                _check_answers(check.condition, asked, options, index + 1, f"field {field.name!r}: validate", field.location, error)
            if field.confirm is not None:
                _check_answers(field.confirm, asked, options, index, f"field {field.name!r}: confirm", field.location, error)
            if isinstance(field.options, DynamicOptions):
                _check_answers(field.options.source, asked, options, index, f"field {field.name!r}: options", field.location, error)

    end = len(flow.steps)
    for rule in flow.rules:
        if any(name == "answers" for name in rule.condition.names):
            error(rule.location, f"rule {rule.name!r} uses answers, but rules are checked before anything is asked; move the check into a field's validate")
    outcome = flow.outcome
    for effect in outcome.effects:
        if effect.op not in BUILTIN_EFFECTS and effect.op not in effects:
            error(effect.location, f"unknown effect {effect.op!r}{did_you_mean(effect.op, [*BUILTIN_EFFECTS, *effects])}")
        if effect.entity not in entities:
            error(effect.location, f"unknown entity {effect.entity!r}{did_you_mean(effect.entity, entities)}")
        for expression in _effect_expressions(effect):
            _check_answers(expression, asked, options, end, f"effect {effect.op!r}", effect.location, error)
    for email in outcome.emails:
        if email.template not in emails:
            error(email.location, f"unknown email template {email.template!r}{did_you_mean(email.template, emails)}; add templates/emails/{email.template}.txt")
        for expression in (email.to, email.when):
            if expression is not None:
                _check_answers(expression, asked, options, end, f"email {email.template!r}", email.location, error)


def _check_step(step: Step, error: Any) -> None:
    kinds_with_fields = {"survey", "choice", "form", "confirm"}
    if step.kind == "info" and step.fields:
        error(step.location, f"step {step.id!r} is an info step and cannot ask anything; make it a form, or move its fields to another step")
    if step.kind in kinds_with_fields and not step.fields:
        error(step.location, f"step {step.id!r} is a {step.kind} step with no fields; add fields or make it an info step")
    if step.kind == "choice" and not any(f.type == "choice" for f in step.fields):
        error(step.location, f"step {step.id!r} is a choice step, but none of its fields is of type choice")
    if step.kind == "survey" and any(f.required for f in step.fields):
        error(step.location, f"step {step.id!r} is a survey, and a survey is optional: make its fields required: false, or make it a form")
    for field in step.fields:
        where = f"field {field.name!r}"
        if field.type == "choice" and field.options is None:
            error(field.location, f"{where} is a choice and needs options")
        if field.type != "choice" and field.options is not None:
            error(field.location, f"{where} has options but is of type {field.type}; make it type: choice")
        if field.confirm is not None and field.type != "text":
            error(field.location, f"{where}: a typed confirmation (confirm) needs type: text")
        if field.default is not None and not _fits(field.type, field.default):
            error(field.location, f"{where}: the default {field.default!r} is not a {field.type}")
        if isinstance(field.options, tuple) and field.default is not None:
            values = [o.value for o in field.options]
            if field.default not in values:
                error(field.location, f"{where}: the default {field.default!r} is not one of its options {values}")
        if isinstance(field.options, tuple):
            values = [o.value for o in field.options]
            for value in values:
                if values.count(value) > 1:
                    error(field.location, f"{where}: the option {value!r} is listed twice")
                    break


def _fits(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "text":
        return isinstance(value, str)
    return True


def _safe_constant(expression: Expression) -> bool:
    try:
        return bool(expression({}))
    except Exception:  # noqa: BLE001 - a constant that fails is reported at run time
        return True


def _effect_expressions(effect: Any) -> list[Expression]:
    found = [e for e in (effect.id, effect.to, effect.when) if e is not None]
    return found + list(effect.values.values()) + list(effect.args.values())


def _check_answers(
    expression: Expression,
    asked: Mapping[str, int],
    options: Mapping[str, Any],
    before: int,
    where: str,
    location: Location,
    error: Any,
) -> None:
    for name, key in sorted(expression.attributes):
        if name != "answers":
            continue
        if key not in asked:
            error(location, f"{where} uses answers.{key}, but no field is named {key!r}{did_you_mean(key, asked)}")
        elif asked[key] >= before:
            error(location, f"{where} uses answers.{key} before it is asked; the field comes in a later step")
    for (name, key), value in expression.literals:
        if name == "answers" and key in options:
            values = [o.value for o in options[key]]
            if value not in values:
                error(location, f"{where} compares answers.{key} with {value!r}, which is not one of its options {values}")
