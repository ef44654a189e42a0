"""approve and approvals: deciding the runs that wait for another person's approval."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from ..errors import ExitCode
from . import terminal
from .common import actor_option, command, db_option, emit_json, format_option, locale_option, now_option, open_engine, outbox_option, project_option


@command(short_help="Approve (or, with --reject, refuse) a run that waits for approval.")
@click.argument("run")
@project_option
@db_option()
@actor_option
@click.option("--reject", is_flag=True, help="Reject the run instead: nothing of it is applied (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why: told to whoever started the run (required with --reject).")
@format_option("text", "json")
@now_option
@outbox_option
@locale_option
def approve(
    run: str,
    project: Path,
    db: str | None,
    actor: str,
    reject: bool,
    reason: str | None,
    fmt: str,
    now: datetime | None,
    outbox: Path | None,
    locale: str | None,
) -> None:
    """Decide RUN, a run awaiting approval, as --actor: approve it (it commits, every rule checked again
    on what is stored now) or --reject it with a --reason. Whoever started it is emailed either way.

    Exit 0 when decided (status completed or rejected); 3 when --actor may not decide it (they
    started it, or the flow's approvers rules leave them out), or when a rule no longer holds at
    the approval; 1 when the run is not awaiting approval. To an actor outside the reach of the
    run's subject, any run is answered word for word as a run that does not exist (exit 1).
    """
    if reject and not (reason or "").strip():
        raise click.UsageError("--reject needs --reason TEXT: say why, for whoever started the run")
    with open_engine(project, None, db, now, outbox) as opened:
        engine = opened.in_locale(locale) if locale is not None else opened.for_actor(actor)  # the plan as the deciding actor reads it
        plan = engine.reject(run, actor, reason or "") if reject else engine.approve(run, actor, reason=reason)
        if fmt == "json":
            emit_json(plan.to_json())
        else:
            click.echo(terminal.plan(plan, sender=str(engine.project.product.get("sender", "")), screens=False))
    raise click.exceptions.Exit(plan.exit_code)


@command(short_help="The runs that wait for an actor's approval.")
@project_option
@db_option()
@actor_option
@format_option("text", "json")
@now_option
@locale_option
def approvals(project: Path, db: str | None, actor: str, fmt: str, now: datetime | None, locale: str | None) -> None:
    """List the runs awaiting a decision --actor may make (never the runs they started), the soonest to expire first.

    JSON: {"approvals": [{"run", "flow", "title", "subject", "actor", "answers", "step", "requested", "expires"}]}.
    """
    with open_engine(project, None, db, now) as engine:
        found = (engine.in_locale(locale) if locale is not None else engine.for_actor(actor)).approvals(actor)  # titles as the actor reads them
    if fmt == "json":
        emit_json({"approvals": found})
        return
    if not found:
        click.echo("nothing awaits your approval")
        raise click.exceptions.Exit(ExitCode.OK)
    for item in found:
        click.echo(f"{item['run']}  {item['flow']} on {item['subject']}, started by {item['actor']}; expires {item['expires']}")
    click.echo(f"{len(found)} awaiting approval; decide with `clientflow approve RUN --actor ...` (--reject --reason TEXT to refuse).")
