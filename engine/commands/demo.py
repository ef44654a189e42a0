"""demo: every flow of the project dry-run on demo data, then how to try one's own.

The demo data is loaded into a temporary SQLite database that is removed at
the end; nothing is sent. For each flow it shows on which subjects it is
offered (and to whom), why it is refused elsewhere, and the plan of one
representative run, taken from `demo-runs.yaml` next to the data file or,
for a flow not listed there, guessed (the first offer, the first option).
A run whose answers the flow refuses makes the demo exit 1, each located.
"""

from __future__ import annotations

import shlex
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..api import Engine
from ..errors import ClientflowError, DataError, Problem
from ..runtime.loading import shown
from ..scenarios.demoruns import DEMO_DATA, DEMO_NOW, Example, load_runs, refusal, runs_file
from . import terminal
from .common import Moment, command, project_option, subject_word

WIDTH = 100


@dataclass
class Party:
    """A record as the demo names it: its id and its label (a name or an email)."""

    id: str
    label: str
    holder: str = ""

    def __str__(self) -> str:
        return f"{self.label} ({self.id})" if self.label != self.id else self.id


@command(short_help="Dry-run every flow on demo data: the quickest look at the project.")
@project_option
@click.option("--data", "data", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path), help="The demo data (default: data/demo.yaml in the project).")
@click.option("--now", "now", type=Moment(), default=DEMO_NOW, show_default=True, help="The clock, fixed so that every demo prints the same.")
@click.option("--locale", "locale", metavar="TAG", help="Show the screens and reasons in this language (a locale of project.yaml).")
def demo(project: Path, data: Path | None, now: datetime, locale: str | None) -> None:
    """Load the demo data into a temporary database and show, for every flow, what a dry-run would do.

    For each flow: the subjects it is offered on and to whom, why it is not
    offered on the others, and the plan of one representative run (from
    demo-runs.yaml next to the data file, when there is one). It ends with
    the commands to try your own. Nothing is sent; the temporary database is
    removed at the end. Exit 1 when the flow refuses a run's answers.
    """
    data = data or project / DEMO_DATA
    with tempfile.TemporaryDirectory(prefix="clientflow-demo-") as folder:
        engine = Engine.open(project, db=Path(folder) / "demo.db", now=now, notifiers={})  # a folder with no project says so first
        try:
            if not data.is_file():
                raise ClientflowError(f"there is no demo data at {data}; pass --data FILE to name a data file")
            engine.load_data(data.absolute())
            examples = load_runs(engine.project, runs_file(data))
            shown = Demo(engine.in_locale(locale) if locale else engine, project, data, examples, locale)
            for block in shown.lines():
                click.echo(block)
        finally:
            engine.close()
    if shown.refused:
        raise DataError(shown.refused)


LOCALE_VERBS = ("available", "simulate", "run")  # the commands a demo suggests that take --locale


