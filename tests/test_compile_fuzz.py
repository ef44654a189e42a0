"""Generated code is valid for every input that validates (issue 13, finding 6).

Conditions and templates become Python source (engine/conditions/expressions.py,
engine/conditions/fasttext.py, the rulebook) or Jinja2's own generated code. Hypothesis
writes conditions and templates from a wide grammar: numbers too large for a
float (`1e999`), huge whole numbers, texts with quotes and line breaks, keyword
arguments that repeat or are Python words (`if=1`), unknown keywords, deep
brackets and deeply nested blocks, chained comparisons, slices, calls,
conditional expressions. Property: each either fails to compile with a
CompileError (a message, and for templates a line), or compiles and runs on
data to a value or an ExpressionError; never any other exception
(`unexpected NameError`, `SyntaxError`, `IndentationError`, ...). The same
texts, put into a small project, either fail `load_project` with every problem
located `path:line:col`, or load, and then `available` (the rulebook) and
`simulate` answer or raise a ClientflowError.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from typing import Any

import pytest
from conftest import figures
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.conditions.expressions import CompileError, Compiler
from clientflow.conditions.templates import Texts
from clientflow.errors import ClientflowError, DefinitionError, ExpressionError

NAMES = {"team", "actor"}
SCOPE: dict[str, Any] = {
    "team": {"id": "t1", "name": "Alpha", "size": 3, "tags": ["a", "b"], "members": [{"id": "m1", "email": "m1@alpha.example", "role": "admin"}]},
    "actor": {"id": "m1", "role": "admin", "email": "m1@alpha.example"},
}
LOCATED = re.compile(r"^(?P<path>[^\n]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$", re.S)
TALLY: Counter[str] = Counter()


summary = figures(
    lambda: (
        f"compile fuzz: {TALLY['condition']} conditions ({TALLY['condition refused']} refused when compiled, the rest ran), "
        f"{TALLY['template']} templates as text and HTML ({TALLY['template refused']} refused when compiled, with a line), "
        f"{TALLY['project']} generated projects ({TALLY['project refused']} refused with every problem located, the rest answered); "
        "0 other exceptions"
    )
)


GOOD_CONSTANTS = st.one_of(
    st.sampled_from(["1e308", "2.5", "0", "-1", "none", "true", "false", "''", '"\\n"', "'a\\'b'"]),
    st.integers(-(10**30), 10**30).map(str),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6).map(repr),
)
BAD_CONSTANTS = st.one_of(
    st.sampled_from(["1e999", "-1e999", "10 ** 400"]), st.integers(77, 400).map(lambda d: "9" * d), st.integers(4290, 4400).map(lambda d: "9" * d)
)


def weighted(good: st.SearchStrategy[str], bad: st.SearchStrategy[str], ratio: int) -> st.SearchStrategy[str]:
    """`good` `ratio` times out of `ratio + 1`: the grammar should compile often, and now and then not."""
    return st.integers(0, ratio).flatmap(lambda i: bad if i == 0 else good)


CONSTANTS = weighted(GOOD_CONSTANTS, BAD_CONSTANTS, 30)


# mostly what a project may write, now and then what it may not
def mostly(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    return weighted(st.sampled_from(good), st.sampled_from(bad), 20)


LOOKUPS = mostly(
    ["team", "team.name", "team.size", "team.tags", "team.members", "actor.role", "team['name']", "team.tags[0]", "team.tags[team.size]", "team.nothing"],
    ["lookup('team', 't1')", "team._secret", "team['__class__']", "unknown"],
)
KEYWORDS = mostly(["boolean", "attribute", "start", "reverse"], ["if", "class", "None", "x", "for", "lambda", "case_sensitive"])
FILTER_NAMES = mostly(
    [
        "length",
        "default",
        "d",
        "join",
        "map",
        "selectattr",
        "sort",
        "sum",
        "round",
        "int",
        "float",
        "string",
        "lower",
        "first",
        "last",
        "unique",
        "list",
        "min",
        "max",
        "abs",
        "trim",
        "count",
    ],
    ["replace", "nope", "attr", "format"],
)
TEST_NAMES = mostly(["defined", "none", "eq", "in", "gt", "lower", "string", "number", "odd"], ["sameas", "callable", "nope"])


def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keywords = st.one_of(st.just([]), st.just([]), st.just([]), st.lists(st.tuples(KEYWORDS, inner), min_size=1, max_size=3))
    arguments = st.tuples(st.lists(inner, max_size=2), keywords)

    def call(name: str, args: tuple[list[str], list[tuple[str, str]]]) -> str:
        positional, keywords = args
        parts = positional + [f"{k}={v}" for k, v in keywords]
        return f"{name}({', '.join(parts)})" if parts or name.startswith("lookup") else name

    return st.one_of(
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "~", "and", "or"]), inner),
        st.builds(
            lambda a, op, b, op2, c: f"{a} {op} {b} {op2} {c}",
            inner,
            st.sampled_from(["==", "<", "in", "!="]),
            inner,
            st.sampled_from(["<", ">=", "not in"]),
            inner,
        ),
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a: f"-{a}", inner),
        st.builds(lambda a, f, args: f"({a} | {call(f, args)})", inner, FILTER_NAMES, arguments),
        st.builds(lambda a, t, args: f"({a} is {call(t, args)})", inner, TEST_NAMES, arguments),
        st.builds(lambda a, b, c: f"({a} if {b} else {c})", inner, inner, inner),
        st.builds(lambda a, b: f"[{a}, {b}]", inner, inner),
        st.builds(lambda a, b: f"{{'k': {a}, {b}: 1}}", inner, inner),
        st.builds(lambda a, b: f"{a}[{b}]", inner, inner),
        st.builds(lambda a: f"{a}[1:2]", inner),
        st.builds(lambda args: call("lookup", args), arguments),
        st.builds(lambda a, depth: "(" * depth + a + ")" * depth, inner, st.integers(1, 60)),
    )


EXPRESSIONS = st.recursive(st.one_of(CONSTANTS, LOOKUPS), grow, max_leaves=10)


@st.composite
def templates(draw: st.DrawFn) -> str:
    def body(depth: int) -> str:
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["text", "print", "if", "for", "set", "macro", "with", "filter", "deep"]))
            e = draw(EXPRESSIONS)
            if kind == "text":
                parts.append(draw(weighted(st.sampled_from(["Hello ", "\n", "'", "\\", "}"]), st.sampled_from(["{", "{#", "{%"]), 10)))
            elif kind == "print":
                parts.append(f"{{{{ {e} }}}}")
            elif kind == "deep":
                n = draw(st.integers(10, 130))
                block = draw(st.sampled_from([("{% if true %}", "{% endif %}"), ("{% for i in [1] %}", "{% endfor %}"), ("{% with a = 1 %}", "{% endwith %}")]))
                parts.append(block[0] * n + f"{{{{ {e} }}}}" + block[1] * n)
            elif depth > 3:
                parts.append(f"{{{{ {e} }}}}")
            elif kind == "if":
                parts.append(f"{{% if {e} %}}{body(depth + 1)}{{% elif {e} %}}x{{% else %}}{body(depth + 1)}{{% endif %}}")
            elif kind == "for":
                parts.append(f"{{% for item in {e} %}}{{{{ loop.index }}}}{body(depth + 1)}{{% endfor %}}")
            elif kind == "set":
                parts.append(f"{{% set v = {e} %}}{{{{ v }}}}")
            elif kind == "macro":
                parts.append(f"{{% macro m(a, b=1) %}}{body(depth + 1)}{{% endmacro %}}{{{{ m({e}) }}}}")
            elif kind == "with":
                parts.append(f"{{% with w = {e} %}}{body(depth + 1)}{{% endwith %}}")
            else:
                parts.append(f"{{% filter upper %}}{body(depth + 1)}{{% endfilter %}}")
        return "".join(parts)

    return body(0)


FUZZ = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(source=EXPRESSIONS)
def test_any_condition_compiles_and_runs_or_is_refused(source: str) -> None:
    TALLY["condition"] += 1
    try:
        expression = Compiler(["lookup"]).compile(source, NAMES)
    except CompileError as exc:
        assert str(exc)
        TALLY["condition refused"] += 1
        return
    try:
        expression({**SCOPE, "lookup": lambda *a, **k: None})
    except ExpressionError:
        pass


@FUZZ
@given(source=templates())
def test_any_template_compiles_and_renders_or_is_refused(source: str) -> None:
    for html in (False, True):
        TALLY["template"] += 1
        try:
            template = Texts(functions={"lookup": lambda *a, **k: None}).compile(source, NAMES, html=html)
        except CompileError as exc:
            assert str(exc) and exc.line >= 0
            TALLY["template refused"] += 1
            continue
        template.compiled  # noqa: B018 - Jinja2's code, when it renders, exists already
        try:
            assert isinstance(template.render({**SCOPE, "lookup": lambda *a, **k: None}), str)
        except ExpressionError:
            pass


@st.composite
def plain_templates(draw: st.DrawFn) -> str:
    """Texts the fast path translates: outputs and {% if %} blocks, nested up to the limit and past it."""
    depth = draw(st.integers(0, 20))
    test, shown = draw(EXPRESSIONS), draw(EXPRESSIONS)
    middle = draw(st.sampled_from(["a {{ %s }} b", "{{ %s }}", "{%% if %s %%}x{%% else %%}{{ team.name }}{%% endif %%}"])) % shown
    return f"{{% if {test} %}}" * depth + middle + "{% endif %}" * depth


@FUZZ
@given(source=st.one_of(templates(), plain_templates()))
def test_one_walk_finds_every_node_find_all_finds(source: str) -> None:
    """The template checks read one walk of the tree (templates._Nodes): the nodes of Jinja2's find_all, in its order."""
    from jinja2 import nodes

    from clientflow.conditions.templates import _Nodes

    try:
        tree = Texts().text_env.parse(source)
    except Exception:  # noqa: BLE001 - a text Jinja2 refuses is refused before any walk
        return
    found = _Nodes(tree)
    assert [id(node) for node in found.nodes] == [id(node) for node in tree.find_all(nodes.Node)]
    kinds_asked = (
        (nodes.Name,),
        (nodes.Getattr, nodes.Getitem),
        (nodes.Filter,),
        (nodes.Assign, nodes.For, nodes.Macro),
        (nodes.Expr,),
        (nodes.Literal, nodes.Stmt),
    )
    for kinds in kinds_asked:  # classes and base classes, one or several: the nodes of each, in the tree's order
        assert [id(node) for node in found.of(*kinds)] == [id(node) for node in tree.find_all(kinds)]


