"""The plan: what a run showed and what it would do (or did), as one JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import STATUS_EXIT
from .data import Change
from .outcome import RenderedEmail
from .runs import Screen
from .schedule import Scheduled

STATUSES = ("completed", "blocked", "needs_input", "invalid", "cancelled", "awaiting_approval", "rejected")


@dataclass(slots=True)
class Verdict:
    """One rule's result for an actor and a subject."""

    rule: str
    passed: bool
    message: str | None = None
    broken: bool = False  # the rule could not be checked (an error in it, not a verdict): never a pass, never a mere "no"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "passed": self.passed, "message": self.message}


@dataclass
class Plan:
    """What running a flow gives: its status, the screens shown, and what it would change and send."""

    flow: str
    status: str
    dry_run: bool
    screens: list[Screen] = field(default_factory=list)
    blocked_by: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    needs: list[dict[str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    emails: list[RenderedEmail] = field(default_factory=list)
    banners: list[str] = field(default_factory=list)
    reversible: bool = False
    undo: str | None = None
    audit: dict[str, Any] = field(default_factory=dict)
    rules: list[Verdict] = field(default_factory=list)
    run: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)  # each {"code", "message", ...}: said, not stopping
    scheduled: list[Scheduled] = field(default_factory=list)  # the outcome's delayed parts, each with its due time
    approval: dict[str, Any] | None = None  # a run that waits for a person: the request (engine/runtime/approvals.py)
    # Not in the document: whether reach refused (the plan then holds the refusal alone
    # and names the subject as the caller did), and the subject's id for the run record.
    outside_reach: bool = False
    subject_id: str | None = None
    approval_emails: list[RenderedEmail] = field(default_factory=list)  # what the request sends the approvers

    def to_json(self) -> dict[str, Any]:
        """The plan contract: the keys below, always present, in this order."""
        return {
            "flow": self.flow,
            "status": self.status,
            "dry_run": self.dry_run,
            "screens": [s.to_json() for s in self.screens],
            "blocked_by": list(self.blocked_by),
            "errors": list(self.errors),
            "needs": list(self.needs),
            "changes": [c.to_json() for c in self.changes],
            "emails": [e.to_json() for e in self.emails],
            "banners": list(self.banners),
            "reversible": self.reversible,
            "undo": self.undo,
            "audit": dict(self.audit),
            "rules": [v.to_json() for v in self.rules],
            "run": self.run,
            "warnings": list(self.warnings),
            "scheduled": [s.to_json() for s in self.scheduled],
            "approval": dict(self.approval) if self.approval is not None else None,
        }

    @property
    def exit_code(self) -> int:
        """The command's exit code for this plan's status (errors.STATUS_EXIT)."""
        return int(STATUS_EXIT[self.status])
