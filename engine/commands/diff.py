"""diff: what a change to the project means and does, as text, JSON or a pull-request comment (Markdown)."""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..errors import ClientflowError, ExitCode
from .common import Moment, command, emit_json, format_option, project_option

LIMIT = 15  # items of one list shown before "and N more"
WHO = 5  # pairs named under each group
DEMO_NOW = "2025-01-06T09:00:00+00:00"  # as `clientflow demo`: every review of the same change prints the same


@command("diff", short_help="What a change to the flows means and does: definitions, behaviour on data, scenarios.")
@click.argument("base", required=False)
@click.argument("head", required=False)
@project_option
@format_option("text", "json", "markdown")
@click.option(
    "--data",
    "data",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The data both versions are compared on (default: data/demo.yaml of HEAD, else of BASE).",
)
@click.option(
    "--fail-on",
    "fail_on",
    type=click.Choice(["none", "behaviour", "plan", "semantic"]),
    default="none",
    show_default=True,
    help="Exit 6 when there is such a change: behaviour (a pair whose availability or plan differs), semantic (any edit of meaning).",
)
@click.option(
    "--scenarios/--no-scenarios", "scenarios", default=True, show_default=True, help="Run both versions' scenarios and list those whose result changed."
)
@click.option("--now", "now", type=Moment(), default=DEMO_NOW, show_default=True, help="The clock of the dry-runs.")
def diff(base: str | None, head: str | None, project: Path, fmt: str, data: Path | None, fail_on: str, scenarios: bool, now: datetime) -> None:
    """Compare two versions of the project as models, not as text.

    BASE and HEAD are git revisions of the project folder or two folders (a folder
    when such a folder exists); the default is the last commit (HEAD) against the
    working tree, and one argument compares it with the working tree. Reformatting
    (key order, quotes, comments, layout) is no change. Lists each flow's edits with
    their place in both versions, then, on the data, every actor × subject × flow
    whose availability or dry-run differs, then the scenarios whose result changed.
    """
    # the review (~100 ms: the engine, the scenario runner) not for `diff --help`, nor `clientflow --help`
    from ..review import review
    from ..review.report import gate

    if data is not None and not data.is_file():
        raise ClientflowError(f"there is no data file {data}")
    with tempfile.TemporaryDirectory(prefix="clientflow-diff-") as scratch:
        found = review(project, base, head, scratch=Path(scratch), now=now, data=data.absolute() if data else None, scenarios=scenarios)
        if fail_on in ("behaviour", "plan") and found.behaviour is None:
            raise ClientflowError(f"--fail-on {fail_on} needs data to compare on: there is no data/demo.yaml; name a data file with --data FILE")
        if fmt == "json":
            emit_json(found.to_json())
        else:
            click.echo("\n".join(markdown(found) if fmt == "markdown" else text(found)))
    raise click.exceptions.Exit(ExitCode.CHANGED if gate(found, fail_on) else ExitCode.OK)


def _edits_count(edits: list[Any]) -> str:
    return f"{len(edits)} edit{'s' if len(edits) != 1 else ''}"


def _capped(items: list[str], limit: int = LIMIT) -> list[str]:
    return items[:limit] + ([f"and {len(items) - limit} more"] if len(items) > limit else [])


def _scenario(change: Any) -> str:
    name = change.name or "(the file does not load)"
    why = ""
    if change.after in ("failed", "broken") and change.mismatches:
        first = change.mismatches[0]
        said = (
            first.get("note")
            if first.get("expected") is None and first.get("actual") is None
            else f"expected {_short(first.get('expected'))}, got {_short(first.get('actual'))}"
        )
        why = f" ({first.get('what')}: {said})"
    return f"{change.file} › {name}: {change.before} → {change.after}{why}"


def _short(value: Any, width: int = 60) -> str:
    shown = json.dumps(value, ensure_ascii=False, default=str)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def _scenario_counts(changes: list[Any]) -> str:
    failing = sum(1 for c in changes if c.after in ("failed", "broken"))
    fixed = sum(1 for c in changes if c.after == "passed")
    parts = [f"{len(changes)} with another result"] + ([f"{failing} now failing"] if failing else []) + ([f"{fixed} now passing"] if fixed else [])
    return ", ".join(parts)


def _untranslated(stale: list[Any]) -> str:
    total = len({e.context for u in stale for e in u.texts})
    per = ", ".join(f"{u.locale} {len(u.texts)}" for u in stale)
    return f"{total} changed or new text{'s' if total != 1 else ''} not translated yet ({per})"


