"""The availability hot path: every rule of every flow in one generated function.

"Which actions does this user get on this record?" is asked each time a page
opens. The rulebook answers it with one Python function generated from the
compiled conditions: each distinct rule (the project's reach rules, shared
rules, each flow's own) is evaluated once per question, each failed rule's
message rendered once, and the answer for every flow assembled from those.
Reach comes first: when one of its rules refuses, every flow's answer is that
refusal alone, written without the subject's data, and nothing else is checked.
The conditions keep the sandbox's guarantees: they are the same translated
expressions (data look-ups, comparisons, boolean logic, allow-listed filters).

`Dataset` holds records in memory with their look-up indexes, for embedders
who keep their data themselves and for benchmarks; `Engine.available` feeds
the same function from storage.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ..conditions.expressions import DataFunction, failure
from ..errors import ExpressionError, UnknownName, did_you_mean
from ..language.model import Project, Rule
from .context import Moment, outsider_scope

Answer = list[dict[str, Any]]
BROKEN = "this rule could not be checked, so the action is not offered"


class Rulebook:
    """Compiled availability for one project: `evaluate(scope, named)` -> one entry per flow.

    `named` is the subject as the caller named it: the only word a reach refusal
    shows of it. When a reach rule does not hold, the answer of every flow it
    refuses is that refusal alone, and no other rule is checked.
    """

    def __init__(self, project: Project, namespace: Mapping[str, Any]) -> None:
        self.project = project
        rules: list[Rule] = []
        index: dict[int, int] = {}
        for rule in (*project.reach, *(r for f in project.flows.values() for r in f.rules)):
            if id(rule) not in index:
                index[id(rule)] = len(rules)
                rules.append(rule)
        self.rules = rules
        per_flow = {i for i, rule in enumerate(rules) if "flow" in rule.condition.names}  # checked again for each flow
        reach = [index[id(rule)] for rule in project.reach]
        first = list(itertools.takewhile(lambda i: i not in per_flow, reach))  # refuse every flow at once
        rest = reach[len(first) :]
        lines = ["def _available(s, named):"]
        for i in first:
            lines += _check(i, rules[i], "    ") + [f"    if not r{i}:", f"        return _refuse({i}, s, named, r{i})"]
        for i, rule in enumerate(rules):
            if i not in per_flow and i not in first:
                lines += _check(i, rule, "    ")
            if i not in reach:  # a reach rule's message is written by _refuse or _refusal
                lines.append(f"    m{i} = None")
        lines.append("    out = []")
        names_flow = per_flow or any("flow" in rule.message.source for rule in rules)
        for flow in project.flows.values():
            if names_flow:
                lines.append(f"    s['flow'] = {flow.reference!r}")
            entry = f"{{'flow': {flow.id!r}, 'title': {flow.title!r}, 'available': not reasons, 'reasons': reasons}}"
            pad = "    "
            if rest:
                lines.append("    refused = None")
                for i in rest:
                    lines.append("    if refused is None:")
                    if i in per_flow:
                        lines += _check(i, rules[i], "        ")
                    lines += [f"        if not r{i}:", f"            refused = {{'rule': {rules[i].name!r}, 'message': _refusal({i}, s, named, r{i})}}"]
                lines += ["    if refused is not None:", "        reasons = [refused]", f"        out.append({entry})", "    else:"]
                pad = "        "
            lines.append(f"{pad}reasons = []")
            for rule in flow.rules:
                i = index[id(rule)]
                if i in per_flow:
                    lines += _check(i, rule, pad)
                lines.append(f"{pad}if not r{i}:")
                if i in per_flow or "flow" in rule.message.source:  # its message may differ from flow to flow
                    lines += _message_lines(i, rule, pad + "    ")
                else:
                    lines.append(f"{pad}    if m{i} is None:")
                    lines += _message_lines(i, rule, pad + "        ")
                lines.append(f"{pad}    reasons.append({{'rule': {rule.name!r}, 'message': m{i}}})")
            lines.append(f"{pad}out.append({entry})")
        lines.append("    return out")
        scope_namespace = dict(namespace)
        scope_namespace.update(_CAUGHT=_CAUGHT, _Broken=Broken, _broken=self._broken, _message=self._message, _refuse=self._refuse, _refusal=self._refusal)
        scope_namespace.update({f"_M{i}": rule.message.fast for i, rule in enumerate(rules) if rule.message.fast is not None})
        exec(compile("\n".join(lines) + "\n", "<rulebook>", "exec"), scope_namespace)  # noqa: S102 - built from translated conditions
        self.evaluate: Callable[[dict[str, Any], str], Answer] = scope_namespace["_available"]
        self.needs_now = any("now" in r.condition.names for r in rules) or any("now" in e.names for e in project.context.values())

    def _broken(self, i: int, broken: Broken) -> str:
        return f"{BROKEN}: {failure(self.rules[i].condition.source, broken.error)}"

    def _message(self, i: int, scope: Mapping[str, Any]) -> str:
        return message_text(self.rules[i], scope)

    def _refusal(self, i: int, scope: Mapping[str, Any], named: str, verdict: bool | Broken) -> str:
        return refusal_text(self.project, self.rules[i], scope, named, verdict.error if isinstance(verdict, Broken) else None)

    def _refuse(self, i: int, scope: dict[str, Any], named: str, verdict: bool | Broken) -> Answer:
        """Every flow refused by reach rule `i`, with its refusal alone."""
        error = verdict.error if isinstance(verdict, Broken) else None
        rule, message, out = self.rules[i], None, []
        for flow in self.project.flows.values():
            scope["flow"] = flow.reference
            if message is None or "flow" in rule.message.source:
                message = refusal_text(self.project, rule, scope, named, error)
            out.append({"flow": flow.id, "title": flow.title, "available": False, "reasons": [{"rule": rule.name, "message": message}]})
        return out


class Broken:
    """The verdict of a rule that could not be checked: false, and why."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __bool__(self) -> bool:
        return False


