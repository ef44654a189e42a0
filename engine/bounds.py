"""Bounds on one rendering of a template: steps, time, output, and filters that could build huge values.

The sandbox of `engine/templates.py` uses these so that no template, however
written, runs unbounded: every loop iteration and every call spends a step
(`spend`, at most MAX_STEPS per rendering, which must also finish within
MAX_SECONDS); output is counted while it is produced (`joined`); `%` formats
numbers only (`modulo`); and the
filters that can multiply their input (join, replace, batch, slice, sum) check
the size of what they would build before building it. Each refusal is a
SecurityError that says which limit was reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, do_replace, make_attrgetter
from jinja2.utils import pass_eval_context

from .expressions import MAX_SIZE

MAX_STEPS = 100_000  # loop iterations and calls in one rendering
MAX_SECONDS = 2.0  # one rendering's wall time, checked at every step
STEPS_FILTER = "_steps"  # the filter every {% for %} iterates through (added after the template was checked)


def spend(eval_ctx: nodes.EvalContext, steps: int = 1) -> None:
    """Count `steps` against this rendering's budget; SecurityError when it is spent or time is up."""
    left: int | None = getattr(eval_ctx, "bounded_steps", None)
    if left is None:
        left = MAX_STEPS
        eval_ctx.bounded_deadline = time.monotonic() + MAX_SECONDS  # type: ignore[attr-defined]
    left -= steps
    if left < 0:
        raise SecurityError(f"loops and calls went over the limit of {MAX_STEPS:,} steps in one rendering")
    if time.monotonic() > eval_ctx.bounded_deadline:  # type: ignore[attr-defined]
        raise SecurityError(f"the rendering went over the limit of {MAX_SECONDS:g} seconds")
    eval_ctx.bounded_steps = left  # type: ignore[attr-defined]


@pass_eval_context
def _steps(eval_ctx: nodes.EvalContext, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        spend(eval_ctx)
        yield item


def count_loops(tree: nodes.Template, environment: Any) -> None:
    """Make every `{% for %}` of a checked template iterate through the step counter."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, STEPS_FILTER, [], [], None, None, lineno=loop.iter.lineno)
    tree.set_environment(environment)


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


def modulo(left: Any, right: Any) -> Any:
    """`%` for numbers only: string formatting could build a text of any width."""
    if isinstance(left, str):
        raise SecurityError("string formatting with % is not allowed; use ~ to join text")
    return left % right


def _size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise SecurityError(f"{what} would make {size:,} characters, over the limit of {MAX_SIZE:,}")


@pass_eval_context
def _join(eval_ctx: nodes.EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    items = list(value)
    _size(sum(len(i) if isinstance(i, str) else len(str(i)) for i in items) + len(str(d)) * max(len(items) - 1, 0), "joining")
    return do_join(eval_ctx, items, d)


@pass_eval_context
def _replace(eval_ctx: nodes.EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    text, before, after = str(s), str(old), str(new)
    times = text.count(before) if before else len(text) + 1
    if count is not None and count >= 0:
        times = min(times, count)
    _size(len(text) + times * (len(after) - len(before)), "replacing")
    return do_replace(eval_ctx, s, old, new, count)


def _guard(original: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    """`original` with `check` run on its arguments first (after the context Jinja2 passes, if any)."""
    pass_arg = getattr(original, "jinja_pass_arg", None)
    skip = 0 if pass_arg is None else 1

    def guarded(*args: Any, **kwargs: Any) -> Any:
        check(*args[skip:], **kwargs)
        return original(*args, **kwargs)

    if pass_arg is not None:
        guarded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return guarded


def _count(name: str, keyword: str) -> Callable[..., None]:
    def check(value: Any, *args: Any, **kwargs: Any) -> None:
        count = args[0] if args else kwargs.get(keyword)
        if isinstance(count, int) and count > MAX_SIZE:
            raise SecurityError(f"{name} into {count:,} parts is over the limit of {MAX_SIZE:,}")

    return check


def _numbers_only(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise SecurityError("sum adds numbers: its start must be a number")


def filters(allowed: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Bounded versions of the allowed filters that could build huge values, and the loop step counter."""
    out: dict[str, Callable[..., Any]] = {STEPS_FILTER: _steps}
    if "join" in allowed:
        out["join"] = _join
    if "replace" in allowed:
        out["replace"] = _replace
    for name, keyword in (("batch", "linecount"), ("slice", "slices")):
        if name in allowed:
            out[name] = _guard(allowed[name], _count(name, keyword))
    if "sum" in allowed:
        out["sum"] = _guard(allowed["sum"], _numbers_only)
    return out