@FUZZ
@given(source=st.one_of(templates(), plain_templates()))
def test_a_translated_text_compiles_when_it_is_first_shown(source: str) -> None:
    """A plain text's Python is compiled when it is first rendered, not when it loads: whatever loads must then compile,
    as it did at load before, or a text that validated would fall back to Jinja2 with no check having said so."""
    for html in (False, True):
        try:
            template = Texts(functions={"lookup": lambda *a, **k: None}).compile(source, NAMES, html=html)
        except CompileError:
            continue
        translated = template._plain is not None
        assert not translated or template.fast is not None
        TALLY["translated" if translated else "not translated"] += 1


@st.composite
def block_texts(draw: st.DrawFn) -> str:
    """Texts of outputs and `{% if %}` blocks (elif, else, none, nested, empty), with texts, braces and values near the limit."""
    tests = st.one_of(st.sampled_from(["true", "false", "none", "team.size > 2"]), EXPRESSIONS)
    shown = st.one_of(st.sampled_from(["team.name", "team.size", "big", "half", "big ~ 'x'"]), EXPRESSIONS)

    def body(depth: int) -> str:
        parts = []
        for _ in range(draw(st.integers(0 if depth else 1, 3))):
            kind = draw(st.sampled_from(["text", "print", "if", "loop"] if depth < 3 else ["text", "print", "loop"]))
            if kind == "loop":  # only Jinja2 renders it, wherever it stands
                parts.append(draw(st.sampled_from(["{% for u in team.tags %}{{ u }}{% endfor %}", "{% set v = 1 %}{{ v }}"])))
            elif kind == "text":
                parts.append(draw(st.sampled_from(["Hi ", "{", "}", "}}", "'", "\\", "x" * 50, "é"])))
            elif kind == "print":
                parts.append(f"{{{{ {draw(shown)} }}}}")
            else:
                elifs = "".join(f"{{% elif {draw(tests)} %}}{body(depth + 1)}" for _ in range(draw(st.integers(0, 2))))
                otherwise = f"{{% else %}}{body(depth + 1)}" if draw(st.booleans()) else ""
                parts.append(f"{{% if {draw(tests)} %}}{body(depth + 1)}{elifs}{otherwise}{{% endif %}}")
        return "".join(parts)

    return body(0)


