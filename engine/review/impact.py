"""Scenario impact: each version's own scenarios run on it, and the scenarios whose result is not the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DefinitionError
from ..language.model import Project
from ..plugins import Registry
from ..scenarios.suite import load_suite, run_suite, scenario_files

FOLDER = "scenarios"
Result = tuple[str, list[dict[str, Any]]]  # passed | failed | broken, and the mismatches (or the problems)


@dataclass
class ScenarioChange:
    """A scenario whose result differs: passed, failed, absent, or broken (its file does not load)."""

    file: str
    name: str  # empty for a whole file that does not load
    before: str
    after: str
    mismatches: list[dict[str, Any]] = field(default_factory=list)  # what fails now (or failed before, when it went)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "before": self.before, "after": self.after, "mismatches": list(self.mismatches)}


def results(project: Project, registry: Registry, shown: Callable[[str], str]) -> dict[tuple[str, str], Result]:
    """Every scenario of the project's scenarios/ folder run on it, by (file, name); `shown` names a file for a person."""
    root = Path(project.root)
    folder = root / FOLDER
    out: dict[tuple[str, str], Result] = {}
    if not folder.is_dir():
        return out
    for path in scenario_files([folder]):
        relative = path.relative_to(root).as_posix()
        try:
            scenarios = load_suite(project, [path])
        except DefinitionError as exc:
            out[(relative, "")] = (
                "broken",
                [{"what": "file", "note": f"{shown(str(p.location.path).removeprefix(str(root) + '/'))}: {p.message}"} for p in exc.problems],
            )
            continue
        for result in run_suite(project, scenarios, registry):
            out[(relative, result.scenario.name)] = ("passed" if result.passed else "failed", [_relative(m.to_json(), root, shown) for m in result.mismatches])
    return out


def _relative(mismatch: dict[str, Any], root: Path, shown: Callable[[str], str]) -> dict[str, Any]:
    """A mismatch whose messages name the version's files as a person finds them, not the folder they were copied into."""
    text = json.dumps(mismatch, ensure_ascii=False, default=str)
    folder = json.dumps(f"{root}/")[1:-1]
    if folder not in text:
        return mismatch
    return dict(json.loads(text.replace(folder, json.dumps(shown(""))[1:-1])))


def compare(before: dict[tuple[str, str], Result], after: dict[tuple[str, str], Result]) -> list[ScenarioChange]:
    """The scenarios whose result is not the same in both versions (one that appeared or went included)."""
    out: list[ScenarioChange] = []
    for key in dict.fromkeys([*after, *before]):
        was, now = before.get(key, ("absent", [])), after.get(key, ("absent", []))
        if was[0] != now[0] or (now[0] != "passed" and was[1] != now[1]):
            out.append(ScenarioChange(key[0], key[1], was[0], now[0], now[1] if now[0] != "absent" else was[1]))
    return out
