"""The demo runs file: one representative run per flow, which `clientflow demo` shows.

`data/demo-runs.yaml` (next to the demo data) maps a flow id to who acts, on what,
with which answers. It names flows and their fields without being part of the
project, so a flow renamed or a question removed would leave it stale: `read_runs`
checks every name it uses, located, with a did-you-mean, and `try_runs` dry-runs
each run on the demo data, which `clientflow validate` reports when the flow
refuses its answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ClientflowError, DataError, DefinitionError, Location, Problem, did_you_mean
from ..language.model import Project
from ..language.yamlfile import load_data_text, load_yaml, read_text
from ..plain import mutable

RUNS_FILE = "demo-runs.yaml"
DEMO_DATA = Path("data") / "demo.yaml"  # under the project: what `clientflow demo` loads unless told otherwise
DEMO_NOW = "2025-01-06T09:00:00+00:00"  # the demo's fixed clock, so that every demo prints the same
RUN_KEYS = ("actor", "subject", "answers")


@mutable
class Example:
    """One representative run: who, on what, with which answers, and where it is written."""

    actor: str
    subject: str
    answers: dict[str, Any] = field(default_factory=dict)
    where: Location | None = None  # the run in the runs file; None for a run the demo guessed


def runs_file(data: Path) -> Path:
    """The runs file that goes with a demo data file: beside it."""
    return data.parent / RUNS_FILE


def read_runs(project: Project, path: Path) -> tuple[dict[str, Example], list[Problem]]:
    """The runs of `path` whose names all exist, and a located problem for every other (none without the file)."""
    if not path.is_file():
        return {}, []
    display = str(path)
    try:
        doc, positions = load_yaml(read_text(path, display, DataError), display, DataError)
    except DefinitionError as exc:
        return {}, list(exc.problems)
    if doc is None:
        return {}, []
    if not isinstance(doc, dict):
        return {}, [Problem(Location(display, 1, 1), "a demo runs file maps each flow id to {actor, subject, answers}")]
    problems: list[Problem] = []
    examples: dict[str, Example] = {}
    word = project.subject_entity
    for flow_id, run in doc.items():
        if flow_id not in project.flows:
            problems.append(Problem(positions.at((flow_id,), key=True), f"unknown flow {flow_id!r}{did_you_mean(str(flow_id), project.flows)}"))
            continue
        run = dict(run) if isinstance(run, dict) else {}
        run.setdefault("subject", run.pop(word, None))  # the project's own word for its subject is a synonym
        wrong = sorted(str(k) for k in run if k not in RUN_KEYS)
        if wrong or not isinstance(run.get("actor"), str) or not isinstance(run.get("subject"), str) or not isinstance(run.get("answers", {}), dict):
            problems.append(
                Problem(
                    positions.at((flow_id,)), f"{flow_id}: give actor and subject (text) and answers (a mapping); found {', '.join(wrong) or 'something else'}"
                )
            )
            continue
        answers = dict(run.get("answers") or {})
        fields = project.flows[flow_id].fields()
        unknown = [name for name in answers if name not in fields]
        for name in unknown:
            at = positions.at((flow_id, "answers", name), key=True)
            problems.append(Problem(at, f"{flow_id} has no field {name!r}{did_you_mean(str(name), fields)}"))
        if not unknown:
            where = positions.at((flow_id, "answers") if "answers" in run else (flow_id,))
            examples[flow_id] = Example(run["actor"], run["subject"], answers, where)
    return examples, problems


def load_runs(project: Project, path: Path) -> dict[str, Example]:
    """The runs of `path` (none when there is no such file), or a DataError with every located problem."""
    examples, problems = read_runs(project, path)
    if problems:
        raise DataError(problems)
    return examples


def refusal(flow_id: str, plan: Any, example: Example, runs: Path) -> Problem | None:
    """The problem to report when a demo run's plan refuses its answers; None when it does not."""
    if plan.status != "invalid":
        return None
    why = "; ".join(f"{e['field']}: {e['message']}" for e in plan.errors) or "its answers are refused"
    if example.where is not None:
        return Problem(example.where, f"the demo run of {flow_id} is refused ({why}); change its answers to ones the flow accepts")
    return Problem(
        Location(str(runs)),
        f"{flow_id} has no demo run here, and the one guessed for it is refused ({why}); add one: {flow_id}: {{actor: ..., subject: ..., answers: {{...}}}}",
    )


def try_runs(project: Project, registry: Any, data: Path, examples: Mapping[str, Example], runs: Path) -> list[Problem]:
    """Dry-run every run on the demo data in memory: a located problem for each the flow refuses or cannot run."""
    # the engine (~60 ms) only to dry-run the runs: when the flows have problems, their names are checked without it
    from ..api import Engine
    from ..runtime.context import Clock
    from ..runtime.data import check_data, import_data

    display = str(data)
    try:
        doc, positions = load_data_text(read_text(data, display, DataError), display)
        check_data(project, doc, positions, display)
        storage = registry.storage("memory")
        with storage.transaction(write=True) as tx:
            import_data(project, tx, doc, display, positions)
    except DefinitionError as exc:
        return list(exc.problems)
    engine = Engine(project, storage, clock=Clock(datetime.fromisoformat(DEMO_NOW)), registry=registry)
    problems: list[Problem] = []
    try:
        for flow_id, example in examples.items():
            try:
                plan = engine.simulate(flow_id, example.actor, example.subject, example.answers)
            except ClientflowError as exc:
                problems.append(Problem(example.where or Location(str(runs)), f"the demo run of {flow_id} cannot run on {display}: {exc}"))
                continue
            found = refusal(flow_id, plan, example, runs)
            if found is not None:
                problems.append(found)
    finally:
        engine.close()
    return problems
