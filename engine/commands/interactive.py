"""Walking a flow's screens at a terminal: numbered choices, yes/no, typed confirmation.

Each step re-runs the dry-run with the answers so far, so every answer is
checked by the engine exactly as a committed run would check it; nothing is
stored while the user walks.
"""

from __future__ import annotations

from typing import Any

import click

from ..language.model import DEFAULT_BUTTONS
from ..runtime.plan import Plan
from . import terminal

NEXT, BACK, CANCEL = "next", "back", "cancel"


class Stopped(Exception):
    """The user left the questions (end of input or Ctrl-C) before the end."""


def walk_screens(engine: Any, flow: str, actor: str, subject: str, given: dict[str, Any]) -> Plan:
    """Show each screen, ask what it needs, and return the plan of the answers given.

    Answers given on the command line are not asked again unless the engine
    finds them invalid. The returned plan is `completed`, `blocked` or (when the
    user chose the screen's cancel button) `cancelled`. Raises `Stopped`.
    """
    answers = dict(given)
    position = 0  # the screen the user is on
    fresh = True  # arriving at that screen (not re-asking after an invalid answer)
    while True:
        plan = engine.simulate(flow, actor, subject, answers)
        if plan.status == "blocked" or position >= len(plan.screens):
            return plan
        screen = plan.screens[position]
        stopped_here = position == len(plan.screens) - 1 and plan.status in ("needs_input", "invalid")
        errors = {e["field"]: e["message"] for e in plan.errors} if stopped_here else {}
        missing = {n["field"] for n in plan.needs} if stopped_here else set()
        pending: list[dict[str, Any]] = []
        if fresh:
            click.echo(terminal.screen(screen, position + 1, answers=answers))
            pending = [f for f in screen.fields if f["name"] not in given or f["name"] in errors]
        for field in screen.fields:
            if field["name"] in errors:
                click.echo(click.style(f"  ✗ {errors[field['name']]}", fg="red"))
            if (field["name"] in errors or field["name"] in missing) and field not in pending:
                pending.append(field)
        fresh = False
        if pending:
            for field in pending:
                answers[field["name"]] = ask(field, answers.get(field["name"]))
            continue  # the engine checks the answers before the screen is left
        if errors or missing:  # an answer the engine refuses outside this screen's fields
            return plan
        choice = press(screen.buttons, first=position == 0)
        if choice == CANCEL:
            return cancelled(plan)
        position = max(position - 1, 0) if choice == BACK else position + 1
        fresh = True


def unanswered(plan: Plan, given: dict[str, Any]) -> bool:
    """Whether a person at a terminal still has something to answer: a required field, or an optional one not given."""
    if plan.status == "needs_input":
        return True
    return plan.status == "completed" and any(f["name"] not in given for screen in plan.screens for f in screen.fields)


def cancelled(plan: Plan) -> Plan:
    """The plan of a run the user cancelled: nothing changes, nobody is written to."""
    plan.status = "cancelled"
    plan.changes, plan.emails, plan.banners, plan.needs, plan.errors = [], [], [], [], []
    return plan


def _prompt(text: str, **kwargs: Any) -> Any:
    try:
        return click.prompt(text, **kwargs)
    except click.Abort as exc:
        raise Stopped from exc


def ask(field: dict[str, Any], current: Any = None) -> Any:
    """Ask one field: numbered options, yes/no, typed confirmation or text."""
    label = f"  {field['label']}"
    optional = not field["required"]
    if field["type"] == "boolean":
        yes = current if isinstance(current, bool) else bool(field.get("default"))
        return confirm(label, default=yes)
    if field.get("options"):
        return _choose(field, label, current, optional)
    if field.get("confirm"):
        return _prompt(f"{label} (type it exactly as shown to confirm)", default="" if optional else None, show_default=False) or None
    hint = " (Enter to skip)" if optional else ""
    given: Any = current if current not in (None, "") else ("" if optional else None)
    value = _prompt(f"{label}{hint}", default=given, show_default=current not in (None, ""))
    return value if value != "" else None


def _choose(field: dict[str, Any], label: str, current: Any, optional: bool) -> Any:
    options = field["options"]
    numbers = {str(i): o["value"] for i, o in enumerate(options, 1)}
    chosen = next((n for n, v in numbers.items() if v == current), None)
    hint = f"1-{len(options)}" + (", Enter to skip" if optional and chosen is None else "")

    def pick(raw: Any) -> Any:
        text = str(raw).strip()
        if text in numbers:
            return numbers[text]
        if text == "" and optional:
            return None
        if text == "" or (text.isdigit() and all(str(o["value"]) != text for o in options)):
            raise click.BadParameter(f"choose a number from 1 to {len(options)}")
        return text  # a value or another key of an option (an email); the engine checks it

    default = chosen if chosen is not None else ("" if optional else None)
    return _prompt(f"{label} ({hint})", default=default, show_default=chosen is not None, value_proc=pick)


def press(buttons: dict[str, str], *, first: bool) -> str:
    """Ask which of the screen's buttons to press: Enter goes on, b goes back, c cancels."""
    choices = [f"Enter: {buttons.get(NEXT, DEFAULT_BUTTONS[NEXT])}"]
    if not first:
        choices.append(f"b: {buttons.get(BACK, DEFAULT_BUTTONS[BACK])}")
    choices.append(f"c: {buttons.get(CANCEL, DEFAULT_BUTTONS[CANCEL])}")
    keys = {"": NEXT, "y": NEXT, "yes": NEXT, "c": CANCEL, "cancel": CANCEL, "n": CANCEL, "no": CANCEL}
    if not first:
        keys.update({"b": BACK, "back": BACK})

    def pick(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in keys:
            raise click.BadParameter("press Enter to go on" + (", b to go back" if not first else "") + " or c to cancel")
        return keys[text]

    return str(_prompt("  " + "  ·  ".join(choices), default="", show_default=False, value_proc=pick))


def confirm(question: str, *, default: bool = False) -> bool:
    """A yes/no question (Enter takes the default); anything else is asked again."""
    try:
        return click.confirm(question, default=default)
    except click.Abort as exc:
        raise Stopped from exc
