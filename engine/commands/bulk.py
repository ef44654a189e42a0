"""bulk: one flow for many subjects, dry-run or committed one by one."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import click

from ..collector import collector_paused
from ..errors import ClientflowError
from .common import (
    SubjectOption,
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
    subject_plural,
)
from .csvfile import CsvRows

REPORT_FIELDS = ("subject", "status", "rules", "message", "run", "changes", "emails")


class Report:
    """One line per subject: JSON Lines, or CSV when the file name ends in .csv."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.handle: TextIO | None = None
        self.writer: CsvRows | None = None
        if path is not None:
            try:
                self.handle = path.open("w", encoding="utf-8", newline="")
            except OSError as exc:  # no such folder, no permission: said before any subject is run
                raise ClientflowError(f"cannot write the report {path}: {exc.strerror or exc}; give --report a file in a folder you may write in") from exc
            if path.suffix.lower() == ".csv":  # each cell safe to open in a spreadsheet (a name may start with =)
                self.writer = CsvRows(self.handle, REPORT_FIELDS)

    def write(self, row: dict[str, Any]) -> None:
        if self.handle is None:
            return
        if self.writer is not None:
            self.writer.write({**row, "rules": " ".join(row["rules"])})
        else:
            self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


class StopFlag:
    """The first Ctrl-C (or SIGTERM, as a service manager stops a job) asks to stop after the current subject; a second one stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        again = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        click.echo(f"\nStopping after the current one ({again} again to stop at once)...", err=True)

    def __call__(self) -> bool:
        return self.requested


def _listed(values: str) -> list[str]:
    return [v.strip() for v in values.split(",") if v.strip()]


def _from_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@command()
@click.argument("flow")
@project_option
@data_options
@actor_option
@click.option("--subjects", "subjects", cls=SubjectOption, form="many", help="Comma-separated ids or names.")
@click.option(
    "--subjects-file",
    "subjects_file",
    cls=SubjectOption,
    form="file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file with one id or name per line.",
)
@click.option("--where", "where", help="A condition over each subject, in the flow language.")
@answer_options
@click.option("--yes", is_flag=True, help="Commit each subject in its own transaction (otherwise a dry-run).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write one line per subject (JSON Lines, or CSV for .csv).")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Processes sharing the database (PostgreSQL, or SQLite one writer at a time)."
)
@format_option("text", "json")
@now_option
@outbox_option
def bulk(
    flow: str, project: Path, data: Path | None, db: Path | None, actor: str, subjects: str | None, subjects_file: Path | None,
    where: str | None, answer: tuple[str, ...], answers_file: Path | None, yes: bool, report_path: Path | None, workers: int,
    fmt: str, now: datetime | None, outbox: Path | None,
) -> None:  # fmt: skip
    """Run FLOW for many subjects: a dry-run of each, or with --yes a commit of each.

    One subject's failure never stops or undoes another's. Interrupted with
    Ctrl-C, it stops after the current subject; run again, it skips what
    already committed.
    """
    chosen = [name for name, value in (("list", subjects), ("file", subjects_file), ("where", where)) if value]
    if len(chosen) != 1:
        raise click.UsageError("choose the subjects one way: a list, a file, or --where")
    if workers > 1 and data is not None:
        raise click.UsageError("--workers needs a shared database (--db or the configured storage), not --data")
    # what is loaded now lives as long as the command: frozen as the pause ends, never walked by the collector
    # (frozen after the pause instead, it was first walked once, 11 ms at 2,000 subjects)
    with collector_paused(then_freeze=True):
        from ..bulk import run_bulk, where_subjects  # the engine's modules (imported here, not by `bulk --help`): as long-lived

        engine = open_engine(project, data, db, now, outbox)
    with engine:  # closed however the command ends: a SQLite database is left without its -wal and -shm files
        opener = {"root": str(project), "db": str(db) if db else None, "now": now, "outbox": str(outbox) if outbox else None}
        answers = parse_answers(answer, answers_file)
        engine.project.flow(flow)
        known: list[str] | None
        if subjects:
            known, selection = _listed(subjects), f"list:{subjects}"
        elif subjects_file:
            known, selection = _from_file(subjects_file), f"file:{subjects_file.resolve()}"
        else:
            known, selection = None, f"where:{where}"
        names: Iterator[str] = iter(known) if known is not None else where_subjects(engine, str(where))
        report = Report(report_path)  # before anything runs: a report that cannot be written stops the command first
        spread = None
        if workers > 1:
            from ..parallel import spreader  # multiprocessing and socket (about 4 ms): only when the run is spread

            spread = spreader(opener, workers)
        bar = _progress(len(known) if known is not None else None)
        try:
            with StopFlag() as stop:
                summary = run_bulk(
                    engine, flow, actor, names, answers, dry_run=not yes, selection=selection,
                    on_item=partial(_record, report, bar),
                    should_stop=stop, spread=spread,
                )  # fmt: skip
        finally:
            report.close()
            if bar is not None:
                bar.render_finish()
        if fmt == "json":
            emit_json(summary.to_json())
        else:
            _print_summary(summary, known, report_path)
        raise click.exceptions.Exit(summary.exit_code)


def _record(report: Report, bar: Any, item: Any) -> None:
    if report.handle is not None:  # no --report: no line to make
        report.write(item.to_json())
    if bar is not None:
        bar.update(1)


def _progress(length: int | None) -> Any:
    if not is_terminal(sys.stderr):
        return None
    bar: Any = click.progressbar(length=length, label="subjects", file=sys.stderr, show_pos=True)
    bar.render_progress()
    return bar


def _print_summary(summary: Any, known: list[str] | None, report_path: Path | None = None) -> None:
    mode = "dry run" if summary.dry_run else "committed"
    if summary.interrupted:
        total = f" of {len(known)}" if known is not None else ""
        click.echo(click.style(f"Interrupted after {summary.total}{total}; run the same command again to go on.", fg="yellow"))
    one, many = subject_plural()  # the project's words
    click.echo(click.style(f"{summary.flow} ({mode}): {summary.total} {many}", bold=True))
    click.echo(f"  completed:   {summary.completed}")
    click.echo(f"  blocked:     {summary.blocked}")
    for rule, count in sorted(summary.blocked_by.items()):
        named = summary.blocked_subjects.get(rule, [])
        more = f" and {count - len(named)} more" if count > len(named) else ""
        click.echo(f"    {rule}: {count} — {', '.join(named)}{more}" if named else f"    {rule}: {count}")
    if summary.blocked and report_path is None:
        click.echo(f"    (--report FILE lists every {one}, with why)")
    click.echo(f"  invalid:     {summary.invalid}")
    click.echo(f"  needs input: {summary.needs_input}")
    if summary.awaiting_approval:
        click.echo(f"  awaiting approval: {summary.awaiting_approval} (each waits for someone else: `clientflow approvals`)")
    if summary.skipped:
        click.echo(f"  skipped:     {summary.skipped} (already committed)")
    if summary.errors:
        click.echo(f"  errors:      {summary.errors}")
        for subject, message in summary.errored:
            click.echo(f"    {subject}: {message}")
        if summary.errors > len(summary.errored):
            click.echo(f"    and {summary.errors - len(summary.errored)} more" + ("" if report_path else f" (--report FILE lists every {one}, with why)"))
    if summary.emails_waiting:
        click.echo(f"  emails waiting in the outbox: {summary.emails_waiting} (`clientflow worker --once`, or the same command again, sends them)")