class Demo:
    """Works out and prints the demo: the data, each flow, then what to try."""

    def __init__(self, engine: Any, project: Path, data: Path, examples: dict[str, Example], locale: str | None = None) -> None:
        self.engine, self.project, self.data, self.examples = engine, project, data, examples
        self.locale = locale  # the commands to copy show what the demo showed: in this language too
        self.model = engine.project
        self.option = f"--{subject_word()}"
        records = engine.export()
        self.records = records
        self.subjects = [self._party(self.model.subject_entity, r) for r in self._of(self.model.subject_entity, records)]
        self.actors = [self._party(self.model.actor_entity, r, holder) for r, holder in self._actors(records)]
        # (actor id, subject id) -> availability of every flow
        self.offers = {(a.id, s.id): engine.available(a.id, s.id) for a in self.actors for s in self.subjects}
        self.chosen: dict[str, Example | None] = {}
        self.refused: list[Problem] = []  # the runs whose answers their flow refuses

    # the data -------------------------------------------------------------
    def _of(self, entity: str, records: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        collection = self.model.entities[entity].collection
        return list(records.get(collection, [])) if collection else []

    def _actors(self, records: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[dict[str, Any], str]]:
        entity = self.model.entities[self.model.actor_entity]
        if entity.collection:
            yield from ((r, "") for r in records.get(entity.collection, []))
            return
        for holder in entity.nested_in:
            for body in records.get(self.model.entities[holder].collection or "", []):
                for item in body.get(entity.nested_key or "", []) or []:
                    yield item, str(body.get("id"))

    def _party(self, entity: str, record: dict[str, Any], holder: str = "") -> Party:
        label = self.model.entities[entity].label
        return Party(str(record.get("id")), str(record.get(label) or record.get("id")), holder)

    # printing -------------------------------------------------------------
    def lines(self) -> Iterator[str]:
        name = self.model.product.get("name") or "this project"
        yield click.style(f"clientflow demo: every flow of {name}, dry-run on demo data", bold=True)
        yield f"Data: {_shown(self.data)}, loaded into a temporary database, removed at the end. Nothing is sent."
        yield ""
        yield from self._data()
        for flow in self.model.flows.values():
            yield ""
            yield from self._flow(flow)
        yield ""
        yield from self._try()

    def _data(self) -> Iterator[str]:
        entity = self.model.entities[self.model.subject_entity]
        yield click.style(f"{len(self.subjects)} {entity.collection or entity.name}, in every state the flows care about:", bold=True)
        rows = self._of(self.model.subject_entity, self.records)
        cells = [_facts(r, entity.label) for r in rows]
        widths = [max((len(row[i]) if i < len(row) else 0) for row in cells) for i in range(max(map(len, cells), default=0))]
        width = max((len(str(s)) for s in self.subjects), default=0)
        for party, row in zip(self.subjects, cells, strict=True):
            yield f"  {str(party).ljust(width)}  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
        names = {str(r.get("id")): str(r.get(self.model.entities[e].label) or "") for e in self.model.entities for r in self._of(e, self.records)}
        by_holder: dict[str, list[str]] = {}
        for actor in self.actors:
            by_holder.setdefault(actor.holder, []).append(actor.label)
        yield click.style(f"Who acts, by where each {self.model.actor_entity} belongs:", bold=True)
        for holder, labels in by_holder.items():
            yield _wrapped(f"{names.get(holder) or holder or '-'} ({holder}): {', '.join(labels)}", "  ", "      ")

    def _flow(self, flow: Any) -> Iterator[str]:
        yield click.style(f"── {flow.id} · {flow.title}", fg="cyan", bold=True)
        yield _wrapped(flow.summary, "   ", "   ")
        offered = [(s, a) for s in self.subjects for a in self.actors if self._verdict(flow.id, a, s).available]
        by_subject: dict[str, list[str]] = {}
        for subject, actor in offered:
            by_subject.setdefault(str(subject), []).append(actor.label)
        if by_subject:
            yield _wrapped("Offered on: " + "; ".join(f"{s} to {', '.join(a)}" for s, a in by_subject.items()), "   ", "               ")
        else:
            yield "   Offered on: nothing in the demo data"
        example = self.examples.get(flow.id) or self._guess(flow.id, offered)
        self.chosen[flow.id] = example
        if example is None:
            return
        yield from self._refusals(flow.id, example.actor)
        yield from self._plan(flow.id, example)

    def _verdict(self, flow: str, actor: Party, subject: Party) -> Any:
        return next(f for f in self.offers[(actor.id, subject.id)].flows if f.flow == flow)

    def _refusals(self, flow: str, actor_name: str) -> Iterator[str]:
        actor = next((a for a in self.actors if actor_name in (a.id, a.label)), None)
        if actor is None:
            return
        reach = {rule.name for rule in self.model.reach}
        refused = []
        for subject in self.subjects:
            verdict = self._verdict(flow, actor, subject)
            if not verdict.available and not any(r["rule"] in reach for r in verdict.reasons):
                refused.append((subject, verdict.reasons))
        if not refused:
            return
        yield _wrapped(
            f"Not offered to {actor.label} on: " + "; ".join(f"{s}: {', '.join(r['rule'] for r in reasons)}" for s, reasons in refused), "   ", "      "
        )
        subject, reasons = refused[0]
        yield _wrapped(f"why, on {subject.label}: {reasons[0]['message']}", "     ", "       ")

    def _guess(self, flow: str, offered: list[tuple[Party, Party]]) -> Example | None:
        if not offered:
            return None
        subject, actor = offered[0]
        answers: dict[str, Any] = {}
        for _ in range(20):  # one screen's answers per round
            plan = self.engine.simulate(flow, actor.id, subject.id, answers)
            if plan.status != "needs_input":
                break
            wanted = {n["field"] for n in plan.needs}
            guessed = {f["name"]: _first(f) for f in plan.screens[-1].fields if f["name"] in wanted}
            if any(value is None for value in guessed.values()):
                break
            answers.update(guessed)
        return Example(actor.label, subject.label, answers)

    def _plan(self, flow: str, example: Example) -> Iterator[str]:
        command = self._command("simulate", "--actor", example.actor, self.option, example.subject, flow=flow)
        for name, value in example.answers.items():
            command += " --answer " + shlex.quote(f"{name}={_typed(value)}")
        yield click.style(f"   $ {command}", bold=True)
        plan = self.engine.simulate(flow, example.actor, example.subject, example.answers)
        refused = refusal(flow, plan, example, runs_file(self.data))
        if refused is not None:
            self.refused.append(refused)
        yield from _block("screens", [f"{n} {s.step}: {s.title}" for n, s in enumerate(plan.screens, 1)])
        if plan.status != "completed":
            yield from _block("status", [plan.status.replace("_", " ")])
            yield from _block("why", [f"{b['rule']}: {b['message']}" for b in plan.blocked_by] + [e["message"] for e in plan.errors])
            yield from _block("needs", [f"{n['field']} (screen {n['step']})" for n in plan.needs])
            return
        data = plan.to_json()
        yield from _block("changes", [click.unstyle(terminal.change_line(c)).strip() for c in data["changes"]] or ["(none)"])
        yield from _block("emails", [f"✉ {e['template']} to {', '.join(e['to'])}: {e['subject']}" for e in data["emails"]] or ["(none)"])
        yield from _block("banner", data["banners"])
        yield from _block("undo", [("yes" if plan.reversible else "no") + (f": {plan.undo}" if plan.undo else "")])

    def _command(self, verb: str, *args: str, flow: str | None = None, data: bool = True) -> str:
        """A command line to copy: the flow, `--project` when the project is not here, the data, then `args`."""
        parts = ["clientflow", verb, *([flow] if flow else [])]
        if Path(self.project).absolute() != Path.cwd():
            parts += ["--project", _shown(self.project)]
        parts += (["--data", _shown(self.data)] if data else []) + list(args)
        if self.locale and verb in LOCALE_VERBS:
            parts += ["--locale", self.locale]
        return " ".join(shlex.quote(p) for p in parts)

    def _try(self) -> Iterator[str]:
        shown = [(f, e) for f, e in self.chosen.items() if e is not None]
        if not shown:
            return
        flow, example = shown[0]
        kept, other = next(((f, e) for f, e in shown if self.model.flows[f].outcome.reversible is True), shown[0])
        who = ("--actor", example.actor, self.option, example.subject)
        db = _shown(Path(self.project) / ".clientflow" / "demo.db")
        yield click.style("Try your own (copy and paste):", bold=True)
        yield "  " + self._command("available", *who)
        yield "  " + self._command("simulate", *who, flow=flow) + "    # asks each screen's questions at a terminal"
        yield "  " + self._command("simulate", *who, "--no-input", "--format", "json", flow=flow) + "    # the plan as JSON"
        yield "  " + self._command("graph", "--format", "mermaid", flow=flow, data=False) + "    # the flow as a diagram"
        yield "  " + self._command("init", "--db", db, "--force") + "    # a database of your own"
        yield (
            "  "
            + self._command("run", "--db", db, "--actor", other.actor, self.option, other.subject, flow=kept, data=False)
            + "    # applies it, after asking"
        )
        yield "  " + self._command("export", "--db", db, data=False)
        yield f"Then change the flows in {_shown(Path(self.project) / 'flows')}/ and check them with `{self._command('validate', data=False)}`."


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    return shown(Path(path).absolute())


def _facts(record: dict[str, Any], label: str) -> list[str]:
    """A record's other fields as `key: value` cells; a list shows how many it holds."""
    return [f"{key}: {len(value)}" if isinstance(value, list) else f"{key}: {_typed(value)}" for key, value in record.items() if key not in ("id", label)]


def _typed(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _first(item: dict[str, Any]) -> Any:
    if item.get("options"):
        return item["options"][0]["value"]
    if item["type"] == "boolean":
        return bool(item.get("default"))
    return None


def _wrapped(text: str, first: str, rest: str) -> str:
    return textwrap.fill(" ".join(str(text).split()), WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)


def _block(title: str, items: list[str]) -> Iterator[str]:
    for index, item in enumerate(items):
        yield _wrapped(item, f"     {title if index == 0 else '':<8} ", " " * 16)
