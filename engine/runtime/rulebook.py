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

`Engine.checker()` feeds it from a `Snapshot` (records held in memory, for
embedders who keep their data themselves and for benchmarks); `Engine.available`,
plans and bulk dry-runs feed it from storage, through the same scope builder.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from ..conditions.expressions import _LACKING, MISSING, DataFunction, _dig, built_in_only, failure, python_code
from ..conditions.lazy import LazyScope
from ..conditions.limits import FLAT
from ..conditions.program import Program, program_of
from ..conditions.reader import READER, for_reader, is_locale_filter
from ..errors import ExpressionError
from ..language.model import Flow, Project, Rule
from .context import Scopes, outsider_scope, resolve, resolve_actor
from .data import Snapshot
from .plan import Verdict
from .views import _Deferred

Answer = list[dict[str, Any]]
BROKEN = "this rule could not be checked, so the action is not offered"


class Refused(list):  # type: ignore[type-arg]
    """The reasons of a flow that reach refuses: the refusal alone (a list, so answers compare as lists)."""

    __slots__ = ()


class Rulebook:
    """Availability for a project's flows: `evaluate(scope, named)` -> one entry per flow.

    The one evaluator: `Engine.available`, `Engine.checker()`, every plan and
    bulk dry-runs all ask it. Built for every flow of the project or for a few
    (`flows`), in one of two modes: the answer alone (`reasons`: the rules that
    do not hold, with their messages), or also `verdicts`, every rule's
    `Verdict` in order (the reach rules first, passed), as plans show them.
    Each entry is a dict, or what `entry(flow, title, available, reasons[, verdicts])`
    makes (`Engine.available`'s `FlowAvailability`, made directly with its `rules`
    listed when first read: views._Deferred). A failed rule's reason and verdict are
    made once and shared by every flow it guards (answers are read, never changed).

    `named` is the subject as the caller named it: the only word a reach refusal
    shows of it. When a reach rule does not hold, the answer of every flow it
    refuses is that refusal alone (a `Refused` list), and no other rule is checked.
    """

    def __init__(self, project: Project, flows: Iterable[Flow] | None = None, *, verdicts: bool = False, entry: Callable[..., Any] | None = None) -> None:
        self.project = project
        self.program = program = program_of(project)
        self.flows = list(project.flows.values() if flows is None else flows)
        self.verdicts = verdicts
        self.entry = entry
        # Engine.available's entries (FlowAvailability) are made with their `rules` listed when first read (views._Deferred)
        lazy = verdicts and isinstance(entry, type) and issubclass(entry, _Deferred)
        self.inlined: dict[int, list[str]] = {}  # each message written into the rule function: its lines, without its `return`
        self.inlined_names: dict[str, Any] = {}  # and the names they read
        rules: list[Rule] = []
        index: dict[int, int] = {}
        for rule in (*project.reach, *(r for f in self.flows for r in f.rules)):
            if id(rule) not in index:
                index[id(rule)] = len(rules)
                rules.append(rule)
        self.rules = rules
        for i, rule in enumerate(rules):
            inline = _inline(program, rule, self.inlined_names)
            if inline is not None:
                self.inlined[i] = inline
        held = dict.fromkeys(("actor", *project.actor_within.values(), project.subject_entity))
        hoisted = _hoist(self.inlined, held)  # a value several messages print (a record's name), read once
        if hoisted:
            self.inlined_names["_UNREAD"] = _UNREAD
        per_flow = {i for i, rule in enumerate(rules) if "flow" in program.expression(rule.condition).names}  # checked again for each flow
        reach = [index[id(rule)] for rule in project.reach]
        first = list(itertools.takewhile(lambda i: i not in per_flow, reach))  # refuse every flow at once
        rest = reach[len(first) :]
        self.each_flow_refused = bool(rest)  # whether reach may refuse some flows and not others (else: all of them, or none)
        lines = ["def _available(s, named):", _DUE]
        pure = _pure_context(project, program)
        written = _written(program, pure, project)
        if pure:  # a question's scope computes its context names when first read (LazyScope): here, before, without its __missing__
            lines.append("    _L = s.later if _type(s) is _Lazy else _NOTHING")
        filled: set[str] = set()
        # a rule's message may differ from flow to flow when its condition or its message reads `flow`; any other is shared
        own_message = {i for i, rule in enumerate(rules) if i in per_flow or "flow" in rule.message.source}
        shared = [i for i in range(len(rules)) if i not in reach and i not in own_message]  # what `st` holds: each one's verdict and message
        # Unless reach may refuse some flows (their reasons the refusal alone), every flow guarded by a shared rule that fails
        # lists its reason: made where the rule is checked. Not when a context name reads `flow`: a message reading one is then
        # made at its first flow's reason, as it was written for it (`eager` empty).
        flow_context = any("flow" in program.expression(code).names for code in project.context.values())
        eager = set() if rest or flow_context else set(shared)
        for i in first:
            lines += _check(program, i, rules[i], "    ") + [f"    if not r{i}:", f"        return _refuse({i}, s, named, r{i})"]
        for read, local in hoisted.items():  # each message printing it reads it again should this fail (_UNREAD)
            lines += [
                "    try:",
                f"        {local} = {read}",
                f"        if _type({local}) is not _str:",
                f"            {local} = _t({local})",
                "    except _CAUGHT:",
                f"        {local} = _UNREAD",
            ]
        for i, rule in enumerate(rules):
            if i not in per_flow and i not in first:
                lines += _fill(sorted(program.expression(rule.condition).names & pure.keys() - filled), "    ", written)
                filled |= program.expression(rule.condition).names & pure.keys()
                lines += _check(program, i, rule, "    ")
            if i in eager:  # its reason (and verdict) made now, when it fails: every flow it guards lists it
                if lazy:
                    lines.append(f"    m{i} = None")  # its message, for the verdicts made later
                lines.append(f"    if not r{i}:")
                lines += self._reason_lines(program, i, rule, "        ", pure, filled, written, verdicts and not lazy)
            elif i not in reach:  # a reach rule's message is written by _refuse or _refusal
                lines.append(f"    d{i} = None")  # its reason (and verdict), made once when it first fails, shared by every flow it guards
        lines.append("    out = []")
        at = {i: 1 + 2 * n for n, i in enumerate(shared)}
        builders: list[str] = []  # lazy: each flow's `rules`, made from `st` (and its own rules' verdicts) when first read
        if lazy:
            lines += [f"    m{i} = None" for i in shared if i not in eager]  # each one's message, for the verdicts made later
            lines.append("    st = [{}]  # the verdicts made later share what this question found (and each failed rule's verdict)")
        names_flow = per_flow or any("flow" in rule.message.source for rule in rules)
        # `flow` is read by the rules checked for each flow and the messages naming it; when nothing else may read it (a context
        # name, a reach rule's message), it is written only before a flow that reads it, and before the last (the scope ends as before)
        everywhere = bool(rest) or flow_context
        everywhere = everywhere or any("flow" in rule.message.source or program.template(rule.message).reads is None for rule in project.reach)
        for k, flow in enumerate(self.flows):
            reads_flow = any(index[id(rule)] in own_message for rule in flow.rules)
            if names_flow and (everywhere or reads_flow or k == len(self.flows) - 1):  # the flow's own `flow` (as flow_scope gives it),
                lines.append(f"    s['flow'] = _F{k} if _due is None else {{**_F{k}, 'due': _due}}")  # or a copy with the worker's due time
            if entry is not None:
                made = f"_E({flow.id!r}, {flow.title!r}, not reasons, reasons" + (", verdicts)" if verdicts else ")")
            else:
                made = f"{{'flow': {flow.id!r}, 'title': {flow.title!r}, 'available': not reasons, 'reasons': reasons" + (
                    ", 'verdicts': verdicts}" if verdicts else "}"
                )
            pad = "    "
            if rest:
                lines.append("    refused = None")
                for i in rest:
                    lines.append("    if refused is None:")
                    if i in per_flow:
                        lines += _check(program, i, rules[i], "        ")
                    lines += [
                        f"        if not r{i}:",
                        f"            refused = {{'rule': {rules[i].name!r}, 'message': _refusal({i}, s, named, r{i})}}",
                        f"            broke = r{i} is not False",
                    ]
                lines += ["    if refused is not None:", "        reasons = _Refused([refused])"]
                if verdicts:
                    lines.append("        verdicts = [_V(refused['rule'], False, refused['message'], broke)]")
                lines += [f"        out.append({made})", "    else:"]
                pad = "        "
            lines.append(f"{pad}reasons = []")
            listed = [f"_P{i}" for i in reach]  # every rule's verdict, in order, written as one list once the reasons are made
            for rule in flow.rules:
                i = index[id(rule)]
                if i in per_flow:
                    lines += _check(program, i, rule, pad)
                lines.append(f"{pad}if not r{i}:")
                if i in own_message:  # its message may differ from flow to flow
                    lines += _message_lines(program, i, rule, pad + "    ", self.inlined.get(i))
                    lines.append(f"{pad}    reasons.append({{'rule': {rule.name!r}, 'message': m{i}}})")
                    listed.append(f"_P{i} if r{i} else _V({rule.name!r}, False, m{i}, r{i} is not False)")
                else:
                    if i not in eager:
                        lines.append(f"{pad}    if d{i} is None:")
                        lines += self._reason_lines(program, i, rule, pad + "        ", pure, filled, written, verdicts and not lazy)
                    lines.append(f"{pad}    reasons.append(d{i})")
                    listed.append(f"_P{i} if r{i} else v{i}")
            if lazy:
                own = [i for i in (index[id(rule)] for rule in flow.rules) if i in own_message]
                passed = "".join(f", r{i}, (None if r{i} else m{i})" for i in own)
                lines += [
                    f"{pad}e = _new(_E)",
                    f"{pad}e.flow = {flow.id!r}",
                    f"{pad}e.title = {flow.title!r}",
                    f"{pad}e.available = not reasons",
                    f"{pad}e.reasons = reasons",
                    f"{pad}e._later = (_B{k}, st{passed})",
                    f"{pad}out.append(e)",
                ]
                made_later = [f"_P{i}" for i in reach]
                for rule in flow.rules:
                    i = index[id(rule)]
                    if i in own_message:
                        made_later.append(f"_P{i} if x{i} else _V({rule.name!r}, False, y{i}, x{i} is not False)")
                    else:
                        made_later.append(f"_P{i} if st[{at[i]}] else (c[{i}] if {i} in c else _failed(c, {i}, st[{at[i]}], st[{at[i] + 1}]))")
                arguments = "".join(f", x{i}, y{i}" for i in own)
                builders += [f"def _B{k}(st{arguments}):", "    c = st[0]", f"    return [{', '.join(made_later)}]", ""]
                continue
            if verdicts:
                lines.append(f"{pad}verdicts = [{', '.join(listed)}]")
            lines.append(f"{pad}out.append({made})")
        if lazy and shared:
            lines.append(f"    st += ({', '.join(f'r{i}, m{i}' for i in shared)},)")
        lines.append("    return out")
        # each name every question's scope holds from the start (the actor, its holders, the subject), read once into a local:
        # the rules and messages then read locals, not the scope (a dict subclass, whose look-ups Python does not specialise).
        # A scope without one of them is answered by the same function reading the scope where each rule reads it (`_loose`).
        self._loose_source = "\n".join(lines).replace("def _available(", "def _available_loose(", 1)
        localized = _localized(lines[1:], held)
        if localized is not None and localized[1]:
            body, used = localized
            lines = [lines[0], "    try:", *(f"        {local} = s[{name!r}]" for name, local in used.items()), "        _fl = s['flow']"]
            lines += ["    except _Exception:  # not a question's scope", "        return _loose(s, named)"]
            lines += [_DUE_READ if line == _DUE else line for line in body]  # `flow` read with the others
        lines += ["", *builders]
        refused = ["def _refused(s, named):"]  # reach alone: the first reach rule that does not hold (compiled when first asked)
        for i in reach:
            refused += _check(program, i, rules[i], "    ") + [
                f"    if not r{i}:",
                f"        return _V({rules[i].name!r}, False, _refusal({i}, s, named, r{i}), r{i} is not False)",
            ]
        refused.append("    return None")
        self._refused_source = "\n".join(refused) + "\n"
        scope_namespace = dict(program.namespace)
        scope_namespace.update(
            _CAUGHT=_CAUGHT, _Broken=Broken, _Refused=Refused, _V=Verdict,
            _broken=self._broken, _message=self._message, _refuse=self._refuse, _refusal=self._refusal, _E=entry,
            _new=object.__new__, _failed=self._failed, _DataFunction=DataFunction, _Lazy=LazyScope, _NOTHING={}, _Exception=Exception, _loose=self._loose,
            _set_reader=READER.set, _reset_reader=READER.reset, _program=program, _LACKING=_LACKING, _MISSING=MISSING, _dict=dict, _dig=_dig,
        )  # fmt: skip
        messages = [program.template(rule.message) for rule in rules]
        scope_namespace.update(self.inlined_names)
        scope_namespace.update({
            f"_M{i}": message.fast if not message.localized else for_reader(message.fast, lambda: program.reader)
            for i, message in enumerate(messages) if message.fast is not None
        })  # fmt: skip
        scope_namespace.update({f"_P{i}": Verdict(rule.name, True) for i, rule in enumerate(rules)})
        scope_namespace.update({f"_F{k}": flow.reference for k, flow in enumerate(self.flows)})
        exec(python_code("\n".join(lines) + "\n", "<rulebook>"), scope_namespace)  # noqa: S102 - built from translated conditions
        self._namespace = scope_namespace
        self.evaluate: Callable[[dict[str, Any], str], Answer] = scope_namespace["_available"]
        self.needs_now = any("now" in program.expression(code).names for code in (*(r.condition for r in rules), *project.context.values()))

    def _reason_lines(
        self, program: Program, i: int, rule: Rule, pad: str, pure: Mapping[str, str], filled: set[str], written: Mapping[str, str], verdict: bool
    ) -> list[str]:
        """Lines making the reason of rule `i`, which does not hold (`d{i}`), and with `verdict` its verdict (`v{i}`)."""
        lines = _fill(sorted((program.template(rule.message).reads or frozenset()) & pure.keys() - filled), pad, written)
        lines += _message_lines(program, i, rule, pad, self.inlined.get(i))
        lines.append(f"{pad}d{i} = {{'rule': {rule.name!r}, 'message': m{i}}}")
        if verdict:
            lines.append(f"{pad}v{i} = _V({rule.name!r}, False, m{i}, r{i} is not False)")
        return lines

    @cached_property
    def refused(self) -> Callable[[dict[str, Any], str], Verdict | None]:
        """`refused(scope, named)`: the verdict of the first reach rule that does not hold, or None, compiled when first asked
        (only the book of every flow is asked it: a flow's own book, which a plan asks, never compiles it). Its lines are
        translated conditions, which keep within Python's limits, so only the time moves."""
        exec(python_code(self._refused_source, "<rulebook>"), self._namespace)  # noqa: S102 - built from translated conditions
        function: Callable[[dict[str, Any], str], Verdict | None] = self._namespace["_refused"]
        return function

    def _loose(self, scope: dict[str, Any], named: str) -> Answer:
        """`evaluate` for a scope that lacks a name every question's scope holds: each read where a rule reads it (compiled when first needed)."""
        loose = self._namespace.get("_available_loose")
        if loose is None:
            exec(python_code(self._loose_source + "\n", "<rulebook>"), self._namespace)  # noqa: S102 - built from translated conditions
            loose = self._namespace["_available_loose"]
        answer: Answer = loose(scope, named)
        return answer

    def _failed(self, made: dict[int, Verdict], i: int, verdict: bool | Broken, message: str) -> Verdict:
        """The verdict of rule `i`, which does not hold: made once per question, shared by every flow it guards (`made`)."""
        made[i] = failed = Verdict(self.rules[i].name, False, message, verdict is not False)
        return failed

    def _broken(self, i: int, broken: Broken) -> str:
        return f"{BROKEN}: {failure(self.rules[i].condition.source, broken.error)}"

    def _message(self, i: int, scope: Mapping[str, Any]) -> str:
        return message_text(self.program, self.rules[i], scope)

    def _refusal(self, i: int, scope: Mapping[str, Any], named: str, verdict: bool | Broken) -> str:
        return refusal_text(self.project, self.rules[i], scope, named, verdict.error if isinstance(verdict, Broken) else None)

    def _refuse(self, i: int, scope: dict[str, Any], named: str, verdict: bool | Broken) -> list[Any]:
        """Every flow refused by reach rule `i`, with its refusal alone."""
        error = verdict.error if isinstance(verdict, Broken) else None
        rule, message, out = self.rules[i], None, []
        entry, verdicts, again = self.entry, self.verdicts, "flow" in rule.message.source
        for flow in self.flows:
            scope["flow"] = flow.reference
            if message is None or again:  # the refusal, its reason and its verdict made once, shared by every flow it refuses
                message = refusal_text(self.project, rule, scope, named, error)
                reason = {"rule": rule.name, "message": message}
                failed = Verdict(rule.name, False, message, error is not None)
            reasons = Refused((reason,))
            if entry is not None:
                out.append(entry(flow.id, flow.title, False, reasons, [failed]) if verdicts else entry(flow.id, flow.title, False, reasons))
                continue
            made = {"flow": flow.id, "title": flow.title, "available": False, "reasons": reasons}
            if verdicts:
                made["verdicts"] = [failed]
            out.append(made)
        return out