def _check(i: int, rule: Rule, pad: str) -> list[str]:
    """Lines setting r{i}: True, False, or Broken (could not be checked)."""
    return [
        f"{pad}try:",
        f"{pad}    r{i} = True if {rule.condition.python} else False",
        f"{pad}except _CAUGHT as exc:",
        f"{pad}    r{i} = _Broken(exc)",
    ]


def _message_lines(i: int, rule: Rule, pad: str) -> list[str]:
    """Lines setting m{i}, the message of rule i, which does not hold."""
    if rule.message.constant is not None:
        return [f"{pad}m{i} = {folded(rule.message.constant)!r} if r{i} is False else _broken({i}, r{i})"]
    if rule.message.fast is not None and not _needs_folding(rule.message.source):
        return [
            f"{pad}try:",
            f"{pad}    m{i} = _M{i}(s) if r{i} is False else _broken({i}, r{i})",
            f"{pad}except _CAUGHT:",
            f"{pad}    m{i} = _message({i}, s)",
        ]
    return [f"{pad}m{i} = _message({i}, s) if r{i} is False else _broken({i}, r{i})"]


def _needs_folding(source: str) -> bool:
    return "\n" in source or "  " in source or source != source.strip()


def folded(text: str) -> str:
    """Messages read as one paragraph: runs of white space become one space."""
    return " ".join(text.split())


def message_text(rule: Rule, scope: Mapping[str, Any]) -> str:
    """A failed rule's message, rendered and folded; never raises."""
    try:
        text = rule.message.render(scope)
    except ExpressionError as exc:
        return f"this rule's message could not be written: {exc}"
    return folded(text) if _needs_folding(rule.message.source) else text


def refusal_text(project: Project, rule: Rule, scope: Mapping[str, Any], named: str, error: BaseException | None = None) -> str:
    """The message of the reach rule that refuses: written for an outsider, with nothing of the subject.

    It is rendered with `outsider_scope` (the subject only as the caller named it);
    a condition that could not be checked is named, not what stopped it, since the
    error could quote the subject's data.
    """
    if error is not None:
        return f"{BROKEN}: {rule.condition.source} failed"
    return message_text(rule, outsider_scope(project, scope, named))


Failed = Callable[[Mapping[str, Any], str], tuple[list[dict[str, str]], bool]]


