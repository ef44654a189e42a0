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
from dataclasses import FrozenInstanceError, dataclass, field
from functools import cached_property
from reprlib import recursive_repr
from typing import Any

from ..errors import Location, Problem, UnknownName
from .code import NOT_COMPILED, Compiled, Expr, Text

STEP_KINDS = ("info", "survey", "choice", "form", "confirm", "approval")
BUILTIN_EFFECTS = ("update", "delete", "create")  # the effects every project has; the plan's changes[].op says the same words
FIELD_TYPES = ("text", "boolean", "number", "choice")
DEFAULT_MAX_LENGTH = 2000
APPROVAL_NAMES = ("status", "reason", "by", "expires", "run")  # what texts see as `approval` (engine/runtime/approvals.py)
DEFAULT_BUTTONS = {"next": "Continue", "back": "Back", "cancel": "Cancel"}  # the engine's labels of a button nobody named (`buttons:`)

# The model's classes are frozen dataclasses whose methods are written out below each one, exactly as
# @dataclass(frozen=True) generates them (tests/test_model_methods.py compares every class with the
# dataclass it stands for): Python 3.11's dataclasses compile each generated method with an `exec` of
# its own when the module is imported, 90 of them here, a cost of every start; written out, they come
# from the module's cached bytecode. `dataclass(init=False, repr=False, eq=False)` keeps the rest
# (fields, defaults, `dataclasses.fields`, `replace`, `__match_args__`).
_set = object.__setattr__
_FACTORY: Any = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", object())  # what a field made by default_factory is given by default (shown as <factory>)


def _recursive_repr() -> Any:
    return recursive_repr("...")