class Broken:
    """The verdict of a rule that could not be checked: false, and why."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __bool__(self) -> bool:
        return False


def _pure_context(project: Project, program: Program) -> dict[str, str]:
    """The context names computed from data alone (and `lookup`, which only reads), with built-in filters: computing one
    earlier than it is first read, and leaving it to that read should it fail, changes nothing but when it is computed."""
    data = {"actor", "product", "now", "flow", "answers", "approval", "lookup", project.subject_entity, *project.actor_within.values()}
    pure: dict[str, str] = {}
    for name, code in project.context.items():  # each reads only the names above it
        expression = program.expression(code)
        if built_in_only(expression) and expression.names <= data | pure.keys():
            pure[name] = name
    return pure


def _localized(lines: list[str], names: Iterable[str]) -> tuple[list[str], dict[str, str]] | None:
    """`lines` reading each of `names` from a local (`_q0`, `_q1`...) where they read `s[name]`, and the locals used (name -> local).

    None when the lines write one of them, or already use such a local. The reads are found as Python's own tokenizer
    finds them, so a text that merely looks like one (in a string) is left as it is: by `_reads`, which scans the
    generated lines token by token with one pattern, or by `tokenize` itself for what that scan does not read.
    """
    wanted = set(names)
    source = "\n".join(lines) + "\n"
    if "_q" in source and re.search(r"\b_q\d", source):  # the pattern has no prefix the engine skips to: looked for first
        return None
    found = _reads(source) if _SCANNED.search(source) is None else None
    if found is None:
        found = _tokenized_reads(source)
    used: dict[str, str] = {}
    cuts: list[tuple[int, int, int, str]] = []  # (line, from column, to column, local)
    for row, start, end, key, written in found:
        try:
            read = _string_value(key)
        except (ValueError, SyntaxError):
            continue
        if read not in wanted:
            continue
        if written:
            return None  # written, not only read
        local = used.setdefault(read, f"_q{len(used)}")
        cuts.append((row, start, end, local))
    out = list(lines)
    for row, start, end, local in reversed(cuts):
        out[row] = out[row][:start] + local + out[row][end:]
    return out, used


_PLAIN_STRING = re.compile(r"'[^'\\\n\r\0]*'|\"[^\"\\\n\r\0]*\"")  # quoted, no prefix, no backslash: the text between the quotes


def _string_value(key: str) -> Any:
    """`ast.literal_eval(key)` for a string token: the text between its quotes when it has no prefix or escape (the
    usual `'name'`, read without Python's parser), else `literal_eval` itself (tests/test_rulebook.py compares them)."""
    if _PLAIN_STRING.fullmatch(key):
        return key[1:-1]
    return ast.literal_eval(key)


# `_reads` finds in the generated lines what the tokenizer would: from left to right, a string (with its prefix, unless a
# name's letters come before it), a comment, or `s[` + one string + `]` on one line (`s` a name of its own), skipping
# everything else. It leaves to `tokenize` the sources whose tokens it does not model: a triple-quoted string, a line
# continued by a backslash, a carriage return, a read after a `.` (generated lines have none of them).
# tests/test_rulebook.py compares the two on hypothesis-made sources.
_SCANNED = re.compile(r"\'\'\'|\"\"\"|\\\n|\r")
_STRING = r"""(?:(?:(?<!\w)(?:[rR][bBfF]?|[bBfF][rR]?|[uU]))?(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))"""
_TOKENS = re.compile(
    r"(?=[sbBrRuUfF'\"#])"  # where a token of the three may begin: the pattern engine skips other characters quickly
    rf"(?:(?P<string>{_STRING})|(?P<comment>#[^\n]*)"
    rf"|(?P<read>(?<!\w)s[ \t\f]*\[[ \t\f]*(?P<key>{_STRING})[ \t\f]*\](?P<after>[ \t\f]*(?:#[^\n]*|(?:\*\*|//|>>|<<|[-+*/%@&|^:!<>=])?=)?)))"
)


def _reads(source: str) -> list[tuple[int, int, int, str, bool]] | None:
    """Each `s[<string>]` of `source` outside strings and comments, on one line: (line from 0, from column, to column,
    the string as written, whether the token after it ends with `=` and does not compare). None when one comes after
    a `.` (an attribute, or the end of `...` or of a number: the tokenizer tells which)."""
    found = []
    row, line_start = 0, 0
    for match in _TOKENS.finditer(source):
        if match.lastgroup == "read":
            start = match.start()
            row += source.count("\n", line_start, start)  # lines counted up to the read
            line_start = source.rfind("\n", 0, start) + 1
            if source[line_start:start].rstrip(" \t\f").endswith("."):
                return None
            end = match.end("read") - len(match.group("after"))
            found.append((row, start - line_start, end - line_start, match.group("key"), _writes(match.group("after").lstrip(" \t\f"))))
    return found


def _tokenized_reads(source: str) -> list[tuple[int, int, int, str, bool]]:
    """What `_reads` gives, found by Python's tokenizer (for the sources `_reads` does not model)."""
    import tokenize  # imported only for such a source: generated lines have none

    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    found = []
    for k in range(1, len(tokens) - 4):
        name, bracket, key, close = tokens[k : k + 4]
        if not (name.type == tokenize.NAME and name.string == "s" and bracket.string == "[" and key.type == tokenize.STRING and close.string == "]"):
            continue
        if tokens[k - 1].string == "." or name.start[0] != close.end[0]:
            continue
        found.append((name.start[0] - 1, name.start[1], close.end[1], key.string, _writes(tokens[k + 4].string)))
    return found


def _writes(after: str) -> bool:
    """Whether the token after `s[...]` writes it: `=`, `+=`... (or a comment ending in `=`, as the tokenizer reads it)."""
    return after.endswith("=") and after not in ("==", "!=", "<=", ">=")


def _fill(names: list[str], pad: str, written: Mapping[str, str] | None = None) -> list[str]:
    """Lines computing each context name not computed yet, as the question's scope would when it is read (`_L`: its `later`).

    `written`: the names whose expression is written into the rule function (its Python, see `_written`), not called.
    """
    lines: list[str] = []
    for name in names:
        python = (written or {}).get(name)
        if python is not None:  # computed only where the scope would compute it (a question's scope, which has it to compute)
            lines += [f"{pad}if {name!r} not in s and {name!r} in _L:", f"{pad}    try:"]
            lines += [f"{pad}        {line}" for line in _dug(python, f"s[{name!r}]") or _direct_call(python, f"s[{name!r}]")]
        else:
            lines += [f"{pad}if {name!r} not in s:", f"{pad}    try:", f"{pad}        s[{name!r}] = _L[{name!r}].function(s)"]
        lines += [
            f"{pad}    except _Exception:  # left to the read, which computes it again and fails where it is read",
            f"{pad}        pass",
        ]
    return lines


def _direct_call(python: str, target: str) -> list[str]:
    """`target = python`, where `python` calls a function of the scope (`s['lookup'](...)`, positional arguments alone):
    written so that a `DataFunction` given only flat values calls its own function directly, as its `__call__` does
    after checking them (a nested value is still walked and bounded by that `__call__`). The function is read first,
    then each argument, then the call, as in `python`: the same value or the same error."""
    call = ast.parse(python, mode="eval").body if "_df" not in python else None
    if not (isinstance(call, ast.Call) and not call.keywords and isinstance(call.func, ast.Subscript) and isinstance(call.func.value, ast.Name)):
        return [f"{target} = {python}"]
    if call.func.value.id != "s" or not isinstance(call.func.slice, ast.Constant) or any(isinstance(a, ast.Starred) for a in call.args):
        return [f"{target} = {python}"]
    segments = [ast.get_source_segment(python, a) for a in call.args]
    values = [value for value in segments if value is not None]
    if len(values) != len(segments):
        return [f"{target} = {python}"]
    constant = [isinstance(a, ast.Constant) and a.value.__class__ in FLAT for a in call.args]  # a literal: flat as written
    arguments = ", ".join(value if constant[k] else f"_dfa{k}" for k, value in enumerate(values))
    flat = "".join(f" and _dfa{k}.__class__ in _FLAT" for k in range(len(values)) if not constant[k])
    return [
        f"_dfn = s[{call.func.slice.value!r}]",
        *(f"_dfa{k} = {value}" for k, value in enumerate(values) if not constant[k]),
        f"{target} = _dfn.fn({arguments}) if _dfn.__class__ is _DataFunction{flat} else _dfn({arguments})",
    ]


def _dug(python: str, target: str) -> list[str] | None:
    """`target = python`, where `python` is `_dig(s, (name, key, ...), fallback)` (a value read with a default, such as
    `order.due | default(none)`) and the fallback a constant: written as `_dig` reads it, the scope's name read
    as any other (a local, once `_localized`), a plain dict's one key read with `get`; None for anything else.

    The same value; where reading the name itself fails, an error (which `_fill` leaves to the read) for `_dig`'s
    fallback: the read then computes the name again, as `_dig`, and gives that fallback.
    """
    if not python.startswith("_dig(s, ("):
        return None
    call = ast.parse(python, mode="eval").body
    if not (isinstance(call, ast.Call) and len(call.args) == 3 and not call.keywords and isinstance(call.args[0], ast.Name)):
        return None
    path, fallback = call.args[1], call.args[2]
    if call.args[0].id != "s" or not isinstance(path, ast.Tuple) or not isinstance(fallback, ast.Constant) or fallback.value.__class__ not in FLAT:
        return None
    keys = [key.value for key in path.elts if isinstance(key, ast.Constant) and key.value.__class__ in (str, int)]
    if len(keys) != len(path.elts) or len(keys) < 2 or not isinstance(keys[0], str):
        return None
    rest = f"({', '.join(map(repr, keys[1:]))},)"
    read = (
        f"_dg = _dg.get({keys[1]!r}, _LACKING) if _dg.__class__ is _dict else _dig(_dg, {rest}, _LACKING)"
        if len(keys) == 2
        else f"_dg = _dig(_dg, {rest}, _LACKING)"
    )
    return [f"_dg = s[{keys[0]!r}]", read, f"{target} = {fallback.value!r} if _dg is _LACKING or _dg is _MISSING else _dg"]


def _written(program: Program, pure: Mapping[str, str], project: Project) -> dict[str, str]:
    """Each pure context name whose expression can be written into the rule function: its Python reads the same names as
    its own function does (every helper it calls the very one the rule function holds), so it gives the same value or error."""
    out: dict[str, str] = {}
    namespace = program.namespace
    for name in pure:
        expression = program.expression(project.context[name])
        own = getattr(expression.function, "__globals__", None)
        if own is None or expression.function.__code__.co_varnames != ("s",):
            continue
        called = set(re.findall(r"\b_\w+\b", expression.python))
        if all(word in own and namespace.get(word, _ABSENT) is own[word] and word not in _RULEBOOK_NAMES and not _NUMBERED.fullmatch(word) for word in called):
            out[name] = expression.python
    return out


_DUE = "    _due = (s.get('flow') or {}).get('due')  # set when the worker checks a scheduled part"
_DUE_READ = "    _due = _fl.get('due') if _fl else None  # as _DUE reads it, `flow` read already (`_fl`)"
_ABSENT = object()
_NUMBERED = re.compile(r"_(?:[MPFBqh]|_?v|dfa)\d+")  # the rule function's own names: messages, verdicts, flows, builders, locals


def _check(program: Program, i: int, rule: Rule, pad: str) -> list[str]:
    """Lines setting r{i}: True, False, or Broken (could not be checked)."""
    return [
        f"{pad}try:",
        f"{pad}    r{i} = True if {program.expression(rule.condition).python} else False",
        f"{pad}except _CAUGHT as exc:",
        f"{pad}    r{i} = _Broken(exc)",
    ]


def _message_lines(program: Program, i: int, rule: Rule, pad: str, inlined: list[str] | None = None) -> list[str]:
    """Lines setting m{i}, the message of rule i, which does not hold (`inlined`: its text's own lines, see `_inline`)."""
    message = program.template(rule.message)
    if message.constant is not None:
        return [f"{pad}m{i} = {folded(message.constant)!r} if r{i} is False else _broken({i}, r{i})"]
    if inlined is not None and message.localized and inlined[0] != "_rd = _program.reader":  # read for the program's reader,
        # set around its lines as `for_reader` sets it (unless its plural blocks are given it: `_reader_given`)
        return [
            f"{pad}try:",
            f"{pad}    if r{i} is False:",
            f"{pad}        _token = _set_reader(_program.reader)",
            f"{pad}        try:",
            *(f"{pad}            {line}" for line in inlined[:-1]),
            f"{pad}            m{i} = {inlined[-1].removeprefix('return ')}",
            f"{pad}        finally:",
            f"{pad}            _reset_reader(_token)",
            f"{pad}    else:",
            f"{pad}        m{i} = _broken({i}, r{i})",
            f"{pad}except _CAUGHT:",
            f"{pad}    m{i} = _message({i}, s)",
        ]
    if inlined is not None:
        return [
            f"{pad}try:",
            f"{pad}    if r{i} is False:",
            *(f"{pad}        {line}" for line in inlined[:-1]),
            f"{pad}        m{i} = {inlined[-1].removeprefix('return ')}",
            f"{pad}    else:",
            f"{pad}        m{i} = _broken({i}, r{i})",
            f"{pad}except _CAUGHT:",
            f"{pad}    m{i} = _message({i}, s)",
        ]
    if message.fast is not None and not _needs_folding(rule.message.source):  # a localized one is rendered for the program's reader
        return [
            f"{pad}try:",
            f"{pad}    m{i} = _M{i}(s) if r{i} is False else _broken({i}, r{i})",
            f"{pad}except _CAUGHT:",
            f"{pad}    m{i} = _message({i}, s)",
        ]
    return [f"{pad}m{i} = _message({i}, s) if r{i} is False else _broken({i}, r{i})"]


_TEXT_LOCALS = re.compile(r"\b(_v\d+|n)\b")  # what a plain text's function assigns (fasttext._flat): its values and its count
_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:=|\+=)", re.MULTILINE)


