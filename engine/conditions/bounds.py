"""Bounds on one rendering of a template: steps, time, output, and every filter, test and operator that could build or walk a huge value.

The sandbox of `engine/conditions/templates.py` uses these so that no template, however
written, runs unbounded. `bound_tree` rewrites a checked template before Jinja2
compiles it: every `{% for %}` iterates through the step counter (`spend`, at
most MAX_STEPS loop iterations and calls per rendering), `~` joins through
`concat` and comparisons of two values that may be large through `compare`
(engine/conditions/limits.py measures both first). Output is counted as it is produced
(`finalize`, `joined`), the text of a macro or `{% set %}` block is measured
before it is joined (`concat_output`), `%` formats numbers only (`modulo`), and
every allowed filter and comparing test runs through a guard that checks the
clock, measures its input before it converts, copies or sorts it, and counts
what it builds (`filters`, `tests`). Each refusal names the limit reached.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, do_replace, make_attrgetter
from jinja2.runtime import markup_join, str_join
from jinja2.utils import pass_eval_context
from jinja2.visitor import NodeTransformer

from ..errors import ExpressionError
from . import limits
from .expressions import flat_literal
from .limits import MAX_OUTPUT, MAX_SIZE

MAX_STEPS = 100_000  # loop iterations and calls in one rendering
MAX_SECONDS = limits.MAX_SECONDS  # one rendering's time, checked at every step and every costly operation
STEPS_FILTER = "_steps"  # the filter every {% for %} iterates through (added after the template was checked)
CONCAT_FILTER = "_concat"  # what `~` becomes
COMPARE_FILTER = "_compare"  # what a comparison of two values that may be large becomes
SLICE_FILTER = "_slice"  # what `value[a:b:c]` becomes (Jinja2 slices without asking the sandbox)


def spend(eval_ctx: nodes.EvalContext, steps: int = 1) -> None:
    """Count `steps` against this rendering's budget; refused when it is spent or time is up."""
    left: int = getattr(eval_ctx, "bounded_steps", MAX_STEPS) - steps
    if left < 0:
        raise SecurityError(f"loops and calls went over the limit of {MAX_STEPS:,} steps in one rendering")
    eval_ctx.bounded_steps = left  # type: ignore[attr-defined]
    limits.tick()