@dataclass(init=False, repr=False, eq=False)
class Rule:
    """A named condition with the message shown when it does not hold."""

    name: str
    condition: Expr
    message: Text
    location: Location = dataclasses.field(compare=False, repr=False)
    shared: bool = False
    description: str = ""

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, name: str, condition: Expr, message: Text, location: Location, shared: bool = False, description: str = "") -> None:
        _set(self, "name", name)
        _set(self, "condition", condition)
        _set(self, "message", message)
        _set(self, "location", location)
        _set(self, "shared", shared)
        _set(self, "description", description)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(name={self.name!r}, condition={self.condition!r}, message={self.message!r}, shared={self.shared!r}, description={self.description!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.condition, self.message, self.shared, self.description) == (
                other.name,
                other.condition,
                other.message,
                other.shared,
                other.description,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.condition, self.message, self.shared, self.description))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Rule or name in {"name", "condition", "message", "location", "shared", "description"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Rule or name in {"name", "condition", "message", "location", "shared", "description"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class Option:
    """One fixed choice of a field: the value stored and the label shown."""

    value: Any
    label: Text

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, value: Any, label: Text) -> None:
        _set(self, "value", value)
        _set(self, "label", label)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(value={self.value!r}, label={self.label!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.value, self.label) == (other.value, other.label)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.value, self.label))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Option or name in {"value", "label"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Option or name in {"value", "label"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class DynamicOptions:
    """Options computed from data: one per record of `source`."""

    source: Expr
    value: str
    label: Text
    match: tuple[str, ...]
    where: Expr | None = None  # which records become options (`item` is the record)

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, source: Expr, value: str, label: Text, match: tuple[str, ...], where: Expr | None = None) -> None:
        _set(self, "source", source)
        _set(self, "value", value)
        _set(self, "label", label)
        _set(self, "match", match)
        _set(self, "where", where)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(source={self.source!r}, value={self.value!r}, label={self.label!r}, match={self.match!r}, where={self.where!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.source, self.value, self.label, self.match, self.where) == (other.source, other.value, other.label, other.match, other.where)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.source, self.value, self.label, self.match, self.where))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is DynamicOptions or name in {"source", "value", "label", "match", "where"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is DynamicOptions or name in {"source", "value", "label", "match", "where"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class Check:
    """A condition an answer must meet, with the message shown when it does not."""

    condition: Expr
    message: Text

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, condition: Expr, message: Text) -> None:
        _set(self, "condition", condition)
        _set(self, "message", message)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(condition={self.condition!r}, message={self.message!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.condition, self.message) == (other.condition, other.message)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.condition, self.message))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Check or name in {"condition", "message"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Check or name in {"condition", "message"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(
        self,
        name: str,
        type: str,
        label: Text | None,
        help: Text | None,
        required: bool,
        default: Any,
        max_length: int,
        options: tuple[Option, ...] | DynamicOptions | None,
        confirm: Expr | None,
        checks: tuple[Check, ...],
        location: Location,
    ) -> None:
        _set(self, "name", name)
        _set(self, "type", type)
        _set(self, "label", label)
        _set(self, "help", help)
        _set(self, "required", required)
        _set(self, "default", default)
        _set(self, "max_length", max_length)
        _set(self, "options", options)
        _set(self, "confirm", confirm)
        _set(self, "checks", checks)
        _set(self, "location", location)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(name={self.name!r}, type={self.type!r}, label={self.label!r}, help={self.help!r}, required={self.required!r}, default={self.default!r}, max_length={self.max_length!r}, options={self.options!r}, confirm={self.confirm!r}, checks={self.checks!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.type, self.label, self.help, self.required, self.default, self.max_length, self.options, self.confirm, self.checks) == (
                other.name,
                other.type,
                other.label,
                other.help,
                other.required,
                other.default,
                other.max_length,
                other.options,
                other.confirm,
                other.checks,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.label, self.help, self.required, self.default, self.max_length, self.options, self.confirm, self.checks))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Field or name in {"name", "type", "label", "help", "required", "default", "max_length", "options", "confirm", "checks", "location"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Field or name in {"name", "type", "label", "help", "required", "default", "max_length", "options", "confirm", "checks", "location"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, approvers: tuple[Rule, ...], expires: str, seconds: int, request: Email | None = None, decision: Email | None = None) -> None:
        _set(self, "approvers", approvers)
        _set(self, "expires", expires)
        _set(self, "seconds", seconds)
        _set(self, "request", request)
        _set(self, "decision", decision)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(approvers={self.approvers!r}, expires={self.expires!r}, seconds={self.seconds!r}, request={self.request!r}, decision={self.decision!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.approvers, self.expires, self.seconds, self.request, self.decision) == (
                other.approvers,
                other.expires,
                other.seconds,
                other.request,
                other.decision,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.approvers, self.expires, self.seconds, self.request, self.decision))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Approval or name in {"approvers", "expires", "seconds", "request", "decision"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Approval or name in {"approvers", "expires", "seconds", "request", "decision"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(
        self,
        id: str,
        kind: str,
        title: Text,
        body: Text | None,
        when: Expr | None,
        buttons: dict[str, Text],
        fields: tuple[Field, ...],
        location: Location,
        approval: Approval | None = None,
    ) -> None:
        _set(self, "id", id)
        _set(self, "kind", kind)
        _set(self, "title", title)
        _set(self, "body", body)
        _set(self, "when", when)
        _set(self, "buttons", buttons)
        _set(self, "fields", fields)
        _set(self, "location", location)
        _set(self, "approval", approval)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(id={self.id!r}, kind={self.kind!r}, title={self.title!r}, body={self.body!r}, when={self.when!r}, buttons={self.buttons!r}, fields={self.fields!r}, approval={self.approval!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.id, self.kind, self.title, self.body, self.when, self.buttons, self.fields, self.approval) == (
                other.id,
                other.kind,
                other.title,
                other.body,
                other.when,
                other.buttons,
                other.fields,
                other.approval,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.id, self.kind, self.title, self.body, self.when, self.buttons, self.fields, self.approval))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Step or name in {"id", "kind", "title", "body", "when", "buttons", "fields", "location", "approval"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Step or name in {"id", "kind", "title", "body", "when", "buttons", "fields", "location", "approval"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, written: str, seconds: int | None, at: Expr | None, unless: Expr | None = None) -> None:
        _set(self, "written", written)
        _set(self, "seconds", seconds)
        _set(self, "at", at)
        _set(self, "unless", unless)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(written={self.written!r}, seconds={self.seconds!r}, at={self.at!r}, unless={self.unless!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.written, self.seconds, self.at, self.unless) == (other.written, other.seconds, other.at, other.unless)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.written, self.seconds, self.at, self.unless))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Delay or name in {"written", "seconds", "at", "unless"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Delay or name in {"written", "seconds", "at", "unless"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(
        self,
        op: str,
        entity: str,
        id: Expr | None,
        field: str | None,
        to: Expr | None,
        values: dict[str, Expr],
        args: dict[str, Expr],
        when: Expr | None,
        location: Location,
        after: Delay | None = None,
    ) -> None:
        _set(self, "op", op)
        _set(self, "entity", entity)
        _set(self, "id", id)
        _set(self, "field", field)
        _set(self, "to", to)
        _set(self, "values", values)
        _set(self, "args", args)
        _set(self, "when", when)
        _set(self, "location", location)
        _set(self, "after", after)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(op={self.op!r}, entity={self.entity!r}, id={self.id!r}, field={self.field!r}, to={self.to!r}, values={self.values!r}, args={self.args!r}, when={self.when!r}, after={self.after!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.op, self.entity, self.id, self.field, self.to, self.values, self.args, self.when, self.after) == (
                other.op,
                other.entity,
                other.id,
                other.field,
                other.to,
                other.values,
                other.args,
                other.when,
                other.after,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.op, self.entity, self.id, self.field, self.to, self.values, self.args, self.when, self.after))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Effect or name in {"op", "entity", "id", "field", "to", "values", "args", "when", "location", "after"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Effect or name in {"op", "entity", "id", "field", "to", "values", "args", "when", "location", "after"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class Email:
    """One email an outcome sends: which template, to whom, when, and what an empty `to` does."""

    template: str
    to: Expr
    when: Expr | None
    location: Location = dataclasses.field(compare=False, repr=False)
    when_empty: str = "warn"  # warn | skip | block: what happens when `to` names nobody
    after: Delay | None = None  # None: sent from the commit

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, template: str, to: Expr, when: Expr | None, location: Location, when_empty: str = "warn", after: Delay | None = None) -> None:
        _set(self, "template", template)
        _set(self, "to", to)
        _set(self, "when", when)
        _set(self, "location", location)
        _set(self, "when_empty", when_empty)
        _set(self, "after", after)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(template={self.template!r}, to={self.to!r}, when={self.when!r}, when_empty={self.when_empty!r}, after={self.after!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.template, self.to, self.when, self.when_empty, self.after) == (other.template, other.to, other.when, other.when_empty, other.after)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.template, self.to, self.when, self.when_empty, self.after))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Email or name in {"template", "to", "when", "location", "when_empty", "after"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Email or name in {"template", "to", "when", "location", "when_empty", "after"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(
        self,
        effects: tuple[Effect, ...],
        emails: tuple[Email, ...],
        banner: Text | None,
        reversible: bool | Expr,
        undo: Text | None,
        audit: Text,
        cancel: tuple[str, ...] = (),
    ) -> None:
        _set(self, "effects", effects)
        _set(self, "emails", emails)
        _set(self, "banner", banner)
        _set(self, "reversible", reversible)
        _set(self, "undo", undo)
        _set(self, "audit", audit)
        _set(self, "cancel", cancel)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(effects={self.effects!r}, emails={self.emails!r}, banner={self.banner!r}, reversible={self.reversible!r}, undo={self.undo!r}, audit={self.audit!r}, cancel={self.cancel!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.effects, self.emails, self.banner, self.reversible, self.undo, self.audit, self.cancel) == (
                other.effects,
                other.emails,
                other.banner,
                other.reversible,
                other.undo,
                other.audit,
                other.cancel,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.effects, self.emails, self.banner, self.reversible, self.undo, self.audit, self.cancel))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Outcome or name in {"effects", "emails", "banner", "reversible", "undo", "audit", "cancel"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Outcome or name in {"effects", "emails", "banner", "reversible", "undo", "audit", "cancel"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(
        self,
        id: str,
        title: str,
        summary: str,
        subject: str,
        entry: tuple[str, ...],
        button: str | None,
        started_by: tuple[Rule, ...],
        preconditions: tuple[Rule, ...],
        steps: tuple[Step, ...],
        outcome: Outcome,
        version: str,
        location: Location,
    ) -> None:
        _set(self, "id", id)
        _set(self, "title", title)
        _set(self, "summary", summary)
        _set(self, "subject", subject)
        _set(self, "entry", entry)
        _set(self, "button", button)
        _set(self, "started_by", started_by)
        _set(self, "preconditions", preconditions)
        _set(self, "steps", steps)
        _set(self, "outcome", outcome)
        _set(self, "version", version)
        _set(self, "location", location)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(id={self.id!r}, title={self.title!r}, summary={self.summary!r}, subject={self.subject!r}, entry={self.entry!r}, button={self.button!r}, started_by={self.started_by!r}, preconditions={self.preconditions!r}, steps={self.steps!r}, outcome={self.outcome!r}, version={self.version!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (
                self.id,
                self.title,
                self.summary,
                self.subject,
                self.entry,
                self.button,
                self.started_by,
                self.preconditions,
                self.steps,
                self.outcome,
                self.version,
            ) == (
                other.id,
                other.title,
                other.summary,
                other.subject,
                other.entry,
                other.button,
                other.started_by,
                other.preconditions,
                other.steps,
                other.outcome,
                other.version,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(
            (
                self.id,
                self.title,
                self.summary,
                self.subject,
                self.entry,
                self.button,
                self.started_by,
                self.preconditions,
                self.steps,
                self.outcome,
                self.version,
            )
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Flow or name in {
            "id",
            "title",
            "summary",
            "subject",
            "entry",
            "button",
            "started_by",
            "preconditions",
            "steps",
            "outcome",
            "version",
            "location",
        }:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Flow or name in {
            "id",
            "title",
            "summary",
            "subject",
            "entry",
            "button",
            "started_by",
            "preconditions",
            "steps",
            "outcome",
            "version",
            "location",
        }:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class EmailTemplate:
    """An email's texts: its subject, plain text and optional HTML body."""

    name: str
    subject: Text
    text: Text
    html: Text | None
    location: Location = dataclasses.field(compare=False, repr=False)

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, name: str, subject: Text, text: Text, html: Text | None, location: Location) -> None:
        _set(self, "name", name)
        _set(self, "subject", subject)
        _set(self, "text", text)
        _set(self, "html", html)
        _set(self, "location", location)

    @_recursive_repr()
    def __repr__(self) -> str:
        return self.__class__.__qualname__ + f"(name={self.name!r}, subject={self.subject!r}, text={self.text!r}, html={self.html!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.subject, self.text, self.html) == (other.name, other.subject, other.text, other.html)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.subject, self.text, self.html))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is EmailTemplate or name in {"name", "subject", "text", "html", "location"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is EmailTemplate or name in {"name", "subject", "text", "html", "location"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
class Entity:
    """One kind of record in the data: where its records live and how each is found."""

    name: str
    collection: str | None
    nested_in: tuple[str, ...]
    nested_key: str | None
    keys: tuple[str, ...]
    label: str

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(self, name: str, collection: str | None, nested_in: tuple[str, ...], nested_key: str | None, keys: tuple[str, ...], label: str) -> None:
        _set(self, "name", name)
        _set(self, "collection", collection)
        _set(self, "nested_in", nested_in)
        _set(self, "nested_key", nested_key)
        _set(self, "keys", keys)
        _set(self, "label", label)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(name={self.name!r}, collection={self.collection!r}, nested_in={self.nested_in!r}, nested_key={self.nested_key!r}, keys={self.keys!r}, label={self.label!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (self.name, self.collection, self.nested_in, self.nested_key, self.keys, self.label) == (
                other.name,
                other.collection,
                other.nested_in,
                other.nested_key,
                other.keys,
                other.label,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.collection, self.nested_in, self.nested_key, self.keys, self.label))

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Entity or name in {"name", "collection", "nested_in", "nested_key", "keys", "label"}:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Entity or name in {"name", "collection", "nested_in", "nested_key", "keys", "label"}:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


@dataclass(init=False, repr=False, eq=False)
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

    # written out as @dataclass(frozen=True) makes them (tests/test_model_methods.py compares): imported, not generated
    def __init__(
        self,
        root: str,
        product: dict[str, Any],
        entities: dict[str, Entity],
        subject_entity: str,
        subject_match: tuple[str, ...],
        actor_entity: str,
        actor_match: tuple[str, ...],
        actor_within: dict[str, str],
        context: dict[str, Expr],
        reach: tuple[Rule, ...],
        flows: dict[str, Flow],
        emails: dict[str, EmailTemplate],
        data_schema: str | None,
        locales: tuple[str, ...] = (),
        buttons: dict[str, Text] = _FACTORY,
        names: frozenset[str] = frozenset(),
        program: Compiled = NOT_COMPILED,
        warnings: tuple[Problem, ...] = (),
        sources: dict[str, str] = _FACTORY,
    ) -> None:
        _set(self, "root", root)
        _set(self, "product", product)
        _set(self, "entities", entities)
        _set(self, "subject_entity", subject_entity)
        _set(self, "subject_match", subject_match)
        _set(self, "actor_entity", actor_entity)
        _set(self, "actor_match", actor_match)
        _set(self, "actor_within", actor_within)
        _set(self, "context", context)
        _set(self, "reach", reach)
        _set(self, "flows", flows)
        _set(self, "emails", emails)
        _set(self, "data_schema", data_schema)
        _set(self, "locales", locales)
        _set(self, "buttons", dict() if buttons is _FACTORY else buttons)
        _set(self, "names", names)
        _set(self, "program", program)
        _set(self, "warnings", warnings)
        _set(self, "sources", dict() if sources is _FACTORY else sources)

    @_recursive_repr()
    def __repr__(self) -> str:
        return (
            self.__class__.__qualname__
            + f"(root={self.root!r}, product={self.product!r}, entities={self.entities!r}, subject_entity={self.subject_entity!r}, subject_match={self.subject_match!r}, actor_entity={self.actor_entity!r}, actor_match={self.actor_match!r}, actor_within={self.actor_within!r}, context={self.context!r}, reach={self.reach!r}, flows={self.flows!r}, emails={self.emails!r}, data_schema={self.data_schema!r}, locales={self.locales!r}, buttons={self.buttons!r}, names={self.names!r}, warnings={self.warnings!r})"
        )

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is self.__class__:
            return (
                self.root,
                self.product,
                self.entities,
                self.subject_entity,
                self.subject_match,
                self.actor_entity,
                self.actor_match,
                self.actor_within,
                self.context,
                self.reach,
                self.flows,
                self.emails,
                self.data_schema,
                self.locales,
                self.buttons,
                self.names,
            ) == (
                other.root,
                other.product,
                other.entities,
                other.subject_entity,
                other.subject_match,
                other.actor_entity,
                other.actor_match,
                other.actor_within,
                other.context,
                other.reach,
                other.flows,
                other.emails,
                other.data_schema,
                other.locales,
                other.buttons,
                other.names,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(
            (
                self.root,
                self.product,
                self.entities,
                self.subject_entity,
                self.subject_match,
                self.actor_entity,
                self.actor_match,
                self.actor_within,
                self.context,
                self.reach,
                self.flows,
                self.emails,
                self.data_schema,
                self.locales,
                self.buttons,
                self.names,
            )
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self) is Project or name in {
            "root",
            "product",
            "entities",
            "subject_entity",
            "subject_match",
            "actor_entity",
            "actor_match",
            "actor_within",
            "context",
            "reach",
            "flows",
            "emails",
            "data_schema",
            "locales",
            "buttons",
            "names",
            "program",
            "warnings",
            "sources",
        }:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if type(self) is Project or name in {
            "root",
            "product",
            "entities",
            "subject_entity",
            "subject_match",
            "actor_entity",
            "actor_match",
            "actor_within",
            "context",
            "reach",
            "flows",
            "emails",
            "data_schema",
            "locales",
            "buttons",
            "names",
            "program",
            "warnings",
            "sources",
        }:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super().__delattr__(name)


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
