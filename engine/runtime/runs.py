"""Runs: screens rendered from steps, answers validated, the walk from step to step.

A run's state is a plain record (`RunState.to_json`) that storage keeps, so any
process can resume it. `walk` starts at the run's cursor and goes one screen
(stepping, as a web page does) or as far as the given answers allow (ahead, as
`simulate` and `run` do), skipping steps whose `when` is false.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExpressionError, did_you_mean
from ..language.code import Compiled
from ..language.model import DEFAULT_BUTTONS, DynamicOptions, Field, Flow, Step

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


@dataclass
class RunState:
    """Where a run is: plain data, stored between requests."""

    id: str
    flow: str
    version: str
    actor: str
    subject: str
    subject_version: int | None
    answers: dict[str, Any] = field(default_factory=dict)
    cursor: int = 0
    shown: list[str] = field(default_factory=list)
    status: str = "open"  # open | ready | completed | cancelled | blocked | awaiting_approval | rejected | expired
    created: str = ""
    updated: str = ""
    approval: dict[str, Any] | None = None  # awaiting or decided: step, expires, status, by, reason (engine/runtime/approvals.py)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        if data["approval"] is None:  # most runs never wait for anyone: their record stays as it always was
            del data["approval"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Screen:
    """One step as the user meets it: texts rendered, options listed."""

    step: str
    kind: str
    title: str
    body: str | None
    fields: list[dict[str, Any]]
    buttons: dict[str, str]

    def summary(self) -> dict[str, Any]:
        return {"step": self.step, "kind": self.kind, "title": self.title}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "body": self.body, "fields": self.fields, "buttons": self.buttons}


@dataclass
class Walk:
    """What one walk produced."""

    status: str  # open (stepping, at a screen) | needs_input | invalid | ready
    screens: list[Screen]
    errors: list[dict[str, str]] = field(default_factory=list)
    needs: list[dict[str, str]] = field(default_factory=list)
    steps: list[Step] | None = None  # ready: the steps shown with every answer (`visible` of the walk's last scope)

    @property
    def current(self) -> Screen | None:
        return self.screens[-1] if self.screens and self.status != "ready" else None


def visible(program: Compiled, flow: Flow, scope: Mapping[str, Any]) -> list[Step]:
    """The steps shown with the answers known so far."""
    if flow.unconditional:
        return list(flow.steps)
    return [s for s in flow.steps if s.when is None or program.evaluate(s.when, scope)]


_STEADY: dict[int, tuple[Flow, Compiled, bool]] = {}


def steady(program: Compiled, flow: Flow) -> bool:
    """Whether the steps shown stay the same as answers come: no step's `when` reads `answers`
    (a walk changes nothing else in its scope), worked out once per flow."""
    held = _STEADY.get(id(flow))
    if held is None or held[0] is not flow or held[1] is not program:
        if len(_STEADY) > 256:
            _STEADY.clear()
        held = _STEADY[id(flow)] = (flow, program, all(s.when is None or "answers" not in program.uses(s.when).names for s in flow.steps))
    return held[2]


def options(program: Compiled, field_: Field, scope: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A choice field's options as [{"value", "label"}]."""
    if field_.options is None:
        return []
    if isinstance(field_.options, DynamicOptions):
        dynamic = field_.options
        out = []
        for item in _records(program, dynamic, scope):
            if dynamic.value not in item:
                raise ExpressionError(f"{dynamic.source.source}: each option needs a {dynamic.value!r}")
            out.append({"value": item[dynamic.value], "label": program.render(dynamic.label, {**scope, "item": item})})
        return out
    return [{"value": o.value, "label": program.render(o.label, scope)} for o in field_.options]