@pass_eval_context
def _steps(eval_ctx: nodes.EvalContext, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        spend(eval_ctx)
        yield item


@pass_eval_context
def _concat(eval_ctx: nodes.EvalContext, parts: list[Any]) -> str:
    """`a ~ b`: measured first, joined as Jinja2 joins (escaping plain text next to markup in HTML)."""
    limits.concat_size(parts)
    joined = markup_join(parts) if eval_ctx.autoescape else str_join(parts)
    limits.sized(joined)
    return joined


def _compare(left: Any, *pairs: Any) -> bool:
    """`a < b < c` as `_compare(a, 'lt', b, 'lt', c)`: each pair through limits.compare, as Python chains them."""
    for i in range(0, len(pairs), 2):
        right = pairs[i + 1]
        if not limits.compare(left, pairs[i], right):
            return False
        left = right
    return True


def _slice(value: Any, start: Any, stop: Any, step: Any) -> Any:
    """`value[start:stop:step]`, counted as built (it copies)."""
    if isinstance(value, (str, list, tuple)):
        return limits.slice_of(value, slice(start, stop, step))
    return value[start:stop:step]


class _Bounded(NodeTransformer):
    """Rewrites loops, `~` and comparisons of a checked template to run through the bounds above."""

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802 - named after Jinja2's node class
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, STEPS_FILTER, [], [], None, None, lineno=node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802 - named after Jinja2's node class
        self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), CONCAT_FILTER, [], [], None, None, lineno=node.lineno)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:  # noqa: N802 - named after Jinja2's node class
        self.generic_visit(node)
        if not isinstance(node.arg, nodes.Slice):
            return node
        bounds = [part if part is not None else nodes.Const(None, lineno=node.lineno) for part in (node.arg.start, node.arg.stop, node.arg.step)]
        return nodes.Filter(node.node, SLICE_FILTER, bounds, [], None, None, lineno=node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:  # noqa: N802 - named after Jinja2's node class
        self.generic_visit(node)
        left, costly = node.expr, False
        for operand in node.ops:
            costly = costly or not (flat_literal(left) or flat_literal(operand.expr))
            left = operand.expr
        if not costly:
            return node
        args: list[nodes.Expr] = []
        for operand in node.ops:
            args += [nodes.Const(operand.op, lineno=node.lineno), operand.expr]
        return nodes.Filter(node.expr, COMPARE_FILTER, args, [], None, None, lineno=node.lineno)


def bound_tree(tree: nodes.Template, environment: Any) -> None:
    """Make a checked template's loops, `~`, slices and comparisons go through the bounds (in place)."""
    _Bounded().visit(tree)
    tree.set_environment(environment)


count_loops = bound_tree  # the name it had when it bounded loops only


def joined(chunks: Iterable[str], limit: int) -> str:
    """The rendered text, refused as soon as it goes over `limit` characters."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise SecurityError(f"the text went over the limit of {limit:,} characters")
        out.append(chunk)
    return "".join(out)


@pass_eval_context
def finalize(eval_ctx: nodes.EvalContext, value: Any) -> Any:
    """Every `{{ value }}` before it is printed: measured (a nested list prints long), and counted as built.

    It takes the evaluation context only so that Jinja2 calls it at run time,
    never while compiling (when no rendering's budget exists)."""
    limits.spend(len(value) if isinstance(value, str) else limits.text_size(value, MAX_OUTPUT))
    return value


def concat_output(parts: Iterable[str]) -> str:
    """The text of a macro or `{% set %}` block, measured before it is joined."""
    parts = list(parts)
    size = sum(map(len, parts))
    if size > MAX_OUTPUT:
        raise SecurityError(f"the text of a macro or block went over the limit of {MAX_OUTPUT:,} characters")
    limits.spend(size)
    return "".join(parts)


def modulo(left: Any, right: Any) -> Any:
    """`%` for numbers only: string formatting could build a text of any width."""
    if isinstance(left, str):
        raise SecurityError("string formatting with % is not allowed; use ~ to join text")
    return left % right


# filters -----------------------------------------------------------------------------------------
def _size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise SecurityError(f"{what} would make {size:,} characters, over the limit of {MAX_SIZE:,}")


@pass_eval_context
def _join(eval_ctx: nodes.EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    limits.attribute_path(attribute)
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    items = limits.listed(value)
    separator = limits.text_size(d)
    size = 0
    for item in items:
        size += limits.text_size(item, MAX_SIZE) + separator
        if size > MAX_SIZE + separator:
            _size(size - separator, "joining")
    out = do_join(eval_ctx, items, d)
    limits.sized(out)
    return out


@pass_eval_context
def _replace(eval_ctx: nodes.EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    size, before, after = limits.text_size(s), limits.text_size(old), limits.text_size(new)
    text, removed = limits.text(s), limits.text(old)
    times = text.count(removed) if before else size + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    _size(size + times * (after - before), "replacing")
    out = do_replace(eval_ctx, s, old, new, count)
    limits.sized(out)
    return out


def _count(name: str, keyword: str) -> Callable[..., Any]:
    def check(value: Any, *args: Any, **kwargs: Any) -> Any:
        count = args[0] if args else kwargs.get(keyword)
        if isinstance(count, int) and count > MAX_SIZE:
            raise SecurityError(f"{name} into {count:,} parts is over the limit of {MAX_SIZE:,}")
        return value

    return check


def _numbers_only(iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise SecurityError("sum adds numbers: its start must be a number")
    limits.attribute_path(attribute)
    return limits.listed(iterable)


def _text_input(value: Any, *args: Any, **kwargs: Any) -> Any:
    limits.text_size(value)  # the filter prints it before it reads it
    return value


def _number_input(value: Any, *args: Any, **kwargs: Any) -> Any:
    return limits.number_text(value)


def _rounding(value: Any, precision: Any = 0, method: Any = "common") -> Any:
    limits.precision(precision)
    return value


def _keys(attribute: Any) -> Callable[[Any], Any] | None:
    """The values a sort-like filter compares, looked up as data (never as Python attributes)."""
    if attribute is None:
        return None
    paths = [[int(p) if p.isdigit() else p for p in path.split(".")] for path in str(attribute).split(",")]

    def keys(item: Any) -> Any:
        found = []
        for path in paths:
            value = item
            for part in path:
                if isinstance(value, Mapping):
                    value = value.get(part)
                elif isinstance(value, (list, tuple)) and isinstance(part, int) and -len(value) <= part < len(value):
                    value = value[part]
                else:
                    value = None
            found.append(value)
        return found[0] if len(found) == 1 else found

    return keys


def _sorting(position: int) -> Callable[..., Any]:
    """For sort, unique, min, max, groupby: the items listed, their keys measured before they are compared."""

    def check(value: Any, *args: Any, **kwargs: Any) -> Any:
        attribute = kwargs.get("attribute", args[position] if len(args) > position else None)
        limits.attribute_path(attribute)
        return limits.ordered(value, _keys(attribute))

    return check


def _dictsort(value: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(value, Mapping):
        limits.ordered(list(value.keys()) + list(value.values()))
    return value


def _attribute_at(position: int | None, keyword: str | None = "attribute") -> Callable[..., Any]:
    def check(value: Any, *args: Any, **kwargs: Any) -> Any:
        given = [kwargs[keyword]] if keyword and keyword in kwargs else []
        if position is not None and len(args) > position:
            given.append(args[position])
        for attribute in given:
            limits.attribute_path(attribute)
        return value

    return check


def _reversible(value: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(value, (str, list, tuple)) or hasattr(value, "__reversed__"):
        return value
    return limits.listed(value)


def _guard(original: Callable[..., Any], prepare: Callable[..., Any] | None = None, *, builds: bool = False) -> Callable[..., Any]:
    """`original` behind the clock: its input passed through `prepare` first, what it builds counted after."""
    pass_arg = getattr(original, "jinja_pass_arg", None)
    skip = 0 if pass_arg is None else 1

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        limits.tick()
        if prepare is not None and len(args) > skip:
            args = (*args[:skip], prepare(*args[skip:], **kwargs), *args[skip + 1 :])
        result = original(*args, **kwargs)
        if builds and isinstance(result, (str, list)):
            limits.sized(result)
        return result

    return guarded


_TEXT_FILTERS = ("capitalize", "lower", "upper", "title", "trim", "striptags", "truncate", "escape", "e", "safe", "string", "urlencode", "wordcount")
_PREPARE: dict[str, tuple[Callable[..., Any] | None, bool]] = {
    **{name: (_text_input, True) for name in _TEXT_FILTERS},
    "list": (None, True),
    "batch": (_count("batch", "linecount"), False),
    "slice": (_count("slice", "slices"), False),
    "sum": (_numbers_only, False),
    "round": (_rounding, False),
    "int": (_number_input, False),
    "float": (_number_input, False),
    "sort": (_sorting(2), True),
    "unique": (_sorting(1), False),
    "min": (_sorting(1), False),
    "max": (_sorting(1), False),
    "groupby": (_sorting(0), True),
    "dictsort": (_dictsort, True),
    "map": (_attribute_at(None), False),
    "selectattr": (_attribute_at(0, None), False),
    "rejectattr": (_attribute_at(0, None), False),
    "reverse": (_reversible, True),
}


def _listed(value: Any) -> list[Any]:
    return limits.listed(value)


def filters(allowed: Mapping[str, Any]) -> dict[str, Any]:
    """Every allowed filter bounded (see the module docstring), and the filters `bound_tree` adds."""
    out: dict[str, Any] = {STEPS_FILTER: _steps, CONCAT_FILTER: _concat, COMPARE_FILTER: _compare, SLICE_FILTER: _slice}
    for name, original in allowed.items():
        if name == "join":
            out[name] = _join
        elif name == "replace":
            out[name] = _replace
        elif name == "list":
            out[name] = _guard(_listed)
        else:
            prepare, builds = _PREPARE.get(name, (None, False))
            out[name] = _guard(original, prepare, builds=builds)
    return out


# tests -------------------------------------------------------------------------------------------
_COMPARING = {"==": "eq", "eq": "eq", "equalto": "eq", "!=": "ne", "ne": "ne", ">": "gt", "gt": "gt", "greaterthan": "gt"}
_COMPARING.update({">=": "gteq", "ge": "gteq", "<": "lt", "lt": "lt", "lessthan": "lt", "<=": "lteq", "le": "lteq", "in": "in"})


def _comparing(op: str) -> Callable[[Any, Any], Any]:
    def test(value: Any, other: Any) -> Any:
        return limits.compare(value, op, other)

    return test


def tests(allowed: Mapping[str, Any]) -> dict[str, Any]:
    """The allowed tests, those that compare or print their value bounded like the filters."""
    out = dict(allowed)
    for name in allowed:
        if name in _COMPARING:
            out[name] = _comparing(_COMPARING[name])
        elif name in ("lower", "upper"):
            out[name] = _guard(allowed[name], _text_input)
    return out


def describe(obj: Any) -> str:
    """An object named in a refusal, without printing a value that could be huge."""
    if isinstance(obj, (str, list, tuple, Mapping)):
        return f"a {type(obj).__name__} value"
    try:
        limits.text_size(obj, 200)
    except ExpressionError:
        return f"a {type(obj).__name__} value"
    return repr(obj)
