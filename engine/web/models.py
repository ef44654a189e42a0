"""The shapes the API documents in /openapi.json: the engine's to_json() documents, as models.

Routes answer with the engine's own `to_json()`; these models only describe it
(schemathesis checks that every answer matches them). Where the engine may add
keys later, a model allows them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

Open = ConfigDict(extra="allow")


class RuleMessage(BaseModel):
    rule: str
    message: str


class FieldError(BaseModel):
    field: str
    message: str


class Need(BaseModel):
    step: str
    field: str


class Option(BaseModel):
    value: Any
    label: str


class ScreenField(BaseModel):
    model_config = Open
    name: str
    type: Literal["text", "boolean", "number", "choice"]
    label: str
    required: bool
    default: Any = None
    help: str | None = None
    options: list[Option] | None = None
    confirm: bool | None = Field(None, description="True when the answer must be typed exactly (a typed confirmation).")
    value: Any = Field(None, description="The answer given so far, when there is one.")


class Screen(BaseModel):
    step: str
    kind: Literal["info", "survey", "choice", "form", "confirm", "approval"]
    title: str
    body: str | None
    fields: list[ScreenField]
    buttons: dict[str, str]


class RunView(BaseModel):
    """A run as a front end shows it: its status and the screen it waits on."""

    run: str
    flow: str
    status: Literal["open", "ready", "completed", "cancelled", "blocked", "invalid", "needs_input", "awaiting_approval", "rejected", "expired"]
    screen: Screen | None
    errors: list[FieldError]
    needs: list[Need]
    blocked_by: list[RuleMessage]
    answers: dict[str, Any]
    version: str


class FlowSummary(BaseModel):
    flow: str
    title: str
    summary: str


class FlowList(BaseModel):
    flows: list[FlowSummary]


class FlowAvailability(BaseModel):
    flow: str
    title: str
    available: bool
    reasons: list[RuleMessage]


class Availability(BaseModel):
    actor: str
    subject: str
    flows: list[FlowAvailability]


class Change(BaseModel):
    model_config = Open
    op: Literal["update", "delete", "create"]
    entity: str
    id: str
    field: str | None
    before: Any
    after: Any
    predicted: bool | None = None


class Email(BaseModel):
    template: str
    to: list[str]
    subject: str
    text: str
    html: str | None


class Verdict(BaseModel):
    rule: str
    passed: bool
    message: str | None


class PlanWarning(BaseModel):
    """Something the plan says without stopping, e.g. an email whose recipients name nobody (code no-recipients)."""

    model_config = Open
    code: str
    message: str


class ScheduledPart(BaseModel):
    """A delayed part of the outcome: done at `at` if its flow's rules and its `unless` still allow it then."""

    kind: Literal["effect", "email"]
    at: str = Field(description="When it is due: ISO 8601, UTC.")
    due: str = Field(description="The same moment, in the zone the run was planned in.")
    what: dict[str, Any] = Field(description="The part: op, entity and field of an effect, or an email's template.")
    unless: str | None = Field(description="The condition that, true when it is due, drops it.")
    changes: list[Change] = Field(description="What it would change, were it due now, on the data after the commit.")
    emails: list[Email] = Field(description="What it would send, rendered as at the commit.")


class Plan(BaseModel):
    """What a run showed and what it would do (or did): the plan contract."""

    model_config = Open
    flow: str
    status: Literal["completed", "blocked", "needs_input", "invalid", "cancelled", "awaiting_approval", "rejected"]
    dry_run: bool
    screens: list[Screen]
    blocked_by: list[RuleMessage]
    errors: list[FieldError]
    needs: list[Need]
    changes: list[Change]
    emails: list[Email]
    banners: list[str]
    reversible: bool
    undo: str | None
    audit: dict[str, Any]
    rules: list[Verdict]
    run: str | None
    warnings: list[PlanWarning] = []
    scheduled: list[ScheduledPart] = []
    approval: dict[str, Any] | None = Field(
        None, description="A run that waits for a person: step, status (pending, approved, rejected, expired, blocked), expires, by, reason."
    )


class Problem(BaseModel):
    path: str
    line: int
    col: int
    message: str


class ErrorDetail(BaseModel):
    model_config = Open
    code: str = Field(description="A stable code: unknown_flow, unauthenticated, blocked, invalid_answers, ...")
    message: str
    blocked_by: list[RuleMessage] | None = None
    errors: list[FieldError] | None = None
    needs: list[Need] | None = None
    problems: list[Problem] | None = None
    run: RunView | None = None
    plan: Plan | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Answers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Any] = Field(default_factory=dict, description="Field name -> answer, for the current screen (or several, with `ahead`).")
    ahead: bool = Field(False, description="Go as far as the answers allow instead of one screen.")


class Decision(BaseModel):
    """Why an approver approves (optional) or rejects (required)."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, min_length=1, max_length=2000, description="Why, if the approver says: told to whoever started the run.")


class Rejection(BaseModel):
    """Why an approver rejects: told to whoever started the run."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="Why: told to whoever started the run.")


class AwaitingApproval(BaseModel):
    model_config = Open
    run: str
    flow: str
    title: str
    subject: str
    actor: str = Field(description="Who started the run (their id).")
    answers: dict[str, Any]
    step: str | None
    requested: str | None
    expires: str


class ApprovalList(BaseModel):
    """The runs awaiting a decision the caller may make (never the runs they started)."""

    approvals: list[AwaitingApproval]


def start_model(word: str) -> type[BaseModel]:
    """The body that starts a run; the subject is named by the project's own word or by `subject`."""
    described = f"The {word}'s id or another key it may be named by."
    fields: dict[str, Any] = {
        "generic": (str, Field(None, alias="subject", min_length=1, description=described if word == "subject" else f"Alias of `{word}`."))
    }
    either: list[Any] = [{"required": ["subject"]}]
    if word != "subject":
        fields["named"] = (str, Field(None, alias=word, min_length=1, description=described))
        either.insert(0, {"required": [word]})
    fields["answers"] = (
        dict[str, Any],
        Field(
            None,
            description="Answers given ahead: the run goes as far as they allow (even `{}` passes screens that need none). Without it, the run waits on its first screen.",
        ),
    )
    config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": either})
    return create_model("StartRun", __config__=config, **fields)


def start_subject(body: Any) -> str:
    """The subject a StartRun body names (the project's word first)."""
    return str(getattr(body, "named", None) or body.generic or "")
