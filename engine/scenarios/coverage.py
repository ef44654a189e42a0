"""Coverage of a project's flows by its scenarios.

For each flow: which rules were seen holding and failing, which steps were shown,
which fields were answered, which emails were sent and which paths (`paths.py`)
were walked, and so what no scenario has ever reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..language.model import Project
from . import paths
from .suite import Observed, ScenarioResult

CATEGORIES = ("rule holds", "rule fails", "step shown", "field answered", "email sent", "path walked")


@dataclass(frozen=True)
class Item:
    """One thing a scenario can reach, and whether one did."""

    category: str
    name: str
    covered: bool


def percent(covered: int, total: int) -> float:
    return 100.0 if total == 0 else 100.0 * covered / total


def shown(value: float) -> str:
    """A percentage rounded down to one decimal, so 99.96% never shows as 100%."""
    return f"{math.floor(value * 10) / 10:g}%"


@dataclass
class FlowCoverage:
    """What the scenarios reached of one flow."""

    flow: str
    items: list[Item]

    @property
    def covered(self) -> int:
        return sum(1 for i in self.items if i.covered)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.total)

    def missing(self) -> list[Item]:
        return [i for i in self.items if not i.covered]

    def counts(self) -> dict[str, tuple[int, int]]:
        """(covered, total) for each category the flow has items in."""
        out: dict[str, tuple[int, int]] = {}
        for category in CATEGORIES:
            items = [i for i in self.items if i.category == category]
            if items:
                out[category] = (sum(1 for i in items if i.covered), len(items))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "covered": self.covered,
            "total": self.total,
            "percent": round(self.percent, 2),
            "counts": {k: {"covered": c, "total": t} for k, (c, t) in self.counts().items()},
            "missing": [{"category": i.category, "name": i.name} for i in self.missing()],
        }


@dataclass
class Coverage:
    """Coverage of every flow of a project."""

    flows: list[FlowCoverage]

    @property
    def covered(self) -> int:
        return sum(f.covered for f in self.flows)

    @property
    def total(self) -> int:
        return sum(f.total for f in self.flows)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.total)

    def to_json(self) -> dict[str, Any]:
        return {"covered": self.covered, "total": self.total, "percent": round(self.percent, 2), "flows": [f.to_json() for f in self.flows]}


def measure(project: Project, results: Iterable[ScenarioResult]) -> Coverage:
    """What `results` reached of every flow of `project`."""
    seen: dict[str, Observed] = {}
    for result in results:
        for flow_id, observed in result.observed.items():
            into = seen.setdefault(flow_id, Observed())
            for name in ("rules_passed", "rules_failed", "steps", "fields", "emails", "paths"):
                getattr(into, name).update(getattr(observed, name))
    flows = []
    for flow in project.flows.values():
        got = seen.get(flow.id, Observed())
        rules = list(dict.fromkeys(r.name for r in (*project.reach, *flow.rules)))
        items = [Item("rule holds", r, r in got.rules_passed) for r in rules]
        items += [Item("rule fails", r, r in got.rules_failed) for r in rules]
        items += [Item("step shown", s.id, s.id in got.steps) for s in flow.steps]
        items += [Item("field answered", name, name in got.fields) for name in flow.fields()]
        items += [Item("email sent", t, t in got.emails) for t in dict.fromkeys(e.template for e in flow.outcome.emails)]
        items += [Item("path walked", p.key, p.key in got.paths) for p in paths.flow_paths(project, flow)]
        flows.append(FlowCoverage(flow.id, items))
    return Coverage(flows)
