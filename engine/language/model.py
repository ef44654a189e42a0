"""The typed model of a project: frozen dataclasses built from validated YAML.

Nothing after the loader sees a raw dict of a definition file. The model is plain
data: conditions and texts are held as source (`Expr`, `Text`, engine/language/code.py)
with where each was written, so a model can be built, compared and printed without a
compiler (`==` and the printed form leave every location out: a model says what, not
where). What was compiled from it travels beside it, in `Project.program`
(engine/conditions/program.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import field
from functools import cached_property
from typing import Any

from ..errors import Location, Problem, UnknownName
from ..plain import frozen
from .code import NOT_COMPILED, Compiled, Expr, Text

STEP_KINDS = ("info", "survey", "choice", "form", "confirm", "approval")
BUILTIN_EFFECTS = ("update", "delete", "create")  # the effects every project has; the plan's changes[].op says the same words
FIELD_TYPES = ("text", "boolean", "number", "choice")
DEFAULT_MAX_LENGTH = 2000
APPROVAL_NAMES = ("status", "reason", "by", "expires", "run")  # what texts see as `approval` (engine/runtime/approvals.py)
DEFAULT_BUTTONS = {"next": "Continue", "back": "Back", "cancel": "Cancel"}  # the engine's labels of a button nobody named (`buttons:`)


@frozen
class Rule:
    """A named condition with the message shown when it does not hold."""

    name: str
    condition: Expr
    message: Text
    location: Location = dataclasses.field(compare=False, repr=False)
    shared: bool = False
    description: str = ""


@frozen
class Option:
    """One fixed choice of a field: the value stored and the label shown."""

    value: Any
    label: Text


@frozen
class DynamicOptions:
    """Options computed from data: one per record of `source`."""

    source: Expr
    value: str
    label: Text
    match: tuple[str, ...]
    where: Expr | None = None  # which records become options (`item` is the record)


@frozen
class Check:
    """A condition an answer must meet, with the message shown when it does not."""

    condition: Expr
    message: Text


@frozen
class Field:
    """One question of a step: its type, label, default, limits, options and checks."""

    name: str
    type: str
    label: Text | None
    help: Text | None
    required: bool
    default: Any
    max_length: int
    options: tuple[Option, ...] | DynamicOptions | None
    confirm: Expr | None
    checks: tuple[Check, ...]
    location: Location = dataclasses.field(compare=False, repr=False)


@frozen
class Approval:
    """What an approval step asks of another person: who may approve, for how long, whom it tells.

    `approvers` are checked with the approver as `actor` (the run's starter never may);
    the request expires `seconds` after the run starts to wait. `request` is emailed when
    it waits, `decision` when it is approved, rejected or expires.
    """

    approvers: tuple[Rule, ...]
    expires: str  # as written, e.g. `7 days`
    seconds: int
    request: Email | None = None
    decision: Email | None = None


@frozen
class Step:
    """One screen of a flow: its kind, texts, when it is shown, its buttons and fields."""

    id: str
    kind: str
    title: Text
    body: Text | None
    when: Expr | None
    buttons: dict[str, Text]
    fields: tuple[Field, ...]
    location: Location = dataclasses.field(compare=False, repr=False)
    approval: Approval | None = None  # kind: approval only


@frozen
class Delay:
    """When a delayed part of an outcome is due, and what drops it then.

    Either `seconds` after the commit (a duration as written, e.g. `14 days`) or `at`,
    an expression giving an ISO 8601 time, evaluated at the commit. `unless` is checked
    again, on what is then stored, when the part is due.
    """

    written: str
    seconds: int | None
    at: Expr | None
    unless: Expr | None = None


@frozen
class Effect:
    """One change an outcome makes to the data: an update, a create, a delete or a plugin's effect."""

    op: str
    entity: str
    id: Expr | None
    field: str | None
    to: Expr | None
    values: dict[str, Expr]
    args: dict[str, Expr]
    when: Expr | None
    location: Location = dataclasses.field(compare=False, repr=False)
    after: Delay | None = None  # None: applied at the commit


@frozen
class Email:
    """One email an outcome sends: which template, to whom, when, and what an empty `to` does."""

    template: str
    to: Expr
    when: Expr | None
    location: Location = dataclasses.field(compare=False, repr=False)
    when_empty: str = "warn"  # warn | skip | block: what happens when `to` names nobody
    after: Delay | None = None  # None: sent from the commit


@frozen
class Outcome:
    """What a flow does once confirmed: its effects and emails, the banner shown, the audit line."""

    effects: tuple[Effect, ...]
    emails: tuple[Email, ...]
    banner: Text | None
    reversible: bool | Expr  # true, false, or a condition evaluated in the outcome's scope when the plan is made
    undo: Text | None  # a template like the banner: how the action is undone, or why it cannot be
    audit: Text
    cancel: tuple[str, ...] = ()  # flows whose pending scheduled work for the same subject this outcome cancels

    @cached_property
    def delayed(self) -> bool:
        """Whether any part waits for a later time (worked out once: every plan asks)."""
        return any(effect.after is not None for effect in self.effects) or any(email.after is not None for email in self.emails)


@frozen
class Flow:
    """One flow: who may start it, what must hold of its subject, its steps and its outcome."""

    id: str
    title: str
    summary: str
    subject: str
    entry: tuple[str, ...]
    button: str | None
    started_by: tuple[Rule, ...]
    preconditions: tuple[Rule, ...]
    steps: tuple[Step, ...]
    outcome: Outcome
    version: str
    location: Location = dataclasses.field(compare=False, repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Who may start it, then what must hold of the subject, in order."""
        return self.started_by + self.preconditions

    @cached_property
    def approvals(self) -> tuple[Step, ...]:
        """The steps of kind approval (at most one: checks.py says so)."""
        return tuple(step for step in self.steps if step.approval is not None)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def fields(self) -> dict[str, tuple[Step, Field]]:
        """Every field by name, with its step (computed once)."""
        return self._fields

    @cached_property
    def _fields(self) -> dict[str, tuple[Step, Field]]:
        return {f.name: (s, f) for s in self.steps for f in s.fields}

    @cached_property
    def defaults(self) -> dict[str, Any]:
        """Each field's default: what `answers` holds before anything is answered."""
        return {name: field.default for name, (_, field) in self._fields.items()}

    @cached_property
    def unconditional(self) -> bool:
        """No step has a `when`: every step is always shown."""
        return all(step.when is None for step in self.steps)

    @cached_property
    def reference(self) -> dict[str, str | None]:
        """What conditions see as `flow`: `due` is none, except when the worker checks a scheduled part (engine/runtime/due.py)."""
        return {"id": self.id, "title": self.title, "due": None}


@frozen
class EmailTemplate:
    """An email's texts: its subject, plain text and optional HTML body."""

    name: str
    subject: Text
    text: Text
    html: Text | None
    location: Location = dataclasses.field(compare=False, repr=False)


@frozen
class Entity:
    """One kind of record in the data: where its records live and how each is found."""

    name: str
    collection: str | None
    nested_in: tuple[str, ...]
    nested_key: str | None
    keys: tuple[str, ...]
    label: str


@frozen
class Project:
    """Everything a project defines, checked; `program` holds its conditions and texts compiled."""

    root: str
    product: dict[str, Any]
    entities: dict[str, Entity]
    subject_entity: str
    subject_match: tuple[str, ...]
    actor_entity: str
    actor_match: tuple[str, ...]
    actor_within: dict[str, str]
    context: dict[str, Expr]
    reach: tuple[Rule, ...]
    flows: dict[str, Flow]
    emails: dict[str, EmailTemplate]
    data_schema: str | None
    locales: tuple[str, ...] = ()  # BCP 47 tags; the first is the language the flows are written in (none: one language)
    buttons: dict[str, Text] = field(default_factory=dict)  # the labels of the buttons a step does not name itself (next, back, cancel)
    names: frozenset[str] = field(default=frozenset())
    program: Compiled = field(default=NOT_COMPILED, compare=False, repr=False)  # what was compiled from this model
    warnings: tuple[Problem, ...] = field(default=(), compare=False)  # what loads but should change, located (`clientflow fix`)
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # the files it was read from, by path in the project

    def flow(self, flow_id: str) -> Flow:
        try:
            return self.flows[flow_id]
        except KeyError:
            raise UnknownName("flow", flow_id, self.flows) from None


def codes(node: Any) -> Iterator[Expr | Text]:
    """Every condition and text of a model (a project, a flow, a step...), in the order they are held."""
    if isinstance(node, (Expr, Text)):
        yield node
    elif isinstance(node, (tuple, list)):
        for item in node:
            yield from codes(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from codes(item)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            if name != "program":
                yield from codes(getattr(node, name))