def _text(entry: Any) -> str:
    where = f" ({entry.text.location})" if entry.text.location is not None else ""
    return f"{entry.context}: {_short(entry.text.source)}{where}"


def _commands(code: Any = str) -> str:
    from ..review.untranslated import COMMANDS  # loaded with the review by now; at the top it would weigh on `diff --help`

    return f"run {code(COMMANDS[0])}, then {code(COMMANDS[1])}, and translate them in each catalog"


# text ---------------------------------------------------------------------
def text(review: Any) -> Iterator[str]:
    from ..review.report import groups  # loaded with the review by now; at the top it would weigh on `diff --help`

    yield click.style(f"clientflow diff: {review.base.label} → {review.head.label}", bold=True)
    unchanged = [d.flow for d in review.semantic.flows if d.status == "unchanged"]
    for diff in review.semantic.flows:
        if diff.status == "unchanged":
            continue
        was = f" (was {diff.was})" if diff.was else ""
        yield ""
        yield click.style(f"{diff.flow}{was}: {diff.status}, {_edits_count(diff.changes)}", fg="cyan", bold=True)
        yield from _edits(diff.changes)
    if review.semantic.project:
        yield ""
        yield click.style(f"project file: {_edits_count(review.semantic.project)}", fg="cyan", bold=True)
        yield from _edits(review.semantic.project)
    if not review.semantic.changed:
        yield ""
        yield "No change of meaning."
    if review.behaviour is not None:
        found = groups(review)
        yield ""
        yield click.style(f"Behaviour on {review.behaviour.data}: {len(review.behaviour.pairs)} pairs differ", bold=True)
        for group in found:
            yield f"  {group.flow}: {group.sentence}"
            for line in group.who(review, WHO):
                yield f"      {line}"
    if review.scenarios is not None:
        yield ""
        yield click.style(f"Scenarios: {_scenario_counts(review.scenarios) if review.scenarios else 'every result the same'}", bold=True)
        for line in _capped([_scenario(c) for c in review.scenarios]):
            yield f"  {line}"
    if review.untranslated:
        yield ""
        yield click.style(f"Translations: {_untranslated(review.untranslated)}", bold=True)
        for stale in review.untranslated:
            yield f"  {stale.locale} ({stale.catalog}): {len(stale.texts)}"
            for line in _capped([_text(e) for e in stale.texts], WHO):
                yield f"      {line}"
        yield f"  {_commands()}"
    for note in review.notes:
        yield click.style(f"note: {note}", fg="yellow")
    if unchanged:
        yield ""
        yield f"{len(unchanged)} flows unchanged: {', '.join(unchanged)}"


def _edits(edits: list[Any]) -> Iterator[str]:
    for edit in edits:
        where = edit.head or edit.base or ""
        if edit.base and edit.head and edit.base != edit.head:
            where = f"{edit.head} (was {edit.base})"
        yield f"  {edit.kind:<16} {edit.message}"
        if where:
            yield f"  {'':<16} {click.style(where, dim=True)}"
        if edit.extra.get("still_named_by"):
            yield f"  {'':<16} {_still_named(edit)}:"
            for place in _capped(edit.extra["still_named_by"], WHO):
                yield f"  {'':<16}   {place}"


def _still_named(edit: Any) -> str:
    return f"still named {edit.extra['renamed_from']!r} in {len(edit.extra['still_named_by'])} place{'s' if len(edit.extra['still_named_by']) != 1 else ''}"


# markdown -----------------------------------------------------------------
def _md(value: str) -> str:
    """Text safe in Markdown: HTML escaped, the characters that would format it escaped."""
    escaped = html.escape(value, quote=False)
    for char in ("\\", "`", "*", "_", "|", "[", "]"):
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def _code(value: str) -> str:
    return "<code>" + html.escape(value).replace("|", "&#124;") + "</code>"


def _inline(sentence: str) -> str:
    """A sentence whose `quoted` names stay code, the rest made safe for Markdown."""
    parts = sentence.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: no code in it
        return _md(sentence)
    return "".join(_code(part) if index % 2 else _md(part) for index, part in enumerate(parts))