def _inline(program: Program, rule: Rule, names: dict[str, Any]) -> list[str] | None:
    """A failed rule's message as lines of the rule function itself, its last the text (`return f'...'`), or None.

    Only a text written as one f-string of its values (fasttext._flat: no list of parts) and not folded
    (one read for a reader, a date, a number or a plural, is rendered with the program's reader set around it):
    the same lines `_M{i}` runs, with the same names (each added to `names`, the rule function's, when
    it is not there: a text reading one the rule function gives another meaning is left a call), so
    the same text or the same error, without the call.
    """
    message = program.template(rule.message)
    source = message.python
    if source is None or _needs_folding(rule.message.source) or message.fast is None:
        return None
    body = source.splitlines()
    if body[0] != "def _render(s):" or not body[-1].startswith("    return f") or any("return" in line for line in body[1:-1]):
        return None
    assigned = set(_ASSIGNED.findall("\n".join(body[1:-1])))
    if not assigned <= {"n", *(f"_v{k}" for k in range(len(body)))}:
        return None  # anything but its values and its count (a list of parts, a block): left a call
    own = message.fast.__globals__
    for name in set(re.findall(r"\b_\w+\b", "\n".join(body[1:]))) - assigned:
        if name not in own:
            return None
        held = names.get(name, program.namespace.get(name, own[name]))
        if held is not own[name] or name in _RULEBOOK_NAMES:
            return None
        names[name] = own[name]
    lines = [line.removeprefix("    ") for line in body[1:]]
    if message.localized:
        given = _reader_given(lines, names)
        if given is not None:
            return given
    return lines


