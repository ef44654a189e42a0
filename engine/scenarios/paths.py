"""Every distinct path through a flow, derived from its model, and scenario skeletons for them.

A flow's paths are: each rule (the project's reach, then the flow's own) failing
while every rule checked before it holds; each combination of its decisions (step,
effect and email `when`s) that the answers can bring about and that changes what is
shown, changed or sent; and each field whose answer can be refused (a typed
confirmation, a check, a list of options). Answers that decide a `when` vary as
yes/no (booleans), each option (fixed options) or given/omitted (optional fields); a
`when` that depends on the data counts as holding and as not holding (the `when`s
written alike, or one as `not` the other, together). An outcome's delayed parts (`after:`)
are not decisions of the commit: each is a waiting branch of its own, carried out when due,
or not (cancelled, its `unless` held, a rule no longer holding).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ExpressionError
from ..language.code import Compiled, Expr
from ..language.model import Field, Flow, Project

STATIC_NAMES = frozenset({"answers", "product", "flow"})  # names whose values are known without data
SAMPLES = {"text": "an answer", "number": 1}  # what an optional field is given when it decides a `when`
MOST_COMBINATIONS = 4096
TODO = "TODO"


@dataclass(frozen=True)
class Decision:
    """A `when` of a step, an effect or an email."""

    kind: str  # step | effect | email
    label: str
    condition: Expr
    states: tuple[str, str]  # how it reads when it holds, and when not

    def describe(self, holds: bool) -> str:
        return f"{self.label} {self.states[0] if holds else self.states[1]}"


@dataclass(frozen=True)
class FlowPath:
    """One way through a flow, and what it shows, changes and sends."""

    key: str
    kind: str  # blocked | completed | invalid (an answer its field refuses: the plan status of the same name)
    title: str
    rule: str | None = None
    condition: str | None = None
    field: str | None = None
    answers: dict[str, Any] = dataclasses.field(default_factory=dict)
    screens: tuple[str, ...] = ()
    changes: tuple[dict[str, Any], ...] = ()
    emails: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "title": self.title,
            "rule": self.rule,
            "condition": self.condition,
            "field": self.field,
            "answers": dict(self.answers),
            "screens": list(self.screens),
            "changes": list(self.changes),
            "emails": list(self.emails),
        }


def blocked_key(rule: str) -> str:
    return f"blocked: {rule}"


def invalid_key(field_name: str) -> str:
    return f"invalid: {field_name}"


def completed_key(flow: Flow, taken_: Sequence[bool]) -> str:
    """The key of the completed path whose decisions came out as `taken_`."""
    parts = [d.describe(holds) for d, holds in zip(decisions(flow), taken_, strict=True)]
    return "completed" + (f": {', '.join(parts)}" if parts else "")


def waited_key(label: str, carried_out: bool) -> str:
    return f"later: {label}: {'carried out' if carried_out else 'not carried out'}"


def delayed_labels(flow: Flow) -> dict[tuple[str, int], str]:
    """A label for each delayed part, by (kind, index in the outcome's effects or emails): `effect 3 (delete record)`, `email reminder`."""
    out: dict[tuple[str, int], str] = {}
    for index, effect in enumerate(flow.outcome.effects):
        if effect.after is not None:
            target = f"{effect.entity}.{effect.field}" if effect.field else effect.entity
            out[("effect", index)] = f"effect {index + 1} ({effect.op} {target})"
    templates = [e.template for e in flow.outcome.emails if e.after is not None]
    for index, email in enumerate(flow.outcome.emails):
        if email.after is not None:
            out[("email", index)] = f"email {email.template}" + (f" ({index + 1})" if templates.count(email.template) > 1 else "")
    return out


def decisions(flow: Flow) -> list[Decision]:
    """The flow's `when`s at the commit: steps in order, then effects, then emails (delayed parts are waiting branches)."""
    out = [Decision("step", f"step {s.id}", s.when, ("shown", "skipped")) for s in flow.steps if s.when is not None]
    for index, effect in enumerate(flow.outcome.effects, 1):
        if effect.when is not None and effect.after is None:
            target = f"{effect.entity}.{effect.field}" if effect.field else effect.entity
            out.append(Decision("effect", f"effect {index} ({effect.op} {target})", effect.when, ("applied", "skipped")))
    out += [Decision("email", f"email {e.template}", e.when, ("sent", "not sent")) for e in flow.outcome.emails if e.when is not None and e.after is None]
    return out


def _written(condition: Expr) -> tuple[str, bool]:
    """A condition as written, without a leading `not`, and whether it had one: `x` and `not x` decide together."""
    source = " ".join(condition.source.split())
    negated = False
    while source.startswith("not "):
        source, negated = source[4:].strip(), not negated
    while source.startswith("(") and source.endswith(")") and source.count("(") == 1:
        source = source[1:-1].strip()
    return source, negated


def taken(program: Compiled, flow: Flow, scope: Mapping[str, Any]) -> tuple[bool, ...]:
    """How each decision of the flow came out in a scope (a run's final answers); `program` is the project's."""
    return tuple(_holds(program, d.condition, scope) for d in decisions(flow))


def _holds(program: Compiled, condition: Expr, scope: Mapping[str, Any]) -> bool:
    try:
        return bool(program.evaluate(condition, scope))
    except ExpressionError:
        return False


def _variants(item: Field) -> list[tuple[str, Any]] | None:
    """The answers worth trying for a field that decides a `when`; None when they cannot be listed."""
    if item.type == "boolean":
        return [("yes", True), ("no", False)]
    found: list[tuple[str, Any]] | None = None
    if isinstance(item.options, tuple):
        found = [(str(o.value), o.value) for o in item.options]
    elif item.type in SAMPLES and item.options is None:
        found = [("given", SAMPLES[item.type])]
    if found is not None and not item.required and all(value != item.default for _, value in found):
        found.append(("omitted", item.default))
    return found


def flow_paths(project: Project, flow: Flow) -> list[FlowPath]:
    """Every path of `flow`: blocked ones, completed ones, refused answers."""
    out = []
    rules = (*project.reach, *flow.rules)
    for index, rule in enumerate(rules):
        title = f"blocked by {rule.name}" + (" (every rule before it holds)" if index else "")
        out.append(FlowPath(blocked_key(rule.name), "blocked", title, rule=rule.name, condition=rule.condition.source))
    out += _completed(project, flow)
    for name, (step, item) in flow.fields().items():
        reasons = [f"it must be typed exactly as {item.confirm.source}"] if item.confirm is not None else []
        reasons += [f"it must pass {check.condition.source}" for check in item.checks]
        reasons += ["it must be one of the options"] if item.options is not None else []
        if reasons:
            screens = tuple(s.id for s in flow.steps[: flow.steps.index(step) + 1])
            out.append(FlowPath(invalid_key(name), "invalid", f"{name} is invalid: {'; '.join(reasons)}", field=name, screens=screens))
    for label in delayed_labels(flow).values():
        for carried in (True, False):
            how = "carried out when due" if carried else "not carried out: cancelled, its unless held, or a rule no longer held when due"
            out.append(FlowPath(waited_key(label, carried), "waited", f"{label} {how}"))
    return out


def _completed(project: Project, flow: Flow) -> list[FlowPath]:
    program = project.program
    found = decisions(flow)
    fields = flow.fields()
    uses = [program.uses(d.condition) for d in found]
    used = {key for u in uses for name, key in u.attributes if name == "answers"}
    deciding = [name for name in fields if name in used]  # in the order the flow asks them
    variants = {name: _variants(fields[name][1]) for name in deciding}
    listed = [name for name in deciding if variants[name] is not None]

    def knowable(index: int) -> bool:
        keys = {key for name, key in uses[index].attributes if name == "answers"}
        return uses[index].names <= STATIC_NAMES and all(variants.get(k) is not None for k in keys)

    free_all = [index for index in range(len(found)) if not knowable(index)]
    groups: dict[str, list[tuple[int, bool]]] = {}  # the `when`s written alike decide together
    for index in free_all:
        written, negated = _written(found[index].condition)
        groups.setdefault(written, []).append((index, negated))
    free = [members[0][0] for members in groups.values()]
    choices = [variants[name] or [] for name in listed] + [[("holds", True), ("does not hold", False)]] * len(free)
    paths: dict[str, FlowPath] = {}
    for combo in itertools.islice(itertools.product(*choices), MOST_COMBINATIONS):
        chosen = dict(zip(listed, combo[: len(listed)], strict=True))
        forced: dict[int, bool] = {}
        for members, (_, value) in zip(groups.values(), combo[len(listed) :], strict=True):
            first_negated = members[0][1]
            for index, negated in members:
                forced[index] = value if negated == first_negated else not value
        answers = {name: item.default for name, (_, item) in fields.items()}
        answers.update({name: value for name, (_, value) in chosen.items()})
        scope = {"answers": answers, "product": project.product, "flow": {"id": flow.id, "title": flow.title}}
        outcome: list[bool] = []
        shown: list[str] = []
        for step in flow.steps:
            visible = True
            if step.when is not None:
                index = len(outcome)
                visible = forced[index] if index in forced else _holds(program, step.when, scope)
                outcome.append(visible)
            if visible:
                shown.append(step.id)
            else:
                answers.update({f.name: f.default for f in step.fields})
        for index in range(len(outcome), len(found)):
            outcome.append(forced[index] if index in forced else _holds(program, found[index].condition, scope))
        key = completed_key(flow, outcome)
        if key in paths:
            continue
        said = [f"{name}: {label}" for name, (label, _) in chosen.items() if fields[name][0].id in shown]
        said += [f"{found[i].label}'s when {'holds' if forced[i] else 'does not hold'} ({found[i].condition.source})" for i in free_all]
        rest = iter(outcome[sum(1 for s in flow.steps if s.when is not None) :])
        changes = tuple(_change(e.op, e.entity, e.field) for e in flow.outcome.effects if e.after is None and (e.when is None or next(rest)))
        emails = tuple(e.template for e in flow.outcome.emails if e.after is None and (e.when is None or next(rest)))
        title = ", ".join(said) if said else "every screen answered"
        given = {name: value for name, (_, value) in chosen.items() if fields[name][0].id in shown and value is not None}
        paths[key] = FlowPath(key, "completed", title, answers=given, screens=tuple(shown), changes=changes, emails=emails)
    return list(paths.values())


def _change(op: str, entity: str, field_name: str | None) -> dict[str, Any]:
    return {"op": op, "entity": entity, **({"field": field_name} if field_name and op == "update" else {})}


# scaffolding ------------------------------------------------------------
def scaffold(project: Project, flow: Flow, data: str) -> str:
    """Scenario YAML with one skeleton per path; an author replaces each TODO."""
    word = project.subject_entity
    fields = flow.fields()
    lines = [
        "# yaml-language-server: $schema=../schema/scenario.schema.json",
        f"# Scenario skeletons for {flow.id}, one per path of `clientflow paths {flow.id}`.",
        "# Replace every TODO, name each scenario after the rule it proves, then run `clientflow test`.",
        "defaults:",
        *_indented({"given": data, "flow": flow.id}, flow_style=False),
        "scenarios:",
    ]
    for number, path in enumerate(flow_paths(project, flow), 1):
        item: dict[str, Any] = {"name": f"{flow.id}: {path.title}", "actor": TODO, word: TODO}
        hint = ""
        if path.kind == "blocked":
            hint = f"make this rule fail and every rule before it hold: {path.condition}"
            item["expect"] = {"status": "blocked", "blocked_by": [path.rule]}
        elif path.kind == "completed":
            answers = {name: TODO for name, (step, f) in fields.items() if f.required and step.id in path.screens}
            answers.update(path.answers)
            if answers:
                item["answers"] = answers
            expect: dict[str, Any] = {"status": "completed", "screens": list(path.screens)}
            expect["changes"] = [{**c, **({"after": TODO} if c["op"] == "update" else {})} for c in path.changes]
            expect["emails"] = [{"template": t, "to": TODO} for t in path.emails]
            if flow.outcome.banner is not None:
                expect["banner"] = TODO
            if isinstance(flow.outcome.reversible, bool):  # a condition's value depends on the run
                expect["reversible"] = flow.outcome.reversible
            item["expect"] = expect
            waits = [step.id for step in flow.steps if step.approval is not None and step.id in path.screens]
            if waits:  # the run stops at the approval step, and completes only once someone else approves it
                hint = f"the run waits at {waits[0]!r} for someone other than the starter: decide it under then"
                expect["status"] = "awaiting_approval"
                item["then"] = [{"after": "1 day", "decide": {"by": TODO}, "expect": {"status": "completed"}}]
        elif path.kind == "waited":
            hint = "commit the flow, then move time to when the part is due (or cancel it first)"
            item["expect"] = {"status": "completed"}
            item["then"] = [{"after": TODO, "expect": {"worker": {"changes": TODO, "emails": TODO, "dropped": TODO}}}]
        else:
            answers = {name: TODO for name, (step, f) in fields.items() if f.required and step.id in path.screens}
            answers[str(path.field)] = TODO
            item["answers"] = answers
            item["expect"] = {"status": "invalid", "errors": [path.field]}
        lines.append(f"  # path {number}, {path.kind}: {path.title}")
        if hint:
            lines.append(f"  # {hint}")
        lines += _indented([item])
    return "\n".join(lines) + "\n"


def _indented(value: Any, flow_style: bool | None = None) -> list[str]:
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=flow_style, width=120)
    return ["  " + line for line in text.splitlines()]