def compile_failed(project: Project, rules: tuple[Rule, ...], namespace: Mapping[str, Any]) -> Failed:
    """One function `(scope, named) -> (failed, refused)`: the reach refusal (refused true), or else
    the rules of `rules` that do not hold, with their messages, in order.

    The same answer as checking reach and then each rule on its own, without a
    call and an exception handler per rule.
    """
    reach = project.reach
    lines = ["def _failed(s, named):"]
    for i, rule in enumerate(reach):
        lines += [
            "    try:",
            f"        ok = {rule.condition.python}",
            "    except _CAUGHT as exc:",
            f"        return [{{'rule': {rule.name!r}, 'message': _refusal({i}, s, named, exc)}}], True",
            "    if not ok:",
            f"        return [{{'rule': {rule.name!r}, 'message': _refusal({i}, s, named, None)}}], True",
        ]
    lines.append("    out = []")
    for i, rule in enumerate(rules):
        lines += [
            "    try:",
            f"        ok = {rule.condition.python}",
            "    except _CAUGHT as exc:",
            f"        out.append({{'rule': {rule.name!r}, 'message': _broken({i}, exc)}})",
            "    else:",
            "        if not ok:",
            f"            out.append({{'rule': {rule.name!r}, 'message': _message({i}, s)}})",
        ]
    lines.append("    return out, False")
    scope = dict(namespace)

    def broken(i: int, exc: BaseException) -> str:
        return f"{BROKEN}: {failure(rules[i].condition.source, exc)}"

    def refusal(i: int, s: Mapping[str, Any], named: str, exc: BaseException | None) -> str:
        return refusal_text(project, reach[i], s, named, exc)

    scope.update(_CAUGHT=_CAUGHT, _broken=broken, _refusal=refusal, _message=lambda i, s: message_text(rules[i], s))
    exec(compile("\n".join(lines) + "\n", "<rules>", "exec"), scope)  # noqa: S102 - built from translated conditions
    function: Failed = scope["_failed"]
    return function


_CAUGHT = (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError, RecursionError, MemoryError, ExpressionError)


class Dataset:
    """Records held in memory, indexed by every declared key, for the hot path."""

    def __init__(self, project: Project, data: Mapping[str, Any]) -> None:
        self.project = project
        self.index: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.holders: dict[int, tuple[str, dict[str, Any]]] = {}
        for entity in project.entities.values():
            if not entity.collection:
                continue
            for record in data.get(entity.collection, []) or []:
                self._add(entity.name, record)
                for nested in project.entities.values():
                    if nested.nested_key and entity.name in nested.nested_in:
                        for child in record.get(nested.nested_key, []) or []:
                            self._add(nested.name, child)
                            self.holders[id(child)] = (entity.name, record)

    def _add(self, entity: str, record: dict[str, Any]) -> None:
        for key in self.project.entities[entity].keys:
            value = record.get(key)
            if value is not None:
                self.index.setdefault((entity, key, str(value)), record)

    def get(self, entity: str, id: Any) -> dict[str, Any] | None:
        """What `lookup(entity, id)` gives conditions."""
        if entity not in self.project.entities:
            raise ExpressionError(f"lookup: unknown entity {entity!r}{did_you_mean(entity, self.project.entities)}")
        if id is None:
            return None
        return self.index.get((entity, "id", str(id)))

    def find(self, entity: str, given: str, keys: Iterable[str]) -> dict[str, Any]:
        for key in keys:
            record = self.index.get((entity, key, given))
            if record is not None:
                return record
        raise UnknownName(entity, given, [v for (e, k, v) in self.index if e == entity and k in keys])


class Checker:
    """`checker(actor, subject)`: availability of every flow from a Dataset, in process."""

    def __init__(self, project: Project, rulebook: Rulebook, dataset: Dataset, functions: Mapping[str, Any], now: Callable[[], datetime]) -> None:
        self.project, self.rulebook, self.dataset, self.now = project, rulebook, dataset, now
        base: dict[str, Any] = {"product": project.product, "answers": {}, "flow": {}, "lookup": DataFunction("lookup", dataset.get)}
        base.update({name: fn if isinstance(fn, DataFunction) else DataFunction(name, fn) for name, fn in functions.items()})
        self.base = base
        self.within = project.actor_within
        self.context = list(project.context.items())

    def __call__(self, actor: str, subject: str) -> Answer:
        project, dataset = self.project, self.dataset
        actor_record = dataset.find(project.actor_entity, actor, project.actor_match)
        subject_record = dataset.find(project.subject_entity, subject, project.subject_match)
        scope = dict(self.base)
        scope["actor"] = actor_record
        scope[project.subject_entity] = subject_record
        for name in self.within.values():
            scope[name] = None
        held = dataset.holders.get(id(actor_record))
        if held is not None and held[0] in self.within:
            scope[self.within[held[0]]] = held[1]
        if self.rulebook.needs_now:
            scope["now"] = Moment(self.now())
        for name, expression in self.context:
            scope[name] = expression(scope)
        return self.rulebook.evaluate(scope, subject)
