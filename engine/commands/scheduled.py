"""scheduled: the work flows scheduled for later (an outcome's `after:` parts) that is still pending."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .common import command, db_option, emit_json, format_option, now_option, open_engine, project_option


def pending_work(engine: Any, subject: str | None, flow: str | None, now: datetime | None) -> list[dict[str, Any]]:
    """The pending items, due first, as `clientflow scheduled --format json` lists them (Engine.scheduled)."""
    return list(engine.scheduled(subject=subject, flow=flow, at=now))


@command(short_help="The scheduled work still pending (an outcome's delayed effects and emails).")
@project_option
@db_option()
@now_option
@click.option("--subject", "subject", metavar="ID", help="Only the work for this subject (its id).")
@click.option("--flow", "flow", metavar="FLOW", help="Only the work this flow scheduled.")
@format_option("text", "json")
def scheduled(project: Path, db: str | None, now: datetime | None, subject: str | None, flow: str | None, fmt: str) -> None:
    """List the pending scheduled work, the soonest first: when each part is due, what it does, and for whom.

    `clientflow worker` carries each part out when it is due, after checking its flow's rules
    (and its `unless`) again; a flow's `cancel:` cancels another flow's pending work.
    """
    with open_engine(project, None, db, now=now) as engine:
        items = pending_work(engine, subject, flow, now)
    if fmt == "json":
        emit_json({"scheduled": items})
        return
    if not items:
        click.echo("nothing scheduled")
        return
    for item in items:
        what = item["what"]
        if item["kind"] == "approval":  # a run's request for approval (engine/runtime/approvals.py)
            done = f"run {item['run']}'s request for approval ({what.get('step')}) expires"
        elif item["kind"] == "email":
            done = f"email {what['template']}"
        else:
            done = f"{what['op']} {what['entity']}" + (f".{what['field']}" if what.get("field") else "")
        unless = f"  unless {item['unless']}" if item["unless"] else ""
        state = "  (due)" if item["due"] else ""
        click.echo(f"{item['at']}  {item['flow']} on {item['subject']}: {done}{unless}{state}  [{item['id']}]")
    click.echo(f"{len(items)} pending.")