def _reader_given(lines: list[str], names: Mapping[str, Any]) -> list[str] | None:
    """A localized text's inlined `lines` with its reader given to its plural blocks (`_pluralK.reading(_rd, ...)`,
    `_rd` the program's reader, read in the first line) rather than set around them, or None when something else
    in them reads the reader (a date or number filter, a plural rendered by `ngettext`)."""
    source = "\n".join(lines) + "\n"
    if re.search(r"\b_plural\(", source) or any(is_locale_filter(name, names.get(f"_f_{name}")) for name in _FILTER_CALL.findall(source)):
        return None
    import tokenize  # only for such a text: a few per project, when its rulebook is made

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    cuts = []
    for k in range(len(tokens) - 1):
        token, after = tokens[k], tokens[k + 1]
        if token.type == tokenize.NAME and re.fullmatch(r"_plural\d+", token.string) and after.string == "(":
            if not callable(getattr(names.get(token.string), "reading", None)):
                return None  # a block that counts what it fills in (not free): it reads the reader itself
            cuts.append((token.start[0] - 1, after.end[1]))
    out = list(lines)
    for row, end in reversed(cuts):
        out[row] = out[row][:end] + "_rd, " + out[row][end:]
        start = out[row].rfind("(", 0, end)
        out[row] = out[row][:start] + ".reading" + out[row][start:]
    return ["_rd = _program.reader", *out]


