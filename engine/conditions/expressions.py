"""Conditions: Jinja2 expression syntax compiled to plain Python functions.

A condition is parsed by Jinja2's own parser, then translated node by node
into Python source that only looks keys up in data, compares, combines with
and/or/not, does bounded arithmetic and calls allow-listed filters, tests and
functions. Nothing in the output touches an attribute of a Python object, so
there is nothing to escape from; a name the flow's context does not define is
refused when the flow loads (strict undefined names). Compiled once at load,
an evaluation is a single Python call with one scope dict per plan.
"""

from __future__ import annotations

import inspect
import keyword
import math
import operator
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from functools import cached_property
from types import CodeType
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import CompileError as CompileError  # raised here, defined with every other error
from ..errors import ExpressionError, did_you_mean
from ..plain import frozen
from . import limits, reader
from .limits import MAX_SIZE as MAX_SIZE  # where it was defined before engine/conditions/limits.py

MAX_SOURCE = 4_000  # longest condition accepted
MAX_DEPTH = 40  # deepest nesting of a condition

_PARSE_ENV = ImmutableSandboxedEnvironment()

_FLAT = limits.FLAT
_YAML11_WORDS = {"yes": "true", "on": "true", "y": "true", "no": "false", "off": "false", "n": "false"}
_COMPARE = {"eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in"}


