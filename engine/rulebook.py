"""The availability hot path: every rule of every flow in one generated function.

"Which actions does this user get on this record?" is asked each time a page
opens. The rulebook answers it with one Python function generated from the
compiled conditions: each distinct rule (the project's reach rules, shared
rules, each flow's own) is evaluated once per question, each failed rule's
message rendered once, and the answer for every flow assembled from those.
The conditions keep the sandbox's guarantees: they are the same translated
expressions (data look-ups, comparisons, boolean logic, allow-listed filters).

`Dataset` holds records in memory with their look-up indexes, for embedders
who keep their data themselves and for benchmarks; `Engine.available` feeds
the same function from storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from .context import Moment
from .errors import ExpressionError, UnknownName, did_you_mean
from .expressions import DataFunction, failure
from .model import Project, Rule

Answer = list[dict[str, Any]]


class Rulebook:
    """Compiled availability for one project: `evaluate(scope)` -> one entry per flow."""

    def __init__(self, project: Project, namespace: Mapping[str, Any]) -> None:
        self.project = project
        rules: list[Rule] = []
        index: dict[int, int] = {}
        for rule in (*project.reach, *(r for f in project.flows.values() for r in f.rules)):
            if id(rule) not in index:
                index[id(rule)] = len(rules)
                rules.append(rule)
        self.rules = rules
        per_flow = any("flow" in r.condition.names for r in rules)
        lines = ["def _available(s):"]
        for i, rule in enumerate(rules):
            lines += [
                "    try:",
                f"        r{i} = True if {rule.condition.python} else False",
                "    except _CAUGHT as exc:",
                f"        r{i} = _failed({i}, exc)",
                f"    m{i} = None",
            ]
        lines.append("    out = []")
        for flow in project.flows.values():
            lines.append("    reasons = []")
            if per_flow:
                lines.append(f"    s['flow'] = {{'id': {flow.id!r}, 'title': {flow.title!r}}}")
            for rule in (*project.reach, *flow.rules):
                i = index[id(rule)]
                lines += [f"    if not r{i}:", f"        if m{i} is None:"]
                if rule.message.constant is not None:
                    lines.append(f"            m{i} = _message({i}, s) if {i} in _errors else {folded(rule.message.constant)!r}")
                elif rule.message.fast is not None and not _needs_folding(rule.message.source):
                    lines += [
                        "            try:",
                        f"                m{i} = _message({i}, s) if {i} in _errors else _M{i}(s)",
                        "            except _CAUGHT:",
                        f"                m{i} = _message({i}, s)",
                    ]
                else:
                    lines.append(f"            m{i} = _message({i}, s)")
                lines.append(f"        reasons.append({{'rule': {rule.name!r}, 'message': m{i}}})")
            lines.append(f"    out.append({{'flow': {flow.id!r}, 'title': {flow.title!r}, 'available': not reasons, 'reasons': reasons}})")
        lines.append("    return out")
        self.errors: dict[int, str] = {}
        scope_namespace = dict(namespace)
        scope_namespace.update(_CAUGHT=_CAUGHT, _failed=self._failed, _message=self._message, _errors=self.errors)
        scope_namespace.update({f"_M{i}": rule.message.fast for i, rule in enumerate(rules) if rule.message.fast is not None})
        exec(compile("\n".join(lines) + "\n", "<rulebook>", "exec"), scope_namespace)  # noqa: S102 - built from translated conditions
        self.evaluate: Callable[[dict[str, Any]], Answer] = scope_namespace["_available"]
        self.needs_now = any("now" in r.condition.names for r in rules) or any("now" in e.names for e in project.context.values())

    def _failed(self, i: int, exc: BaseException) -> bool:
        self.errors[i] = failure(self.rules[i].condition.source, exc)
        return False

    def _message(self, i: int, scope: Mapping[str, Any]) -> str:
        error = self.errors.pop(i, None)
        if error is not None:
            return f"this rule could not be checked, so the action is not offered: {error}"
        return message_text(self.rules[i], scope)


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


def compile_failed(rules: tuple[Rule, ...], namespace: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], list[dict[str, str]]]:
    """One function giving the rules of `rules` that do not hold, with their messages, in order.

    The same answer as evaluating each rule's condition on its own, without a
    call and an exception handler per rule.
    """
    lines = ["def _failed(s):", "    out = []"]
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
    lines.append("    return out")
    scope = dict(namespace)

    def broken(i: int, exc: BaseException) -> str:
        return f"this rule could not be checked, so the action is not offered: {failure(rules[i].condition.source, exc)}"

    scope.update(_CAUGHT=_CAUGHT, _broken=broken, _message=lambda i, s: message_text(rules[i], s))
    exec(compile("\n".join(lines) + "\n", "<rules>", "exec"), scope)  # noqa: S102 - built from translated conditions
    function: Callable[[Mapping[str, Any]], list[dict[str, str]]] = scope["_failed"]
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
        return self.rulebook.evaluate(scope)
