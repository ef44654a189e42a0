"""Plans, screens and availability as text a person reads in a terminal.

Colour is added with click.style; click.echo strips it when the output is not
a terminal, so files and pipes get plain text.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import click

from ..api import Availability
from ..runtime.plan import Plan
from ..runtime.runs import Screen


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def timeline(scheduled: list[Any]) -> list[str]:
    """The plan's scheduled parts as a dated timeline: one heading per time, soonest first, then each part and what it does."""
    if not scheduled:
        return []
    out = ["Later, unless cancelled:"]
    for due in sorted({later.due for later in scheduled}):
        out.append(click.style(f"  {due.isoformat()}", bold=True))
        for later in (s for s in scheduled if s.due == due):
            unless = f" (unless {later.unless})" if later.unless else ""
            out.append(f"    Scheduled: {later.describe()} on {later.due.isoformat()}{unless}")
            out.extend("    " + change_line(c) for c in later.changes)
            out.extend(f"      ✉ {e['template']} to {', '.join(e['to'])}: {e['subject']}" for e in later.emails)
    out.append("")
    return out


def _indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text.rstrip("\n"), prefix, lambda line: True)


def _lines(lines: list[str]) -> str:
    """Join lines without trailing spaces, so transcripts survive editors and diffs."""
    return "\n".join(line.rstrip() for line in "\n".join(lines).split("\n"))


def screen(item: Screen, number: int | None = None, total: int | None = None, answers: dict[str, Any] | None = None) -> str:
    """One screen as the user would meet it: title, text, fields and options, buttons."""
    head = f"Screen {number}" if number else "Screen"
    if total:
        head += f" of {total}"
    lines = [click.style(f"── {head} · {item.step} ({item.kind})", fg="cyan"), click.style(f"  {item.title}", bold=True)]
    if item.body:
        lines.append(_indent(item.body.strip(), "  "))
    for field in item.fields:
        need = "required" if field["required"] else "optional"
        lines.append("")
        lines.append(f"  {field['label']}  [{field['name']}: {field['type']}, {need}]")
        if field.get("help"):
            lines.append(_indent(field["help"], "    "))
        for index, option in enumerate(field.get("options", []), 1):
            lines.append(f"    {index}) {option['label']}  ({option['value']})")
        if field.get("confirm"):
            lines.append("    (type it exactly to confirm)")
        given = (answers or {}).get(field["name"], field.get("value"))
        if given is not None:
            lines.append(click.style(f"    > {answer(field, given)}", fg="green"))
    buttons = item.buttons
    order = [b for b in ("back", "next", "cancel") if b in buttons and (b != "back" or (number or 1) > 1)]
    lines.append("")
    lines.append("  " + "  ".join(click.style(f"[ {buttons[b]} ]", bold=(b == "next")) for b in order))
    return _lines(lines)


