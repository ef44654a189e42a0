"""available, simulate and run: a flow as a user meets it, dry-run or applied."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .. import render
from ..plan import Plan
from .common import (
    actor_option,
    answer_options,
    command,
    data_options,
    emit_json,
    format_option,
    is_terminal,
    now_option,
    open_engine,
    outbox_option,
    parse_answers,
    project_option,
    subject_option,
)


@command()
@project_option
@data_options
@actor_option
@subject_option
@format_option("text", "json")
@now_option
def available(project: Path, data: Path | None, db: Path | None, actor: str, subject: str, fmt: str, now: datetime | None) -> None:
    """Every flow of the project, offered or not, with the failed rules' messages."""
    engine = open_engine(project, data, db, now)
    result = engine.available(actor, subject)
    if fmt == "json":
        emit_json(result.to_json())
    else:
        click.echo(render.availability(result))


@command()
@click.argument("flow")
@project_option
@data_options
@actor_option
@subject_option
@answer_options
@format_option("text", "json")
@now_option
@click.option("--no-input", is_flag=True, help="Never prompt, even on a terminal.")
def simulate(
    flow: str, project: Path, data: Path | None, db: Path | None, actor: str, subject: str,
    answer: tuple[str, ...], answers_file: Path | None, fmt: str, now: datetime | None, no_input: bool,
) -> None:  # fmt: skip
    """Dry-run FLOW: every screen, then what would change, who gets which email, and the banner.

    Nothing is written and no email is sent.
    """
    engine = open_engine(project, data, db, now)
    answers = parse_answers(answer, answers_file)
    interactive = fmt == "text" and not no_input and is_terminal()
    if interactive:
        plan = _interactive(engine, flow, actor, subject, answers, apply=False)
    else:
        plan = engine.simulate(flow, actor, subject, answers)
    _show(engine, plan, fmt)
    raise click.exceptions.Exit(plan.exit_code)


@command("run")
@click.argument("flow")
@project_option
@data_options
@actor_option
@subject_option
@answer_options
@format_option("text", "json")
@now_option
@outbox_option
@click.option("--yes", is_flag=True, help="Commit without asking.")
def run(
    flow: str, project: Path, data: Path | None, db: Path | None, actor: str, subject: str,
    answer: tuple[str, ...], answers_file: Path | None, fmt: str, now: datetime | None, outbox: Path | None, yes: bool,
) -> None:  # fmt: skip
    """Apply FLOW for real: records change and emails go to the notifiers.

    On a terminal, missing answers are asked screen by screen and the plan is
    shown before anything is committed. Without a terminal, --yes is required.
    """
    engine = open_engine(project, data, db, now, outbox)
    answers = parse_answers(answer, answers_file)
    terminal = is_terminal() and fmt == "text"
    preview = _interactive(engine, flow, actor, subject, answers, apply=True) if terminal and not yes else engine.simulate(flow, actor, subject, answers)
    if preview.status != "completed":
        _show(engine, preview, fmt)
        raise click.exceptions.Exit(preview.exit_code)
    if not yes:
        if not terminal:
            message = "nothing applied: this would commit real changes; pass --yes to apply without a terminal"
            if fmt == "json":
                emit_json({**preview.to_json(), "status": "needs_input", "needs": [{"step": "confirm", "field": "--yes"}], "message": message})
            else:
                click.echo(message, err=True)
            raise click.exceptions.Exit(5)
        click.echo(render.plan(preview, sender=str(engine.project.product.get("sender", ""))))
        if not click.confirm("\nApply these changes for real?", default=False):
            click.echo("Nothing applied.")
            raise click.exceptions.Exit(0)
    plan = engine.apply(flow, actor, subject, preview.audit.get("answers", answers))
    if fmt == "json":
        emit_json(plan.to_json())
    else:
        click.echo(render.plan(plan, sender=str(engine.project.product.get("sender", ""))) if yes else _applied(plan))
        if plan.status == "completed":
            _delivery_note(engine, plan)
    raise click.exceptions.Exit(plan.exit_code)


def _applied(plan: Plan) -> str:
    return click.style(f"Applied {plan.flow}: {len(plan.changes)} change(s), {len(plan.emails)} email(s).", fg="green", bold=True)


def _delivery_note(engine: Any, plan: Plan) -> None:
    folder = engine.config.notifier_settings.get("outbox", {}).get("dir")
    if "outbox" in engine.notifiers and folder and plan.emails:
        click.echo(f"Emails written to {folder}")
    with engine.storage.transaction() as tx:
        pending = [m for m in tx.outbox(status="pending") if m["run"] == plan.run]
    if pending:
        click.echo(f"{len(pending)} email(s) wait in the outbox for a retry; see `clientflow outbox`.", err=True)


def _show(engine: Any, plan: Plan, fmt: str) -> None:
    if fmt == "json":
        emit_json(plan.to_json())
    else:
        click.echo(render.plan(plan, sender=str(engine.project.product.get("sender", ""))))


def _interactive(engine: Any, flow: str, actor: str, subject: str, answers: dict[str, Any], *, apply: bool) -> Plan:
    """Walk the screens at the terminal, asking for what each one needs."""
    answers = dict(answers)
    asked: set[str] = set(answers)
    passed = 0  # screens the user has already gone through
    while True:
        plan = engine.simulate(flow, actor, subject, answers)
        if plan.status == "blocked":
            return plan
        if plan.status == "invalid":
            for error in plan.errors:
                click.echo(click.style(f"  ✗ {error['message']}", fg="red"))
                asked.discard(error["field"])
                answers.pop(error["field"], None)
            passed = min(passed, max(len(plan.screens) - 1, 0))
        changed = False
        for index in range(passed, len(plan.screens)):
            screen = plan.screens[index]
            click.echo(render.screen(screen, index + 1, answers=answers))
            pending = [f for f in screen.fields if f["name"] not in asked]
            if not pending and not click.confirm(f"  {screen.buttons.get('next', 'Continue')}?", default=True):
                return _cancelled(plan)
            for field in pending:
                answers[field["name"]] = _ask(field)
                asked.add(field["name"])
            passed = index + 1
            if pending:
                changed = True
                break
        if not changed and plan.status != "invalid":
            return plan


def _cancelled(plan: Plan) -> Plan:
    plan.status = "cancelled"
    plan.changes, plan.emails, plan.banners = [], [], []
    return plan


def _ask(field: dict[str, Any]) -> Any:
    label = f"  {field['label']}"
    if field["type"] == "boolean":
        return click.confirm(label, default=bool(field.get("default")))
    if field.get("options"):
        options = field["options"]
        choice = click.prompt(f"{label} (1-{len(options)})", type=click.IntRange(1, len(options)), default=None if field["required"] else 0, show_default=False) if field["required"] else click.prompt(f"{label} (1-{len(options)}, Enter to skip)", default="", show_default=False)
        if choice in ("", 0, None):
            return None
        return options[int(choice) - 1]["value"]
    value = click.prompt(label + ("" if field["required"] else " (Enter to skip)"), default="" if not field["required"] else None, show_default=False)
    return value if value != "" else None