def _outcome(render: Any, scope: dict[str, Any]) -> tuple[str, str]:
    """What a text's function gives: its text, or what it raises (the caller turns a look-up that fails into its message)."""
    try:
        return "text", render(scope)
    except Exception as exc:  # noqa: BLE001 - compared whole, whatever it is
        return type(exc).__name__, str(exc)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=block_texts(), big=st.one_of(st.integers(0, 100), st.integers(199_800, 200_010)))  # short, and near the limit
@example(source="{{ big }}{% if true %}" + "x" * 50 + "{% endif %}", big=199_960)  # text in a block, after the last value, over the limit
@example(source="{% if true %}" + "x" * 50 + "{% endif %}{{ big }}", big=199_960)  # the same, counted with the value after it
@example(source="{% if false %}x{% elif true %}{{ big }}{% if true %}}}{% endif %}{% endif %}.", big=199_998)  # nested, braces
@example(source="{% if team.tags %}Tags:{% for u in team.tags %} {{ u }}{% endfor %}{% endif %}", big=0)  # a loop in a block: Jinja2's
@example(source="{{ big }}" + "x" * 50, big=199_960)  # the text after the last value counted with it: over the limit with it
@example(source="{{ big }}" + "x" * 50, big=200_001)  # over it before it
def test_a_text_of_blocks_made_as_one_string_renders_as_its_parts_joined(source: str, big: int) -> None:
    """A text of outputs and `{% if %}` blocks is made as one f-string (fasttext._flat): the same text, or the same error
    at the same count, as the same text made part by part into a list and joined (`_statements`), as text and as HTML."""
    from clientflow.conditions import fasttext

    scope = {**SCOPE, "big": "y" * big, "half": "<" * (big // 2), "lookup": lambda *a, **k: None}
    for html in (False, True):
        try:
            flat = Texts(functions={"lookup": lambda *a, **k: None}).compile(source, NAMES | {"big", "half"}, html=html)
        except CompileError:
            continue
        if flat.fast is None or flat.python is None or "return f" not in flat.python:
            if "{% for" in source or "{% set" in source:  # left to Jinja2, which renders it
                TALLY["block text left to Jinja2"] += 1
                assert flat.fast is None and _outcome(flat.render, scope)[0] in ("text", "ExpressionError")
            continue  # not a plain text (or a constant)
        with pytest.MonkeyPatch.context() as patched:
            patched.setattr(fasttext, "_flat", lambda *a, **k: None)
            parts = Texts(functions={"lookup": lambda *a, **k: None}).compile(source, NAMES | {"big", "half"}, html=html)
        assert parts.fast is not None and "_join(out)" in (parts.python or "")
        TALLY["block text"] += 1
        assert _outcome(flat.fast, scope) == _outcome(parts.fast, scope), (flat.python, parts.python)


# through a whole project --------------------------------------------------------------------------
PROJECT = """\
product: {name: Shop, sender: no-reply@shop.example}
entities:
  team: {collection: teams, keys: [id, name], label: name}
  member: {nested: {in: [team], key: members}, keys: [id, email], label: email}
subject: {entity: team, match: [id, name]}
actor: {entity: member, match: [id, email]}
"""
FLOW = """\
id: probe
title: Probe
summary: One generated condition and one generated text.
subject: team
preconditions:
  - name: generated
    if: {condition}
    message: |
{message}
steps:
  - id: show
    kind: info
    title: A screen
    body: Nothing to see.
outcome:
  banner: Done.
  reversible: true
  audit: probe
"""
DATA = """\
teams:
  - id: t1
    name: Alpha
    size: 3
    tags: [a, b]
    members:
      - {id: m1, email: m1@alpha.example, role: admin}
"""


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(condition=EXPRESSIONS, message=templates())
def test_a_generated_project_is_located_or_answers(tmp_path_factory: pytest.TempPathFactory, condition: str, message: str) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "flows").mkdir()
    (root / "flows" / "project.yaml").write_text(PROJECT, encoding="utf-8")
    quoted = '"' + condition.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    body = textwrap.indent(message if message.strip() else "x", "      ")
    (root / "flows" / "probe.yaml").write_text(FLOW.format(condition=quoted, message=body), encoding="utf-8")
    (root / "data.yaml").write_text(DATA, encoding="utf-8")
    TALLY["project"] += 1
    try:
        engine = Engine.open(root, data=root / "data.yaml", notifiers={})
    except DefinitionError as exc:
        assert all(LOCATED.match(str(p)) for p in exc.problems), [str(p) for p in exc.problems]
        TALLY["project refused"] += 1
        return
    try:
        for flow in engine.available("m1", "t1").flows:
            assert flow.available in (True, False)
        engine.checker()("m1", "t1")
        engine.simulate("probe", "m1", "t1")
    except ClientflowError:
        pass
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("team.name | length < 1e999", "too large"),
        ("team.name | default(boolean=true, boolean=false) == 'x'", "given twice"),
        ("team.name | default(if=1) == 'x'", "cannot name an argument"),
        ("team.name | default(fallback='x', nope=1) == 'x'", "has no argument 'nope'"),
        ("team.name | round(1, 2, 3) == 1", "takes at most"),
        ("team.members | map(attribute='_secret') | list", "names starting with _ are not data"),
        ("lookup('team', if=1)", "cannot name an argument"),
    ],
)
def test_the_issues_examples_are_refused_when_compiled(source: str, says: str) -> None:
    with pytest.raises(CompileError, match=re.escape(says)):
        Compiler(["lookup"]).compile(source, NAMES)


@pytest.mark.parametrize(
    ("source", "says", "line"),
    [
        ("{% if true %}" * 120 + "x" + "{% endif %}" * 120, "nested more than", 1),
        ("a\n" + "{% for i in [1] %}" * 25 + "x" + "{% endfor %}" * 25, "nested more than", 2),
        ("a\nb\n{{ team.name | default(if=1) }}", "cannot name an argument", 3),
        ("{{ team.members | groupby('_x') }}", "names starting with _ are not data", 1),
        ("{{ team.name | length < 1e999 }}", "too large", 1),
        ("a\n{% if team.size < 1e999 %}{% for i in [1] %}x{% endfor %}{% endif %}", "too large", 2),
        ("{{ n + " + "9" * 5000 + " }}", "digits", 1),
    ],
)
def test_the_issues_template_examples_are_refused_at_their_line(source: str, says: str, line: int) -> None:
    with pytest.raises(CompileError, match=re.escape(says)) as raised:
        Texts().compile(source, NAMES)
    assert raised.value.line == line