def _records(program: Compiled, dynamic: DynamicOptions, scope: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The records a choice lists: those of `from` for which `where` holds."""
    records = program.evaluate(dynamic.source, scope) or []
    if not isinstance(records, list):
        raise ExpressionError(f"{dynamic.source.source}: options must come from a list, not {type(records).__name__}")
    if any(not isinstance(item, Mapping) for item in records):
        raise ExpressionError(f"{dynamic.source.source}: options must come from records, each with its keys")
    if dynamic.where is None:
        return records
    where = dynamic.where
    return [item for item in records if program.evaluate(where, {**scope, "item": item})]


def screen_of(program: Compiled, step: Step, scope: Mapping[str, Any], answers: Mapping[str, Any]) -> Screen:
    """Render a step into a screen, showing the answers given so far."""
    render = program.render
    fields = []
    for f in step.fields:
        item: dict[str, Any] = {
            "name": f.name,
            "type": f.type,
            "label": render(f.label, scope) if f.label else f.name,
            "required": f.required,
            "default": f.default,
        }
        if f.help:
            item["help"] = render(f.help, scope)
        if f.options is not None:
            item["options"] = options(program, f, scope)
        if f.confirm is not None:
            item["confirm"] = True
        if f.name in answers and answers[f.name] is not None:
            item["value"] = answers[f.name]
        fields.append(item)
    buttons = {name: render(text, scope) for name, text in step.buttons.items()}
    written = program.buttons  # the project's own labels (flows/project.yaml `buttons:`)
    for name, label in DEFAULT_BUTTONS.items():
        if name not in buttons:
            buttons[name] = render(written[name], scope) if name in written else label
    return Screen(step.id, step.kind, render(step.title, scope), render(step.body, scope) if step.body else None, fields, buttons)


def check_answer(program: Compiled, field_: Field, raw: Any, scope: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Normalise one answer and validate it; return (value, error message or None)."""
    if raw is None or (isinstance(raw, str) and raw == ""):
        if field_.required:
            return None, "an answer is required"
        return field_.default, None
    value: Any = raw
    if field_.type == "text":
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            return None, f"must be text, not {_kind(raw)}"
        value = unicodedata.normalize("NFC", str(raw))
        if len(value) > field_.max_length:
            return None, f"is {len(value):,} characters long; at most {field_.max_length:,} are accepted"
        if field_.confirm is not None:
            expected = unicodedata.normalize("NFC", str(program.evaluate(field_.confirm, scope)))
            if value != expected:
                return None, f"must be typed exactly as {expected!r}"
    elif field_.type == "boolean":
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            value = raw.strip().lower() in _TRUE
        elif not isinstance(raw, bool):
            return None, f"must be yes or no (true or false), not {_kind(raw)}"
    elif field_.type == "number":
        if isinstance(raw, bool):
            return None, "must be a number, not yes/no"
        try:
            value = float(raw) if not isinstance(raw, (int, float)) else raw
        except (TypeError, ValueError):
            return None, f"must be a number, not {_kind(raw)}"
        if isinstance(value, float) and value.is_integer() and isinstance(raw, str) and "." not in raw:
            value = int(value)
    elif field_.type == "choice":
        if not isinstance(raw, (str, int, float, bool)):
            return None, f"must be one of the options, not {_kind(raw)}"
        matched = _match_choice(program, field_, raw, scope)
        if matched is _NO_MATCH:
            listed = [str(o["value"]) for o in options(program, field_, scope)]
            return None, f"{raw!r} is not one of the options{did_you_mean(str(raw), listed)}"
        value = matched
    for check in field_.checks:
        if not program.evaluate(check.condition, {**scope, "value": value}):
            return None, program.render(check.message, {**scope, "value": value})
    return value, None


_NO_MATCH = object()


def _match_choice(program: Compiled, field_: Field, raw: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(field_.options, DynamicOptions):
        dynamic = field_.options
        records = _records(program, dynamic, scope)
        for key in dynamic.match:
            for item in records:
                if isinstance(item, Mapping) and key in item and str(item[key]) == str(raw) and not isinstance(raw, bool):
                    return item[dynamic.value]
        return _NO_MATCH
    for option in field_.options or ():
        if option.value == raw or (isinstance(option.value, (int, float)) and not isinstance(option.value, bool) and str(option.value) == str(raw)):
            return option.value
        if isinstance(raw, str) and not isinstance(option.value, str) and str(option.value).lower() == raw.lower():
            return option.value
    return _NO_MATCH


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "yes/no"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):  # the answer as it was given, as a person reads it (not the type's name, str)
        return repr(value) if len(value) <= 40 else f"a text of {len(value):,} characters"
    return type(value).__name__


def unknown_answers(flow: Flow, given: Mapping[str, Any]) -> list[dict[str, str]]:
    """Errors for answers that name no field of the flow."""
    names = flow.fields()
    return [{"field": str(name), "message": f"{flow.id} has no field {name!r}{did_you_mean(str(name), names)}"} for name in given if name not in names]


def _off_screen(program: Compiled, flow: Flow, scope: Mapping[str, Any], state: RunState, given: Mapping[str, Any]) -> list[dict[str, str]]:
    """Errors for answers, submitted one screen at a time, to fields of another screen."""
    steps = visible(program, flow, scope)
    here = steps[state.cursor] if state.cursor < len(steps) else None
    own = {f.name for f in here.fields} if here else set()
    current = repr(here.id) if here else "this one"
    fields = flow.fields()
    return [
        {
            "field": str(name),
            "message": f"{name!r} is asked on the screen {fields[name][0].id!r}, not on {current}; answer it there, or give every answer at once",
        }
        for name in given
        if name not in own
    ]


def walk(program: Compiled, flow: Flow, scope_for: Any, state: RunState, given: Mapping[str, Any], *, ahead: bool, show: bool = True) -> Walk:
    """Advance `state` with `given` answers; `scope_for(answers)` builds the scope; `program` is the project's.

    Stepping (`ahead=False`) submits the current screen, whose fields are the
    only ones it accepts (a required one left out is an error), and stops at
    the next. Ahead goes on while every screen's required fields have answers.
    """
    errors = unknown_answers(flow, given)
    if not errors and not ahead:
        errors = _off_screen(program, flow, scope_for(state.answers), state, given)
    if errors:
        scope = scope_for(state.answers)
        steps = visible(program, flow, scope)
        at = [screen_of(program, steps[state.cursor], scope, state.answers)] if state.cursor < len(steps) else []
        return Walk("invalid", at, errors=errors)
    screens: list[Screen] = []
    submitted = False
    scope = scope_for(state.answers)  # kept up to date below as answers are accepted
    fixed = steady(program, flow)
    shown: list[Step] | None = None
    while True:
        steps = shown = visible(program, flow, scope) if shown is None or not fixed else shown
        if state.cursor >= len(steps):
            state.status = "ready"
            return Walk("ready", screens, steps=steps)
        step = steps[state.cursor]
        if show:  # a bulk run needs the answers checked, not the screens drawn
            screens.append(screen_of(program, step, scope, state.answers))
        state.shown = state.shown[: state.cursor] + [step.id]
        if not ahead and submitted:
            return Walk("open", screens)
        if not step.fields:  # a screen that asks nothing (an explanation, an approval): nothing to check or keep
            state.cursor += 1
            submitted = True
            continue
        values: dict[str, Any] = {}
        field_errors: list[dict[str, str]] = []
        needs: list[dict[str, str]] = []
        for f in step.fields:
            if f.name in given:
                raw = given[f.name]
            elif f.name in state.answers:
                raw = state.answers[f.name]
            elif f.required and ahead:
                needs.append({"step": step.id, "field": f.name})
                continue
            else:
                raw = None
            value, error = check_answer(program, f, raw, scope)
            if error:
                field_errors.append({"field": f.name, "message": f"{program.render(f.label, scope) if f.label else f.name}: {error}"})
            else:
                values[f.name] = value
        if field_errors:
            return Walk("invalid", screens, errors=field_errors)
        if needs:
            return Walk("needs_input", screens, needs=needs)
        if values:  # a screen without fields (or with none answered here) changes no answer: nothing to copy
            state.answers.update(values)
            scope["answers"] = {**scope["answers"], **values}
        state.cursor += 1
        submitted = True
