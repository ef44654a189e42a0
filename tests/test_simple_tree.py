"""A text of words and `{{ name.key }}` placeholders has its tree built without Jinja2's lexer and parser
(engine/conditions/templates.py `simple_tree`, a start-up cost): the tree must be Jinja2's own, node for node,
field for field and line for line, in both sandboxes, with and without the plural blocks' extension loaded;
and every text it does not take (a tag, a filter, a constant, a line break inside a placeholder...) is left to Jinja2.
The texts: written out below, and hypothesis-made from the characters that matter to Jinja2's syntax."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from clientflow.conditions.templates import Texts, simple_tree

TAKEN = [
    "Hello {{ client.name }},\n\n{{ partner.name }} has removed {{ client.name }}.\n",
    "<p>Hello {{ actor.name }},</p>\n<p>You removed <strong>{{ client.name }}</strong> from {{ partner.name }}.</p>",
    "{{ a }}",
    "{{a}}{{b.c}}",
    "{{  x.y.z  }} trailing\n\n",
    "line 1\nline 2 {{ _private.key }}\nline 3 {{ k2 }}\n{{ last }}",
    "100% sure {{ a }} # not a comment",
]
LEFT = [
    "{{ client.name | upper }}",
    "{% if a %}{{ b }}{% endif %}",
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
    "{{ f(a) }}",
    "{{ a.b.c",
    "{{ }}",
    "no placeholder { at all",
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