_FILTER_CALL = re.compile(r"\b_f_(\w+)\(")
_UNREAD = object()  # a hoisted value that could not be read where it was hoisted: each message reads it itself
# an inlined text's value printed as a text: read from a record the question's scope holds (s['order']['name'])
_PRINTED = re.compile(r"(_v\d+) = (s(?:\[(?:'[^'\\\n]*'|\"[^\"\\\n]*\")\])+)")


def _hoist(inlined: dict[int, list[str]], held: Iterable[str]) -> dict[str, str]:
    """The values two or more inlined messages read and print as text, each from a record the scope holds from the
    start (`held`: the actor, its holders, the subject), and the local each is hoisted to (`_h0`...); each message's
    lines in `inlined` are rewritten to take the hoisted value, or to read it as before when it could not be read.

    Only a read at the top level of a text's lines, followed by its conversion to text, is hoisted: the same value,
    and should it fail, the message reads it again and fails as before (its `_message` fallback).
    """
    roots = {repr(name) for name in held} | {f'"{name}"' for name in held}
    found: dict[int, list[tuple[int, str, str]]] = {}
    counts: dict[str, int] = {}
    for i, lines in inlined.items():
        for k in range(len(lines) - 2):
            match = _PRINTED.fullmatch(lines[k])
            if match is None or lines[k + 1] != f"if _type({match[1]}) is not _str:" or lines[k + 2] != f"    {match[1]} = _t({match[1]})":
                continue
            read = match[2]
            if read[2 : read.index("]")] not in roots:
                continue
            found.setdefault(i, []).append((k, match[1], read))
            counts[read] = counts.get(read, 0) + 1
    hoisted = {read: f"_h{n}" for n, read in enumerate(r for r, count in counts.items() if count > 1)}
    for i, places in found.items():
        lines = inlined[i]
        for k, value, read in reversed(places):
            local = hoisted.get(read)
            if local is not None:
                lines[k : k + 3] = [f"if {local} is not _UNREAD:", f"    {value} = {local}", "else:", *(f"    {line}" for line in lines[k : k + 3])]
    return hoisted