class DataFunction:
    """A function that conditions and templates may call; nothing else is callable."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name, self.fn = name, fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for arg in args:  # a function may print or compare what it is given: walked first when it is nested
            if arg.__class__ not in _FLAT:
                limits.cells(arg, limits.MAX_CELLS, "passing")
        if kwargs:
            limits.check_args(kwargs.values())
            return self.fn(*args, **kwargs)
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<function {self.name}>"


_sized = limits.sized
_mul = limits.mul
_pow = limits.power
_add = limits.add


def _concat(*parts: Any) -> str:
    return limits.concat(parts)  # as Jinja2's ~ does: none prints as None


def _item(container: Any, key: Any) -> Any:
    if isinstance(key, str) and key.startswith("_"):
        raise ExpressionError(f"key {key!r} cannot be looked up")
    return container[key]


def _attribute(item: Any, path: str | int) -> Any:
    if path.__class__ is str and "." not in path:  # one key (most paths): what the loop below does for it
        return item[path] if item.__class__ is dict or isinstance(item, Mapping) else None
    for part in str(path).split("."):  # the path was checked by limits.attribute_path first
        item = item[part] if isinstance(item, Mapping) else None
    return item


_PATHS: set[str] = set()  # attribute paths limits.attribute_path accepted (its answer depends on the text alone)


def _attribute_path(attribute: Any) -> None:
    """limits.attribute_path, each accepted text checked once (map and selectattr are called for every record)."""
    if attribute.__class__ is str and attribute in _PATHS:
        return
    limits.attribute_path(attribute)
    if attribute.__class__ is str and len(_PATHS) < 4096:
        _PATHS.add(attribute)


def _map(items: Iterable[Any], attribute: str | None = None, default: Any = None) -> list[Any]:
    if attribute is None:
        raise ExpressionError("map needs attribute=NAME")
    _attribute_path(attribute)
    if attribute.__class__ is str and "." not in attribute:  # one key: `_attribute`'s first line, written out for each item
        return _sized([v if (v := i[attribute] if i.__class__ is dict or isinstance(i, Mapping) else None) is not None else default for i in items])
    return _sized([v if (v := _attribute(i, attribute)) is not None else default for i in items])


def _test(name: str) -> Callable[..., bool]:
    try:
        return TESTS[name]
    except KeyError:
        raise ExpressionError(f"unknown test {name!r}") from None


_EQUALS = frozenset({"eq", "equalto", "=="})  # tests that are limits.compare(value, "eq", other)


def _select(items: Iterable[Any], attribute: str, test: str = "true", *args: Any, keep: bool = True) -> list[Any]:
    check = _test(test)
    _attribute_path(attribute)
    if test in _EQUALS and len(args) == 1 and args[0].__class__ in limits.FLAT:  # compare() with a flat side: `==` itself
        other = args[0]
        if attribute.__class__ is str and "." not in attribute:  # one key: `_attribute`'s first line, written out for each item
            return _sized([i for i in items if bool((i[attribute] if i.__class__ is dict or isinstance(i, Mapping) else None) == other) is keep])
        return _sized([i for i in items if bool(_attribute(i, attribute) == other) is keep])
    return _sized([i for i in items if bool(check(_attribute(i, attribute), *args)) is keep])


def _sum(items: Iterable[Any], attribute: str | None = None, start: Any = 0) -> Any:
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise ExpressionError("sum adds numbers: its start must be a number")  # a list start would concatenate without bound
    limits.attribute_path(attribute)
    values = [_attribute(i, attribute) for i in items] if attribute else list(items)
    limits.tick()
    return _sized(sum(values, start))


def _join(items: Iterable[Any], sep: str = "", attribute: str | None = None) -> str:
    limits.attribute_path(attribute)
    return limits.join([_attribute(i, attribute) for i in items] if attribute else items, sep)  # measured before it is built


def _first(items: Any) -> Any:
    for item in items:
        return item
    return None


def _last(items: Any) -> Any:
    if isinstance(items, (list, tuple, str)):
        return items[-1] if items else None
    items = limits.listed(items)
    return items[-1] if items else None


class _Missing:
    """A key that is not there, as default() sees it (Jinja2's undefined)."""

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    return fallback if value is MISSING or (boolean and not value) else value


def _sort(items: Iterable[Any], reverse: bool = False, attribute: str | None = None) -> list[Any]:
    limits.attribute_path(attribute)
    if attribute:
        return sorted(limits.ordered(items, lambda i: _attribute(i, attribute)), key=lambda i: _attribute(i, attribute), reverse=reverse)
    return sorted(limits.ordered(items), reverse=reverse)


def _text_filter(method: Callable[[str], str]) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        out = method(limits.text(value))
        limits.spend(len(out))
        return out

    return apply


def _extreme(pick: Callable[..., Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        return pick(limits.ordered(value), default=None)

    return apply


def _round(value: Any, precision: int = 0) -> Any:
    return round(value, limits.precision(precision))


FILTERS: dict[str, Callable[..., Any]] = {
    "length": len,
    "count": len,
    "lower": _text_filter(str.lower),
    "upper": _text_filter(str.upper),
    "trim": _text_filter(str.strip),
    "string": lambda v: limits.text(v),
    "int": lambda v, default=0: _int(v, default),
    "float": lambda v, default=0.0: _float(v, default),
    "abs": abs,
    "first": _first,
    "last": _last,
    "list": lambda v: limits.listed(v),
    "unique": lambda v: list(dict.fromkeys(limits.listed(v))),
    "map": _map,
    "selectattr": lambda items, attr, test="true", *a: _select(items, attr, test, *a, keep=True),
    "rejectattr": lambda items, attr, test="true", *a: _select(items, attr, test, *a, keep=False),
    "join": _join,
    "default": _default,
    "d": _default,
    "sum": _sum,
    "min": _extreme(min),
    "max": _extreme(max),
    "sort": _sort,
    "round": _round,
}
CHEAP_FILTERS = frozenset({"length", "count", "int", "float", "abs", "first", "default", "d", "round"})  # no budget to start
ATTRIBUTE_ARGUMENT = {
    "map": (None, "attribute"),
    "selectattr": (0, None),
    "rejectattr": (0, None),
    "sum": (0, "attribute"),
    "join": (1, "attribute"),
    "sort": (1, "attribute"),
}


def _int(value: Any, default: int) -> int:
    try:
        return int(limits.number_text(value))
    except (TypeError, ValueError):
        return default


def _float(value: Any, default: float) -> float:
    try:
        return float(limits.number_text(value))
    except (TypeError, ValueError):
        return default


TESTS: dict[str, Callable[..., bool]] = {
    "none": lambda v: v is None,
    "true": lambda v: v is True,
    "false": lambda v: v is False,
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "mapping": lambda v: isinstance(v, Mapping),
    "sequence": lambda v: isinstance(v, (list, tuple, str)),
    "eq": lambda v, o: limits.compare(v, "eq", o),
    "equalto": lambda v, o: limits.compare(v, "eq", o),
    "==": lambda v, o: limits.compare(v, "eq", o),
    "ne": lambda v, o: limits.compare(v, "ne", o),
    "!=": lambda v, o: limits.compare(v, "ne", o),
    "in": lambda v, seq: limits.compare(v, "in", seq),
    "lower": lambda v: isinstance(v, str) and v.islower(),
    "upper": lambda v: isinstance(v, str) and v.isupper(),
    "odd": lambda v: v % 2 == 1,
    "even": lambda v: v % 2 == 0,
    "gt": lambda v, o: limits.compare(v, "gt", o),
    "ge": lambda v, o: limits.compare(v, "gteq", o),
    "lt": lambda v, o: limits.compare(v, "lt", o),
    "le": lambda v, o: limits.compare(v, "lteq", o),
}

_HELPERS: dict[str, Any] = {
    "_mul": _mul,
    "_pow": _pow,
    "_add": _add,
    "_concat": _concat,
    "_item": _item,
    "_sized": _sized,
    "_compare": limits.compare,
    "_FLAT": limits.FLAT,
    "_type": type,
    "_fresh": limits.fresh,
    "__builtins__": {},
}


@frozen
class Expression:
    """One compiled condition or value, with what it refers to.

    Its Python (`python`, checked and translated when the project loads) becomes a function when
    first evaluated: the translation keeps within Python's own limits (at most MAX_DEPTH deep,
    MAX_SOURCE long), so only the time moves, to where it is needed, as a plain text's does
    (fasttext); a condition a run never evaluates, or whose Python a rule book writes into its
    own function, costs no compile.
    """

    source: str
    python: str = field(repr=False)
    names: frozenset[str] = frozenset()
    attributes: frozenset[tuple[str, str]] = frozenset()  # (name, key) pairs such as ("answers", "reason")
    literals: tuple[tuple[tuple[str, str], Any], ...] = ()  # ((name, key), constant) compared with ==
    namespace: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)  # what its Python may call

    @cached_property
    def function(self) -> Callable[[Mapping[str, Any]], Any]:
        """The Python function of the condition, compiled on first use (a function of `s`, the scope)."""
        code = generated(f"def _expression(s):\n    return {self.python}\n", f"<condition {self.source[:60]!r}>")
        namespace = dict(self.namespace)
        exec(code, namespace)  # noqa: S102 - source built only from the allow-listed translation
        function: Callable[[Mapping[str, Any]], Any] = namespace["_expression"]
        return function

    def __call__(self, scope: Mapping[str, Any]) -> Any:
        """Evaluate against a scope; any failure becomes an ExpressionError naming the condition."""
        try:
            return self.function(scope)
        except FAILURES as exc:
            raise ExpressionError(failure(self.source, exc)) from exc


# what evaluating generated code may raise, each told as the condition's failure (`Expression.__call__`; a caller that
# calls `function` itself, to spare a frame in a loop, catches these and raises `failure`'s words the same way)
FAILURES = (ExpressionError, KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError, RecursionError, MemoryError)


_FILTER_CALL = re.compile(r"\b_f_(\w+)\(")


def built_in_only(expression: Expression) -> bool:
    """Whether every filter `expression` calls is a built-in one (a plugin's may read anything, or change from call to call).

    With no function among its names either, its value is a function of the scope values it names alone.
    """
    namespace = expression.namespace  # what its function's globals are made from (a copy of it), read without compiling it
    return all(name in FILTERS and namespace.get(f"_f_{name}") is FILTERS[name] for name in _FILTER_CALL.findall(expression.python))


def failure(source: str, exc: BaseException) -> str:
    """What went wrong evaluating `source`, in the words every caller uses (never Python's own, which users may see)."""
    if isinstance(exc, ExpressionError):
        return f"{source}: {exc}"
    if isinstance(exc, KeyError):
        return f"{source}: there is no {exc.args[0]!r} here"
    return f"{source}: {python_failure(exc)}"


# Python's errors from an operation given values it cannot take, read into our words: (its pattern, ours).
# The names in them are Python's types (`type(x).__name__`), shown as the data's kinds.
_PYTHON_FAILURES = (
    (re.compile(r"'(\S+)' not supported between instances of '(\w+)' and '(\w+)'"), "cannot compare {1} with {2}"),
    (re.compile(r"unsupported operand type\(s\) for (\S+?): '(\w+)' and '(\w+)'"), "cannot use `{0}` on {1} and {2}"),
    (re.compile(r"can only concatenate (\w+) \(not \"(\w+)\"\) to \w+"), "cannot add {1} to {0}"),
    (re.compile(r"bad operand type for unary (\S+?): '(\w+)'"), "cannot use `{0}` on {1}"),
    (re.compile(r"argument of type '(\w+)' is not"), "cannot look for a value in {0}: only in a list, a text or a record"),
    (re.compile(r"object of type '(\w+)' has no len"), "{0} has no length"),
    (re.compile(r"'(\w+)' object is not iterable"), "{0} is not a list"),
    (re.compile(r"'(\w+)' object is not subscriptable"), "{0} cannot be indexed: only a list (by position) or a record (by field name) can"),
    (re.compile(r"can't multiply sequence by non-int of type '(\w+)'"), "cannot repeat a value by {0}: only a whole number of times"),
    (re.compile(r"string indices must be integers"), "a text is indexed only by position, e.g. [0]"),
    (re.compile(r"(?:list|tuple) indices must be integers"), "a list is indexed only by position, e.g. [0]"),
)
_PYTHON_KINDS = {
    "int": "a number",
    "float": "a number",
    "bool": "a yes/no value",
    "str": "a text",
    "list": "a list",
    "tuple": "a list",
    "dict": "a record",
    "LazyScope": "a record",
    "NoneType": "none",
    "_Missing": "a missing value",
}
_PYTHON_OTHERS = {  # the failures that are not about a value's kind
    ZeroDivisionError: "division by zero",
    IndexError: "there is no item at that position",
    OverflowError: "a number is too large",
    RecursionError: "it is nested too deeply to work out",
    MemoryError: "there was not enough memory to work it out",
}


def python_failure(exc: BaseException) -> str:
    """A failure Python raised while evaluating, in our words: what was done with which kinds of value."""
    if isinstance(exc, TypeError):
        said = str(exc)
        for pattern, words in _PYTHON_FAILURES:
            found = pattern.search(said)
            if found is not None:
                return words.format(*(_PYTHON_KINDS.get(g, g if g in _COMPARE.values() or not g.isidentifier() else "a value") for g in found.groups()))
        return "a value here is of a kind this cannot use"
    for kind, words in _PYTHON_OTHERS.items():
        if isinstance(exc, kind):
            return words
    return "a value here cannot be used this way"


class Compiler:
    """Turns expression source into `Expression`s against a known set of names."""

    def __init__(self, functions: Iterable[str] = (), filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.functions = frozenset(functions)
        self.filters = {**FILTERS, **reader.FILTERS, **(filters or {})}
        self.namespace: dict[str, Any] = dict(_HELPERS)
        for name, fn in self.filters.items():
            self.namespace[f"_f_{name}"] = fn
        for name, fn in TESTS.items():
            self.namespace[f"_t_{_ident(name)}"] = fn
        self._cache: dict[tuple[str, frozenset[str]], Expression] = {}
        self.fixed: dict[str, frozenset[str]] = {}  # names whose keys are known at load, e.g. product: {name, sender}

    def compile(self, source: str, names: Iterable[str], tree: nodes.Expr | None = None) -> Expression:
        """Compile `source`; raise CompileError with a fix-it message when it cannot be.

        `tree`: `parse(source)`, when the caller parsed it already (the type check reads the same tree).
        """
        known = frozenset(names)
        cached = self._cache.get((source, known))
        if cached is not None:
            return cached
        if len(source) > MAX_SOURCE:
            raise CompileError(f"the condition is {len(source):,} characters long; the limit is {MAX_SOURCE:,}")
        if tree is None:
            tree = parse(source)
        translator = _Translator(self, known)
        python = translator.visit(tree, 0)
        if translator.spends == 1 and _FRESH_HERE in python:  # its one step that spends is where the budget starts, when reached
            python = python.replace(_FRESH_HERE, "_fresh() and ")
        elif translator.costly:  # a fresh budget of time and size for each evaluation (engine/conditions/limits.py)
            python = f"_fresh() and ({python.replace(_FRESH_HERE, '')})"
        expression = Expression(
            source=source,
            python=python,
            names=frozenset(translator.names),
            attributes=frozenset(translator.attributes),
            literals=tuple(translator.literals),
            namespace=self.namespace,
        )
        self._cache[(source, known)] = expression
        return expression


def generated(source: str, filename: str) -> Any:
    """Compile generated Python; the translation keeps within Python's own limits, and anything it missed is a CompileError."""
    try:
        return python_code(source, filename)
    except (SyntaxError, RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise CompileError(f"too complex to compile ({type(exc).__name__}); split it or nest it less deeply") from exc


def python_code(source: str, filename: str) -> CodeType:
    """Compile generated Python without Python's warnings about it (`(1)[0]`: "perhaps you missed a comma?").

    They would quote our generated code, not the author's text, on the user's terminal; the type check reports what can
    never work at its line, and anything else fails where it is evaluated, with the condition's own message. (The filter
    is the process's, restored after; compiles take turns, so threads compiling at once restore it in order.)
    """
    with _QUIET, warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        return compile(source, filename, "exec")


_QUIET = threading.Lock()  # catch_warnings swaps the process's filter list: two threads at once would restore a stale one


def parse(source: str) -> nodes.Expr:
    """Parse one Jinja2 expression (no {{ }}) or raise CompileError."""
    if source.lstrip().startswith(("{{", "{%")):
        raise CompileError("a condition is written without {{ }} or {% %}; remove them")
    try:
        parser = Parser(_PARSE_ENV, source, state="variable")
        tree = parser.parse_tuple(with_condexpr=True)
        if parser.stream.current.type != "eof":
            raise CompileError(_trailing(parser.stream.current))
    except RecursionError as exc:  # Jinja2's parser recurses once per level of nesting
        raise CompileError(f"the condition is nested more than {MAX_DEPTH} levels deep") from exc
    except TemplateSyntaxError as exc:
        message = exc.message or ""
        if "end of template" in message or "end of print statement" in message:
            raise CompileError("the condition stops before it is complete; finish it, or remove the last operator") from exc
        raise CompileError(f"syntax error: {message}") from exc
    return tree


def _suggest(given: str, choices: Iterable[str], what: str) -> str:
    """`; did you mean 'x'?`, or else the choices (a few) or where they are listed (many)."""
    hint = did_you_mean(given, choices)
    if hint.startswith("; did you mean"):
        return hint
    listed = sorted(c for c in choices if c.isidentifier())
    if len(listed) <= 16:
        return f"; the {what} " + ", ".join(listed)
    return f"; the {what} listed in docs/flow-language.md"


def _trailing(token: Any) -> str:
    """What to say of a token left over after one whole expression."""
    value = token.value
    if value == "=":
        return "a single = does not compare; write == to compare two values"
    if token.type in ("variable_begin", "variable_end", "block_begin", "block_end") or value in ("{", "}"):
        return "a condition is written without {{ }} or {% %}; remove them"
    return f"unexpected {value!r} after the end of the condition; join conditions with and / or"


def _ident(name: str) -> str:
    return {"==": "eq2", "!=": "ne2"}.get(name, name)


_FRESH_HERE = "\x00fresh\x00"  # where a condition's budget may start (a NUL is never in generated code: literals are repr'd)


class _Translator:
    def __init__(self, compiler: Compiler, known: frozenset[str], *, text: bool = False) -> None:
        self.compiler = compiler
        self.known = known
        self.text = text  # a text's expression (a template's fast path), not a condition: it may write for its reader
        self.names: set[str] = set()
        self.attributes: set[tuple[str, str]] = set()
        self.literals: list[tuple[tuple[str, str], Any]] = []
        self.spends = 0  # how many of its steps spend the evaluation's budget (`costly`)
        self.temporaries = 0  # names _a0, _b0, ... of inline comparisons

    @property
    def costly(self) -> bool:
        """Whether it calls something that spends the evaluation's budget."""
        return self.spends > 0

    def visit(self, node: nodes.Node, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise CompileError(f"the condition is nested more than {MAX_DEPTH} levels deep")
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise CompileError(f"{_describe(node)} is not allowed in a condition")
        return method(node, depth + 1)

    def visit_Const(self, node: nodes.Const, depth: int) -> str:
        if isinstance(node.value, float) and not math.isfinite(node.value):
            raise CompileError("a number here is too large (the largest is about 1.8e308); write a smaller one")
        if isinstance(node.value, (str, int, float, bool)) or node.value is None:
            try:
                limits.within(node.value)
            except ExpressionError as exc:  # a constant over a limit: refused where it is written
                raise CompileError(str(exc)) from exc
            return repr(node.value)
        raise CompileError(f"the constant {node.value!r} is not allowed")

    def visit_Name(self, node: nodes.Name, depth: int) -> str:
        if node.name not in self.known:
            if node.name in ("null", "nil", "None", "NULL"):
                raise CompileError(f"unknown name {node.name!r}; write none (none is the empty value in conditions)")
            if node.name.lower() in _YAML11_WORDS:
                meant = _YAML11_WORDS[node.name.lower()]
                raise CompileError(
                    f"unknown name {node.name!r}; write {meant} ({node.name} is not a value in conditions; for the text, write '{node.name}' in quotes)"
                )
            raise CompileError(f"unknown name {node.name!r}{_suggest(node.name, self.known, 'names here are')}")
        self.names.add(node.name)
        return f"s[{node.name!r}]"

    def visit_Getattr(self, node: nodes.Getattr, depth: int) -> str:
        if node.attr.startswith("_"):
            raise CompileError(f"{node.attr!r} cannot be looked up: names starting with _ are not data")
        if isinstance(node.node, nodes.Name):
            self._fixed_key(node.node.name, node.attr)
            self.attributes.add((node.node.name, node.attr))
        return f"{self.visit(node.node, depth)}[{node.attr!r}]"

    def _fixed_key(self, name: str, key: str) -> None:
        keys = self.compiler.fixed.get(name)
        if keys is not None and name in self.known and key not in keys:
            raise CompileError(f"{name} has no key {key!r}{_suggest(key, keys, f'keys of {name} are')}")

    def visit_Getitem(self, node: nodes.Getitem, depth: int) -> str:
        if isinstance(node.arg, nodes.Slice):
            raise CompileError("slices are not allowed in a condition")
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, (str, int)) and not isinstance(node.arg.value, bool):
            if isinstance(node.arg.value, str):
                if node.arg.value.startswith("_"):
                    raise CompileError(f"{node.arg.value!r} cannot be looked up: names starting with _ are not data")
                if isinstance(node.node, nodes.Name):
                    self._fixed_key(node.node.name, node.arg.value)
                    self.attributes.add((node.node.name, node.arg.value))
            return f"{self.visit(node.node, depth)}[{node.arg.value!r}]"
        return f"_item({self.visit(node.node, depth)}, {self.visit(node.arg, depth)})"

    def visit_Compare(self, node: nodes.Compare, depth: int) -> str:
        if all(flat_literal(a) or flat_literal(b) for a, b in _pairs(node)):  # one step each: plain Python
            parts = [self.visit(node.expr, depth)]
            left = node.expr
            for operand in node.ops:
                parts.append(_COMPARE[operand.op])
                parts.append(self.visit(operand.expr, depth))
                self._note_literal(left, operand.expr, operand.op)
                left = operand.expr
            return "(" + " ".join(parts) + ")"
        self.spends += 1  # two values that may be large: measured before they are compared
        if len(node.ops) == 1 and node.ops[0].op not in ("in", "notin"):  # one step when either is flat, inline
            op, k = node.ops[0].op, self.temporaries
            self.temporaries += 1
            self._note_literal(node.expr, node.ops[0].expr, op)
            a, b = f"_a{k}", f"_b{k}"
            test = f"(_type({a} := {self.visit(node.expr, depth)}) in _FLAT) + (_type({b} := {self.visit(node.ops[0].expr, depth)}) in _FLAT)"
            fresh = "" if self.text else _FRESH_HERE  # a condition's one step that spends: its budget started there (`compile`)
            return f"({a} {_COMPARE[op]} {b} if {test} else {fresh}_compare({a}, {op!r}, {b}))"
        checks, left, left_python = [], node.expr, self.visit(node.expr, depth)
        for operand in node.ops:
            right_python = self.visit(operand.expr, depth)
            self._note_literal(left, operand.expr, operand.op)
            checks.append(f"_compare({left_python}, {operand.op!r}, {right_python})")
            left, left_python = operand.expr, right_python
        return "(" + " and ".join(checks) + ")"

    def _note_literal(self, left: nodes.Node, right: nodes.Node, op: str) -> None:
        if op not in ("eq", "ne"):
            return
        for a, b in ((left, right), (right, left)):
            if isinstance(a, nodes.Getattr) and isinstance(a.node, nodes.Name) and isinstance(b, nodes.Const):
                self.literals.append(((a.node.name, a.attr), b.value))

    def visit_And(self, node: nodes.And, depth: int) -> str:
        return f"({self.visit(node.left, depth)} and {self.visit(node.right, depth)})"

    def visit_Or(self, node: nodes.Or, depth: int) -> str:
        return f"({self.visit(node.left, depth)} or {self.visit(node.right, depth)})"

    def visit_Not(self, node: nodes.Not, depth: int) -> str:
        return f"(not {self.visit(node.node, depth)})"

    def visit_Neg(self, node: nodes.Neg, depth: int) -> str:
        return f"(-{self.visit(node.node, depth)})"

    def visit_Pos(self, node: nodes.Pos, depth: int) -> str:
        return f"(+{self.visit(node.node, depth)})"

    def visit_CondExpr(self, node: nodes.CondExpr, depth: int) -> str:
        otherwise = "None" if node.expr2 is None else self.visit(node.expr2, depth)
        return f"({self.visit(node.expr1, depth)} if {self.visit(node.test, depth)} else {otherwise})"

    def _binary(self, node: nodes.BinExpr, operator: str, depth: int) -> str:
        return f"({self.visit(node.left, depth)} {operator} {self.visit(node.right, depth)})"

    def visit_Add(self, node: nodes.Add, depth: int) -> str:
        self.spends += 1
        return f"_add({self.visit(node.left, depth)}, {self.visit(node.right, depth)})"

    def visit_Sub(self, node: nodes.Sub, depth: int) -> str:
        return self._binary(node, "-", depth)

    def visit_Div(self, node: nodes.Div, depth: int) -> str:
        return self._binary(node, "/", depth)

    def visit_FloorDiv(self, node: nodes.FloorDiv, depth: int) -> str:
        return self._binary(node, "//", depth)

    def visit_Mod(self, node: nodes.Mod, depth: int) -> str:
        if isinstance(node.left, nodes.Const) and isinstance(node.left.value, str):
            raise CompileError("string formatting with % is not allowed; use ~ to join text")
        return self._binary(node, "%", depth)

    def visit_Mul(self, node: nodes.Mul, depth: int) -> str:
        self.spends += 1
        return f"_mul({self.visit(node.left, depth)}, {self.visit(node.right, depth)})"

    def visit_Pow(self, node: nodes.Pow, depth: int) -> str:
        self.spends += 1
        return f"_pow({self.visit(node.left, depth)}, {self.visit(node.right, depth)})"

    def visit_Concat(self, node: nodes.Concat, depth: int) -> str:
        self.spends += 1
        return "_concat(" + ", ".join(self.visit(n, depth) for n in node.nodes) + ")"

    def visit_List(self, node: nodes.List | nodes.Tuple, depth: int) -> str:
        items = ", ".join(self.visit(n, depth) for n in node.items)
        if flat_literal(node):
            return f"[{items}]"  # written out in the text: its size is the text's
        self.spends += 1
        return f"_sized([{items}])"

    def visit_Tuple(self, node: nodes.Tuple, depth: int) -> str:
        return self.visit_List(node, depth)

    def visit_Dict(self, node: nodes.Dict, depth: int) -> str:
        return "{" + ", ".join(f"{self.visit(p.key, depth)}: {self.visit(p.value, depth)}" for p in node.items) + "}"

    def _arguments(self, node: nodes.Filter | nodes.Test | nodes.Call, depth: int, function: Callable[..., Any] | None = None, name: str = "") -> list[str]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise CompileError("*args and **kwargs are not allowed in a condition")
        problem = argument_problem(function, name, len(node.args), [str(k.key) for k in node.kwargs], applied=not isinstance(node, nodes.Call))
        if problem:
            raise CompileError(problem)
        args = [self.visit(a, depth) for a in node.args]
        args += [f"{k.key}={self.visit(k.value, depth)}" for k in node.kwargs]
        return args

    def visit_Filter(self, node: nodes.Filter, depth: int) -> str:
        if node.name not in self.compiler.filters:
            raise CompileError(f"unknown filter {node.name!r}{_suggest(node.name, self.compiler.filters, 'filters are')}")
        if node.node is None:
            raise CompileError("a filter needs a value to its left")
        function = self.compiler.filters[node.name]
        if not self.text and reader.is_locale_filter(node.name, function):
            raise CompileError(
                f"{node.name} writes a value as its reader's language does, for a text; a condition's verdict cannot depend on who reads it:"
                " compare the value itself (such as record.due_date < now.date), and use the filter in a text"
            )
        if node.name in ATTRIBUTE_ARGUMENT and function is FILTERS.get(node.name):
            check_attribute_argument(node, *ATTRIBUTE_ARGUMENT[node.name])
        if node.name not in CHEAP_FILTERS:
            self.spends += 1
        if node.name in ("default", "d") and isinstance(node.node, (nodes.Getattr, nodes.Getitem)):
            # A missing key is "undefined", which default() replaces, as in Jinja2.
            inner = self.visit(node.node, depth)
            path = _plain_path(node.node)
            if path is not None and function is _default and len(node.args) == 1 and not node.kwargs and isinstance(node.args[0], nodes.Const):
                # a name and its keys, the fallback written out: the same look-ups and the same answer, in one call (`_dig`)
                self._arguments(node, depth, function, node.name)
                return f"_dig(s, {path!r}, {self.visit(node.args[0], depth)})"
            args = [f"_maybe(lambda: {inner})", *self._arguments(node, depth, function, node.name)]
            return f"_f_{node.name}({', '.join(args)})"
        args = [self.visit(node.node, depth), *self._arguments(node, depth, function, node.name)]
        return f"_f_{node.name}({', '.join(args)})"

    def visit_Test(self, node: nodes.Test, depth: int) -> str:
        if node.name == "defined" or node.name == "undefined":
            inner = self.visit(node.node, depth)
            check = "True" if node.name == "defined" else "False"
            return f"(_defined(lambda: {inner}) is {check})"
        if node.name not in TESTS:
            if node.name in ("null", "nil", "None"):
                raise CompileError(f"unknown test {node.name!r}; write `is none` (none is the empty value in conditions)")
            raise CompileError(f"unknown test {node.name!r}{_suggest(node.name, [*TESTS, 'defined', 'undefined'], 'tests are')}")
        if node.name == "none" and not node.args:
            return f"({self.visit(node.node, depth)} is None)"
        self.spends += 1
        args = [self.visit(node.node, depth), *self._arguments(node, depth, TESTS[node.name], f"the test {node.name}")]
        return f"_t_{_ident(node.name)}({', '.join(args)})"

    def visit_Call(self, node: nodes.Call, depth: int) -> str:
        if not isinstance(node.node, nodes.Name):
            called = f"{node.node.attr}() cannot be called" if isinstance(node.node, nodes.Getattr) else "this cannot be called"
            raise CompileError(f"{called}: only the project's functions can, such as lookup('entity', id); use a filter or a test instead")
        name = node.node.name
        if name not in self.compiler.functions:
            raise CompileError(f"unknown function {name!r}{_suggest(name, self.compiler.functions, 'functions are')}")
        self.names.add(name)
        return f"s[{name!r}]({', '.join(self._arguments(node, depth, None, name))})"


def _defined(thunk: Callable[[], Any]) -> bool:
    try:
        thunk()
    except (KeyError, TypeError, IndexError):
        return False
    return True


_HELPERS["_defined"] = _defined


def _plain_path(node: nodes.Node) -> tuple[str | int, ...] | None:
    """The name and keys of `name.key["key"][0]...`, as the translation reads them one after the other (s[name][key]...), or None."""
    keys: list[str | int] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and type(node.arg.value) in (str, int):
            keys.append(node.arg.value)
        else:
            return None  # read through _item
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    keys.append(node.name)
    return tuple(reversed(keys))


def _dig(value: Any, keys: tuple[Any, ...], fallback: Any) -> Any:
    """`_default(_maybe(lambda: value[k1][k2]...), fallback)` in one call: the same look-ups, in order, and the same answer.

    A plain dict is read with `get` (a key it lacks: the fallback, without raising and catching a KeyError, the usual
    case of a default); anything else (a scope computing names when first read, a list) by subscript, as written.
    """
    try:
        for key in keys:
            if value.__class__ is dict:
                value = value.get(key, _LACKING)
                if value is _LACKING:
                    return fallback
            else:
                value = value[key]
    except (KeyError, TypeError, IndexError):
        return fallback
    return fallback if value is MISSING else value


_LACKING = object()  # what a plain dict gives `_dig` for a key it lacks


_HELPERS["_dig"] = _dig


def _maybe(thunk: Callable[[], Any]) -> Any:
    try:
        return thunk()
    except (KeyError, TypeError, IndexError):
        return MISSING


_HELPERS["_maybe"] = _maybe


def flat_literal(node: nodes.Node) -> bool:
    """A constant text, number, true/false or none, or a list of them written out: compared in one short step."""
    if isinstance(node, nodes.Const):
        return node.value is None or isinstance(node.value, (str, int, float, bool))
    if isinstance(node, (nodes.List, nodes.Tuple)):
        return all(isinstance(item, nodes.Const) and flat_literal(item) for item in node.items)
    return False


def _pairs(node: nodes.Compare) -> list[tuple[nodes.Expr, nodes.Expr]]:
    left, out = node.expr, []
    for operand in node.ops:
        out.append((left, operand.expr))
        left = operand.expr
    return out


def argument_problem(function: Callable[..., Any] | None, name: str, positional: int, keywords: list[str], *, applied: bool = True) -> str | None:
    """What is wrong with passing `positional` arguments and these `keywords` to `function`, if anything.

    `applied`: the function is a filter or test, whose first parameter is the
    value it is applied to (not counted in `positional`). Keywords must be
    names, each given once, and, when the signature is known, parameters of it.
    """
    seen: set[str] = set()
    for key in keywords:
        if not key.isidentifier() or keyword.iskeyword(key):
            return f"{key!r} cannot name an argument of {name}"
        if key in seen:
            return f"the argument {key!r} of {name} is given twice; keep one"
        seen.add(key)
    if function is None:
        return None
    asked = (function, name, positional, tuple(keywords), applied)
    try:
        return _FITS[asked]
    except KeyError:
        pass
    except TypeError:  # a callable that cannot be a key: worked out each time
        return _fit(function, name, positional, keywords, applied)
    if len(_FITS) > 4096:  # a long-lived process loading many projects: start again rather than grow
        _FITS.clear()
    found = _FITS[asked] = _fit(function, name, positional, keywords, applied)
    return found


# (function, name, positional, keywords, applied) -> the problem or None: the same filters are called the same way
# throughout a project, and inspect.signature is slow (the function is held by the key, so its id is never reused)
_FITS: dict[tuple[Any, ...], str | None] = {}


def _builtin_signatures() -> dict[Any, inspect.Signature]:
    """The signatures of the built-in functions that are filters or tests, written out.

    `inspect.signature` reads a built-in's from its text signature with the tokenize
    module, whose import and regular expressions cost a cold `validate` 10-30 ms; these
    are equal to what it reads (tests/test_expressions.py compares them).
    """
    only = inspect.Parameter.POSITIONAL_ONLY

    def taking(*names: str) -> inspect.Signature:
        return inspect.Signature([inspect.Parameter(n, only) for n in names])

    return {
        len: taking("obj"),
        abs: taking("x"),
        callable: taking("obj"),
        **{f: taking("a", "b") for f in (operator.eq, operator.ne, operator.gt, operator.ge, operator.lt, operator.le)},
    }


BUILTIN_SIGNATURES = _builtin_signatures()


def _signature(function: Callable[..., Any]) -> inspect.Signature:
    # a template's filters are wrapped (bounds.filters): inspect.signature reads the wrapped function's, as here
    unwrapped = inspect.unwrap(function, stop=lambda f: hasattr(f, "__signature__"))
    try:
        return BUILTIN_SIGNATURES[unwrapped]
    except (KeyError, TypeError):  # not one of them, or a callable that cannot be a key
        return inspect.signature(function)


def _fit(function: Callable[..., Any], name: str, positional: int, keywords: list[str], applied: bool) -> str | None:
    try:
        signature = _signature(function)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if getattr(function, "jinja_pass_arg", None) is not None:
        parameters = parameters[1:]  # the context Jinja2 passes itself
    own = parameters[1:] if applied and parameters else parameters
    named = [p.name for p in own if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    listed = ", ".join(named) or "none"
    if not any(p.kind is p.VAR_KEYWORD for p in own):
        for key in keywords:
            if key not in named:
                close = did_you_mean(key, named) if named else ""
                return f"{name} has no argument {key!r}{close if close.startswith('; did you mean') else ''} (its arguments: {listed})"
    try:
        inspect.Signature(parameters).bind(*range(positional + (1 if applied else 0)), **dict.fromkeys(keywords))
    except TypeError:
        takes = sum(1 for p in own if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        if positional > takes and not any(p.kind is p.VAR_POSITIONAL for p in own):
            return f"{name} takes at most {takes} argument{'s' if takes != 1 else ''}, not {positional} (its arguments: {listed})"
        return f"these arguments do not fit {name} (its arguments: {listed}); give each once, by position or by name"
    return None


def check_attribute_argument(node: nodes.Filter, position: int | None, key: str | None) -> None:
    """A constant `attribute` argument naming a key that starts with `_` is refused where it is written."""
    given = [k.value for k in node.kwargs if k.key in ("attribute", "attr")] if key else []
    if position is not None and len(node.args) > position:
        given.append(node.args[position])
    for arg in given:
        if isinstance(arg, nodes.Const):
            try:
                limits.attribute_path(arg.value)
            except ExpressionError as exc:
                raise CompileError(str(exc)) from exc


def _describe(node: nodes.Node) -> str:
    kinds = {
        "Slice": "a slice",
        "MarkSafe": "markup",
        "Filter": "a filter",
    }
    return kinds.get(type(node).__name__, f"a {type(node).__name__.lower()} expression")
