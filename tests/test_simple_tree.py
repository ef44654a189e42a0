"""A text of words, placeholders and `{% if %}` blocks has its tree built without Jinja2's lexer and parser
(engine/conditions/templates.py `simple_tree`, a start-up cost): the tree must be Jinja2's own, node for node,
field for field and line for line, in both sandboxes, with and without the plural blocks' extension loaded;
every text it does not take (another tag, a number, a keyword, a line break inside a placeholder...) is left to
Jinja2; and a text compiles to the same template, or fails with the same located error, either way.
The texts: written out below, and hypothesis-made from the characters and words that matter to Jinja2's syntax."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from clientflow.conditions import templates
from clientflow.conditions.templates import Texts, simple_tree
from clientflow.errors import CompileError

TAKEN = [
    "Hello {{ client.name }},\n\n{{ partner.name }} has removed {{ client.name }}.\n",
    "<p>Hello {{ actor.name }},</p>\n<p>You removed <strong>{{ client.name }}</strong> from {{ partner.name }}.</p>",
    "{{ a }}",
    "{{a}}{{b.c}}",
    "{{  x.y.z  }} trailing\n\n",
    "line 1\nline 2 {{ _private.key }}\nline 3 {{ k2 }}\n{{ last }}",
    "100% sure {{ a }} # not a comment",
    "{{ client.name | upper }}",
    "{% if a %}{{ b }}{% endif %}",
    "{{ f(a) }}",
    "{{ lookup('user', answers.owner).name }} and {{ lookup(\"partner\", answers.partner) }}",
    "Hi,\n{% if deletion_grace %}until {{ deletion_at | format_date('long') }}{% else %}never{% endif %}\nbye",
    "{%if a%}x{%elif b == 'c'%}y{% elif  b != \"d\"  %}{% else %}z{%endif%}",
    "{% if a %}{% if b %}1{% else %}2{% endif %}{% elif c %}\n{% endif %}{{ d }}",
    "{% if answers.notify_client and client_admin_emails or x %}y{% endif %}",
    "{{ (deletion_due or deletion_at) | format_date('long') }} {{ (a).b }}",
    "{{ a | f | g('x', b.c, h(i)) == 'é' == k }}",
    "{{ f() }}{{ f()() }}{{ 'x'.y }}{{ '' }}",
]
LEFT = [
    "{# a comment #}{{ a }}",
    "{{ true }}",
    "{{ none }}",
    "{{ not }}",
    "{{ if }}",
    "{{ a.true.none }}",
    "{{ a.if }} {{ b.in }}",  # keys Jinja2 would read as keys, left to it all the same
    "{{- a }}",
    "{{ a -}}",
    "{{\na }}",
    "{{ a\n}}",
    "{{\ta }}",
    "a\r\nb {{ c }}",
    "{{ a }}}",
    "{ {{ a }}",
    "{{ a[0] }}",
    "{{ a.0 }}",
    "{{ a.b.c",
    "{{ }}",
    "no placeholder { at all",
    "{% for a in b %}{{ a }}{% endfor %}",
    "{% trans count=n %}one{% pluralize %}many{% endtrans %}",
    "{% if a -%} b {%- endif %}",
    "{%+ if a %}b{% endif %}",
    "{% if a\n%}b{% endif %}",
    "{% if a %}b",
    "{% if a %}{% if b %}c{% endif %}",
    "b{% endif %}",
    "{% else %}",
    "{% elif a %}",
    "{% if a %}{% else %}{% else %}{% endif %}",
    "{% if a %}{% else %}{% elif b %}{% endif %}",
    "{% if %}{% endif %}",
    "{% if a %}{% endif b %}",
    "{% else a %}",
    "{% if(a) %}b{% endif %}",
    "{% if a: %}b{% endif %}",
    "{{ a if b else c }}",
    "{{ not a }}",
    "{{ a is defined }}",
    "{{ a in b }}",
    "{{ a | f.g }}",
    "{{ a | f(b)(c) }}",
    "{{ (a, b) }}",
    "{{ () }}",
    "{{ f(a,) }}",
    "{{ f(x=1) }}",
    "{{ f(*a) }}",
    "{{ 'a' 'b' }}",
    "{{ 'a\\n' }}",
    "{{ 'a }}",
    "{{ '}}' }}",
    "{{ a < b }}",
    "{{ a + 1 }}",
    "{{ a ~ b }}",
    "{{ a[b] }}",
    "{{ a == b | c.d }}",
    "{{ a and }}",
    "{{ or a }}",
    "{{ a or (b }}",
    "{{ a }}{% if b %}{# c #}{% endif %}",
]


def same(left: Any, right: Any) -> bool:
    """Two trees equal in every node's type, fields, line and environment (Jinja2's == reads the fields only)."""
    if isinstance(left, nodes.Node) or isinstance(right, nodes.Node):
        if type(left) is not type(right) or left.lineno != right.lineno or left.environment is not right.environment:
            return False
        return all(same(a, b) for (_, a), (_, b) in zip(left.iter_fields(), right.iter_fields(), strict=True))
    if isinstance(left, list) or isinstance(right, list):
        return isinstance(left, list) and isinstance(right, list) and len(left) == len(right) and all(map(same, left, right))
    return type(left) is type(right) and left == right


def envs(plurals: bool) -> list[Any]:
    texts = Texts()
    if plurals:
        texts.text_env.allow_plurals()
        texts.html_env.allow_plurals()
    return [texts.text_env, texts.html_env]


def jinja2s(env: Any, source: str) -> Any:
    try:
        return env.parse(source)
    except TemplateSyntaxError:
        return None


@pytest.mark.parametrize("plurals", [False, True], ids=["plain", "plural-extension"])
@pytest.mark.parametrize("source", TAKEN)
def test_a_text_of_words_and_placeholders_gets_jinja2s_tree(source: str, plurals: bool) -> None:
    for env in envs(plurals):
        tree = simple_tree(env, source)
        assert tree is not None, source
        assert same(tree, env.parse(source)), source


@pytest.mark.parametrize("source", LEFT)
def test_any_other_text_is_left_to_jinja2(source: str) -> None:
    for env in envs(False):
        assert simple_tree(env, source) is None, source


def test_a_sandbox_of_other_syntax_is_left_to_jinja2() -> None:
    env = Texts().text_env.overlay(variable_start_string="[[", variable_end_string="]]")
    assert simple_tree(env, "[[ a ]] {{ b }}") is None
    dropping = Texts().text_env.overlay(keep_trailing_newline=False)
    assert simple_tree(dropping, "{{ a }}\n") is None
    for setting in ({"trim_blocks": True}, {"lstrip_blocks": True}, {"newline_sequence": "\r\n"}):
        assert simple_tree(Texts().text_env.overlay(**setting), "{% if a %}\n  b\n{% endif %}\n") is None, setting


NAME = st.sampled_from(["a", "b_2", "_c", "client", "name", "if", "in", "not", "true", "None", "x1", "0", "é"])
PLACEHOLDER = st.builds(
    lambda before, names, after, dash: "{{" + dash + before + ".".join(names) + after + "}}",
    st.sampled_from(["", " ", "  ", "\n", "\t"]),
    st.lists(NAME, min_size=1, max_size=4),
    st.sampled_from(["", " ", "  ", "\n"]),
    st.sampled_from(["", "", "", "-"]),
)
PLAIN_WORDS = st.text(alphabet=st.sampled_from(list("ab %#-\n.|é")), max_size=12)
WORDS = st.one_of(PLAIN_WORDS, PLAIN_WORDS, st.text(alphabet=st.sampled_from(list("ab {}%#-\n\r\t")), max_size=12))


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.one_of(WORDS, PLACEHOLDER), max_size=8), plurals=st.booleans())
def test_hypothesis_made_texts_get_jinja2s_tree_or_none(parts: list[str], plurals: bool) -> None:
    source = "".join(parts)
    for env in envs(plurals):
        tree = simple_tree(env, source)
        if tree is not None:
            expected = jinja2s(env, source)
            assert expected is not None and same(tree, expected), source


# Expressions and tags from Jinja2's grammar, the forms simple_tree builds and their neighbours (keywords, numbers,
# brackets, operators it leaves to Jinja2), written with odd spacing, and texts of blocks nested in any order, closed
# or not: wherever simple_tree gives a tree, it is Jinja2's; the well-formed ones in its forms it must take.
KEY = st.sampled_from(["a", "b_2", "client", "name", "lookup", "endif", "elif", "x1"])
WORD = st.one_of(KEY, st.sampled_from(["if", "else", "not", "and", "or", "in", "is", "none", "True", "1", "é", "_c"]))
TEXT_CONST = st.sampled_from(["'x'", '"y z"', "''", "'é'", "'%}'", "'}}'", "'a\\'b'", "'\"'"])
SPACE = st.sampled_from(["", " ", " ", "  "])


def bracketed(value: str) -> str:
    """A value to look into or call, in brackets unless it is a name, a text or a key: `a | f` then `.k` is `(a | f).k`."""
    return value if " " not in value and "|" not in value and not value.endswith(")") else f"({value})"


def expression(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Expressions of names (from `words`), quoted texts, keys, calls, filters, comparisons, and, or and brackets."""
    primary = st.one_of(words, TEXT_CONST)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        args = st.lists(inner, max_size=3).map(", ".join)
        return st.one_of(
            st.builds(lambda a, k: f"{bracketed(a)}.{k}", inner, words),
            st.builds(lambda a, x: f"{bracketed(a)}({x})", inner, args),
            st.builds(lambda a, f, x: f"{a} | {f}" + (f"({x})" if x is not None else ""), inner, words, st.none() | args),
            st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["==", "!=", "and", "or"]), inner),
            st.builds(lambda a: f"({a})", inner),
        )

    return st.recursive(primary, extend, max_leaves=6)


