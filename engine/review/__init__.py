"""Reviewing a change: what an edit of a project means, and what it does on data.

    versions (sources.py)    BASE and HEAD: git revisions copied out of git, or folders
      -> load_project         each version loaded and compiled on its own
      -> semantic.py          the two models compared: flows, rules, steps, fields, outcome, project file, translations
                              (edits.py: an Edit, what "the same" means, where each thing is written)
      -> behaviour.py         the same data in both: availability of every actor × subject × flow, plans that differ
      -> impact.py            each version's scenarios run on it: those whose result is not the same
      -> untranslated.py      the changed or new texts a declared locale's catalog does not translate yet
      => Review               one JSON document (`clientflow diff --format json`); report.py groups it for people

May import: api and everything below it, and the scenarios. Never the faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..conditions.program import load_project
from ..errors import ClientflowError, DefinitionError, Location, Problem
from ..language.catalogs import damaged
from ..language.model import Project
from ..language.project import Extensions
from ..plugins import Registry
from . import behaviour as behaviour_module
from . import impact, semantic, untranslated
from .behaviour import Behaviour
from .impact import ScenarioChange
from .semantic import Semantic
from .sources import Version, versions
from .untranslated import Untranslated
from .words import word_diff

__all__ = ["Review", "review"]
DEMO_DATA = Path("data") / "demo.yaml"


@dataclass
class Review:
    """Both versions, what changed in their definitions, on data, and in their scenarios."""

    base: Version
    head: Version
    project: Project  # the head version's model (its words: the subject's entity and collection)
    semantic: Semantic
    behaviour: Behaviour | None
    scenarios: list[ScenarioChange] | None
    notes: list[str] = field(default_factory=list)
    untranslated: list[Untranslated] = field(default_factory=list)  # per locale, the changed or new texts its catalog does not translate

    def to_json(self) -> dict[str, Any]:
        """The contract of `clientflow diff --format json`: base, head, flows, behaviour, then plans, project, scenarios, data, notes, untranslated.

        `behaviour` holds the pairs whose availability changed; `plans` the pairs offered in both whose dry-runs differ.
        """
        pairs = self.behaviour.pairs if self.behaviour else []
        return {
            "base": self.base.label,
            "head": self.head.label,
            "flows": [f.to_json() for f in self.semantic.flows],
            "behaviour": [p.to_json() for p in pairs if p.before != p.after],
            "plans": [p.to_json() for p in pairs if p.before == p.after],
            "project": [e.to_json() for e in self.semantic.project],
            "scenarios": [s.to_json() for s in self.scenarios] if self.scenarios is not None else None,
            "data": self.behaviour.data if self.behaviour else None,
            "notes": list(self.notes),
            "untranslated": [u.to_json() for u in self.untranslated],
        }


def review(project: Path, base: str | None, head: str | None, *, scratch: Path, now: datetime, data: Path | None = None, scenarios: bool = True) -> Review:
    """Compare two versions of the project under `project` (default: the last commit against the working tree).

    `scratch` is an empty folder that revisions are copied into; it must live until the review has been printed.
    """
    registry = Registry.collect()
    old_version, new_version = versions(project, base, head, scratch)
    old, new = _load(old_version, registry), _load(new_version, registry)
    found = semantic.compare(old, new)
    notes: list[str] = []
    try:
        stale = untranslated.compare(old, new)
    except ImportError:
        stale = []
        notes.append("translations not checked: Babel is not installed (pip install babel)")
    data_file, display = _data(old_version, new_version, data)
    behaviour: Behaviour | None = None
    if data_file is None:
        notes.append(f"behaviour not compared: there is no {DEMO_DATA.as_posix()} in either version; name a data file with --data FILE")
    else:
        doc, positions = behaviour_module.read_data(data_file, display)
        labels = (old_version.label, new_version.label)
        behaviour = behaviour_module.compare(old, new, found, (doc, positions, display), labels, registry, now)
        _render(found, behaviour)
    changed: list[ScenarioChange] | None = None
    if scenarios:
        changed = impact.compare(impact.results(old, registry, old_version.where), impact.results(new, registry, new_version.where))
    return Review(old_version, new_version, new, found, behaviour, changed, notes, stale)


def _load(version: Version, registry: Registry) -> Project:
    if not (version.root / "flows").is_dir():
        raise ClientflowError(f"{version.label} holds no project (no flows/ folder); name a project folder, or a revision of the one under --project")
    try:
        project = load_project(version.root, Extensions(registry.functions, registry.filters, registry.effects))
        broken = damaged(project)  # read leniently, a damaged catalog would show translations moved that nobody moved
        if broken:
            raise DefinitionError(broken)
        return project
    except DefinitionError as exc:
        problems = [Problem(Location(version.where(p.location.path), p.location.line, p.location.col), p.message) for p in exc.problems]
        raise DefinitionError([*problems, Problem(Location(version.label), "this version does not load, so it cannot be compared; fix it first")]) from exc


def _data(old: Version, new: Version, data: Path | None) -> tuple[Path | None, str]:
    """The data file both versions are read with: --data, else the head's demo data, else the base's."""
    if data is not None:
        return data, str(data)
    for version in (new, old):
        if (version.root / DEMO_DATA).is_file():
            return version.root / DEMO_DATA, version.where(DEMO_DATA.as_posix())
    return None, ""


def _render(found: Semantic, behaviour: Behaviour) -> None:
    """An email template's change as it reads on data: the first pair whose plans send it in both versions."""
    for diff in found.flows:
        for edit in diff.changes:
            if edit.kind != "email-text":
                continue
            sample = behaviour.samples.get((diff.flow, edit.extra["template"]))
            if sample is None:
                continue
            diffs = {p: word_diff(getattr(sample.before, p) or "", getattr(sample.after, p) or "") for p in ("subject", "text", "html")}
            diffs = {p: d for p, d in diffs.items() if d}
            actor, subject = behaviour.actors.get(sample.actor, sample.actor), behaviour.subjects.get(sample.subject, sample.subject)
            said = "; ".join(f"{p}: {d}" for p, d in diffs.items() if p != "html") or (
                "the HTML only" if diffs else "its template changed, but it reads the same"
            )
            edit.message = f"email {edit.extra['template']!r}, as {actor} on {subject} reads it: {said}"
            edit.extra.update(diff=diffs, rendered=True, sample={"actor": sample.actor, "subject": sample.subject})