def answer(field: dict[str, Any], value: Any) -> str:
    """An answer as the screen showed it: yes/no, or the chosen option's label and value."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    for option in field.get("options", []):
        if option["value"] == value:
            return f"{option['label']}  ({value})"
    return str(value)


def change_line(change: dict[str, Any]) -> str:
    """`~ item i1 status: "open" -> null`, `- item i2 (deleted)`, `+ note n1 (created)`."""
    mark = f" {click.style('(predicted)', fg='magenta')}" if change.get("predicted") else ""
    if change["op"] == "update":
        return (
            click.style(f"  ~ {change['entity']} {change['id']} {change['field']}: {_value(change['before'])} -> {_value(change['after'])}", fg="yellow") + mark
        )
    if change["op"] == "delete":
        return click.style(f"  - {change['entity']} {change['id']} (deleted)", fg="red") + mark
    return click.style(f"  + {change['entity']} {change['id']} (created) {_value(change['after'])}", fg="green") + mark


def plan(item: Plan, *, sender: str = "", screens: bool = True) -> str:
    """The whole plan: screens (unless already shown), then changes like a terraform plan, emails, banner, undo."""
    data = item.to_json()
    out: list[str] = []
    answers = data["audit"].get("answers", {})
    for number, shown in enumerate(item.screens if screens else [], 1):
        out.append(screen(shown, number, answers=answers))
        out.append("")
    waits = item.status == "awaiting_approval"
    done = item.status == "completed"  # a run that ended otherwise (blocked, invalid, needs input...) changed nothing
    mode = "dry run" if item.dry_run else "stored, nothing applied until approved" if waits else "applied" if done else "nothing applied"
    who = f"{data['audit'].get('actor', '?')} on {data['audit'].get('subject', '?')}"
    status_colour = {
        "completed": "green", "blocked": "red", "invalid": "red", "needs_input": "yellow", "cancelled": "yellow",
        "awaiting_approval": "yellow", "rejected": "yellow",
    }[item.status]  # fmt: skip
    out.append(click.style(f"Plan: {item.flow} by {who} — {item.status.replace('_', ' ')} ({mode})", fg=status_colour, bold=True))
    if item.blocked_by:
        out.append("  Not offered, because:")
        out.extend(f"  ✗ {b['rule']}: {b['message']}" for b in item.blocked_by)
    if item.errors:
        out.append("  These answers need fixing:")
        out.extend(f"  ✗ {e['field']}: {e['message']}" for e in item.errors)
    if item.needs:
        out.append("  Still to answer:")
        out.extend(f"  ? {n['field']} (screen {n['step']}) — give it with --answer {n['field']}=..." for n in item.needs)
    for warning in data["warnings"]:
        out.append(click.style(f"  ⚠ warning: {warning['message']}", fg="yellow"))
    approval = item.approval
    if approval is not None:
        state = {"pending": f"waits for approval until {approval.get('expires')}"}.get(str(approval.get("status")), str(approval.get("status")))
        by = f" by {approval['by']}" if approval.get("by") else ""
        reason = f": {approval['reason']}" if approval.get("reason") else ""
        out.append(f"  Approval ({approval.get('step')}): {state}{by}{reason}")
        out.extend(f"  ✉ {e['template']} to {', '.join(e['to'])}" for e in approval.get("emails", []))
    if item.status not in ("completed", "awaiting_approval"):
        return _lines(out)
    out.append("")
    verb = "would change" if item.dry_run or item.status == "awaiting_approval" else "changed"
    out.append(f"Records {verb} ({len(data['changes'])}):")
    out.extend(change_line(c) for c in data["changes"]) if data["changes"] else out.append("  (nothing)")
    out.append("")
    verb = "would be sent" if item.dry_run or item.status == "awaiting_approval" else "queued"
    out.append(f"Emails {verb} ({len(data['emails'])}):")
    for email in data["emails"]:
        out.append(click.style(f"  ✉ {email['template']}", bold=True))
        if sender:
            out.append(f"    From: {sender}")
        out.append(f"    To: {', '.join(email['to'])}")
        out.append(f"    Subject: {email['subject']}")
        out.append("")
        out.append(_indent(email["text"], "    │ "))
        out.append("")
    if not data["emails"]:
        out.append("  (none)")
        out.append("")
    out.extend(timeline(item.scheduled))  # only when something waits: a plan without delays reads as before
    for banner in data["banners"]:
        out.append(f"Banner{' (once approved)' if waits else ''}: {banner}")
    undo = f" — {item.undo}" if item.undo else ""
    out.append(f"Can be undone: {'yes' if item.reversible else 'no'}{undo}")
    if data["audit"].get("summary"):
        out.append(f"Audit: {data['audit']['summary']}")
    return _lines(out)


def availability(item: Availability) -> str:
    """Each flow, offered or not, with every failed rule's message."""
    lines = [f"Flows for {item.actor} on {item.subject}:"]
    for flow in item.flows:
        if flow.available:
            lines.append(click.style(f"  ✓ {flow.flow}", fg="green") + f"  {flow.title}")
        else:
            lines.append(click.style(f"  ✗ {flow.flow}", fg="red") + f"  {flow.title}")
            for reason in flow.reasons:
                lines.append(f"      {reason['rule']}: {reason['message']}")
    offered = sum(1 for f in item.flows if f.available)
    lines.append(f"{offered} of {len(item.flows)} offered.")
    return _lines(lines)
