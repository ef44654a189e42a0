"""Bounds on one evaluation of a condition or a template: what it may build, walk and spend.

Conditions (engine/conditions/expressions.py) and templates (engine/conditions/templates.py, through
engine/conditions/bounds.py) route every operation that can grow a value or walk a large
one through this module, which measures the cost *before* paying it:

- a text or list built by one operation (`+`, `~`, `*`, joins, conversions to
  text) holds at most MAX_SIZE characters or items;
- printing, comparing, sorting or passing a value to a function walks at most
  MAX_CELLS values through every level of nesting, counting a value each time
  it is reached (a list repeated by `*` costs what it would cost written out);
- one evaluation builds at most MAX_BUILT characters and items in all, so that
  values kept in variables or lists cannot add up without bound;
- one evaluation runs at most MAX_SECONDS, checked before each costly step;
- numbers: at most MAX_BITS bits from arithmetic, precisions within
  MAX_PRECISION, texts of at most MAX_NUMBER_TEXT characters read as numbers.

The budget (time and what was built) is per thread and starts afresh with each
evaluation: generated code calls `fresh()` first, and the clock starts at the
first costly step. Every refusal is an ExpressionError saying which limit.
"""

from __future__ import annotations

import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ExpressionError

MAX_SIZE = 100_000  # characters of a text, items of a list, built by one operation
MAX_CELLS = 100_000  # values walked through every level of nesting to print, compare or sort one value
MAX_BUILT = 5_000_000  # characters and items built in one evaluation, all operations together
MAX_SECONDS = 2.0  # one evaluation of a condition or one rendering of a template
MAX_OUTPUT = 200_000  # characters one rendering of a template may produce
MAX_BITS = 256  # the largest number arithmetic may make
MAX_PRECISION = 300  # digits round() may keep or drop
MAX_NUMBER_TEXT = 1_000  # characters of a text read as a number
MAX_SCAN = 100_000_000  # characters compared looking for a text in a list (`in`)

FLAT = frozenset({str, int, float, bool, type(None)})  # values compared, hashed and printed in one step (or a memcmp)


class _Budget:
    __slots__ = ("deadline", "left")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_SECONDS
        self.left = MAX_BUILT


class _State(threading.local):
    budget: _Budget | None = None


_state = _State()


def fresh() -> bool:
    """Start a new evaluation's budget; True, so generated code can write `_fresh() and (...)`."""
    _state.budget = None
    return True


def _budget() -> _Budget:
    budget = _state.budget
    if budget is None:
        budget = _state.budget = _Budget()
    return budget


def tick() -> None:
    """Refuse once this evaluation has run out of time."""
    if time.monotonic() > _budget().deadline:
        raise ExpressionError(f"the evaluation went over the limit of {MAX_SECONDS:g} seconds")


def spend(built: int) -> None:
    """Count `built` characters or items against this evaluation's budget, and check the clock."""
    budget = _state.budget  # `_budget()`, written out: every filter that builds comes here
    if budget is None:
        budget = _state.budget = _Budget()
    budget.left -= built
    if budget.left < 0:
        raise ExpressionError(f"the evaluation built more than {MAX_BUILT:,} characters and items in all, over the limit")
    if time.monotonic() > budget.deadline:
        raise ExpressionError(f"the evaluation went over the limit of {MAX_SECONDS:g} seconds")


# measuring without building ---------------------------------------------------------------------
def _too_big(what: str, limit: int) -> ExpressionError:
    return ExpressionError(f"{what} over the limit of {limit:,}")


def cells(value: Any, limit: int = MAX_CELLS, doing: str = "reading") -> int:
    """How many values `value` holds through every level (each counted once per path to it); refused past `limit`."""
    if value.__class__ in FLAT:
        return 1
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            raise ExpressionError(f"{doing} a value of more than {limit:,} items, counted through every level of nesting, is over the limit")
        if item.__class__ in FLAT or isinstance(item, str):
            continue
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return count


def _digits(number: int) -> int:
    return number.bit_length() * 30103 // 100000 + 2  # an upper bound of len(str(number))


