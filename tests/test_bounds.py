"""Every condition and template runs within its bounds, however written (issue 13, finding 4).

Hypothesis writes hostile conditions and templates from a grammar of the
operations that grow values or walk them: `*`, `~`, `+`, `**`, list building,
`join`, `string`, `replace`, `lower`, `sort`, `round` with huge precisions,
comparisons and `in` between built values, and, in templates, loops, macros,
`{% set %}` and `{% set %}` blocks accumulating what they build. Each one is
compiled and run in a forked child with no memory limit (a limit would hide
what a real process suffers): the child measures how long the run took and its
peak memory (VmHWM, reset when it starts), and the parent stops it if it
outlives a generous safety net. Property: every example is refused when it
compiles, or runs to a value or a clear ExpressionError, within the engine's
time bound (engine/conditions/limits.py MAX_SECONDS, plus scheduling slack) and under
PEAK bytes of added memory. The figures go to docs/reliability.md.

Also: every filter and test a template may use, given values built to be as
costly as possible, answers or refuses within the same bounds; and the budget
of one evaluation never leaks into the next.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections import Counter
from typing import Any

import pytest
from conftest import figures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow.conditions import limits
from clientflow.conditions.expressions import CompileError, Compiler
from clientflow.conditions.templates import SAFE_TEMPLATE_FILTERS, Texts
from clientflow.errors import ExpressionError

SOAK = os.environ.get("CLIENTFLOW_SOAK", "") not in ("", "0")
EXAMPLES = 60 * (20 if SOAK else 1)
SAFETY = 30.0  # seconds before the parent kills a child: a hang, whatever the machine's load
SLACK = 3.0  # seconds over MAX_SECONDS a run may take on a loaded 2-core machine (the last costly step, scheduling)
PEAK = 100 << 20  # bytes of memory a run may add at its peak
NAMES = {"s", "n", "l", "d", "big"}
SCOPE: dict[str, Any] = {
    "s": "x" * 1000,
    "n": 7,
    "l": [{"a": i, "b": "y" * 10} for i in range(100)],
    "d": {"a": 1, "b": [1, 2, 3]},
    "big": ["z" * 100] * 10_000,
}
FIGURES: Counter[str] = Counter()
SLOWEST: dict[str, float] = {"seconds": 0.0, "peak": 0.0}


summary = figures(
    lambda: (
        f"bounds: {FIGURES['tried']} hostile examples generated ({FIGURES['condition']} conditions, {FIGURES['template']} templates; "
        f"{FIGURES['compile']} refused when compiled, {FIGURES['refused']} refused when run, {FIGURES['ran']} ran to a value), "
        f"no memory limit: slowest {SLOWEST['seconds']:.2f} s (bound {limits.MAX_SECONDS:g} s), "
        f"peak memory added at most {SLOWEST['peak'] / (1 << 20):.1f} MB (bound {PEAK >> 20} MB){' (soak)' if SOAK else ''}"
    )
)


# running one example in a child ------------------------------------------------------------------
def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(key))


def _child(kind: str, source: str, conn: Any) -> None:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")  # the peak (VmHWM) starts again from what the child holds now
        start = _status("VmRSS:")
        outcome, detail = "ran", ""
        try:
            if kind == "template":
                compiled: Any = Texts().compile(source, NAMES)
            else:
                compiled = Compiler().compile(source, NAMES)
        except CompileError as exc:
            outcome, detail = "compile", str(exc)
        began = time.perf_counter()
        if outcome == "ran":
            try:
                compiled.render(SCOPE) if kind == "template" else compiled(SCOPE)
            except ExpressionError as exc:
                outcome, detail = "refused", str(exc)
        seconds = time.perf_counter() - began
        conn.send({"outcome": outcome, "detail": detail[:300], "seconds": seconds, "peak": max(_status("VmHWM:") - start, 0)})
    except BaseException:  # noqa: BLE001 - anything else is the finding
        conn.send({"outcome": "crash", "detail": traceback.format_exc()})


def run_bounded(kind: str, source: str) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(kind, source, send))
    child.start()
    send.close()
    try:
        if not receive.poll(SAFETY):
            pytest.fail(f"still running after {SAFETY:g}s: {source[:300]!r}")
        return dict(receive.recv())
    except EOFError:
        pytest.fail(f"the child died (exit code {child.exitcode}): {source[:300]!r}")
    finally:
        if child.is_alive():
            child.kill()
        child.join()


def check(kind: str, source: str) -> dict[str, Any]:
    result = run_bounded(kind, source)
    assert result["outcome"] != "crash", f"{source!r}\n{result['detail']}"
    FIGURES["tried"] += 1
    FIGURES[kind] += 1
    FIGURES[result["outcome"]] += 1
    if result["outcome"] != "compile":
        SLOWEST["seconds"] = max(SLOWEST["seconds"], result["seconds"])
    SLOWEST["peak"] = max(SLOWEST["peak"], result["peak"])
    assert result["seconds"] < limits.MAX_SECONDS + SLACK, f"took {result['seconds']:.1f}s: {source[:300]!r}"
    assert result["peak"] < PEAK, f"added {result['peak'] >> 20} MB at its peak: {source[:300]!r}"
    return result


# the grammar -------------------------------------------------------------------------------------
COUNTS = st.sampled_from(["2", "10", "1000", "99999", "100000", "1000000000"])
ATOMS = st.sampled_from(["'x'", "'<&'", "s", "n", "l", "d", "big", "1", "2.5", "[1, 2]", "[]", "none", "'x' * 99999", "[s] * 100000"])
FILTERS = st.sampled_from(
    [
        "string",
        "join",
        "join(', ')",
        "lower",
        "upper",
        "trim",
        "list",
        "sort",
        "unique",
        "first",
        "last",
        "length",
        "min",
        "max",
        "abs",
        "int",
        "round(-20000000)",
        "round(2)",
        "round(100000000)",
        "map(attribute='a')",
        "selectattr('a')",
        "sum",
        "default('y' * 99999)",
    ]
)
TEMPLATE_FILTERS = st.sampled_from(
    [
        "replace('x', s)",
        "replace('', s)",
        "reverse",
        "title",
        "batch(1000)",
        "slice(100000)",
        "truncate(100000)",
        "wordcount",
        "escape",
        "dictsort",
        "groupby('a')",
        "urlencode",
        "int(base=16)",
    ]
)


def expressions(filters: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda a, k: f"({a} * {k})", inner, COUNTS),
            st.builds(lambda a, b: f"({a} ~ {b})", inner, inner),
            st.builds(lambda a, b: f"({a} + {b})", inner, inner),
            st.builds(lambda a, b: f"[{a}, {b}, {a}]", inner, inner),
            st.builds(lambda a, k: f"([{a}] * {k})", inner, COUNTS),
            st.builds(lambda a, f: f"({a} | {f})", inner, filters),
            st.builds(lambda a, b, op: f"({a} {op} {b})", inner, inner, st.sampled_from(["==", "!=", "<", ">=", "in", "not in"])),
            st.builds(lambda a, k: f"({a} ** {k})", inner, st.sampled_from(["2", "64", "300", "n"])),
        )

    return st.recursive(ATOMS, grow, max_leaves=8)


CONDITIONS = expressions(FILTERS).map(lambda e: f"({e}) | length > 0" if "|" not in e[-12:] else f"({e}) is not none")
TEMPLATE_EXPRESSIONS = expressions(st.one_of(FILTERS, TEMPLATE_FILTERS))


@st.composite
def templates(draw: st.DrawFn) -> str:
    def expr() -> str:
        return draw(TEMPLATE_EXPRESSIONS)

    def body(depth: int) -> str:
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["print", "set", "grow", "loop", "macro", "block"] if depth < 2 else ["print", "set", "grow"]))
            if kind == "print":
                parts.append(f"{{{{ {expr()} }}}}")
            elif kind == "set":
                parts.append(f"{{% set v = {expr()} %}}")
            elif kind == "grow":
                parts.append(f"{{% set v = v ~ {expr()} %}}{{% set w = w + [{expr()}] %}}")
            elif kind == "loop":
                parts.append(f"{{% for i in range({draw(COUNTS)}) %}}{body(depth + 1)}{{% endfor %}}")
            elif kind == "macro":
                parts.append(f"{{% macro m{depth}() %}}{body(depth + 1)}{{% endmacro %}}{{{{ m{depth}() }}}}{{{{ m{depth}() | length }}}}")
            else:
                parts.append(f"{{% set b{depth} %}}{body(depth + 1)}{{% endset %}}{{{{ b{depth} ~ b{depth} }}}}")
        return "".join(parts)

    return "{% set v = '' %}{% set w = [] %}" + body(0)


PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=not SOAK, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(source=CONDITIONS)
def test_any_condition_runs_within_its_bounds(source: str) -> None:
    check("condition", source)


@PROPERTY
@given(source=templates())
def test_any_template_runs_within_its_bounds(source: str) -> None:
    check("template", source)


# every filter and test -----------------------------------------------------------------------------
COSTLY = {
    "aliased": "[[1] * 100000] * 100000",
    "long text": "'<' * 100000",
    "long list": "['ab'] * 100000",
    "nested dicts": "[{'a': [1] * 100000, 'b': 'x'}] * 1000",
}
ARGUMENTS = {
    "join": "('y' * 99999)",
    "replace": "'<', ('&' * 1000)",
    "batch": "100000, 'x'",
    "slice": "100000, 'x'",
    "round": "-20000000",
    "truncate": "100000",
    "selectattr": "'a'",
    "rejectattr": "'a'",
    "groupby": "'a'",
    "map": "attribute='a'",
    "sum": "start=1",
    "default": "'x' * 99999",
    "d": "'x' * 99999",
}


@pytest.mark.parametrize("value", COSTLY, ids=list(COSTLY))
@pytest.mark.parametrize("name", sorted(SAFE_TEMPLATE_FILTERS))
def test_every_template_filter_is_bounded(name: str, value: str) -> None:
    arguments = f"({ARGUMENTS[name]})" if name in ARGUMENTS else ""
    check("template", f"{{% set r = ({COSTLY[value]}) | {name}{arguments} %}}{{{{ r | string | length }}}}{{{{ r }}}}{{{{ r == r }}}}")


@pytest.mark.parametrize("test", ["eq", "ne", "lt", "gt", "le", "ge", "in", "lower", "upper", "sameas", "sequence", "string", "number"])
def test_every_comparing_test_is_bounded(test: str) -> None:
    other = "" if test in ("lower", "upper", "sequence", "string", "number") else " ([[1] * 100000] * 1000)"
    check(
        "template",
        f"{{{{ ([[1] * 100000] * 1000) is {test}{other} }}}}{{{{ (['x' * 1000] * 1000) | select('{test}'{',' + other if other else ''}) | list | length }}}}",
    )


# one evaluation's budget never leaks into the next --------------------------------------------------
def test_each_evaluation_starts_with_a_fresh_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(limits.time, "monotonic", lambda: clock[0])
    condition = Compiler().compile("(s * 2) | length > 0 and (l | sort(attribute='a') | length) > 0", NAMES)
    template = Texts().compile("{% for i in range(3) %}{{ s ~ i }}{% endfor %}", NAMES)
    fast = Texts().compile("{{ s ~ n }}", NAMES)
    for _ in range(3):
        assert condition(SCOPE) is True
        assert template.render(SCOPE).count("x" * 1000) == 3 and fast.render(SCOPE) == "x" * 1000 + "7"
        clock[0] += limits.MAX_SECONDS * 10  # long after the last evaluation's deadline
    slow = Compiler().compile("((s * 2) ~ (s * 2)) | length > 0", NAMES)
    monkeypatch.setattr(limits.time, "monotonic", lambda: clock.__setitem__(0, clock[0] + 1.5) or clock[0])  # each look at the clock: 1.5 s later
    with pytest.raises(ExpressionError, match="over the limit of 2 seconds"):
        slow(SCOPE)


def test_a_run_of_heavy_operations_stops_at_the_time_bound() -> None:
    """Work that is allowed step by step, but too much in all, ends at MAX_SECONDS (not at a size bound)."""
    source = "{% for i in range(100000) %}{% if ((s * 99) | sort | length) < 0 %}{% endif %}{% endfor %}"
    result = check("template", source)
    assert result["outcome"] == "refused" and ("seconds" in result["detail"] or "built more than" in result["detail"]), result


# every evaluation spends a budget of its own ------------------------------------------------------------------------------
NESTED = st.recursive(st.one_of(st.integers(-3, 3), st.text(max_size=3), st.none()), lambda inner: st.lists(inner, max_size=4), max_leaves=30)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(["a == b", "a != b", "a is none or a == b", "b is none or a == b", "a == b and b == a", "a < b", "(a ~ 'x') == b"]),
    a=NESTED,
    b=NESTED,
    left=st.sampled_from(["exhausted", "past its time", "fresh"]),
)
def test_a_condition_spends_its_own_budget_whatever_the_one_before_left(source: str, a: Any, b: Any, left: str) -> None:
    """A condition's budget starts afresh before the first step that spends it (a comparison of two large values, a
    concatenation), wherever in the condition that step is: what an earlier evaluation left of its own budget (spent
    out, or past its time) changes nothing in its answer or its refusal."""
    expression = Compiler().compile(source, {"a", "b"})

    def outcome(stale: str) -> tuple[str, Any]:
        limits.fresh()
        if stale != "fresh":
            budget = limits._budget()
            if stale == "exhausted":
                budget.left = -1
            else:
                budget.deadline = time.monotonic() - 1
        try:
            return "value", expression({"a": a, "b": b})
        except ExpressionError as exc:
            return "refused", str(exc)

    assert outcome(left) == outcome("fresh")
