"""What the engine's API returns to front ends: availability and a run's current screen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .plan import Verdict
from .runs import Screen


class _Deferred:
    """Where a `FlowAvailability` made by the rulebook keeps how to list its `rules` (every rule's verdict) until they are first read.

    The rulebook (runtime/rulebook.py) makes the entries of `Engine.available` without their `rules`,
    and `_later` says how to make them: (function, *arguments). The first read makes them, as the rulebook
    would have (the same verdicts, a failed rule's verdict shared by every flow it guards), keeps them as
    the entry's own `rules`, and forgets `_later`: every reader, `==`, `repr`, pickling and `to_json` alike,
    sees the same values as when they were made at once.
    """

    __slots__ = ("_later",)

    def __getattr__(self, name: str) -> Any:  # only for an attribute not set: `rules` before it is first read
        if name == "rules":
            try:
                make, *arguments = self._later
            except AttributeError:
                pass
            else:
                rules = self.rules = make(*arguments)  # type: ignore[misc]  # a field of the dataclass below
                del self._later
                return rules
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self)


@dataclass(slots=True)
class FlowAvailability(_Deferred):
    """Whether one flow may be started on a subject, and why not when it may not."""

    flow: str
    title: str
    available: bool
    reasons: list[dict[str, str]]
    rules: list[Verdict] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "title": self.title, "available": self.available, "reasons": list(self.reasons)}


def _deferred_field(cls: type, name: str) -> None:
    """`cls.name` read and written as its slot is (an unset one falls back to `__getattr__`), deleted also before it is made.

    A `__delattr__` would do it too, but would slow every attribute written on the class's objects.
    """
    slot = cls.__dict__[name]

    def forget(self: _Deferred) -> None:
        if hasattr(self, "_later"):  # not made yet: as deleting them once made
            del self._later
        else:
            slot.__delete__(self)

    setattr(cls, name, property(slot.__get__, slot.__set__, forget, slot.__doc__))


_deferred_field(FlowAvailability, "rules")


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