def text_size(value: Any, limit: int = MAX_SIZE) -> int:
    """An upper bound of `len(str(value))`, worked out without building it; refused past `limit`."""
    if isinstance(value, str):
        size = len(value)
        if size > limit:
            raise _too_big(f"a text of {size:,} characters is", limit)
        return size
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = item.__class__
        if isinstance(item, str):  # inside a list or mapping: printed with quotes and escapes
            if len(item) > limit:
                raise _too_big(f"a text of {len(item):,} characters is", limit)
            total += len(item) + 2 if item.isprintable() and "\\" not in item else 10 * len(item) + 2
        elif kind is bool or item is None:
            total += 5
        elif isinstance(item, int):
            total += _digits(item)
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:  # the engine's own small objects (a function, a macro, a moment)
            total += len(repr(item))
        if total > limit:
            raise ExpressionError(f"printing this value makes a text of more than {limit:,} characters, over the limit")
    return total


def text(value: Any, limit: int = MAX_SIZE) -> str:
    """`str(value)`, measured first and counted against the budget."""
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    text_size(value, limit)
    out = str(value)
    spend(len(out))
    return out


def check_args(args: Iterable[Any]) -> None:
    """Refuse arguments a function would take too long to read (each walked at most MAX_CELLS values)."""
    for arg in args:
        if arg.__class__ not in FLAT:
            cells(arg, MAX_CELLS, "passing")


# operations that build -------------------------------------------------------------------------
def within(value: Any) -> Any:
    """A value refused when it is over a size limit (a constant where it is written, a value just built)."""
    if isinstance(value, (str, list, tuple)):
        if len(value) > MAX_SIZE:
            raise ExpressionError(f"a value of {len(value):,} items is over the limit of {MAX_SIZE:,}")
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_BITS:
        raise ExpressionError(f"a number over {MAX_BITS} bits is over the limit")
    return value


def sized(value: Any) -> Any:
    """A value just built: refused when it is over a size limit, counted against the budget otherwise."""
    if value.__class__ is list or isinstance(value, (str, list, tuple)):  # `within`'s check of these, written out
        if len(value) > MAX_SIZE:
            raise ExpressionError(f"a value of {len(value):,} items is over the limit of {MAX_SIZE:,}")
        spend(len(value))
        return value
    return within(value)