SIMPLE = expression(KEY)
ANY = st.one_of(
    expression(WORD),
    st.builds(lambda a, op, b: f"{a}{op}{b}", expression(WORD), st.sampled_from(["+", "[", "]", ",", "=", "<", ".", "|", ":", " if ", "\n"]), expression(WORD)),
)
BITS = st.text(alphabet=st.sampled_from(list("ab %#-\n.|é'")), max_size=8)


def text(expressions: st.SearchStrategy[str], odd: bool) -> st.SearchStrategy[str]:
    """Words, placeholders and blocks; `odd`: with tags out of place and whitespace control among them."""
    placeholder = st.builds(lambda s1, e, s2: "{{" + s1 + e + s2 + "}}", SPACE, expressions, SPACE)
    leaf = st.one_of(BITS, placeholder)

    def block(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        parts = st.lists(inner, max_size=3).map("".join)
        elifs = st.lists(st.tuples(expressions, parts), max_size=2)
        return st.builds(
            lambda s, test, body, branches, other: "{%" + s + "if " + test + s + "%}" + body
            + "".join("{% elif " + t + " %}" + b for t, b in branches)
            + ("" if other is None else "{%else%}" + other) + "{% endif %}",
            SPACE, expressions, parts, elifs, st.none() | parts,
        )  # fmt: skip

    made = st.recursive(leaf, block, max_leaves=8)
    if odd:
        stray = st.sampled_from(
            ["{% if a %}", "{% else %}", "{% endif %}", "{% elif b %}", "{%- if a -%}", "{% for a in b %}", "{% endfor %}", "{# c #}", "{", "}"]
        )
        made = st.lists(st.one_of(made, stray), max_size=4).map("".join)
    return made


@settings(max_examples=500, deadline=None)
@given(source=st.one_of(text(SIMPLE, odd=False), text(ANY, odd=True)), plurals=st.booleans())
def test_hypothesis_made_texts_with_blocks_and_expressions_get_jinja2s_tree_or_none(source: str, plurals: bool) -> None:
    for env in envs(plurals):
        tree = simple_tree(env, source)
        if tree is not None:
            expected = jinja2s(env, source)
            assert expected is not None and same(tree, expected), source


@settings(max_examples=300, deadline=None)
@given(source=text(SIMPLE, odd=False))
def test_well_formed_texts_in_its_forms_are_taken(source: str) -> None:
    if not source or "'%}'" in source or "'}}'" in source or "\\" in source:
        return  # nothing to build; a quoted tag end ends the tag for Jinja2's lexer too, and an escape is Jinja2's to read: both left to it
    for env in envs(False):
        tree = simple_tree(env, source)
        assert tree is not None and same(tree, env.parse(source)), source


NAMES = frozenset({"a", "client", "name", "x1", "lookup"})


def outcome(texts: Texts, source: str) -> Any:
    """What compiling `source` gives: the located error, or what the template read and looked up."""
    try:
        template = texts.compile(source, NAMES)
    except CompileError as exc:
        return ("error", str(exc), exc.line, exc.col)
    return ("template", template.reads, template.attributes, template.python, template.localized)


@settings(max_examples=300, deadline=None)
@given(source=text(expression(st.sampled_from(["a", "client", "nam", "b", "lookup", "x1", "upper", "format_date"])), odd=False))
def test_a_text_compiles_the_same_with_or_without_its_tree_built_here(source: str) -> None:
    """The same template, or the same error at the same line and column, as when Jinja2 parses every text."""
    texts, again = Texts(), Texts()
    built = outcome(texts, source)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(templates, "simple_tree", lambda env, source: None)
        parsed = outcome(again, source)
    assert built == parsed, source
