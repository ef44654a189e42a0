"""available, simulate and run: a flow as a user meets it, dry-run or applied."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..errors import ExitCode
from ..outbox import summary
from ..runtime.plan import Plan
from . import terminal
from .common import (
    actor_option,
    answer_options,
    command,
    data_options,
    db_option,
    emit_json,
    format_option,
    is_terminal,
    locale_option,
    now_option,
    open_engine,
    outbox_option,
    parse_answers,
    project_option,
    subject_option,
)
from .interactive import Stopped, confirm, unanswered, walk_screens

NEEDS_YES = {"step": "commit", "field": "--yes"}


@command(short_help="Which flows an actor is offered on a subject, and why not.")
@project_option
@data_options
@actor_option
@subject_option
@format_option("text", "json")
@now_option
@locale_option
def available(project: Path, data: Path | None, db: Path | None, actor: str, subject: str, fmt: str, now: datetime | None, locale: str | None) -> None:
    """Every flow of the project, offered or not, with each failed rule's message.

    JSON: {"actor", "subject", "flows": [{"flow", "title", "available", "reasons": [{"rule", "message"}]}]}.
    """
    engine = open_engine(project, data, db, now)
    engine = engine.in_locale(locale) if locale is not None else engine.for_actor(actor)
    try:
        result = engine.available(actor, subject)
    finally:
        engine.close()
    if fmt == "json":
        emit_json(result.to_json())
    else:
        click.echo(terminal.availability(result))


@command(short_help="Dry-run a flow: its screens, changes, emails and banner.")
@click.argument("flow")
@project_option
@data_options
@actor_option
@subject_option
@answer_options
@format_option("text", "json")
@now_option
@click.option("--no-input", is_flag=True, help="Never prompt, even on a terminal: missing answers end with exit code 5.")
@locale_option
def simulate(
    flow: str, project: Path, data: Path | None, db: Path | None, actor: str, subject: str,
    answer: tuple[str, ...], answers_file: Path | None, fmt: str, now: datetime | None, no_input: bool, locale: str | None,
) -> None:  # fmt: skip
    """Dry-run FLOW: every screen, then what would change, who gets which email, and the banner.

    Nothing is written and no email is sent. When answers are missing and
    stdin is a terminal, the screens are walked and asked one by one
    (numbered choices, yes/no, typed confirmation); otherwise the plan stops
    at the first screen that needs an answer (exit code 5).

    With --format json, prints the plan: {"flow", "status", "dry_run", "screens",
    "blocked_by", "errors", "needs", "changes", "emails", "banners", "reversible", "audit", ...}.
    """
    engine = open_engine(project, data, db, now)
    engine = engine.in_locale(locale) if locale is not None else engine.for_actor(actor)
    try:
        answers = parse_answers(answer, answers_file)
        plan = engine.simulate(flow, actor, subject, answers)
        if unanswered(plan, answers) and fmt == "text" and not no_input and is_terminal():
            try:
                plan = walk_screens(engine, flow, actor, subject, answers)
            except Stopped:
                click.echo("\nStopped before the last screen; nothing would change.", err=True)
                raise click.exceptions.Exit(ExitCode.NEEDS_INPUT) from None
            click.echo("")
            click.echo(terminal.plan(plan, sender=_sender(engine), screens=False))
        else:
            _show(engine, plan, fmt)
    finally:
        engine.close()
    raise click.exceptions.Exit(plan.exit_code)


@command("run", short_help="Apply a flow for real: records change, emails go out.")
@click.argument("flow")
@project_option
@data_options
@actor_option
@subject_option
@answer_options
@format_option("text", "json")
@now_option
@outbox_option
@click.option("--yes", is_flag=True, help="Commit without asking (required when stdin is not a terminal).")
@locale_option
def run(
    flow: str, project: Path, data: Path | None, db: Path | None, actor: str, subject: str,
    answer: tuple[str, ...], answers_file: Path | None, fmt: str, now: datetime | None, outbox: Path | None, yes: bool,
    locale: str | None,
) -> None:  # fmt: skip
    """Apply FLOW for real: records change and emails go to the notifiers.

    On a terminal, missing answers are asked screen by screen and the plan is
    shown and confirmed before anything is committed. Without a terminal,
    --yes is required: without it nothing is applied and the exit code is 5.
    Emails go to the configured notifiers (by default .eml files in
    .clientflow/outbox/ under the project); --outbox DIR writes them to DIR.
    """
    engine = open_engine(project, data, db, now, outbox)
    engine = engine.in_locale(locale) if locale is not None else engine.for_actor(actor)
    try:
        plan, delivery = _run(engine, flow, actor, subject, parse_answers(answer, answers_file), fmt, yes)
    finally:
        engine.close()
    # committed, but an email that failed for good is a problem to act on: not a clean exit
    raise click.exceptions.Exit(ExitCode.ERROR if delivery and delivery["failed"] else plan.exit_code)


def _run(engine: Any, flow: str, actor: str, subject: str, answers: dict[str, Any], fmt: str, yes: bool) -> tuple[Plan, dict[str, Any] | None]:
    if not yes:
        ask = fmt == "text" and is_terminal()
        preview = engine.simulate(flow, actor, subject, answers)
        walked = ask and unanswered(preview, answers)
        if walked:
            try:
                preview = walk_screens(engine, flow, actor, subject, answers)
            except Stopped:
                click.echo("\nStopped before the last screen; nothing applied.", err=True)
                raise click.exceptions.Exit(ExitCode.NEEDS_INPUT) from None
        if preview.status == "cancelled":
            click.echo("Cancelled; nothing applied.")
            return preview, None
        if preview.status not in ("completed", "awaiting_approval"):
            _show(engine, preview, fmt)
            return preview, None
        if not ask:
            return _refuse(engine, preview, fmt), None
        click.echo("")
        click.echo(terminal.plan(preview, sender=_sender(engine), screens=not walked))
        try:
            agreed = confirm("\nApply these changes for real?")
        except Stopped:
            agreed = False
        if not agreed:
            click.echo("Nothing applied.")
            return _cancelled(preview), None
        answers = preview.audit.get("answers", answers)
    plan = engine.apply(flow, actor, subject, answers)
    assert plan is not None  # without `once`, apply always runs
    delivery = _delivery(engine, plan) if plan.status == "completed" and not plan.dry_run else None
    if fmt == "json":
        emit_json({**plan.to_json(), **({"delivery": delivery} if delivery is not None else {})})
    elif yes or plan.status != "completed":
        click.echo(terminal.plan(plan, sender=_sender(engine)))
    else:
        click.echo(_applied(plan))
    if delivery is not None:
        _delivery_note(engine, plan, delivery, fmt)
    return plan, delivery


def _refuse(engine: Any, preview: Plan, fmt: str) -> Plan:
    """No terminal to ask and no --yes: apply nothing and say why (exit code 5)."""
    click.echo("nothing applied: this would commit real changes and stdin is not a terminal to ask; pass --yes to apply", err=True)
    preview.status, preview.needs = "needs_input", [dict(NEEDS_YES)]
    preview.changes, preview.emails, preview.banners = [], [], []
    if fmt == "json":
        emit_json(preview.to_json())
    return preview


def _cancelled(plan: Plan) -> Plan:
    plan.status = "cancelled"
    return plan


def _sender(engine: Any) -> str:
    return str(engine.project.product.get("sender", ""))


def _applied(plan: Plan) -> str:
    lines = [click.style(f"Applied {plan.flow}: {len(plan.changes)} change(s), {len(plan.emails)} email(s).", fg="green", bold=True)]
    lines.extend(f"Banner: {banner}" for banner in plan.banners)
    return "\n".join(lines)


def _delivery(engine: Any, plan: Plan) -> dict[str, Any]:
    """What became of the run's emails once the commit's delivery pass ended: sent, waiting for a retry, failed for good."""
    with engine.storage.transaction() as tx:
        mine = [summary(m) for m in tx.outbox() if m.get("run") == plan.run]
    return {
        "sent": sum(m["status"] == "sent" for m in mine),
        "pending": [m for m in mine if m["status"] in ("pending", "sending")],
        "failed": [m for m in mine if m["status"] == "failed"],
    }


def _delivery_note(engine: Any, plan: Plan, delivery: dict[str, Any], fmt: str) -> None:
    folder = engine.config.notifier_settings.get("outbox", {}).get("dir")
    if fmt == "text" and "outbox" in engine.notifiers and folder and plan.emails:
        click.echo(f"Emails written to {folder}")
    if delivery["pending"]:
        click.echo(f"{len(delivery['pending'])} email(s) wait in the outbox for a retry; see `clientflow outbox`.", err=True)
    for message in delivery["failed"]:
        to = ", ".join(message["to"])
        click.echo(f"error: the email {message['subject']!r} to {to} failed for good through {message['notifier']}: {message['error']}", err=True)
    if delivery["failed"]:
        click.echo("The changes are committed; fix the cause, then `clientflow outbox --retry` sends the failed emails again.", err=True)


def _show(engine: Any, plan: Plan, fmt: str) -> None:
    if fmt == "json":
        emit_json(plan.to_json())
    else:
        click.echo(terminal.plan(plan, sender=_sender(engine)))


@command(short_help="The flow versions runs in flight are on; --migrate moves those that fit to the current one.")
@project_option
@db_option()
@format_option("text", "json")
@click.option("--migrate", is_flag=True, help="Move each run on an earlier version whose screens and answers all still exist to the current version.")
def versions(project: Path, db: str | None, fmt: str, migrate: bool) -> None:
    """List the versions of each flow that runs in flight are on (open or ready), with how many runs each holds.

    A run finishes on the version it started under while that version is kept; with
    --migrate, the runs whose every screen shown and answer given still exist in the
    current flow move to it now, and the others stay on theirs.
    """
    with open_engine(project, None, db) as engine:
        found = engine.versions(migrate=migrate)
    if fmt == "json":
        emit_json({"versions": found, "moved": sum(e["moved"] for e in found)})
        return
    if not found:
        click.echo("no run in flight")
        return
    for entry in found:
        state = "current" if entry["current"] else ("kept" if entry["kept"] else "not kept: its runs cannot resume")
        moved = f", {entry['moved']} moved here" if entry["moved"] else ""
        click.echo(f"{entry['flow']}  {entry['version']}  {entry['runs']} run(s) in flight  ({state}{moved})")