def mul(a: Any, b: Any) -> Any:
    """`a * b`: a repeated text or list measured before it is built."""
    for seq, times in ((a, b), (b, a)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
            if len(seq) * max(times, 0) > MAX_SIZE:
                raise ExpressionError(f"repeating a value {times:,} times is over the limit of {MAX_SIZE:,} items")
            return sized(a * b)
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_BITS + 1:
        raise ExpressionError(f"a number over {MAX_BITS} bits is over the limit")
    return sized(a * b)


def add(a: Any, b: Any) -> Any:
    """`a + b`: joined texts and lists measured before they are built."""
    if isinstance(a, (str, list, tuple)) and isinstance(b, (str, list, tuple)) and len(a) + len(b) > MAX_SIZE:
        raise ExpressionError(f"a value of {len(a) + len(b):,} items is over the limit of {MAX_SIZE:,}")
    return sized(a + b)


def power(a: Any, b: Any) -> Any:
    """`a ** b` for numbers whose result stays within MAX_BITS."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if abs(b) > MAX_BITS:
            raise ExpressionError("a power that large is over the limit")
        if abs(a) > 1 and abs(b) * math.log2(abs(a) + 1) > MAX_BITS:
            raise ExpressionError("a power that large is over the limit")
    return sized(a**b)


def concat_size(parts: Iterable[Any]) -> int:
    """The length of the text `a ~ b ~ ...` would make, refused past MAX_SIZE before it is made."""
    size = 0
    for part in parts:
        size += text_size(part, MAX_SIZE)
        if size > MAX_SIZE:
            raise ExpressionError(f"joining these makes a text of more than {MAX_SIZE:,} characters, over the limit")
    return size


def concat(parts: Iterable[Any]) -> str:
    """`a ~ b ~ ...`: every part printed (none prints as None), measured before the text is joined."""
    parts = list(parts)
    spend(concat_size(parts))
    return "".join(part if part.__class__ is str else str(part) for part in parts)


def join(parts: Iterable[Any], sep: Any = "") -> str:
    """`sep.join(parts)` with every part printed, measured before the text is built."""
    sep = text(sep)
    texts = []
    size = 0
    for part in parts:
        size += text_size(part, MAX_SIZE) + len(sep)
        if size > MAX_SIZE + len(sep):
            raise ExpressionError(f"joining these makes a text over the limit of {MAX_SIZE:,} characters")
        texts.append(part if part.__class__ is str else str(part))
    spend(size)
    return sep.join(texts)


def listed(items: Any, limit: int = MAX_SIZE) -> list[Any]:
    """`list(items)`, refused as soon as it would hold more than `limit` items."""
    if hasattr(items, "__len__") and len(items) > limit:
        raise ExpressionError(f"a list of {len(items):,} items is over the limit of {limit:,}")
    if items.__class__ is list:  # its length was checked: the loop below would copy it whole
        spend(len(items))
        return items.copy()
    out = []
    for item in items:
        out.append(item)
        if len(out) > limit:
            raise ExpressionError(f"a list of more than {limit:,} items is over the limit")
    spend(len(out))
    return out


def slice_of(container: Any, index: slice) -> Any:
    """`container[a:b:c]`, counted against the budget (it copies)."""
    value = container[index]
    if value is not container and isinstance(value, (str, list, tuple)):
        spend(len(value))
    return value


# comparing -------------------------------------------------------------------------------------
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def compare(a: Any, op: str, b: Any) -> Any:
    """`a <op> b`, where two nested values are walked (at most MAX_CELLS values each) before they are compared.

    A flat value (text, number, true/false, none) on either side compares in one
    step, except as the left side of `in`, whose right side is then walked.
    """
    if b.__class__ in FLAT or (a.__class__ in FLAT and op not in ("in", "notin")):
        return COMPARISONS[op](a, b)
    if a.__class__ in FLAT:  # `in`: a key in a mapping (hashed), or one scan of a list comparing flat values
        if isinstance(b, (list, tuple)) and isinstance(a, str) and len(a) * len(b) > MAX_SCAN:
            raise _too_big(f"looking for a text of {len(a):,} characters in {len(b):,} values is", MAX_SCAN)
        return COMPARISONS[op](a, b)
    cells(a, MAX_CELLS, "comparing")
    cells(b, MAX_CELLS, "comparing")
    tick()
    return COMPARISONS[op](a, b)


def ordered(items: Any, keys: Callable[[Any], Any] | None = None) -> list[Any]:
    """The items to sort (or take the least or greatest of), refused when sorting them could run long."""
    items = listed(items)
    values = items if keys is None else [keys(i) for i in items]
    if any(v.__class__ not in FLAT for v in values):
        cells(values, MAX_CELLS, "sorting")
    tick()
    return items


# numbers ---------------------------------------------------------------------------------------
def precision(digits: Any) -> Any:
    """A round() precision within MAX_PRECISION digits either way."""
    if isinstance(digits, int) and not isinstance(digits, bool) and abs(digits) > MAX_PRECISION:
        raise ExpressionError(f"rounding to {digits:,} digits is over the limit of {MAX_PRECISION} either way")
    return digits


def number_text(value: Any) -> Any:
    """A value about to be read as a number: a text of at most MAX_NUMBER_TEXT characters."""
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise ExpressionError(f"reading a text of {len(value):,} characters as a number is over the limit of {MAX_NUMBER_TEXT:,}")
    return value


# look-ups through filters ----------------------------------------------------------------------
def attribute_path(attribute: Any) -> Any:
    """An `attribute=` argument of map, selectattr, sort, join...: a key (text or a whole number), no part starting with `_`."""
    if attribute is not None and not isinstance(attribute, (str, int)):
        raise ExpressionError(f"an attribute names a key, as text; not {type(attribute).__name__} {text(attribute, 60)[:60]}")
    if isinstance(attribute, str):
        for part in attribute.replace(",", ".").split("."):
            if part.strip().startswith("_"):
                raise ExpressionError(f"{part.strip()!r} cannot be looked up: names starting with _ are not data")
    return attribute
