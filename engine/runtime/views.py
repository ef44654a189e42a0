"""What the engine's API returns to front ends: availability and a run's current screen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .plan import Verdict
from .runs import Screen


@dataclass(slots=True)
class FlowAvailability:
    """Whether one flow may be started on a subject, and why not when it may not."""

    flow: str
    title: str
    available: bool
    reasons: list[dict[str, str]]
    rules: list[Verdict] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "title": self.title, "available": self.available, "reasons": list(self.reasons)}


@dataclass
class Availability:
    """Which flows an actor may start on a subject."""

    actor: str
    subject: str
    flows: list[FlowAvailability]
    outside_reach: bool = False  # reach refused: every flow holds the refusal alone (not in the document)

    def to_json(self) -> dict[str, Any]:
        return {"actor": self.actor, "subject": self.subject, "flows": [f.to_json() for f in self.flows]}

    def offered(self) -> list[str]:
        return [f.flow for f in self.flows if f.available]


@dataclass
class RunView:
    """A run as a front end shows it: its status and the screen it waits on."""

    run: str
    flow: str
    status: str  # open | ready | completed | cancelled | blocked | invalid | needs_input
    screen: Screen | None
    errors: list[dict[str, str]] = field(default_factory=list)
    needs: list[dict[str, str]] = field(default_factory=list)
    blocked_by: list[dict[str, str]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    outside_reach: bool = False  # reach refused: blocked by the refusal alone (not in the document)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "flow": self.flow,
            "status": self.status,
            "screen": self.screen.to_json() if self.screen else None,
            "errors": list(self.errors),
            "needs": list(self.needs),
            "blocked_by": list(self.blocked_by),
            "answers": dict(self.answers),
            "version": self.version,
        }