def markdown(review: Any) -> Iterator[str]:
    """A pull-request comment: a summary table, then each part in a folded <details> block."""
    from ..review.report import groups  # loaded with the review by now; at the top it would weigh on `diff --help`

    found = groups(review)
    by_flow: dict[str, list[Any]] = {}
    for group in found:
        by_flow.setdefault(group.flow, []).append(group)
    yield f"### clientflow diff: {_code(review.base.label)} → {_code(review.head.label)}"
    yield ""
    shown = [d for d in review.semantic.flows if d.status != "unchanged" or d.flow in by_flow]
    data = f" on {_code(review.behaviour.data)}" if review.behaviour else ""
    if shown or review.semantic.project:
        yield f"| flow | definition | behaviour{data} |"
        yield "| --- | --- | --- |"
        for diff in shown:
            edits = diff.status + (f", {_edits_count(diff.changes)}" if diff.status == "changed" else "")
            if diff.was:
                edits += f" (was {_code(diff.was)})"
            said = [_inline(g.sentence) for g in by_flow.get(diff.flow, [])]
            cell = "<br>".join(_capped(said, 4)) or "no difference"
            yield f"| {_code(diff.flow)} | {edits} | {cell} |"
        if review.semantic.project:
            yield f"| project file | {_edits_count(review.semantic.project)} | each flow's row shows what it does |"
    else:
        yield "No change of meaning: the flows read the same."
    yield ""
    unchanged = [d.flow for d in review.semantic.flows if d not in shown]
    summary = []
    if review.behaviour is not None:
        summary.append(f"**{len(review.behaviour.pairs)}** actor × subject pairs differ")
    if review.scenarios is not None:
        summary.append("scenarios: " + (_scenario_counts(review.scenarios) if review.scenarios else "every result the same"))
    if unchanged:
        summary.append(f"{len(unchanged)} flows unchanged")
    if summary:
        yield " · ".join(summary)
        yield ""
    for diff in shown:
        if diff.status != "changed":  # added or removed: the table says all
            continue
        yield from _details(f"<b>{html.escape(diff.flow)}</b>: {_edits_count(diff.changes)}", _edit_lines(diff.changes))
    if review.semantic.project:
        yield from _details(f"<b>project file</b>: {_edits_count(review.semantic.project)}", _edit_lines(review.semantic.project))
    if found:
        lines = []
        for group in found[: LIMIT * 2]:
            lines.append(f"- {_code(group.flow)}: {_inline(group.sentence)}")
            if group.detail is not None and group.detail.get("diff"):
                diff_text = group.detail["diff"]
                lines.append(f"  - {_md(' · '.join(f'{k}: {v}' for k, v in diff_text.items()) if isinstance(diff_text, dict) else diff_text)}")
            lines.extend(f"  - {_md(line)}" for line in group.who(review, WHO))
        if len(found) > LIMIT * 2:
            lines.append(f"- and {len(found) - LIMIT * 2} more")
        yield from _details(f"<b>Behaviour</b>: {len(review.behaviour.pairs)} pairs differ", lines)
    if review.scenarios:
        yield from _details(
            f"<b>Scenarios</b>: {_scenario_counts(review.scenarios)}", [f"- {_md(line)}" for line in _capped([_scenario(c) for c in review.scenarios])]
        )
    if review.untranslated:
        lines = []
        for stale in review.untranslated:
            lines.append(f"- {_code(stale.locale)} ({_code(stale.catalog)}): {len(stale.texts)}")
            lines.extend(f"  - {_md(line)}" for line in _capped([_text(e) for e in stale.texts], WHO))
        lines.append(_commands(_code))
        yield from _details(f"<b>Translations</b>: {html.escape(_untranslated(review.untranslated))}", lines)
    for note in review.notes:
        yield f"> {_md(note)}"
        yield ""


def _edit_lines(edits: list[Any]) -> list[str]:
    lines = []
    for edit in edits:
        where = edit.head or edit.base or ""
        if edit.base and edit.head and edit.base != edit.head:
            where = f"{edit.head}, was {edit.base}"
        lines.append(f"- **{edit.kind}** {_md(edit.message)}" + (f" <sub>{html.escape(where)}</sub>" if where else ""))
        if edit.extra.get("still_named_by"):
            named = edit.extra["still_named_by"]
            places = ", ".join([_code(p) for p in named[:WHO]] + ([f"and {len(named) - WHO} more"] if len(named) > WHO else []))
            lines.append(f"  - {_md(_still_named(edit))}: {places}")
    return lines[:LIMIT] + ([f"- and {len(lines) - LIMIT} more"] if len(lines) > LIMIT else [])


def _details(summary: str, lines: list[str]) -> Iterator[str]:
    yield f"<details><summary>{summary}</summary>"
    yield ""
    yield from lines
    yield ""
    yield "</details>"
    yield ""