_RULEBOOK_NAMES = frozenset({"_CAUGHT", "_Broken", "_Refused", "_V", "_broken", "_message", "_refuse", "_refusal", "_E", "_new", "_failed",
                             "_Lazy", "_NOTHING", "_Exception", "_L", "_due", "_loose", "_token", "_set_reader", "_reset_reader",
                             "_program", "_DataFunction", "_dfn", "_rd", "_UNREAD",
                             "_fl", "_dg", "_LACKING", "_MISSING", "_dict"})  # fmt: skip


def _needs_folding(source: str) -> bool:
    return "\n" in source or "  " in source or source != source.strip()


def folded(text: str) -> str:
    """Messages read as one paragraph: runs of white space become one space."""
    return " ".join(text.split())


def message_text(program: Program, rule: Rule, scope: Mapping[str, Any]) -> str:
    """A failed rule's message, rendered and folded; never raises."""
    try:
        text = program.render(rule.message, scope)
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
    return message_text(program_of(project), rule, outsider_scope(project, scope, named))


_CAUGHT = (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError, RecursionError, MemoryError, ExpressionError)


class Checker:
    """`checker(actor, subject)`: availability of every flow from a `Snapshot`, in process."""

    def __init__(self, project: Project, rulebook: Rulebook, snapshot: Snapshot, scopes: Scopes, now: Callable[[], datetime]) -> None:
        self.project, self.rulebook, self.snapshot, self.scopes, self.now = project, rulebook, snapshot, scopes, now
        self.lookup = DataFunction("lookup", snapshot.get)
        # the actor and the subject by any of their match keys, one look-up each (what `resolve` finds, found the same way)
        self.actors = snapshot.named(project.actor_entity, tuple(project.actor_match))
        self.subjects = snapshot.named(project.subject_entity, tuple(project.subject_match))
        self.source = (self.lookup, now)
        # each actor asked with: itself, and what its questions' scopes hold before the subject (Scopes.actor_part)
        self.held: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def __call__(self, actor: str, subject: str) -> Answer:
        found = self.actors.get(actor)
        record = self.subjects.get(subject)
        if found is None or record is None:  # unknown (UnknownName, with its suggestion): resolve says so
            scope = self.scopes.question(resolve(self.project, self.snapshot, actor, subject), self.now, self.lookup)
            return self.rulebook.evaluate(scope, subject)
        held = self.held.get(id(found))
        if held is None or held[0] is not found:
            parties = resolve_actor(self.project, self.snapshot, actor)
            held = self.held[id(found)] = (found, self.scopes.actor_part(found, parties.holders, self.lookup))
        return self.rulebook.evaluate(self.scopes.asked_part(held[1], record, self.source), subject)
